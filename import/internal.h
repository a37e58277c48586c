/*
 * internal.h - what the files of import/ share, and nothing else does.
 *
 * NAME
 *	import internals - the buffered reader, the message stage, sources
 *
 * DESCRIPTION
 *	reader.c reads a FILE in a buffer of IMPORT_READ_BUF bytes and lets
 *	the mbox splitter look a bounded way ahead.  message.c is the stage
 *	every message's bytes go through whatever the source: it keeps the
 *	header block (up to IMPORT_MAX_HEADER), hands the envelope, then the
 *	bytes in chunks, then the end or a skip to the caller's sink.
 *	mbox.c splits an mbox, source.c opens sources and walks directories.
 *
 *	import_source_open_stream() is the fuzzer's and the tests' way in:
 *	an mbox read from any FILE (fmemopen, fopencookie).
 */
#ifndef MAILKEEP_IMPORT_INTERNAL_H
#define MAILKEEP_IMPORT_INTERNAL_H

#include <stdio.h>

#include "import/import.h"

/* The buffer sizes, smaller in the fuzz target (-D) so that its inputs
 * cross buffer and header-block boundaries. */
#ifndef READER_BUF
#define READER_BUF	IMPORT_READ_BUF
#endif
#ifndef HEADER_MAX
#define HEADER_MAX	IMPORT_MAX_HEADER
#endif
_Static_assert(READER_BUF > IMPORT_MAX_FROM_LINE + 1,
	       "the reader must hold a whole separator line and more");

/* A FILE read through a buffer that can be looked into ahead. */
typedef struct reader {
	FILE *f;
	char *buf;			/* READER_BUF bytes */
	size_t pos, len;		/* unread bytes: buf[pos..len) */
	int64_t off;			/* the file offset of buf[0] */
	bool eof;
	int err;			/* errno of a read error, or 0 */
} reader;

/* Where a message is in the message stage. */
typedef enum {
	MSG_HEAD = 0,		/* collecting the header block */
	MSG_BODY = 1,		/* envelope sent: bytes go out in chunks */
	MSG_DISCARD = 2		/* to be skipped: bytes are dropped */
} msg_phase;

/* The message stage: one message's way from the source to the sink. */
typedef struct msgout {
	const import_sink *sink;
	void *ctx;
	import_origin origin;
	int64_t mtime;			/* the file's, microseconds */
	msg_phase phase;
	const char *reason;		/* why MSG_DISCARD */
	char *hdr;			/* HEADER_MAX bytes */
	size_t hdr_len, scan;		/* scan: where the blank line search
					   goes on */
	char *out;			/* IMPORT_CHUNK bytes */
	size_t out_len;
	uint64_t size;
	unsigned notes;
	char last;			/* the last byte emitted */
	bool stopped;			/* the sink said stop */
	bool nomem;			/* the envelope could not be made */
} msgout;

struct import_source {
	import_kind kind;
	char *path;
	reader rd;
	msgout m;
	int64_t mtime;			/* of the mbox file */
	/* mbox */
	uint64_t number;		/* messages begun */
	char *from_sender;		/* of the message being read */
	bool started;			/* the first line has been looked at */
	char *failed;			/* a read error to report next, or NULL */
	/* directories: a stack of sorted listings */
	struct walk_frame *frames;
	size_t depth, frames_cap;
	char *cur_path;			/* the file being read */
};

/* reader.c */
int reader_init(reader *rd, FILE *f);
void reader_free(reader *rd);
size_t reader_avail(reader *rd, size_t want);
void reader_skip(reader *rd, size_t n);
const char *reader_ptr(const reader *rd);

/* message.c */
int msg_init(msgout *m);
void msg_free(msgout *m);
void msg_begin(msgout *m, const import_sink *sink, void *ctx,
	       const import_origin *origin, int64_t mtime);
void msg_emit(msgout *m, const char *buf, size_t len);
void msg_discard(msgout *m, const char *reason);
int msg_finish(msgout *m, const char *skip_reason);

/* mbox.c */
int mbox_next(import_source *s, const import_sink *sink, void *ctx,
	      mk_error *err);

/* source.c */
import_source *import_source_open_stream(FILE *f, const char *name,
					 int64_t mtime, mk_error *err);

#endif /* MAILKEEP_IMPORT_INTERNAL_H */
