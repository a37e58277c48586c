/*
 * archive-fill.c - store message files in an archive through archive.h,
 * without an MTA: the fixture of the integrity tests (tests/integrity/)
 * and the driver of the store benchmark (bench/store-bench.sh).
 *
 * SYNOPSIS
 *	archive-fill [-n COUNT] [-t THREADS] [-z CODEC[:LEVEL]] [-p] [-u] [-v]
 *		     [-m] [-C ENTRIES] [-r REPORT [-x FLAG]] DIR FILE...
 *	bench/mailgen ... | archive-fill -g [-P POLICY] [-t THREADS] DIR
 *
 * DESCRIPTION
 *	Creates the archive DIR when it does not exist, then stores COUNT
 *	messages (default: one per FILE), taking the FILEs in turn, from
 *	THREADS threads at once (default 8), so that group commit batches
 *	them as it does the milter's.  Each message has the envelope
 *	sender fill@sender.test and the recipient rcptN@rcpt.test.
 *	-v makes every copy distinct: "X-Fill: N" is put before its first
 *	line.  -z sets the compression as mailkeep.conf's "compression"
 *	does (zstd, zstd:LEVEL, zlib:LEVEL, none, or 0-9 for a zlib level;
 *	default: mailkeep's), -u stores blobs
 *	unencrypted, -p stores "plain": no compression, no encryption and
 *	unsigned records (the benchmark's baseline only; verify rejects it).
 *	Prints one line: messages, raw bytes, seconds, blob bytes on disk,
 *	and the id of every message to stdout, one a line, after it, in
 *	the order of FILEs when COUNT is not given.
 *
 *	For the fault tests (tests/faults/): -m gives each message the
 *	Message-ID header of its file (the envelope's message_id, as the
 *	milter does), so `mailkeep search --message-id` finds it.  -C sets
 *	checkpoint_entries (a checkpoint at least every ENTRIES ledger
 *	entries; 1: one in every commit).  -r REPORT appends a line to
 *	REPORT as soon as each store returns, "stored<TAB>PASS<TAB>N<TAB>ID"
 *	or "failed<TAB>PASS<TAB>N<TAB>ERROR" (N: the message's number from
 *	0, its FILE being FILE number N modulo the FILEs; PASS: 1), and a
 *	failure no longer stops the other messages: the lines of a process
 *	that was killed say which messages were acknowledged.  With -x FLAG,
 *	once every message was tried, FLAG is removed (the fault shim's
 *	MK_FAULT_FLAG: the fault is gone) and each message that failed is
 *	stored again, in the same process, as an MTA's retry reaches a
 *	milter that kept running (PASS 2).  Exit status 1 when a message
 *	is not stored in the end.
 *
 *	-g takes the messages from standard input instead, as
 *	bench/mailgen writes them: each one's envelope (sender,
 *	recipients, received time), Message-ID, Date and Subject on a line
 *	of its own, then its bytes; COUNT (if given) stops early.  -P
 *	evaluates the policy file POLICY for each message, as the milter
 *	does: a message it keeps as metadata is stored with
 *	archive_store_metadata(), one it keeps nothing of (or whose
 *	retention is over already) is skipped, and the decision (roles,
 *	retention, parties) is stored with it.  With
 *	-g, no ids are printed; a progress line goes to stderr every
 *	100,000 messages, and the summary line adds the counts of
 *	metadata-only and skipped messages.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "policy/policy.h"

#define FILL_CHUNK 65536

/* What every thread shares. */
typedef struct fill {
	archive *ar;
	char **files;
	int n_files;
	long count;
	int vary;
	char **mids;			/* -m: Message-ID of each FILE */
	int report_fd;			/* -r, or -1 */
	int pass;
	long *todo;			/* the messages of this pass */
	long n_todo;
	signed char *state;		/* 1 stored, -1 failed, 0 not tried */
	pthread_mutex_t lock;
	long next;			/* the next of todo to store */
	uint64_t raw_bytes;
	char (*ids)[ARCHIVE_ID_LEN + 1];
	int failed;
	int stream;			/* -g: messages from stdin */
	policy *pol;			/* -P */
	long metadata, skipped;		/* -g -P: not stored in full */
	double t0;
} fill;

/* One message of the -g stream, as read. */
typedef struct gen_msg {
	char *line;			/* the envelope line (fields split) */
	size_t line_cap;
	char *data;
	size_t size, cap;
	int64_t received_at;
	char *from, *rcpts, *message_id, *date, *subject;
} gen_msg;

/* take - the number of the next message, or -1 when all are taken */
static long
take(fill *f)
{
	long n = -1;

	pthread_mutex_lock(&f->lock);
	if (f->next < f->n_todo && (!f->failed || f->report_fd >= 0))
		n = f->todo[f->next++];
	pthread_mutex_unlock(&f->lock);
	return n;
}

/* header_value - the value of header name in the header section of text
 * (folded lines joined), or NULL; caller frees */
static char *
header_value(const char *text, const char *name)
{
	size_t nlen = strlen(name), len = 0;
	const char *p = text, *eol;
	char *val = NULL, *tmp;
	int in = 0;

	while (*p != '\0' && *p != '\n' && !(p[0] == '\r' && p[1] == '\n')) {
		eol = strchr(p, '\n');
		if (eol == NULL)
			eol = p + strlen(p);
		if (in && (*p == ' ' || *p == '\t')) {
			/* a folded line of the value */
		} else if (in) {
			break;
		} else if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			in = 1;
			p += nlen + 1;
		}
		if (in) {
			size_t k = (size_t)(eol - p);

			while (k > 0 && (p[k - 1] == '\r'))
				k--;
			if ((tmp = realloc(val, len + k + 1)) == NULL) {
				free(val);
				return NULL;
			}
			val = tmp;
			memcpy(val + len, p, k);
			len += k;
			val[len] = '\0';
		}
		if (*eol == '\0')
			break;
		p = eol + 1;
	}
	if (val != NULL) {
		char *b = val;

		while (*b == ' ' || *b == '\t')
			b++;
		memmove(val, b, strlen(b) + 1);
	}
	return val;
}

/* file_message_id - the Message-ID header of the file at path, or NULL */
static char *
file_message_id(const char *path)
{
	char buf[FILL_CHUNK + 1];
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	got = read(fd, buf, FILL_CHUNK);
	close(fd);
	if (got < 0)
		return NULL;
	buf[got] = '\0';
	return header_value(buf, "Message-ID");
}

/* report - one line of -r, written at once (O_APPEND, one write) */
static void
report(fill *f, const char *what, long n, const char *text)
{
	char line[ARCHIVE_ID_LEN + sizeof(((mk_error *)0)->msg) + 64];
	int len;

	if (f->report_fd < 0)
		return;
	len = snprintf(line, sizeof(line), "%s\t%d\t%ld\t%s\n", what, f->pass,
		       n, text);
	if (len > (int)sizeof(line) - 1) {
		len = (int)sizeof(line) - 1;
		line[len - 1] = '\n';
	}
	if (write(f->report_fd, line, (size_t)len) != len)
		fprintf(stderr, "archive-fill: cannot write the report\n");
}

/* read_gen - the next message of the -g stream into g (lock held);
 * 1 when read, 0 at the end, -1 on a malformed stream */
static int
read_gen(gen_msg *g)
{
	char *field[8], *p;
	ssize_t got;
	int k;

	if ((got = getline(&g->line, &g->line_cap, stdin)) <= 0)
		return 0;
	if (g->line[got - 1] == '\n')
		g->line[got - 1] = '\0';
	for (k = 0, p = g->line; k < 8; k++) {
		field[k] = p;
		if ((p = strchr(p, '\t')) == NULL)
			break;
		*p++ = '\0';
	}
	if (k != 7 || strcmp(field[0], "M") != 0)
		return -1;
	g->received_at = strtoll(field[1], NULL, 10);
	g->size = strtoul(field[2], NULL, 10);
	g->from = field[3];
	g->rcpts = field[4];
	g->message_id = field[5];
	g->date = field[6];
	g->subject = field[7];
	if (g->size + 1 > g->cap) {
		g->cap = g->size + 1;
		if ((g->data = realloc(g->data, g->cap)) == NULL)
			return -1;
	}
	return fread(g->data, 1, g->size, stdin) == g->size ? 1 : -1;
}

/* take_gen - message number and content of the next -g message into g,
 * or -1 when all are taken */
static long
take_gen(fill *f, gen_msg *g)
{
	long n = -1;
	int rc;

	pthread_mutex_lock(&f->lock);
	if ((f->count < 0 || f->next < f->count) && !f->failed) {
		if ((rc = read_gen(g)) > 0) {
			n = f->next++;
			if (f->next % 100000 == 0) {
				struct timespec ts;
				clock_gettime(CLOCK_MONOTONIC, &ts);
				fprintf(stderr, "archive-fill: %ld messages, %.0f s\n", f->next,
					(double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - f->t0);
			}
		} else if (rc < 0) {
			fprintf(stderr, "archive-fill: malformed stream after message %ld\n",
				f->next);
			f->failed = 1;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return n;
}

/* store_gen - one -g message, as the policy (if any) decides */
static int
store_gen(fill *f, gen_msg *g, uint64_t *bytes, mk_error *err)
{
	const char *rcpts[16];
	archive_envelope env = { .mail_from = g->from, .rcpts = rcpts,
				 .client_addr = "198.51.100.7", .helo = "mx.mailgen.test",
				 .message_id = g->message_id, .subject = g->subject,
				 .date = g->date, .received_at = g->received_at };
	archive_party parties[17];
	policy_decision d;
	char id[ARCHIVE_ID_LEN + 1], *p, *save = NULL;
	archive_spool *sp;
	size_t i;
	int rc;

	for (p = strtok_r(g->rcpts, ",", &save); p != NULL && env.n_rcpts < 16;
	     p = strtok_r(NULL, ",", &save))
		rcpts[env.n_rcpts++] = p;
	memset(&d, 0, sizeof(d));
	if (f->pol != NULL) {
		if (policy_evaluate(f->pol, g->from, rcpts, env.n_rcpts,
				    g->received_at / 1000000, &d, err) != 0)
			return -1;
		/* nothing of it, or its retention already over (the archive
		 * would refuse it, as import skips it) */
		if (d.mode == POLICY_NONE || (d.retain_until > 0
					      && d.retain_until - d.retain_until % 86400
					      <= time(NULL))) {
			pthread_mutex_lock(&f->lock);
			f->skipped++;
			pthread_mutex_unlock(&f->lock);
			policy_decision_free(&d);
			return 0;
		}
		for (i = 0; i < d.n_parties && i < 17; i++) {
			parties[i].address = d.parties[i].address;
			parties[i].rule = d.parties[i].rule;
		}
		env.policy.content = d.mode == POLICY_METADATA ? ARCHIVE_METADATA
		    : ARCHIVE_FULL;
		env.policy.direction = policy_direction_name(d.direction);
		env.policy.retain_until = d.retain_until;
		env.policy.roles = d.roles;
		env.policy.n_roles = d.n_roles;
		env.policy.parties = parties;
		env.policy.n_parties = i;
	}
	if (env.policy.content == ARCHIVE_METADATA) {
		rc = archive_store_metadata(f->ar, &env, (int64_t)g->size, id, err);
		pthread_mutex_lock(&f->lock);
		f->metadata++;
		pthread_mutex_unlock(&f->lock);
	} else if ((sp = archive_spool_begin(f->ar, env.policy.retain_until, err)) == NULL)
		rc = -1;
	else if (archive_spool_write(sp, g->data, g->size, err) != 0) {
		archive_spool_discard(sp);
		rc = -1;
	} else
		rc = archive_spool_commit(sp, &env, id, err);
	if (rc == 0)
		*bytes += g->size;
	policy_decision_free(&d);
	return rc;
}

/* spool_file - the content of path (with an X-Fill line) into sp */
static int
spool_file(archive_spool *sp, const char *path, long n, int vary,
	   uint64_t *bytes, mk_error *err)
{
	char buf[FILL_CHUNK];
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0, len;

	if (fd < 0)
		return mk_error_errno(err, "open %s", path);
	if (vary) {
		len = snprintf(buf, sizeof(buf), "X-Fill: %ld\r\n", n);
		rc = archive_spool_write(sp, buf, (size_t)len, err);
		*bytes += (uint64_t)len;
	}
	while (rc == 0 && (got = read(fd, buf, sizeof(buf))) > 0) {
		rc = archive_spool_write(sp, buf, (size_t)got, err);
		*bytes += (uint64_t)got;
	}
	close(fd);
	return rc;
}

/* store_one - message n */
static int
store_one(fill *f, long n, uint64_t *bytes, mk_error *err)
{
	char rcpt[64], subject[64];
	const char *rcpts[1] = { rcpt };
	archive_envelope env = { .mail_from = "fill@sender.test",
				 .rcpts = rcpts, .n_rcpts = 1,
				 .client_addr = "127.0.0.1", .helo = "fill.test",
				 .subject = subject };
	archive_spool *sp;

	snprintf(rcpt, sizeof(rcpt), "rcpt%ld@rcpt.test", n % 100);
	snprintf(subject, sizeof(subject), "fill %ld", n);
	if (f->mids != NULL)
		env.message_id = f->mids[n % f->n_files];
	if ((sp = archive_spool_begin(f->ar, env.policy.retain_until, err)) == NULL)
		return -1;
	if (spool_file(sp, f->files[n % f->n_files], n, f->vary, bytes, err) != 0) {
		archive_spool_discard(sp);
		return -1;
	}
	return archive_spool_commit(sp, &env, f->ids[n], err);
}

/* worker - store messages until none are left */
static void *
worker(void *arg)
{
	fill *f = arg;
	uint64_t bytes = 0;
	gen_msg g = { 0 };
	mk_error err;
	long n;

	while ((n = f->stream ? take_gen(f, &g) : take(f)) >= 0) {
		if ((f->stream ? store_gen(f, &g, &bytes, &err)
		     : store_one(f, n, &bytes, &err)) != 0) {
			report(f, "failed", n, err.msg);
			fprintf(stderr, "archive-fill: message %ld: %s\n", n, err.msg);
			pthread_mutex_lock(&f->lock);
			f->failed = 1;
			if (!f->stream)
				f->state[n] = -1;
			pthread_mutex_unlock(&f->lock);
		} else if (!f->stream) {
			report(f, "stored", n, f->ids[n]);
			pthread_mutex_lock(&f->lock);
			f->state[n] = 1;
			pthread_mutex_unlock(&f->lock);
		}
	}
	pthread_mutex_lock(&f->lock);
	f->raw_bytes += bytes;
	pthread_mutex_unlock(&f->lock);
	free(g.line);
	free(g.data);
	return NULL;
}

/* dir_bytes - the bytes of the regular files in path */
static uint64_t
dir_bytes(const char *path)
{
	uint64_t total = 0;
	struct dirent *de;
	struct stat st;
	DIR *d = opendir(path);

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.'
		    && fstatat(dirfd(d), de->d_name, &st, 0) == 0
		    && S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
	closedir(d);
	return total;
}

/* blob_bytes - the bytes of stored content: every content segment
 * (DIR/content/GROUP/) and every blob of a format-3 archive (DIR/blobs/XX/) */
static uint64_t
blob_bytes(const char *dir)
{
	char path[4096];
	uint64_t total = 0;
	struct dirent *de;
	DIR *d;
	int i;

	for (i = 0; i < 256; i++) {
		snprintf(path, sizeof(path), "%s/blobs/%02x", dir, i);
		total += dir_bytes(path);
	}
	snprintf(path, sizeof(path), "%s/content", dir);
	if ((d = opendir(path)) == NULL)
		return total;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/content/%s", dir,
				 de->d_name);
			total += dir_bytes(path);
		}
	closedir(d);
	return total;
}

/* run_pass - store f->todo from threads threads */
static void
run_pass(fill *f, int threads)
{
	pthread_t tid[256];
	int i, n = 0;

	f->next = 0;
	for (i = 0; i < threads; i++)
		if (pthread_create(&tid[n], NULL, worker, f) == 0)
			n++;
	if (n == 0)
		f->failed = 1;
	for (i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
}

/* run - store everything from threads threads; with retry_flag, remove
 * it (the fault is gone, the writer still open) and store again what
 * failed */
static int
run(fill *f, int threads, const char *retry_flag)
{
	long i;

	for (i = 0; i < f->count && !f->stream; i++)
		f->todo[i] = i;
	f->n_todo = f->count;
	f->pass = 1;
	run_pass(f, threads);
	if (f->stream)		/* -g: the first failure stops the stream */
		return f->failed ? -1 : 0;
	if (retry_flag != NULL && unlink(retry_flag) != 0 && errno != ENOENT)
		fprintf(stderr, "archive-fill: cannot remove %s: %s\n",
			retry_flag, strerror(errno));	/* the fault is gone */
	if (retry_flag != NULL && f->failed) {
		for (f->n_todo = 0, i = 0; i < f->count; i++)
			if (f->state[i] != 1)
				f->todo[f->n_todo++] = i;
		f->failed = 0;
		f->pass = 2;
		run_pass(f, threads);
	}
	for (i = 0; i < f->count; i++)
		if (f->state[i] != 1)
			return -1;
	return 0;
}

/* seconds - a monotonic clock */
static double
seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	archive_options opts = ARCHIVE_OPTIONS_DEFAULT;
	fill f = { .count = -1, .report_fd = -1 };
	const char *retry_flag = NULL;
	int c, threads = 8, rc, want_mids = 0;
	double t0;
	mk_error err;
	long i;

	while ((c = getopt(argc, argv, "gn:t:z:puvmC:r:x:P:")) != -1) {
		switch (c) {
		case 'n': f.count = atol(optarg); break;
		case 't': threads = atoi(optarg); break;
		case 'z':
			if (mk_compression_parse(optarg, &opts.codec,
						 &opts.compression, err.msg,
						 sizeof(err.msg)) != 0) {
				fprintf(stderr, "archive-fill: -z: %s\n", err.msg);
				return 2;
			}
			break;
		case 'p': opts.codec = MK_CODEC_NONE; opts.compression = 0;
			opts.encrypt = 0; opts.sign = 0; break;
		case 'u': opts.encrypt = 0; break;
		case 'v': f.vary = 1; break;
		case 'm': want_mids = 1; break;
		case 'C': opts.checkpoint_entries = (unsigned)atol(optarg); break;
		case 'r':
			f.report_fd = open(optarg, O_WRONLY | O_APPEND | O_CREAT
					   | O_CLOEXEC, 0644);
			if (f.report_fd < 0) {
				fprintf(stderr, "archive-fill: %s: %s\n", optarg,
					strerror(errno));
				return 1;
			}
			break;
		case 'x': retry_flag = optarg; break;
		case 'g': f.stream = 1; break;
		case 'P':
			if ((f.pol = policy_load(optarg, &err)) == NULL) {
				fprintf(stderr, "archive-fill: %s\n", err.msg);
				return 1;
			}
			break;
		default: return 2;
		}
	}
	if (argc - optind < (f.stream ? 1 : 2) || threads < 1 || threads > 256
	    || (retry_flag != NULL && (f.report_fd < 0 || f.stream))) {
		fprintf(stderr, "usage: archive-fill [-n COUNT] [-t THREADS]"
			" [-z CODEC[:LEVEL]] [-p] [-u] [-v] [-m] [-C ENTRIES]"
			" [-r REPORT [-x FLAG]] DIR FILE...\n"
			"       archive-fill -g [-P POLICY] [-n COUNT] [-t THREADS]"
			" [-z CODEC[:LEVEL]] [-p] [-u] DIR < STREAM\n");
		return 2;
	}
	f.files = argv + optind + 1;
	f.n_files = argc - optind - 1;
	if (f.count < 0 && !f.stream)
		f.count = f.n_files;
	if (want_mids) {
		if ((f.mids = calloc((size_t)f.n_files, sizeof(*f.mids))) == NULL)
			return 1;
		for (c = 0; c < f.n_files; c++)
			f.mids[c] = file_message_id(f.files[c]);
	}
	if (access(argv[optind], F_OK) != 0
	    && archive_create(argv[optind], &err) != 0) {
		fprintf(stderr, "archive-fill: %s\n", err.msg);
		return 1;
	}
	if ((f.ar = archive_open_with(argv[optind], ARCHIVE_WRITE, &opts, &err)) == NULL
	    || (!f.stream
		&& ((f.ids = calloc((size_t)f.count + 1, sizeof(*f.ids))) == NULL
		    || (f.todo = calloc((size_t)f.count + 1, sizeof(*f.todo))) == NULL
		    || (f.state = calloc((size_t)f.count + 1, 1)) == NULL))) {
		fprintf(stderr, "archive-fill: %s\n", f.ar ? "out of memory" : err.msg);
		return 1;
	}
	pthread_mutex_init(&f.lock, NULL);
	f.t0 = t0 = seconds();
	rc = run(&f, threads, retry_flag);
	archive_close(f.ar);
	if (f.stream) {
		printf("messages %ld raw_bytes %llu seconds %.3f blob_bytes %llu"
		       " metadata %ld skipped %ld\n", f.next,
		       (unsigned long long)f.raw_bytes, seconds() - t0,
		       (unsigned long long)blob_bytes(argv[optind]), f.metadata,
		       f.skipped);
		policy_free(f.pol);
		return rc == 0 ? 0 : 1;
	}
	printf("messages %ld raw_bytes %llu seconds %.3f blob_bytes %llu\n",
	       f.count, (unsigned long long)f.raw_bytes, seconds() - t0,
	       (unsigned long long)blob_bytes(argv[optind]));
	for (i = 0; rc == 0 && i < f.count; i++)
		printf("%s\n", f.ids[i]);
	free(f.ids);
	free(f.todo);
	free(f.state);
	if (f.mids != NULL)
		for (c = 0; c < f.n_files; c++)
			free(f.mids[c]);
	free(f.mids);
	if (f.report_fd >= 0)
		close(f.report_fd);
	return rc == 0 ? 0 : 1;
}
