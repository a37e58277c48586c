/*
 * fsutil.h - small file-system helpers of the store: write everything,
 * make directories, fsync a directory, hex and SHA-256 helpers.
 */
#ifndef MAILKEEP_FSUTIL_H
#define MAILKEEP_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/* write_all - write len bytes to fd, retrying short writes; 0 or -1/errno */
int write_all(int fd, const void *buf, size_t len);

/* mkdir_if_missing - mkdir(path, mode) unless it exists; 0 or -1/errno */
int mkdir_if_missing(const char *path, int mode);

/* own_like_dir - as root, give the file (or directory) at fd, called
 * path, the owner of the directory it is in; 0 or -1/errno */
int own_like_dir(int fd, const char *path);

/* mkdir_owned - mkdir path (0700) unless it is a directory already,
 * owned like its parent; 0 or -1/errno */
int mkdir_owned(const char *path);

/* fsync_path - open path (a file or directory) and fsync it */
int fsync_path(const char *path, mk_error *err);

/* hex_encode - 2*len lowercase hex digits and a NUL into out */
void hex_encode(const unsigned char *in, size_t len, char *out);

/* hex_decode - exactly 2*len hex digits into out; 0 or -1 */
int hex_decode(const char *in, unsigned char *out, size_t len);

/* sha256_hex - SHA-256 of buf as lowercase hex into hex[65] */
void sha256_hex(const void *buf, size_t len, char hex[65]);

/* base64_encode - Base64 of buf, no line breaks; caller frees */
char *base64_encode(const unsigned char *buf, size_t len);

/* base64_decode - decoded bytes of text and their number; caller frees;
 * NULL when text is not Base64 */
unsigned char *base64_decode(const char *text, size_t *len);

/* write_new_file - create dir/name (0600, O_EXCL) holding buf, fsynced;
 * sync_dir: its directory too */
int write_new_file(const char *dir, const char *name, const void *buf,
		   size_t len, bool sync_dir, mk_error *err);

/* path_join - "dir/name" into a new string owned by the caller */
char *path_join(const char *dir, const char *name);

/* fd_line_start - where the line ending at end starts: the offset after
 * the last '\n' before end in fd, or 0; read backwards in chunks */
#define FD_TAIL_CHUNK 4096
int fd_line_start(int fd, const char *path, off_t end, off_t *start,
		  mk_error *err);

/* fd_cut_torn_line - truncate fd after its last '\n' (a line a crash or a
 * failed write left without one was never committed); new size in *end */
int fd_cut_torn_line(int fd, const char *path, off_t *end, mk_error *err);

/* now_micros - the current time in microseconds since the epoch */
int64_t now_micros(void);

#endif /* MAILKEEP_FSUTIL_H */
