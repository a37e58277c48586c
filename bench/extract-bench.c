/*
 * extract-bench.c - how fast discovery_extract() reads messages.
 *
 * NAME
 *	extract-bench - messages/s and MB/s of text extraction, one core
 *
 * SYNOPSIS
 *	bench/extract-bench [-r rounds] [-n times] [FILE...]
 *
 * DESCRIPTION
 *	With files: each is read into memory once, then the whole set is
 *	extracted n times over (default 100) to a sink that only counts,
 *	and that is timed r times (default 5).  Without files: five
 *	generated 1 MiB messages, each timed on its own the same way -
 *	plain text (8bit, 72-byte lines of words), the same text in
 *	quoted-printable, in base64, as HTML (a paragraph a line, entities,
 *	a style sheet), and a short text with a 1 MiB base64 PDF attachment
 *	(which is named, not decoded).
 *
 *	Times are the thread's CPU time (a busy machine does not inflate
 *	them), median of the rounds, and printed as messages per second
 *	and megabytes (10^6 bytes) of message per second, with the text
 *	bytes the sink got.  Nothing passes or fails.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "discovery/discovery.h"

/* The messages of one case. */
typedef struct bench_set {
	const char *name;
	GPtrArray *msgs;		/* GBytes */
	size_t bytes;
} bench_set;

/* count_text - sink->text that only counts */
static int
count_text(const char *utf8, size_t len, void *ctx)
{
	(void)utf8;
	*(size_t *)ctx += len;
	return 0;
}

/* cpu_now - this thread's CPU time in seconds */
static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* one_round - extract every message of set n times; CPU seconds */
static double
one_round(const bench_set *set, int n, size_t *text)
{
	discovery_sink sink = { NULL, count_text, NULL, text };
	discovery_stats st;
	mk_error err;
	double t0 = cpu_now();
	int i;
	guint k;

	for (i = 0; i < n; i++)
		for (k = 0; k < set->msgs->len; k++) {
			gsize len;
			const void *m = g_bytes_get_data(set->msgs->pdata[k], &len);

			if (discovery_extract(m, len, &sink, &st, &err) != 0) {
				fprintf(stderr, "extract-bench: %s\n", err.msg);
				exit(1);
			}
		}
	return cpu_now() - t0;
}

/* cmp_double - qsort comparison */
static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* bench - time set, print a line */
static void
bench(const bench_set *set, int rounds, int n)
{
	double t[64], med;
	size_t text = 0;
	int r;

	one_round(set, 1, &text);	/* warm up: iconv modules, caches */
	for (r = 0; r < rounds; r++) {
		text = 0;
		t[r] = one_round(set, n, &text);
	}
	qsort(t, (size_t)rounds, sizeof(t[0]), cmp_double);
	med = t[rounds / 2];
	printf("%-28s %5u msgs %10zu B  %9.0f msgs/s %8.1f MB/s  text %zu B/msg\n",
	       set->name, set->msgs->len, set->bytes,
	       set->msgs->len * (double)n / med,
	       (double)set->bytes * n / med / 1e6,
	       text / ((size_t)n * set->msgs->len));
}

/* add - a message to set */
static void
add(bench_set *set, GString *s)
{
	set->bytes += s->len;
	g_ptr_array_add(set->msgs, g_bytes_new(s->str, s->len));
}

/* words - about n bytes of text in 72-byte lines */
static GString *
words(size_t n)
{
	static const char *const w[] = {
		"quarterly", "numbers", "merger", "board", "meeting", "the",
		"and", "of", "caf\xc3\xa9", "r\xc3\xa9sum\xc3\xa9", "contract",
		"liability", "shipment", "invoice", "approval", "deadline"
	};
	GString *s = g_string_new("");
	size_t line = 0, i = 0;

	while (s->len < n) {
		const char *x = w[(i * 7 + i / 3) % (sizeof(w) / sizeof(w[0]))];

		if (line + strlen(x) + 1 > 72) {
			g_string_append_c(s, '\n');
			line = 0;
		}
		g_string_append_printf(s, "%s%s", line > 0 ? " " : "", x);
		line += strlen(x) + 1;
		i++;
	}
	g_string_append_c(s, '\n');
	return s;
}

/* generated - one generated 1 MiB message as a set */
static bench_set
generated(const char *name, const char *head, GString *body)
{
	bench_set set = { name, g_ptr_array_new_with_free_func(
				       (GDestroyNotify)g_bytes_unref), 0 };
	GString *m = g_string_new("From: Alice <alice@example.com>\n"
				  "To: Bob <bob@example.org>\n"
				  "Subject: =?utf-8?q?Quarterly_r=C3=A9sum=C3=A9?=\n"
				  "Date: Mon, 2 Mar 2026 10:00:00 +0100\n"
				  "Message-ID: <bench@example.com>\n"
				  "MIME-Version: 1.0\n");

	g_string_append(m, head);
	g_string_append_len(m, body->str, (gssize)body->len);
	add(&set, m);
	g_string_free(m, TRUE);
	g_string_free(body, TRUE);
	return set;
}

/* qp - s in quoted-printable (8-bit bytes encoded, lines kept) */
static GString *
qp(GString *s)
{
	GString *q = g_string_new("");
	size_t i;

	for (i = 0; i < s->len; i++) {
		unsigned char c = (unsigned char)s->str[i];

		if (c >= 128 || c == '=')
			g_string_append_printf(q, "=%02X", c);
		else
			g_string_append_c(q, (char)c);
	}
	g_string_free(s, TRUE);
	return q;
}

/* b64 - s in base64, 76-byte lines */
static GString *
b64(GString *s)
{
	gchar *e = g_base64_encode((const guchar *)s->str, s->len);
	GString *out = g_string_new("");
	size_t i, n = strlen(e);

	for (i = 0; i < n; i += 76) {
		g_string_append_len(out, e + i, (gssize)(n - i < 76 ? n - i : 76));
		g_string_append_c(out, '\n');
	}
	g_free(e);
	g_string_free(s, TRUE);
	return out;
}

/* html - s as HTML: a paragraph a line, some markup and entities */
static GString *
html(GString *s)
{
	GString *h = g_string_new("<html><head><style>p { margin: 0 }"
				  "</style></head><body>\n");
	gchar **lines = g_strsplit(s->str, "\n", -1);
	size_t i;

	for (i = 0; lines[i] != NULL; i++)
		g_string_append_printf(h, "<p class=\"x\">%s &amp; <b>more</b>"
				       "&nbsp;&#233;</p>\n", lines[i]);
	g_string_append(h, "</body></html>\n");
	g_strfreev(lines);
	g_string_free(s, TRUE);
	return h;
}

/* attachment - a short text and a 1 MiB base64 PDF */
static GString *
attachment(void)
{
	GString *pdf = g_string_sized_new(1 << 20), *m;
	size_t i;

	for (i = 0; i < (1u << 20); i++)
		g_string_append_c(pdf, (char)(i * 131 + (i >> 8)));
	m = g_string_new("--B\nContent-Type: text/plain\n\n"
			 "The contract is attached.\n"
			 "--B\nContent-Type: application/pdf\n"
			 "Content-Disposition: attachment; filename=\"c.pdf\"\n"
			 "Content-Transfer-Encoding: base64\n\n");
	pdf = b64(pdf);
	g_string_append_len(m, pdf->str, (gssize)pdf->len);
	g_string_append(m, "--B--\n");
	g_string_free(pdf, TRUE);
	return m;
}

/* from_files - the files named as one set */
static bench_set
from_files(char **files, int n)
{
	bench_set set = { "files", g_ptr_array_new_with_free_func(
					(GDestroyNotify)g_bytes_unref), 0 };
	gchar *data;
	gsize len;
	int i;

	for (i = 0; i < n; i++) {
		if (!g_file_get_contents(files[i], &data, &len, NULL)) {
			fprintf(stderr, "extract-bench: cannot read %s\n", files[i]);
			exit(1);
		}
		set.bytes += len;
		g_ptr_array_add(set.msgs, g_bytes_new_take(data, len));
	}
	return set;
}

/* main - parse options, run the cases */
int
main(int argc, char **argv)
{
	int rounds = 5, n = 100, c;
	bench_set sets[5];
	size_t i, nsets;

	while ((c = getopt(argc, argv, "r:n:")) != -1) {
		if (c == 'r')
			rounds = atoi(optarg);
		else if (c == 'n')
			n = atoi(optarg);
		else
			return 2;
	}
	if (rounds < 1 || rounds > 64 || n < 1)
		return 2;
	if (optind < argc) {
		sets[0] = from_files(argv + optind, argc - optind);
		nsets = 1;
	} else {
		const char *text = "Content-Type: text/plain; charset=utf-8\n\n";

		sets[0] = generated("text/plain 1 MiB", text, words(1 << 20));
		sets[1] = generated("quoted-printable 1 MiB",
				    "Content-Type: text/plain; charset=utf-8\n"
				    "Content-Transfer-Encoding: quoted-printable"
				    "\n\n", qp(words(1 << 20)));
		sets[2] = generated("base64 text 1 MiB",
				    "Content-Type: text/plain; charset=utf-8\n"
				    "Content-Transfer-Encoding: base64\n\n",
				    b64(words(1 << 20)));
		sets[3] = generated("text/html 1 MiB",
				    "Content-Type: text/html; charset=utf-8\n\n",
				    html(words(1 << 20)));
		sets[4] = generated("1 MiB PDF attachment",
				    "Content-Type: multipart/mixed; boundary=B\n\n",
				    attachment());
		nsets = 5;
	}
	for (i = 0; i < nsets; i++) {
		bench(&sets[i], rounds, nsets == 1 ? n : (n + 9) / 10);
		g_ptr_array_free(sets[i].msgs, TRUE);
	}
	return 0;
}
