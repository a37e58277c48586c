/*
 * archive-fill.c - store message files in an archive through archive.h,
 * without an MTA: the fixture of the integrity tests (tests/integrity/)
 * and the driver of the store benchmark (bench/store-bench.sh).
 *
 * SYNOPSIS
 *	archive-fill [-n COUNT] [-t THREADS] [-z CODEC[:LEVEL]] [-p] [-u] [-v]
 *		     DIR FILE...
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
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	pthread_mutex_t lock;
	long next;			/* the next message to store */
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
	if (f->next < f->count && !f->failed)
		n = f->next++;
	pthread_mutex_unlock(&f->lock);
	return n;
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
			fprintf(stderr, "archive-fill: message %ld: %s\n", n, err.msg);
			pthread_mutex_lock(&f->lock);
			f->failed = 1;
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

/* run - store everything from threads threads */
static int
run(fill *f, int threads)
{
	pthread_t tid[256];
	int i;

	for (i = 0; i < threads; i++)
		if (pthread_create(&tid[i], NULL, worker, f) != 0)
			return -1;
	for (i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	return f->failed ? -1 : 0;
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
	fill f = { .count = -1 };
	int c, threads = 8, rc;
	double t0;
	mk_error err;
	long i;

	while ((c = getopt(argc, argv, "n:t:z:puv")) != -1) {
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
		default: return 2;
		}
	}
	if (argc - optind < 2 || threads < 1 || threads > 256) {
		fprintf(stderr, "usage: archive-fill [-n COUNT] [-t THREADS]"
			" [-z CODEC[:LEVEL]] [-p] [-u] [-v] DIR FILE...\n");
		return 2;
	}
	f.files = argv + optind + 1;
	f.n_files = argc - optind - 1;
	if (f.count < 0)
		f.count = f.n_files;
	if (access(argv[optind], F_OK) != 0
	    && archive_create(argv[optind], &err) != 0) {
		fprintf(stderr, "archive-fill: %s\n", err.msg);
		return 1;
	}
	if ((f.ar = archive_open_with(argv[optind], ARCHIVE_WRITE, &opts, &err)) == NULL
	    || (f.ids = calloc((size_t)f.count + 1, sizeof(*f.ids))) == NULL) {
		fprintf(stderr, "archive-fill: %s\n", f.ar ? "out of memory" : err.msg);
		return 1;
	}
	pthread_mutex_init(&f.lock, NULL);
	t0 = seconds();
	rc = run(&f, threads);
	archive_close(f.ar);
	printf("messages %ld raw_bytes %llu seconds %.3f blob_bytes %llu\n",
	       f.count, (unsigned long long)f.raw_bytes, seconds() - t0,
	       (unsigned long long)blob_bytes(argv[optind]));
	for (i = 0; rc == 0 && i < f.count; i++)
		printf("%s\n", f.ids[i]);
	free(f.ids);
	return rc == 0 ? 0 : 1;
}
