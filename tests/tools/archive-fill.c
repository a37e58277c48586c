/*
 * archive-fill.c - store message files in an archive through archive.h,
 * without an MTA: the fixture of the integrity tests (tests/integrity/)
 * and the driver of the store benchmark (bench/store-bench.sh).
 *
 * SYNOPSIS
 *	archive-fill [-n COUNT] [-t THREADS] [-z CODEC[:LEVEL]] [-p] [-u] [-v]
 *		     [-m] [-C ENTRIES] [-r REPORT [-x FLAG]] DIR FILE...
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
} fill;

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
	if ((sp = archive_spool_begin(f->ar, err)) == NULL)
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
	mk_error err;
	long n;

	while ((n = take(f)) >= 0) {
		if (store_one(f, n, &bytes, &err) != 0) {
			report(f, "failed", n, err.msg);
			fprintf(stderr, "archive-fill: message %ld: %s\n", n, err.msg);
			pthread_mutex_lock(&f->lock);
			f->failed = 1;
			f->state[n] = -1;
			pthread_mutex_unlock(&f->lock);
		} else {
			report(f, "stored", n, f->ids[n]);
			pthread_mutex_lock(&f->lock);
			f->state[n] = 1;
			pthread_mutex_unlock(&f->lock);
		}
	}
	pthread_mutex_lock(&f->lock);
	f->raw_bytes += bytes;
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* blob_bytes - the bytes of every file under DIR/blobs */
static uint64_t
blob_bytes(const char *dir)
{
	char path[4096];
	uint64_t total = 0;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int i;

	for (i = 0; i < 256; i++) {
		snprintf(path, sizeof(path), "%s/blobs/%02x", dir, i);
		if ((d = opendir(path)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.'
			    && fstatat(dirfd(d), de->d_name, &st, 0) == 0)
				total += (uint64_t)st.st_size;
		closedir(d);
	}
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

	for (i = 0; i < f->count; i++)
		f->todo[i] = i;
	f->n_todo = f->count;
	f->pass = 1;
	run_pass(f, threads);
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

	while ((c = getopt(argc, argv, "n:t:z:puvmC:r:x:")) != -1) {
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
		default: return 2;
		}
	}
	if (argc - optind < 2 || threads < 1 || threads > 256
	    || (retry_flag != NULL && f.report_fd < 0)) {
		fprintf(stderr, "usage: archive-fill [-n COUNT] [-t THREADS]"
			" [-z CODEC[:LEVEL]] [-p] [-u] [-v] [-m] [-C ENTRIES]"
			" [-r REPORT [-x FLAG]] DIR FILE...\n");
		return 2;
	}
	f.files = argv + optind + 1;
	f.n_files = argc - optind - 1;
	if (f.count < 0)
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
	    || (f.ids = calloc((size_t)f.count + 1, sizeof(*f.ids))) == NULL
	    || (f.todo = calloc((size_t)f.count + 1, sizeof(*f.todo))) == NULL
	    || (f.state = calloc((size_t)f.count + 1, 1)) == NULL) {
		fprintf(stderr, "archive-fill: %s\n", f.ar ? "out of memory" : err.msg);
		return 1;
	}
	pthread_mutex_init(&f.lock, NULL);
	t0 = seconds();
	rc = run(&f, threads, retry_flag);
	archive_close(f.ar);
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
