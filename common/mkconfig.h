/*
 * mkconfig.h - mailkeep.conf, shared by mailkeep-milter and mailkeep.
 *
 * The file is INI (inih).  Keys may stand before any section header or
 * under [mailkeep]; a minimal file is two lines:
 *
 *	socket = inet:8894@127.0.0.1
 *	archive = /var/lib/mailkeep
 *
 * An unknown key, a bad value or an unreadable file is an error naming
 * the file and the line.  See mailkeep.conf(5).
 */
#ifndef MAILKEEP_MKCONFIG_H
#define MAILKEEP_MKCONFIG_H

#include <stdio.h>

#include "common/codec.h"
#include "common/error.h"
#include "common/inifile.h"
#include "common/sockspec.h"

#define MK_DEFAULT_CONFIG	"/etc/mailkeep/mailkeep.conf"
#define MK_DEFAULT_SOCKET	"unix:/run/mailkeep/mailkeep.sock"
#define MK_DEFAULT_ARCHIVE	"/var/lib/mailkeep"
#define MK_DEFAULT_ACCESS_SOCKET	"/run/mailkeep/access.sock"
#define MK_MAX_SOCKET_PATH	108	/* sun_path */

typedef enum { MK_ON_ERROR_TEMPFAIL = 0, MK_ON_ERROR_ACCEPT } mk_on_error;

typedef struct mk_config {
	char *path;		/* the file this came from */
	char *socket;		/* libmilter socket spec */
	char *archive;		/* archive directory */
	char *policy;		/* policy file, NULL: archive everything */
	char *user;		/* drop privileges to this user, or NULL */
	char *pidfile;		/* or NULL */
	char *access_socket;	/* mailkeep-access's Unix socket */
	mk_on_error on_error;
	int socket_mode;	/* permissions of a unix: socket, e.g. 0660 */
	int encrypt;		/* blobs encrypted (default yes) */
	mk_codec codec;		/* compression of new blobs (default zstd) */
	int compression;	/* its level (default 1); 0 with MK_CODEC_NONE */
	unsigned checkpoint_entries;	/* ledger checkpoint every N entries */
	unsigned checkpoint_interval;	/* ... or every T seconds */
	struct {		/* the line of each key that names a thing
				   checked only at start: 0 not set, < 0
				   minus the line of a value refused */
		int socket, archive, policy, user, pidfile, access_socket;
	} line;
} mk_config;

/* mk_config_load - parse path into a new config; NULL and err on failure.
 * The result is owned by the caller: mk_config_free(). */
mk_config *mk_config_load(const char *path, mk_error *err);

/* mk_config_read - parse path, calling problem() with every line that is
 * wrong ("FILE:LINE: why", for check modes); the config as far as it
 * could be read, its number of problems in *problems; NULL and err only
 * when the file cannot be read or memory ran out */
mk_config *mk_config_read(const char *path, mk_ini_problem_fn problem,
			  void *ctx, int *problems, mk_error *err);

/* mk_config_read_stream - the same from an open stream named name
 * (fuzzing) */
mk_config *mk_config_read_stream(FILE *fp, const char *name,
				 mk_ini_problem_fn problem, void *ctx,
				 int *problems, mk_error *err);

/* mk_config_free - free a config; NULL is fine */
void mk_config_free(mk_config *cfg);

#endif /* MAILKEEP_MKCONFIG_H */
