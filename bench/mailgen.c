/*
 * mailgen.c - realistic synthetic mail, deterministic from a seed, for
 * the discovery benchmark on 1,000,000 messages (bench/discovery-bench.sh,
 * docs/PERFORMANCE.md "Discovery on 1,000,000 messages").
 *
 * SYNOPSIS
 *	mailgen [-s SEED] [-N TOTAL] [-f FIRST] [-n COUNT] [-S] [-o DIR]
 *	mailgen [-s SEED] -w RANK...
 *
 * DESCRIPTION
 *	Generates messages FIRST .. FIRST+COUNT-1 of an archive of TOTAL
 *	messages (default 1,000,000; FIRST 0; COUNT TOTAL - FIRST).  Message
 *	n depends only on SEED and n (and TOTAL, which spreads the received
 *	times), so a range can be made again, or in pieces.
 *
 *	Without -o, writes the fill stream that tests/tools/archive-fill -g
 *	reads: for each message one line
 *
 *	  M TAB received_at TAB size TAB from TAB rcpt,rcpt... TAB
 *	    message-id TAB date TAB subject LF
 *
 *	(received_at in microseconds since the epoch, header values as in
 *	the message), then size bytes of message (CRLF line ends).  With -o,
 *	writes DIR/NNNNNNN.eml files instead (for looking at them).  -S
 *	prints the size distribution and the mix of structures, charsets
 *	and attachments to standard error at the end.  -w prints the word
 *	of the vocabulary at each RANK (1 = the most frequent), with the
 *	Zipf probability of that rank, so a benchmark can pick common and
 *	rare words.
 *
 *	The model (all choices from the seeded generator):
 *	  - 200 domains: 4 internal (corp.example, eu.corp.example,
 *	    legal.corp.example, private.corp.example), 196 external with
 *	    country top-level domains that set their language (en, de, fr,
 *	    ru, ja); 5,000 addresses, 1,500 internal, the external ones
 *	    spread over their domains with Zipf skew (s = 1.1).
 *	  - direction: 45 % inbound, 30 % outbound, 25 % internal; senders
 *	    and recipients drawn with Zipf skew (s = 1.0) over addresses;
 *	    1-5 recipients (55/20/12/8/5 %), the third on as Cc.
 *	  - received times over 730 days from 2024-12-01 UTC, in order,
 *	    shaped by hour of day and weekday (weekends 12 %), growing 30 %
 *	    over the span.
 *	  - text: words from a vocabulary of ~21,700 (1,740 English words,
 *	    then synthetic ones) with Zipf frequencies (s = 1.0); German,
 *	    French, Russian and Japanese senders mix in words of their
 *	    language.  Body length log-normal, median 2,500 bytes.
 *	  - structure: 47 % text/plain, 38 % multipart/alternative (text and
 *	    HTML), 15 % multipart/mixed with 1-3 attachments (a fifth of
 *	    them with a nested multipart/alternative, a tenth of those with
 *	    multipart/related and an inline image); attachments 75 %
 *	    binary (PDF, Office, images, zip: random, incompressible), the
 *	    rest CSV or calendar text; names in the message's language, a
 *	    non-ASCII name as RFC 2231 (filename*=) or, a third of the time,
 *	    RFC 2047 (Outlook-style).
 *	  - charsets: us-ascii or utf-8 for English; utf-8, iso-8859-1 or
 *	    windows-1252 for German and French; utf-8, koi8-r or
 *	    windows-1251 for Russian; iso-2022-jp or utf-8 for Japanese;
 *	    transfer encodings 7bit, 8bit, quoted-printable and base64;
 *	    non-ASCII subjects and display names as RFC 2047 words.
 *
 * DIAGNOSTICS
 *	Exit 1 with a message on standard error when writing fails.
 */
#include "config.h"

#include <errno.h>
#include <iconv.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/mailgen-words.h"

#define N_DOMAINS	200
#define N_INTERNAL_DOM	4
#define N_ADDRESSES	5000
#define N_INTERNAL_ADDR	1500
#define N_SYNTH_WORDS	20000
#define SPAN_DAYS	730
#define START_EPOCH	1733011200LL	/* 2024-12-01T00:00:00Z */
#define MAX_ATTACH	(4 << 20)	/* bytes of one attachment, raw */
#define MAX_TEXT	(256 << 10)	/* bytes of body text */

enum lang { L_EN, L_DE, L_FR, L_RU, L_JA, N_LANG };
enum cs { CS_ASCII, CS_UTF8, CS_LATIN1, CS_CP1252, CS_KOI8R, CS_CP1251,
	  CS_ISO2022JP, N_CS };
static const char *const cs_name[N_CS] = { "us-ascii", "utf-8",
	"iso-8859-1", "windows-1252", "koi8-r", "windows-1251", "iso-2022-jp" };
enum te { TE_7BIT, TE_8BIT, TE_QP, TE_B64 };
static const char *const te_name[] = { "7bit", "8bit", "quoted-printable",
	"base64" };

/* Words of the other languages (UTF-8), most frequent first. */
static const char *const words_de[] = {
	"und", "die", "der", "für", "mit", "bitte", "über", "Besprechung",
	"Grüße", "Änderung", "Vertrag", "Rechnung", "Bestätigung", "Größe",
	"Straße", "morgen", "nächste", "Woche", "Unterlagen", "Frage",
	"Angebot", "Prüfung", "Gespräch", "Termin", "Abstimmung", "wäre",
	"möchten", "können", "Kündigung", "Lieferung", "Bestellung", "Zahlung",
	"Übersicht", "Entwurf", "Rückmeldung", "schön", "Geschäftsführung",
	"Mitarbeiter", "Jahresabschluss", "Prüfer", "Vorschlag", "dringend",
};
static const char *const words_fr[] = {
	"et", "le", "la", "les", "pour", "avec", "réunion", "déjà", "été",
	"à", "prévu", "équipe", "reçu", "merci", "très", "contrat", "facture",
	"commande", "livraison", "paiement", "société", "réponse", "demande",
	"à propos", "délai", "première", "après", "être", "général",
	"comptabilité", "sécurité", "pièce", "jointe", "cordialement",
	"modifié", "problème", "numéro", "accès", "élément", "résumé",
};
static const char *const words_ru[] = {
	"и", "в", "на", "для", "что", "по", "договор", "счёт", "встреча",
	"отчёт", "документы", "пожалуйста", "спасибо", "завтра", "неделя",
	"оплата", "поставка", "заказ", "вопрос", "ответ", "проект", "срок",
	"согласование", "бухгалтерия", "директор", "компания", "письмо",
	"приложение", "уважением", "коллеги", "изменения", "цена",
	"предложение", "подпись", "юрист", "банк", "налог", "сотрудник",
};
static const char *const words_ja[] = {
	"会議", "資料", "確認", "お願いします", "よろしく", "報告", "予定",
	"来週", "担当", "契約", "請求書", "見積", "納品", "支払い", "対応",
	"連絡", "変更", "打ち合わせ", "議事録", "案件", "承認", "ご確認",
	"いたします", "本日", "明日", "部長", "営業", "経理", "法務", "東京",
	"大阪", "株式会社", "です", "ます", "について", "ありがとうございます",
};

static const char *const first_names[] = {
	"anna", "ben", "carla", "david", "emma", "felix", "grace", "hugo",
	"ines", "jonas", "karin", "lukas", "maria", "nina", "oliver", "paula",
	"quentin", "rita", "sam", "tanja", "ulrich", "vera", "walter", "xenia",
	"yusuf", "zoe", "james", "mary", "robert", "linda", "michael", "sarah",
	"thomas", "laura", "peter", "julia", "martin", "sophie", "stefan",
	"claire", "pierre", "marie", "jean", "olga", "ivan", "dmitri", "elena",
	"hiroshi", "yuki", "kenji", "akiko", "chen", "wei", "priya", "raj",
	"fatima", "omar", "lars", "ingrid", "paolo", "giulia",
};
static const char *const last_names[] = {
	"smith", "jones", "miller", "brown", "wilson", "taylor", "clark",
	"walker", "young", "king", "wright", "green", "baker", "hall", "allen",
	"mueller", "schmidt", "schneider", "fischer", "weber", "meyer",
	"wagner", "becker", "schulz", "hoffmann", "martin", "bernard",
	"dubois", "durand", "leroy", "moreau", "laurent", "simon", "michel",
	"ivanov", "petrov", "sidorov", "smirnov", "kuznetsov", "popov",
	"tanaka", "suzuki", "sato", "takahashi", "watanabe", "ito", "nakamura",
	"rossi", "russo", "ferrari", "garcia", "lopez", "martinez", "kumar",
	"singh", "nilsson", "larsen", "jensen", "novak", "kowalski",
};
static const char *const role_locals[] = {
	"info", "noreply", "billing", "support", "sales", "newsletter",
	"accounts", "hr", "orders", "notifications",
};
static const char *const syllables[] = {
	"ka", "lo", "mi", "ven", "tor", "sa", "ri", "del", "an", "por", "qui",
	"zen", "bra", "ste", "lu", "mor", "fa", "gin", "ho", "tre", "vel",
	"dan", "cor", "ni", "pe", "ral", "sin", "ta", "ex", "ul", "bo", "mer",
	"gal", "fi", "no", "wen", "dra", "ko", "sel", "ar",
};

/* A generator: xoshiro256**. */
typedef struct rng { uint64_t s[4]; } rng;

static uint64_t
splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
rng_seed(rng *r, uint64_t a, uint64_t b)
{
	uint64_t x = a * 0x100000001b3ULL ^ b;
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix(&x);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t
next64(rng *r)
{
	uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
	s[2] ^= t; s[3] = rotl(s[3], 45);
	return res;
}

/* uni - uniform in [0, 1) */
static inline double
uni(rng *r)
{
	return (double)(next64(r) >> 11) * 0x1.0p-53;
}

/* below - uniform integer in [0, n) */
static inline size_t
below(rng *r, size_t n)
{
	return (size_t)(uni(r) * (double)n);
}

/* chance - true with probability p */
static inline int
chance(rng *r, double p)
{
	return uni(r) < p;
}

/* lognormal - exp(N(log(median), sigma)) */
static double
lognormal(rng *r, double median, double sigma)
{
	double u1 = uni(r) + 1e-300, u2 = uni(r);

	return median * exp(sigma * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
}

/* A Zipf distribution over ranks 0..n-1: cumulative weights. */
typedef struct zipf { double *cdf; size_t n; } zipf;

static void
zipf_init(zipf *z, size_t n, double s)
{
	double sum = 0;
	size_t i;

	z->n = n;
	z->cdf = malloc(n * sizeof(double));
	for (i = 0; i < n; i++) {
		sum += 1.0 / pow((double)(i + 1), s);
		z->cdf[i] = sum;
	}
}

static size_t
zipf_draw(const zipf *z, rng *r)
{
	double u = uni(r) * z->cdf[z->n - 1];
	size_t lo = 0, hi = z->n - 1;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (z->cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A growing byte buffer. */
typedef struct buf { char *p; size_t len, cap; } buf;

static void
buf_grow(buf *b, size_t more)
{
	if (b->len + more + 1 > b->cap) {
		b->cap = (b->len + more + 1) * 2;
		if ((b->p = realloc(b->p, b->cap)) == NULL) {
			perror("mailgen");
			exit(1);
		}
	}
}

static void
put(buf *b, const void *s, size_t n)
{
	buf_grow(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
puts_(buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void
putf(buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* The world: domains, addresses, vocabulary; fixed by the seed. */
typedef struct domain { char name[64]; enum lang lang; int internal; } domain;
typedef struct address { char addr[96]; char display[96]; int dom; } address;

static domain domains[N_DOMAINS];
static address addrs[N_ADDRESSES];
static const char **vocab;		/* English-like, most frequent first */
static size_t n_vocab;
static zipf zvocab, zext_addr, zint_addr, zdom, zlang[N_LANG];
static int ext_addr[N_ADDRESSES], n_ext, int_addr[N_ADDRESSES], n_int;
static double *hour_cdf;		/* cumulative weight of each hour */
static size_t n_hours;

static const char *const *lang_words[N_LANG] = { NULL, words_de, words_fr,
	words_ru, words_ja };
static const size_t lang_n[N_LANG] = { 0,
	sizeof(words_de) / sizeof(*words_de), sizeof(words_fr) / sizeof(*words_fr),
	sizeof(words_ru) / sizeof(*words_ru), sizeof(words_ja) / sizeof(*words_ja) };

/* synth_word - a pronounceable made-up word */
static char *
synth_word(rng *r)
{
	char w[32] = "";
	size_t k, n = 2 + below(r, 3);

	for (k = 0; k < n; k++)
		strcat(w, syllables[below(r, sizeof(syllables) / sizeof(*syllables))]);
	return strdup(w);
}

/* world_init - everything that does not change from message to message */
static void
world_init(uint64_t seed)
{
	static const char *const internal[N_INTERNAL_DOM] = { "corp.example",
		"eu.corp.example", "legal.corp.example", "private.corp.example" };
	static const struct { const char *tld; enum lang lang; double p; } tlds[] = {
		{ "com", L_EN, 0.38 }, { "net", L_EN, 0.07 }, { "org", L_EN, 0.05 },
		{ "co.uk", L_EN, 0.06 }, { "io", L_EN, 0.04 }, { "de", L_DE, 0.14 },
		{ "ch", L_DE, 0.03 }, { "fr", L_FR, 0.10 }, { "ru", L_RU, 0.07 },
		{ "co.jp", L_JA, 0.06 },
	};
	size_t n_en = sizeof(mailgen_en) / sizeof(*mailgen_en), i, k;
	int internal_counts[N_INTERNAL_DOM] = { 1000, 300, 100, 100 };
	int a = 0, d, l, h;
	double sum = 0, w;
	rng r;

	rng_seed(&r, seed, 0xd0d0);
	for (d = 0; d < N_INTERNAL_DOM; d++) {
		snprintf(domains[d].name, sizeof(domains[d].name), "%s", internal[d]);
		domains[d].lang = d == 1 ? L_DE : L_EN;
		domains[d].internal = 1;
	}
	for (; d < N_DOMAINS; d++) {
		double u = uni(&r), acc = 0;
		char *w1 = synth_word(&r);

		for (k = 0; k < sizeof(tlds) / sizeof(*tlds) - 1; k++)
			if (u < (acc += tlds[k].p))
				break;
		snprintf(domains[d].name, sizeof(domains[d].name), "%s%s.%s", w1,
			 chance(&r, 0.3) ? "-group" : "", tlds[k].tld);
		domains[d].lang = tlds[k].lang;
		free(w1);
	}
	/* internal addresses: people, a few role accounts */
	for (d = 0; d < N_INTERNAL_DOM; d++)
		for (k = 0; k < (size_t)internal_counts[d]; k++, a++) {
			const char *f = first_names[below(&r, sizeof(first_names) / sizeof(*first_names))];
			const char *s = last_names[below(&r, sizeof(last_names) / sizeof(*last_names))];
			snprintf(addrs[a].addr, sizeof(addrs[a].addr), "%s.%s%s@%s", f, s,
				 k < 60 ? "" : (char[]){ (char)('0' + k % 10), 0 },
				 domains[d].name);
			snprintf(addrs[a].display, sizeof(addrs[a].display), "%c%s %c%s",
				 f[0] - 32, f + 1, s[0] - 32, s + 1);
			addrs[a].dom = d;
			int_addr[n_int++] = a;
		}
	/* external addresses over their domains, Zipf-skewed */
	zipf_init(&zdom, N_DOMAINS - N_INTERNAL_DOM, 1.1);
	for (; a < N_ADDRESSES; a++) {
		d = N_INTERNAL_DOM + (int)zipf_draw(&zdom, &r);
		if (chance(&r, 0.08)) {
			const char *rl = role_locals[below(&r, sizeof(role_locals) / sizeof(*role_locals))];
			snprintf(addrs[a].addr, sizeof(addrs[a].addr), "%s%d@%s", rl,
				 (int)below(&r, 5), domains[d].name);
			snprintf(addrs[a].display, sizeof(addrs[a].display), "%s", "");
		} else {
			const char *f = first_names[below(&r, sizeof(first_names) / sizeof(*first_names))];
			const char *s = last_names[below(&r, sizeof(last_names) / sizeof(*last_names))];
			snprintf(addrs[a].addr, sizeof(addrs[a].addr), "%c.%s%d@%s", f[0], s,
				 (int)below(&r, 100), domains[d].name);
			snprintf(addrs[a].display, sizeof(addrs[a].display), "%c%s %c%s",
				 f[0] - 32, f + 1, s[0] - 32, s + 1);
		}
		addrs[a].dom = d;
		ext_addr[n_ext++] = a;
	}
	/* shuffle each class so that Zipf rank is not domain order */
	for (i = (size_t)n_ext - 1; i > 0; i--) {
		k = below(&r, i + 1);
		l = ext_addr[i]; ext_addr[i] = ext_addr[k]; ext_addr[k] = l;
	}
	for (i = (size_t)n_int - 1; i > 0; i--) {
		k = below(&r, i + 1);
		l = int_addr[i]; int_addr[i] = int_addr[k]; int_addr[k] = l;
	}
	zipf_init(&zext_addr, (size_t)n_ext, 1.0);
	zipf_init(&zint_addr, (size_t)n_int, 1.0);
	/* vocabulary: the English list, then synthetic words */
	n_vocab = n_en + N_SYNTH_WORDS;
	vocab = malloc(n_vocab * sizeof(*vocab));
	for (i = 0; i < n_en; i++)
		vocab[i] = mailgen_en[i];
	for (; i < n_vocab; i++)
		vocab[i] = synth_word(&r);
	zipf_init(&zvocab, n_vocab, 1.0);
	for (l = 1; l < N_LANG; l++)
		zipf_init(&zlang[l], lang_n[l], 0.8);
	/* received times: weight of each hour of the span */
	n_hours = (size_t)SPAN_DAYS * 24;
	hour_cdf = malloc(n_hours * sizeof(double));
	for (i = 0; i < n_hours; i++) {
		static const double by_hour[24] = { .05, .04, .03, .03, .03, .05,
			.12, .35, .8, 1, 1, .95, .7, .9, 1, 1, .9, .7, .45, .3,
			.22, .18, .12, .08 };
		int wday = (int)((i / 24 + 0) % 7);	/* 2024-12-01 was a Sunday */

		h = (int)(i % 24);
		w = by_hour[h] * (wday == 0 || wday == 6 ? 0.12 : 1.0);
		w *= 1.0 + 0.3 * (double)i / (double)n_hours;
		sum += w;
		hour_cdf[i] = sum;
	}
}

/* received_of - microseconds since the epoch of message n of total */
static int64_t
received_of(long n, long total)
{
	double target = ((double)n + 0.5) / (double)total * hour_cdf[n_hours - 1];
	size_t lo = 0, hi = n_hours - 1;
	double before, frac;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (hour_cdf[mid] < target)
			lo = mid + 1;
		else
			hi = mid;
	}
	before = lo > 0 ? hour_cdf[lo - 1] : 0;
	frac = (target - before) / (hour_cdf[lo] - before);
	return (START_EPOCH + (int64_t)lo * 3600) * 1000000
	    + (int64_t)(frac * 3600e6);
}

/* One message being made. */
typedef struct msg {
	rng r;
	long n;
	enum lang lang;
	enum cs cs;
	int from;
	int rcpt[5], n_rcpt;
	int64_t received;
	buf out;		/* the message */
	buf text;		/* scratch: UTF-8 body text */
	buf tmp, tmp2;		/* scratch */
	char subject[1024];	/* header value, encoded */
	char msgid[160], date[64];
	int structure, n_attach;
} msg;

/* Statistics for -S. */
static struct {
	size_t *sizes, n;
	long structure[4], charset[N_CS], attach, attach_2231, attach_2047,
	     qp, b64, bit8, metadata_like;
	uint64_t bytes, attach_bytes;
} st;

/* word - one word in the message's language */
static const char *
word(msg *m)
{
	if (m->lang != L_EN && chance(&m->r, 0.55))
		return lang_words[m->lang][zipf_draw(&zlang[m->lang], &m->r)];
	return vocab[zipf_draw(&zvocab, &m->r)];
}

/* gen_text - about target bytes of sentences and paragraphs into m->text,
 * lines wrapped near 72 columns, CRLF */
static void
gen_text(msg *m, size_t target)
{
	buf *b = &m->text;
	size_t col = 0, start = b->len;
	int in_sentence = 0, words_left = 0, sentences_left = 3, cap = 1;

	while (b->len - start < target) {
		const char *w = word(m);
		size_t wl = strlen(w);

		if (!in_sentence) {
			words_left = 5 + (int)below(&m->r, 14);
			in_sentence = 1;
		}
		if (col > 0 && col + wl + 1 > 72) {
			puts_(b, "\r\n");
			col = 0;
		} else if (col > 0) {
			puts_(b, " ");
			col++;
		}
		if (cap) {
			cap = 0;
			if (w[0] >= 'a' && w[0] <= 'z') {
				char c = (char)(w[0] - 32);
				put(b, &c, 1);
				put(b, w + 1, wl - 1);
			} else
				put(b, w, wl);
		} else
			put(b, w, wl);
		col += wl;
		if (--words_left == 0) {
			puts_(b, chance(&m->r, 0.1) ? "?" : ".");
			col++;
			in_sentence = 0;
			cap = 1;
			if (--sentences_left == 0) {
				puts_(b, "\r\n\r\n");
				col = 0;
				sentences_left = 1 + (int)below(&m->r, 5);
			}
		}
	}
	if (in_sentence)
		puts_(b, ".");
	puts_(b, "\r\n");
}

/* convert - UTF-8 in into charset cs (out replaced); characters it cannot
 * hold become '?' */
static void
convert(const char *in, size_t len, enum cs cs, buf *out)
{
	static iconv_t cd[N_CS];
	static int opened[N_CS];
	char *ip = (char *)in, *op;
	size_t il = len, ol;

	out->len = 0;
	if (cs == CS_ASCII || cs == CS_UTF8) {
		put(out, in, len);
		return;
	}
	if (!opened[cs]) {
		char name[64];

		snprintf(name, sizeof(name), "%s//TRANSLIT", cs_name[cs]);
		if ((cd[cs] = iconv_open(name, "UTF-8")) == (iconv_t)-1) {
			fprintf(stderr, "mailgen: iconv %s: %s\n", name, strerror(errno));
			exit(1);
		}
		opened[cs] = 1;
	}
	iconv(cd[cs], NULL, NULL, NULL, NULL);
	buf_grow(out, len * 2 + 16);
	op = out->p;
	ol = out->cap - 1;
	while (il > 0) {
		if (iconv(cd[cs], &ip, &il, &op, &ol) == (size_t)-1) {
			if (errno == E2BIG) {
				size_t used = (size_t)(op - out->p);
				out->len = used;
				buf_grow(out, out->cap);
				op = out->p + used;
				ol = out->cap - 1 - used;
				continue;
			}
			if (ol > 0) {
				*op++ = '?';
				ol--;
			}
			ip++;
			il--;
		}
	}
	iconv(cd[cs], NULL, NULL, &op, &ol);	/* back to ASCII (ISO-2022-JP) */
	out->len = (size_t)(op - out->p);
	out->p[out->len] = '\0';
}

/* is_ascii - only 7-bit bytes? */
static int
is_ascii(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80 || s[i] == 0x1b)
			return 0;
	return 1;
}

static const char b64a[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* put_b64 - in as base64 lines of 76 characters, CRLF */
static void
put_b64(buf *b, const unsigned char *in, size_t n)
{
	size_t i, col = 0;
	char *o;

	buf_grow(b, n / 3 * 4 + n / 57 * 2 + 16);
	o = b->p + b->len;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*o++ = b64a[v >> 18]; *o++ = b64a[(v >> 12) & 63];
		*o++ = b64a[(v >> 6) & 63]; *o++ = b64a[v & 63];
		if ((col += 4) == 76) {
			*o++ = '\r'; *o++ = '\n';
			col = 0;
		}
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		*o++ = b64a[v >> 18]; *o++ = b64a[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64a[(v >> 6) & 63] : '=';
		*o++ = '=';
		col += 4;
	}
	if (col > 0) {
		*o++ = '\r'; *o++ = '\n';
	}
	b->len = (size_t)(o - b->p);
	b->p[b->len] = '\0';
}

/* put_qp - in (CRLF lines) as quoted-printable, soft breaks at 76 */
static void
put_qp(buf *b, const char *in, size_t n)
{
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		char enc[4];
		size_t el;

		if (c == '\r' && i + 1 < n && in[i + 1] == '\n') {
			puts_(b, "\r\n");
			i++;
			col = 0;
			continue;
		}
		if ((c >= 33 && c <= 126 && c != '=')
		    || (c == ' ' && i + 1 < n && in[i + 1] != '\r')) {
			enc[0] = (char)c;
			el = 1;
		} else {
			snprintf(enc, sizeof(enc), "=%02X", c);
			el = 3;
		}
		if (col + el > 75) {
			puts_(b, "=\r\n");
			col = 0;
		}
		put(b, enc, el);
		col += el;
	}
}

/* put_body - UTF-8 text in, as charset cs with encoding te */
static void
put_body(msg *m, buf *b, const char *text, size_t len, enum te te)
{
	convert(text, len, m->cs, &m->tmp);
	if (te == TE_B64)
		put_b64(b, (unsigned char *)m->tmp.p, m->tmp.len);
	else if (te == TE_QP)
		put_qp(b, m->tmp.p, m->tmp.len);
	else
		put(b, m->tmp.p, m->tmp.len);
}

/* pick_te - a transfer encoding for text in m's charset */
static enum te
pick_te(msg *m, int ascii)
{
	double u = uni(&m->r);
	enum te te;

	if (m->cs == CS_ISO2022JP)
		te = u < 0.7 ? TE_7BIT : TE_B64;
	else if (ascii)
		te = u < 0.85 ? TE_7BIT : TE_QP;
	else if (m->cs == CS_UTF8)
		te = u < 0.45 ? TE_QP : u < 0.8 ? TE_B64 : TE_8BIT;
	else if (m->cs == CS_KOI8R || m->cs == CS_CP1251)
		te = u < 0.5 ? TE_8BIT : u < 0.8 ? TE_B64 : TE_QP;
	else
		te = u < 0.8 ? TE_QP : TE_8BIT;
	st.qp += te == TE_QP;
	st.b64 += te == TE_B64;
	st.bit8 += te == TE_8BIT;
	return te;
}

/* encode_word - an RFC 2047 encoded-word (or the text itself when ASCII)
 * of UTF-8 s, in m's charset, into out */
static void
encode_words(msg *m, const char *s, buf *out)
{
	enum cs cs = m->cs == CS_ASCII ? CS_UTF8 : m->cs;
	int q = cs == CS_LATIN1 || cs == CS_CP1252 || chance(&m->r, 0.2);
	size_t i, chunk = 0;

	if (is_ascii(s, strlen(s))) {
		puts_(out, s);
		return;
	}
	convert(s, strlen(s), cs, &m->tmp2);
	if (cs == CS_ISO2022JP)
		q = 0;
	putf(out, "=?%s?%c?", cs_name[cs], q ? 'Q' : 'B');
	if (q) {
		for (i = 0; i < m->tmp2.len; i++) {
			unsigned char c = (unsigned char)m->tmp2.p[i];
			if (c == ' ')
				puts_(out, "_");
			else if (c >= 33 && c <= 126 && c != '=' && c != '?' && c != '_')
				put(out, &c, 1);
			else
				putf(out, "=%02X", c);
			if (++chunk > 50 && c == ' ' && i + 1 < m->tmp2.len) {
				putf(out, "?= =?%s?Q?", cs_name[cs]);
				chunk = 0;
			}
		}
	} else {
		/* one word: base64 without line breaks */
		buf t = { 0 };
		put_b64(&t, (unsigned char *)m->tmp2.p, m->tmp2.len);
		for (i = 0; i < t.len; i++)
			if (t.p[i] != '\r' && t.p[i] != '\n')
				put(out, &t.p[i], 1);
		free(t.p);
	}
	puts_(out, "?=");
}

/* pick_charset - the message's charset, by language and luck */
static enum cs
pick_charset(msg *m)
{
	double u = uni(&m->r);

	switch (m->lang) {
	case L_DE: case L_FR:
		return u < 0.6 ? CS_UTF8 : u < 0.85 ? CS_LATIN1 : CS_CP1252;
	case L_RU:
		return u < 0.5 ? CS_UTF8 : u < 0.9 ? CS_KOI8R : CS_CP1251;
	case L_JA:
		return u < 0.6 ? CS_ISO2022JP : CS_UTF8;
	default:
		return u < 0.7 ? CS_UTF8 : CS_ASCII;
	}
}

/* put_address - "Display" <addr> with the display name encoded if need be */
static void
put_address(msg *m, buf *b, int a)
{
	if (addrs[a].display[0] == '\0')
		putf(b, "%s", addrs[a].addr);
	else if (m->lang != L_EN && chance(&m->r, 0.3)) {
		/* a display name in the language: "Müller, Jörg"-like */
		buf t = { 0 };
		putf(&t, "%s %s", addrs[a].display, word(m));
		encode_words(m, t.p, b);
		putf(b, " <%s>", addrs[a].addr);
		free(t.p);
	} else
		putf(b, "\"%s\" <%s>", addrs[a].display, addrs[a].addr);
}

/* gen_attachment - one attachment part into b */
static void
gen_attachment(msg *m, buf *b, const char *boundary)
{
	static const struct { const char *ext, *type; double median; int text; } kinds[] = {
		{ "pdf", "application/pdf", 60000, 0 },
		{ "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", 35000, 0 },
		{ "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", 25000, 0 },
		{ "jpg", "image/jpeg", 90000, 0 },
		{ "png", "image/png", 40000, 0 },
		{ "zip", "application/zip", 80000, 0 },
		{ "csv", "text/csv", 8000, 1 },
		{ "ics", "text/calendar", 2000, 1 },
	};
	static const double kp[] = { .30, .12, .10, .13, .05, .05, .17, .08 };
	double u = uni(&m->r), acc = 0;
	size_t k, size, i;
	buf name = { 0 };
	unsigned char *data;

	for (k = 0; k < 7; k++)
		if (u < (acc += kp[k]))
			break;
	size = (size_t)lognormal(&m->r, kinds[k].median / 2.3, 1.1);
	if (size > MAX_ATTACH)
		size = MAX_ATTACH;
	if (size < 200)
		size = 200;
	/* its name, in the message's language */
	putf(&name, "%s", word(m));
	putf(&name, "_%s", word(m));
	if (chance(&m->r, 0.5))
		putf(&name, " %d", (int)(2024 + below(&m->r, 3)));
	putf(&name, ".%s", kinds[k].ext);
	putf(b, "--%s\r\n", boundary);
	st.attach++;
	if (is_ascii(name.p, name.len))
		putf(b, "Content-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment;"
		     " filename=\"%s\"\r\n", kinds[k].type, name.p, name.p);
	else if (chance(&m->r, 0.33)) {
		buf e = { 0 };
		st.attach_2047++;
		encode_words(m, name.p, &e);
		putf(b, "Content-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment;"
		     " filename=\"%s\"\r\n", kinds[k].type, e.p, e.p);
		free(e.p);
	} else {
		/* RFC 2231: filename*=utf-8''%XX..., name= kept in ASCII */
		st.attach_2231++;
		putf(b, "Content-Type: %s; name=\"attachment.%s\"\r\n"
		     "Content-Disposition: attachment;\r\n filename*=utf-8''",
		     kinds[k].type, kinds[k].ext);
		for (i = 0; i < name.len; i++) {
			unsigned char c = (unsigned char)name.p[i];
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
			    || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
				put(b, &c, 1);
			else
				putf(b, "%%%02X", c);
		}
		puts_(b, "\r\n");
	}
	puts_(b, "Content-Transfer-Encoding: base64\r\n\r\n");
	data = malloc(size + 8);
	if (kinds[k].text) {
		/* CSV or calendar text: words and numbers, compressible */
		buf t = { 0 };
		if (k == 7)
			puts_(&t, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n");
		while (t.len < size)
			putf(&t, "%s;%s;%d;%d.%02d\r\n", word(m), word(m),
			     (int)below(&m->r, 10000), (int)below(&m->r, 1000),
			     (int)below(&m->r, 100));
		if (k == 7)
			puts_(&t, "END:VEVENT\r\nEND:VCALENDAR\r\n");
		put_b64(b, (unsigned char *)t.p, t.len);
		st.attach_bytes += t.len;
		free(t.p);
	} else {
		static const char *const magic[] = { "%PDF-1.5\n", "PK\3\4", "PK\3\4",
			"\xff\xd8\xff\xe0", "\x89PNG\r\n\x1a\n", "PK\3\4" };
		uint64_t v;
		size_t ml = strlen(magic[k]);
		for (i = 0; i + 8 <= size; i += 8) {
			v = next64(&m->r);
			memcpy(data + i, &v, 8);
		}
		v = next64(&m->r);
		memcpy(data + i, &v, size - i);
		memcpy(data, magic[k], ml);
		put_b64(b, data, size);
		st.attach_bytes += size;
	}
	free(data);
	free(name.p);
}

/* gen_html - the HTML version of m->text (from start) into b */
static void
gen_html(msg *m, buf *b, const char *text, size_t len, enum te te)
{
	buf h = { 0 };
	size_t i;

	putf(&h, "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html;"
	     " charset=%s\">\r\n<style type=\"text/css\">\r\nbody { font-family:"
	     " Calibri, Arial, sans-serif; font-size: 11pt; }\r\np.MsoNormal {"
	     " margin: 0cm; }\r\n.signature { color: #555555; font-size: 9pt; }"
	     "\r\n</style></head>\r\n<body lang=\"EN-US\"><div class=\"WordSection1\">"
	     "\r\n<p class=\"MsoNormal\">", cs_name[m->cs]);
	for (i = 0; i < len; i++) {
		if (text[i] == '\r' && i + 3 < len && text[i + 2] == '\r') {
			puts_(&h, "</p>\r\n<p class=\"MsoNormal\">");
			i += 3;
		} else if (text[i] == '&')
			puts_(&h, "&amp;");
		else if (text[i] == '<')
			puts_(&h, "&lt;");
		else
			put(&h, &text[i], 1);
	}
	puts_(&h, "</p>\r\n<p class=\"signature\">--&nbsp;<br>Sent from the office"
	      "</p></div></body></html>\r\n");
	put_body(m, b, h.p, h.len, te);
	free(h.p);
}

/* put_text_part - headers and body of the text/plain part */
static void
put_text_part(msg *m, buf *b, const char *type)
{
	int ascii = is_ascii(m->text.p, m->text.len) && m->cs != CS_ISO2022JP;
	enum te te = pick_te(m, ascii);

	if (m->cs == CS_ASCII && !ascii)
		m->cs = CS_UTF8;
	putf(b, "Content-Type: %s; charset=\"%s\"\r\nContent-Transfer-Encoding: %s\r\n\r\n",
	     type, cs_name[m->cs], te_name[te]);
	if (strcmp(type, "text/html") == 0)
		gen_html(m, b, m->text.p, m->text.len, te);
	else
		put_body(m, b, m->text.p, m->text.len, te);
}

/* put_alternative - a multipart/alternative of text and HTML into b */
static void
put_alternative(msg *m, buf *b, const char *boundary, int related)
{
	char inner[64];

	putf(b, "--%s\r\n", boundary);
	put_text_part(m, b, "text/plain");
	putf(b, "\r\n--%s\r\n", boundary);
	if (related) {
		snprintf(inner, sizeof(inner), "----=_rel_%08lx", m->n);
		putf(b, "Content-Type: multipart/related; boundary=\"%s\"\r\n\r\n"
		     "--%s\r\n", inner, inner);
		put_text_part(m, b, "text/html");
		putf(b, "\r\n--%s\r\nContent-Type: image/png; name=\"logo.png\"\r\n"
		     "Content-ID: <logo.%ld@corp.example>\r\nContent-Disposition: inline;"
		     " filename=\"logo.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
		     inner, m->n);
		{
			unsigned char px[1500];
			size_t i;
			for (i = 0; i < sizeof(px); i++)
				px[i] = (unsigned char)(i * 31 + 7);	/* the same logo each time */
			memcpy(px, "\x89PNG\r\n\x1a\n", 8);
			put_b64(b, px, sizeof(px));
		}
		putf(b, "--%s--\r\n", inner);
	} else
		put_text_part(m, b, "text/html");
	putf(b, "\r\n--%s--\r\n", boundary);
}

/* pick_parties - direction, sender and recipients */
static void
pick_parties(msg *m)
{
	double u = uni(&m->r), rn = uni(&m->r);
	int k, n, tries;

	m->n_rcpt = rn < 0.55 ? 1 : rn < 0.75 ? 2 : rn < 0.87 ? 3 : rn < 0.95 ? 4 : 5;
	if (u < 0.45) {		/* inbound */
		m->from = ext_addr[zipf_draw(&zext_addr, &m->r)];
		for (k = 0; k < m->n_rcpt; k++)
			m->rcpt[k] = k > 0 && chance(&m->r, 0.15)
			    ? ext_addr[zipf_draw(&zext_addr, &m->r)]
			    : int_addr[zipf_draw(&zint_addr, &m->r)];
	} else if (u < 0.75) {	/* outbound */
		m->from = int_addr[zipf_draw(&zint_addr, &m->r)];
		for (k = 0; k < m->n_rcpt; k++)
			m->rcpt[k] = k > 0 && chance(&m->r, 0.3)
			    ? int_addr[zipf_draw(&zint_addr, &m->r)]
			    : ext_addr[zipf_draw(&zext_addr, &m->r)];
	} else {		/* internal */
		m->from = int_addr[zipf_draw(&zint_addr, &m->r)];
		for (k = 0; k < m->n_rcpt; k++)
			m->rcpt[k] = int_addr[zipf_draw(&zint_addr, &m->r)];
	}
	/* no one twice */
	for (k = 0, n = 0; k < m->n_rcpt; k++) {
		int dup = m->rcpt[k] == m->from, j;
		for (j = 0; j < n; j++)
			dup |= m->rcpt[j] == m->rcpt[k];
		for (tries = 0; dup && tries < 3; tries++) {
			m->rcpt[k] = (m->rcpt[k] + 1 + (int)below(&m->r, 50)) % N_ADDRESSES;
			dup = m->rcpt[k] == m->from;
			for (j = 0; j < n; j++)
				dup |= m->rcpt[j] == m->rcpt[k];
		}
		if (!dup)
			m->rcpt[n++] = m->rcpt[k];
	}
	m->n_rcpt = n > 0 ? n : 1;
}

/* gen_message - message n of total into m->out */
static void
gen_message(msg *m, uint64_t seed, long n, long total)
{
	static const char *const wdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	static const int tz_of[N_LANG] = { -300, 60, 60, 180, 540 };
	buf *b = &m->out;
	buf subj = { 0 };
	char boundary[64];
	size_t target;
	int64_t sent;
	time_t t;
	struct tm tm;
	int tz, nw, i;
	double u;

	rng_seed(&m->r, seed, (uint64_t)n + 1);
	m->n = n;
	b->len = m->text.len = 0;
	m->received = received_of(n, total);
	pick_parties(m);
	m->lang = domains[addrs[m->from].dom].lang;
	if (domains[addrs[m->from].dom].internal)
		/* the correspondent's language, mostly */
		m->lang = chance(&m->r, 0.7) ? domains[addrs[m->rcpt[0]].dom].lang : L_EN;
	m->cs = pick_charset(m);
	st.charset[m->cs]++;

	/* subject */
	u = uni(&m->r);
	if (u < 0.3)
		puts_(&subj, m->lang == L_DE ? "AW: " : "Re: ");
	else if (u < 0.35)
		puts_(&subj, m->lang == L_DE ? "WG: " : "Fwd: ");
	nw = 2 + (int)below(&m->r, 8);
	for (i = 0; i < nw; i++) {
		const char *w = word(m);
		if (i == 0 && w[0] >= 'a' && w[0] <= 'z')
			putf(&subj, "%c%s", w[0] - 32, w + 1);
		else
			putf(&subj, "%s%s", i ? " " : "", w);
	}
	{
		buf enc = { 0 };

		encode_words(m, subj.p, &enc);
		snprintf(m->subject, sizeof(m->subject), "%s", enc.p);
		free(enc.p);
	}
	free(subj.p);

	/* Date: sent a little before it was received, in the sender's zone */
	sent = m->received / 1000000 - 2 - (int64_t)below(&m->r, 90);
	tz = tz_of[m->lang];
	if (domains[addrs[m->from].dom].internal)
		tz = 60;
	t = (time_t)(sent + tz * 60);
	gmtime_r(&t, &tm);
	snprintf(m->date, sizeof(m->date), "%s, %d %s %d %02d:%02d:%02d %c%02d%02d",
		 wdays[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, tz < 0 ? '-' : '+', abs(tz) / 60,
		 abs(tz) % 60);
	snprintf(m->msgid, sizeof(m->msgid), "<%016llx.%ld.mailgen@%s>",
		 (unsigned long long)next64(&m->r), n, domains[addrs[m->from].dom].name);

	/* trace and headers */
	putf(b, "Received: from mx%d.%s (mx%d.%s [198.51.100.%d])\r\n\tby mx.corp.example"
	     " (Postfix) with ESMTPS id %08llX\r\n\tfor <%s>; %s\r\n",
	     (int)below(&m->r, 4), domains[addrs[m->from].dom].name,
	     (int)below(&m->r, 4), domains[addrs[m->from].dom].name,
	     (int)below(&m->r, 254) + 1, (unsigned long long)(next64(&m->r) & 0xffffffffULL),
	     addrs[m->rcpt[0]].addr, m->date);
	if (chance(&m->r, 0.5))
		putf(b, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s;"
		     " s=sel1;\r\n\th=from:to:subject:date:message-id; bh=%016llx%016llx=;"
		     "\r\n\tb=%016llx%016llx%016llx%016llx\r\n",
		     domains[addrs[m->from].dom].name,
		     (unsigned long long)next64(&m->r), (unsigned long long)next64(&m->r),
		     (unsigned long long)next64(&m->r), (unsigned long long)next64(&m->r),
		     (unsigned long long)next64(&m->r), (unsigned long long)next64(&m->r));
	puts_(b, "From: ");
	put_address(m, b, m->from);
	puts_(b, "\r\nTo: ");
	for (i = 0; i < m->n_rcpt && i < 2; i++) {
		if (i)
			puts_(b, ",\r\n ");
		put_address(m, b, m->rcpt[i]);
	}
	if (m->n_rcpt > 2) {
		puts_(b, "\r\nCc: ");
		for (i = 2; i < m->n_rcpt; i++) {
			if (i > 2)
				puts_(b, ",\r\n ");
			put_address(m, b, m->rcpt[i]);
		}
	}
	putf(b, "\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n", m->subject,
	     m->date, m->msgid);
	if (strncmp(m->subject, "Re: ", 4) == 0 || strncmp(m->subject, "AW: ", 4) == 0)
		putf(b, "In-Reply-To: <%016llx@%s>\r\nReferences: <%016llx@%s>\r\n",
		     (unsigned long long)next64(&m->r), domains[addrs[m->rcpt[0]].dom].name,
		     (unsigned long long)next64(&m->r), domains[addrs[m->rcpt[0]].dom].name);
	if (chance(&m->r, 0.4))
		puts_(b, "X-Mailer: Microsoft Outlook 16.0\r\n");
	puts_(b, "MIME-Version: 1.0\r\n");

	/* body */
	target = (size_t)lognormal(&m->r, 2500, 0.9);
	if (target > MAX_TEXT)
		target = MAX_TEXT;
	gen_text(m, target);
	puts_(&m->text, "\r\n-- \r\n");
	putf(&m->text, "%s\r\n", addrs[m->from].display[0] ? addrs[m->from].display
	     : addrs[m->from].addr);
	snprintf(boundary, sizeof(boundary), "----=_Part_%ld_%08llx", n,
		 (unsigned long long)(next64(&m->r) & 0xffffffffULL));
	u = uni(&m->r);
	if (u < 0.47) {
		m->structure = 0;
		put_text_part(m, b, "text/plain");
	} else if (u < 0.85) {
		m->structure = 1;
		putf(b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n",
		     boundary);
		put_alternative(m, b, boundary, 0);
	} else {
		int na = 1 + (chance(&m->r, 0.3) ? 1 + (int)below(&m->r, 2) : 0);
		int nested = chance(&m->r, 0.2);

		m->structure = nested ? 3 : 2;
		putf(b, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n"
		     "This is a multi-part message in MIME format.\r\n\r\n", boundary);
		if (nested) {
			char alt[80];
			snprintf(alt, sizeof(alt), "%s_alt", boundary);
			putf(b, "--%s\r\nContent-Type: multipart/alternative;"
			     " boundary=\"%s\"\r\n\r\n", boundary, alt);
			put_alternative(m, b, alt, chance(&m->r, 0.1));
			puts_(b, "\r\n");
		} else {
			putf(b, "--%s\r\n", boundary);
			put_text_part(m, b, "text/plain");
			puts_(b, "\r\n");
		}
		for (i = 0; i < na; i++)
			gen_attachment(m, b, boundary);
		putf(b, "--%s--\r\n", boundary);
		m->n_attach = na;
	}
	st.structure[m->structure]++;
}

/* cmp_size - qsort of sizes */
static int
cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* print_stats - -S */
static void
print_stats(void)
{
	size_t n = st.n;
	int i;

	if (n == 0)
		return;
	qsort(st.sizes, n, sizeof(*st.sizes), cmp_size);
	fprintf(stderr, "messages %zu bytes %llu mean %.0f\n", n,
		(unsigned long long)st.bytes, (double)st.bytes / (double)n);
	fprintf(stderr, "size p10 %zu p25 %zu p50 %zu p75 %zu p90 %zu p99 %zu"
		" p99.9 %zu max %zu\n", st.sizes[n / 10], st.sizes[n / 4],
		st.sizes[n / 2], st.sizes[n * 3 / 4], st.sizes[n * 9 / 10],
		st.sizes[n * 99 / 100], st.sizes[n * 999 / 1000], st.sizes[n - 1]);
	fprintf(stderr, "structure text/plain %ld alternative %ld mixed %ld"
		" mixed+nested %ld\n", st.structure[0], st.structure[1],
		st.structure[2], st.structure[3]);
	fprintf(stderr, "charset");
	for (i = 0; i < N_CS; i++)
		fprintf(stderr, " %s %ld", cs_name[i], st.charset[i]);
	fprintf(stderr, "\ntext parts: quoted-printable %ld base64 %ld 8bit %ld\n",
		st.qp, st.b64, st.bit8);
	fprintf(stderr, "attachments %ld (RFC 2231 names %ld, RFC 2047 names %ld),"
		" raw bytes %llu (%.1f%% of all)\n", st.attach, st.attach_2231,
		st.attach_2047, (unsigned long long)st.attach_bytes,
		100.0 * (double)st.attach_bytes / (double)st.bytes);
}

/* tsv_safe - s with tabs and line ends as spaces (the stream's fields) */
static void
tsv_put(FILE *fp, const char *s)
{
	for (; *s; s++)
		fputc(*s == '\t' || *s == '\r' || *s == '\n' ? ' ' : *s, fp);
}

int
main(int argc, char **argv)
{
	uint64_t seed = 1;
	long total = 1000000, first = 0, count = -1, n;
	const char *dir = NULL;
	int c, stats = 0, words = 0, i;
	static char obuf[1 << 20];
	msg m;

	while ((c = getopt(argc, argv, "s:N:f:n:So:w")) != -1) {
		switch (c) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'N': total = atol(optarg); break;
		case 'f': first = atol(optarg); break;
		case 'n': count = atol(optarg); break;
		case 'S': stats = 1; break;
		case 'o': dir = optarg; break;
		case 'w': words = 1; break;
		default:
			fprintf(stderr, "usage: mailgen [-s SEED] [-N TOTAL] [-f FIRST]"
				" [-n COUNT] [-S] [-o DIR] | -w RANK...\n");
			return 2;
		}
	}
	world_init(seed);
	if (words) {
		for (i = optind; i < argc; i++) {
			long r = atol(argv[i]);
			if (r < 1 || (size_t)r > n_vocab)
				continue;
			printf("%ld %s %.3g\n", r, vocab[r - 1],
			       (zvocab.cdf[r - 1] - (r > 1 ? zvocab.cdf[r - 2] : 0))
			       / zvocab.cdf[n_vocab - 1]);
		}
		return 0;
	}
	if (count < 0)
		count = total - first;
	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
	memset(&m, 0, sizeof(m));
	if (stats)
		st.sizes = malloc((size_t)count * sizeof(*st.sizes));
	for (n = first; n < first + count; n++) {
		gen_message(&m, seed, n, total);
		if (stats) {
			st.sizes[st.n++] = m.out.len;
			st.bytes += m.out.len;
		}
		if (dir != NULL) {
			char path[4096];
			FILE *fp;

			snprintf(path, sizeof(path), "%s/%07ld.eml", dir, n);
			if ((fp = fopen(path, "w")) == NULL
			    || fwrite(m.out.p, 1, m.out.len, fp) != m.out.len
			    || fclose(fp) != 0) {
				fprintf(stderr, "mailgen: %s: %s\n", path, strerror(errno));
				return 1;
			}
			continue;
		}
		printf("M\t%lld\t%zu\t%s\t", (long long)m.received, m.out.len,
		       addrs[m.from].addr);
		for (i = 0; i < m.n_rcpt; i++)
			printf("%s%s", i ? "," : "", addrs[m.rcpt[i]].addr);
		printf("\t%s\t%s\t", m.msgid, m.date);
		tsv_put(stdout, m.subject);
		putchar('\n');
		if (fwrite(m.out.p, 1, m.out.len, stdout) != m.out.len)
			break;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno != EPIPE)
			fprintf(stderr, "mailgen: write: %s\n", strerror(errno));
		return 1;
	}
	if (stats)
		print_stats();
	return 0;
}
