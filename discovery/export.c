/*
 * export.c - the files of an export, written as the service streams.
 *
 * NAME
 *	export - messages, manifests, keys and a README into a directory
 *
 * DESCRIPTION
 *	mailkeep export asks mailkeep-access for the messages it may get;
 *	the service answers with one frame of public keys and the proof of
 *	the export's own audit entry, then for each
 *	message a frame with its signed proof and its content as data
 *	frames.  This file turns that stream into an export (FORMAT.md,
 *	section 9):
 *
 *	  messages/ID.eml   (eml) the bytes as archived, or
 *	  messages.mbox     (mbox) every message as mboxrd
 *	  manifest.json     one row a message, one row a line
 *	  manifest.csv      the same rows as CSV
 *	  edrm.xml          the same rows as an EDRM XML 1.2 load file
 *	  keys.pem          the archive's public keys, every generation
 *	  custody.json      the export's audit entry, with its proof
 *	  README.txt        how to check it
 *
 *	Memory does not grow with the export: one message's digests and at
 *	most EXPORT_HEAD_MAX bytes of its header section are held; each row
 *	is written as soon as its message ends.  Everything goes into
 *	PATH.partial, which is fsync'ed and renamed to PATH at the very end;
 *	discovery_export_abort() removes it, so an export that did not
 *	finish leaves nothing that looks like one.
 *
 * DIAGNOSTICS
 *	-1 with the problem in err (file names included).  Nothing prints.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "discovery/exportrow.h"

/* hex - n bytes as lower-case hex into out (2n + 1 bytes) */
static void
hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* export_digest_begin - start the digests of one message */
int
export_digest_begin(export_digest *d, mk_error *err)
{
	memset(d, 0, sizeof(*d));
	d->md5 = EVP_MD_CTX_new();
	d->sha1 = EVP_MD_CTX_new();
	d->sha256 = EVP_MD_CTX_new();
	if (d->md5 == NULL || d->sha1 == NULL || d->sha256 == NULL
	    || EVP_DigestInit_ex(d->md5, EVP_md5(), NULL) != 1
	    || EVP_DigestInit_ex(d->sha1, EVP_sha1(), NULL) != 1
	    || EVP_DigestInit_ex(d->sha256, EVP_sha256(), NULL) != 1) {
		export_digest_free(d);
		return mk_error_set(err, "cannot start the message digests");
	}
	return 0;
}

/* keep_head - the header section of the bytes so far, up to the first
 * empty line or EXPORT_HEAD_MAX bytes.  The search for the empty line
 * as a string (up to a NUL byte) starts 3 bytes before the new ones: an
 * empty line before them would have ended the section already, and
 * searching the whole section again for every call made a message whose
 * header came one short line at a time (the lines of an mbox) take time
 * quadratic in its length - 8 s for 1 MB.  The result is the same. */
static int
keep_head(export_digest *d, const char *buf, size_t len)
{
	size_t room = EXPORT_HEAD_MAX - d->head_len, n = len < room ? len : room;
	size_t from = d->head_len > 3 ? d->head_len - 3 : 0;
	char *end;

	if (d->head_done || n == 0) {
		d->head_done = true;
		return 0;
	}
	if (d->head == NULL && (d->head = malloc(EXPORT_HEAD_MAX + 1)) == NULL)
		return -1;
	memcpy(d->head + d->head_len, buf, n);
	d->head_len += n;
	d->head[d->head_len] = '\0';
	if (d->head_nul)
		;		/* the string ended before: nothing more is found */
	else if ((end = strstr(d->head + from, "\r\n\r\n")) != NULL) {
		d->head_len = (size_t)(end - d->head) + 4;
		d->head_done = true;
	} else if ((end = strstr(d->head + from, "\n\n")) != NULL) {
		d->head_len = (size_t)(end - d->head) + 2;
		d->head_done = true;
	}
	if (memchr(buf, '\0', n) != NULL)
		d->head_nul = true;
	return 0;
}

/* export_digest_add - bytes of the message */
int
export_digest_add(export_digest *d, const void *buf, size_t len)
{
	d->size += (int64_t)len;
	if (EVP_DigestUpdate(d->md5, buf, len) != 1
	    || EVP_DigestUpdate(d->sha1, buf, len) != 1
	    || EVP_DigestUpdate(d->sha256, buf, len) != 1)
		return -1;
	return keep_head(d, buf, len);
}

/* export_digest_end - the digests as hex */
int
export_digest_end(export_digest *d, mk_error *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n;

	if (EVP_DigestFinal_ex(d->md5, md, &n) != 1 || n != 16)
		return mk_error_set(err, "MD5 failed");
	hex(md, 16, d->md5_hex);
	if (EVP_DigestFinal_ex(d->sha1, md, &n) != 1 || n != 20)
		return mk_error_set(err, "SHA-1 failed");
	hex(md, 20, d->sha1_hex);
	if (EVP_DigestFinal_ex(d->sha256, md, &n) != 1 || n != 32)
		return mk_error_set(err, "SHA-256 failed");
	hex(md, 32, d->sha256_hex);
	return 0;
}

/* export_digest_free - what the digests hold */
void
export_digest_free(export_digest *d)
{
	EVP_MD_CTX_free(d->md5);
	EVP_MD_CTX_free(d->sha1);
	EVP_MD_CTX_free(d->sha256);
	free(d->head);
	d->md5 = d->sha1 = d->sha256 = NULL;
	d->head = NULL;
}

/* The header fields of one message, first occurrence of each. */
typedef struct head_fields {
	json_t *obj;
} head_fields;

/* take_header - discovery_sink: keep the first value of each field */
static int
take_header(discovery_header which, const char *value, void *ctx)
{
	static const char *names[] = { "from", "to", "cc", "subject", "date",
				       "message_id" };
	head_fields *h = ctx;

	if ((size_t)which < sizeof(names) / sizeof(names[0])
	    && json_is_null(json_object_get(h->obj, names[which])))
		json_object_set_new(h->obj, names[which], json_string(value));
	return 0;
}

/* no_text, no_attachment - discovery_sink: the body is not needed */
static int
no_text(const char *utf8, size_t len, void *ctx)
{
	(void)utf8, (void)len, (void)ctx;
	return 0;
}

static int
no_attachment(const char *filename, const char *type, void *ctx)
{
	(void)filename, (void)type, (void)ctx;
	return 0;
}

/* header_fields - From, To, Cc and Subject decoded from the header
 * section in d (null without content: Subject is never kept then), Date
 * and Message-ID as the signed record has them (raw); a new object */
static json_t *
header_fields(const export_digest *d, json_t *rec, mk_error *err)
{
	head_fields h = { json_pack("{s:n, s:n, s:n, s:n, s:n, s:n}", "from",
			  "to", "cc", "date", "subject", "message_id") };
	discovery_sink sink = { take_header, no_text, no_attachment, &h };
	discovery_stats st;

	if (h.obj == NULL)
		return NULL;
	if (d != NULL && d->head_len > 0
	    && discovery_extract(d->head, d->head_len, &sink, &st, err) != 0) {
		json_decref(h.obj);
		return NULL;
	}
	json_object_set(h.obj, "date", json_object_get(rec, "date"));
	json_object_set(h.obj, "message_id", json_object_get(rec, "message_id"));
	return h.obj;
}

/* compare_nocase - qsort/bsearch of strings, ignoring ASCII case */
static int
compare_nocase(const void *a, const void *b)
{
	return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

/* is_rcpt - is addr one of rcpts (ignoring case)?  In sorted (n of
 * them, sorted by compare_nocase) when there is one */
static bool
is_rcpt(const char *addr, json_t *rcpts, const char **sorted, size_t n)
{
	json_t *r;
	size_t i;

	if (sorted != NULL)
		return bsearch(&addr, sorted, n, sizeof(*sorted), compare_nocase)
		    != NULL;
	json_array_foreach(rcpts, i, r)
		if (json_string_value(r) && strcasecmp(addr, json_string_value(r))
		    == 0)
			return true;
	return false;
}

/* custodian - the first party of the decision that is an envelope
 * recipient, else the first party, else the envelope sender.  The
 * recipients are sorted once (when there is memory for it): trying each
 * party against each recipient took time quadratic in their number */
static json_t *
custodian(json_t *rec)
{
	json_t *parties = json_object_get(json_object_get(rec, "policy"),
					  "parties");
	json_t *rcpts = json_object_get(rec, "rcpts"), *p, *r;
	const char **sorted = NULL, *addr;
	size_t i, n = 0;

	if (json_array_size(parties) > 0 && json_array_size(rcpts) > 0
	    && (sorted = malloc(json_array_size(rcpts) * sizeof(*sorted)))
	    != NULL) {
		json_array_foreach(rcpts, i, r)
			if (json_string_value(r) != NULL)
				sorted[n++] = json_string_value(r);
		qsort(sorted, n, sizeof(*sorted), compare_nocase);
	}
	json_array_foreach(parties, i, p) {
		addr = json_string_value(json_object_get(p, "address"));
		if (addr != NULL && is_rcpt(addr, rcpts, sorted, n)) {
			free(sorted);
			return json_string(addr);
		}
	}
	free(sorted);
	p = json_object_get(json_array_get(parties, 0), "address");
	if (json_is_string(p))
		return json_copy(p);
	r = json_object_get(rec, "mail_from");
	return json_is_string(r) ? json_copy(r) : json_null();
}

/* rfc3339 - microseconds since the epoch as UTC text */
static json_t *
rfc3339(json_int_t usec)
{
	time_t t = (time_t)(usec / 1000000);
	char buf[96];
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (long long)(usec % 1000000));
	return json_string(buf);
}

/* digest_members - size and digests of the exported bytes, or of the
 * signed record when there are none */
static void
digest_members(json_t *row, const export_digest *d, json_t *rec)
{
	if (d == NULL) {
		json_object_set(row, "size", json_object_get(rec, "size"));
		json_object_set_new(row, "md5", json_null());
		json_object_set_new(row, "sha1", json_null());
		json_object_set_new(row, "sha256", json_null());
		return;
	}
	json_object_set_new(row, "size", json_integer(d->size));
	json_object_set_new(row, "md5", json_string(d->md5_hex));
	json_object_set_new(row, "sha1", json_string(d->sha1_hex));
	json_object_set_new(row, "sha256", json_string(d->sha256_hex));
}

/* export_row - the manifest row (exportrow.h) */
json_t *
export_row(json_t *proof, const export_digest *d, const char *file,
	   size_t position, mk_error *err)
{
	json_t *record = json_object_get(proof, "record");
	const char *text = json_string_value(json_object_get(record, "text"));
	json_t *rec = text ? json_loads(text, 0, NULL) : NULL;
	json_t *row, *head;

	if (!json_is_object(rec) || !json_is_string(json_object_get(proof, "id"))) {
		json_decref(rec);
		mk_error_set(err, "the proof holds no signed record");
		return NULL;
	}
	row = json_object();
	json_object_set(row, "id", json_object_get(proof, "id"));
	json_object_set_new(row, "content", json_string(d ? "full" : "metadata"));
	json_object_set_new(row, "file", d ? json_string(file) : json_null());
	if (d != NULL && position > 0)
		json_object_set_new(row, "position", json_integer((json_int_t)position));
	digest_members(row, d, rec);
	json_object_set_new(row, "custodian", custodian(rec));
	json_object_set(row, "mail_from", json_object_get(rec, "mail_from"));
	json_object_set(row, "rcpts", json_object_get(rec, "rcpts"));
	if ((head = header_fields(d, rec, err)) == NULL) {
		json_decref(rec);
		json_decref(row);
		return NULL;
	}
	json_object_update(row, head);
	json_decref(head);
	json_object_set(row, "received_at", json_object_get(rec, "received_at"));
	json_object_set_new(row, "received", rfc3339(json_integer_value(
			    json_object_get(rec, "received_at"))));
	json_object_set(row, "policy", json_object_get(rec, "policy"));
	json_object_set(row, "record", record);
	json_object_set(row, "proof", proof);
	json_decref(rec);
	return row;
}

/* export_row_text - the row's manifest.json line */
char *
export_row_text(json_t *row)
{
	return json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER
			  | JSON_ENSURE_ASCII);
}

/* The CSV columns: a row member each ("rcpts" joined with "; "). */
static const char *csv_columns[] = {
	"id", "content", "file", "size", "md5", "sha1", "sha256", "custodian",
	"mail_from", "rcpts", "from", "to", "cc", "date", "subject",
	"message_id", "received", "signer", "signature", "seq", "tree_size",
	"checkpoint_root"
};
#define N_CSV (sizeof(csv_columns) / sizeof(csv_columns[0]))

/* joined - the strings of array a joined with "; " (malloc'ed; a member
 * that is no string as ""), in one allocation: joining one at a time
 * took time quadratic in the number of recipients */
static char *
joined(json_t *a)
{
	size_t i, len = 0, n;
	const char *s;
	char *out, *p;
	json_t *r;

	json_array_foreach(a, i, r)
		len += (i ? 2 : 0) + (json_string_value(r) ? strlen(
			json_string_value(r)) : 0);
	if ((out = p = malloc(len + 1)) == NULL)
		return NULL;
	json_array_foreach(a, i, r) {
		if (i) {
			memcpy(p, "; ", 2);
			p += 2;
		}
		s = json_string_value(r) ? json_string_value(r) : "";
		n = strlen(s);
		memcpy(p, s, n);
		p += n;
	}
	*p = '\0';
	return out;
}

/* csv_value - one member of row as text (malloc'ed; "" when null) */
static char *
csv_value(json_t *row, const char *name)
{
	json_t *proof = json_object_get(row, "proof"), *v;
	char *out = NULL;

	if (strcmp(name, "signer") == 0 || strcmp(name, "signature") == 0)
		v = json_object_get(json_object_get(row, "record"), name);
	else if (strcmp(name, "seq") == 0 || strcmp(name, "tree_size") == 0)
		v = json_object_get(proof, name);
	else if (strcmp(name, "checkpoint_root") == 0)
		v = json_object_get(json_object_get(proof, "checkpoint"), "root");
	else
		v = json_object_get(row, name);
	if (json_is_array(v))
		return joined(v);
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_integer(v) && asprintf(&out, "%lld",
					   (long long)json_integer_value(v)) >= 0)
		return out;
	return strdup("");
}

/* csv_field - one field, quoted as RFC 4180 says; a leading = + - @ is
 * prefixed with ' so that no spreadsheet runs it as a formula */
static int
csv_field(FILE *f, const char *s, bool last)
{
	bool formula = strchr("=+-@", s[0]) != NULL && s[0] != '\0';

	if (fputc('"', f) == EOF || (formula && fputc('\'', f) == EOF))
		return -1;
	for (; *s; s++)
		if ((*s == '"' && fputc('"', f) == EOF) || fputc(*s, f) == EOF)
			return -1;
	return fputs(last ? "\"\r\n" : "\",", f) == EOF ? -1 : 0;
}

/* export_csv_header - the first line of manifest.csv */
int
export_csv_header(FILE *f)
{
	size_t i;

	for (i = 0; i < N_CSV; i++)
		if (csv_field(f, csv_columns[i], i + 1 == N_CSV) != 0)
			return -1;
	return 0;
}

/* export_csv_row - one row of manifest.csv */
int
export_csv_row(FILE *f, json_t *row)
{
	size_t i;
	char *v;
	int rc = 0;

	for (i = 0; i < N_CSV && rc == 0; i++) {
		if ((v = csv_value(row, csv_columns[i])) == NULL)
			return -1;
		rc = csv_field(f, v, i + 1 == N_CSV);
		free(v);
	}
	return rc;
}

/* xml_text - s with the five XML specials escaped, control bytes
 * (invalid in XML 1.0) as U+FFFD */
static int
xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int rc = c == '&' ? fputs("&amp;", f) : c == '<' ? fputs("&lt;", f)
		    : c == '>' ? fputs("&gt;", f) : c == '"' ? fputs("&quot;", f)
		    : c == '\'' ? fputs("&apos;", f)
		    : c < 0x20 && c != '\t' ? fputs("\xef\xbf\xbd", f)
		    : fputc(c, f);

		if (rc == EOF)
			return -1;
	}
	return 0;
}

/* export_edrm_begin - the start of edrm.xml */
int
export_edrm_begin(FILE *f)
{
	return fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		     "<Root MajorVersion=\"1\" MinorVersion=\"2\""
		     " Description=\"mailkeep export\" Locale=\"en-US\""
		     " DataInterchangeType=\"Update\">\n"
		     "  <Batch name=\"mailkeep-export\">\n"
		     "    <Documents>\n", f) == EOF ? -1 : 0;
}

/* edrm_tag - one Tag of a document */
static int
edrm_tag(FILE *f, const char *tag, const char *type, json_t *row,
	 const char *member)
{
	char *v = csv_value(row, member);
	int rc;

	if (v == NULL)
		return -1;
	rc = fprintf(f, "          <Tag TagName=\"%s\" TagDataType=\"%s\""
		     " TagValue=\"", tag, type) < 0 || xml_text(f, v) != 0
	    || fputs("\"/>\n", f) == EOF ? -1 : 0;
	free(v);
	return rc;
}

/* The EDRM tags of a document, from row members. */
static const char *edrm_tags[][3] = {
	{"#From", "Text", "from"}, {"#To", "Text", "to"}, {"#CC", "Text", "cc"},
	{"#Subject", "Text", "subject"}, {"#DateSent", "Text", "date"},
	{"#MessageID", "Text", "message_id"},
	{"#DateReceived", "DateTime", "received"},
	{"#Custodian", "Text", "custodian"}, {"#EnvelopeFrom", "Text", "mail_from"},
	{"#EnvelopeTo", "Text", "rcpts"}, {"#HashMD5", "Text", "md5"},
	{"#HashSHA1", "Text", "sha1"}, {"#HashSHA256", "Text", "sha256"},
	{"#FileSize", "Integer", "size"}, {"#Content", "Text", "content"},
	{"#RecordSigner", "Integer", "signer"},
	{"#RecordSignature", "Text", "signature"},
};

/* export_edrm_row - one Document of edrm.xml */
int
export_edrm_row(FILE *f, json_t *row)
{
	const char *id = json_string_value(json_object_get(row, "id"));
	const char *file = json_string_value(json_object_get(row, "file"));
	size_t i;

	if (fprintf(f, "      <Document DocID=\"%s\" DocType=\"Message\""
		    " MimeType=\"message/rfc822\">\n        <Tags>\n", id) < 0)
		return -1;
	for (i = 0; i < sizeof(edrm_tags) / sizeof(edrm_tags[0]); i++)
		if (edrm_tag(f, edrm_tags[i][0], edrm_tags[i][1], row,
			     edrm_tags[i][2]) != 0)
			return -1;
	if (fputs("        </Tags>\n", f) == EOF)
		return -1;
	if (file != NULL && fprintf(f, "        <Files>\n          <File"
		" FileType=\"Native\">\n            <ExternalFile FilePath=\"%s\""
		" FileName=\"%s\" FileSize=\"%lld\" Hash=\"%s\"/>\n"
		"          </File>\n        </Files>\n",
		strchr(file, '/') ? "messages" : ".",
		strchr(file, '/') ? strchr(file, '/') + 1 : file,
		(long long)json_integer_value(json_object_get(row, "size")),
		json_string_value(json_object_get(row, "md5"))) < 0)
		return -1;
	return fputs("      </Document>\n", f) == EOF ? -1 : 0;
}

/* export_edrm_end - the end of edrm.xml */
int
export_edrm_end(FILE *f)
{
	return fputs("    </Documents>\n  </Batch>\n</Root>\n", f) == EOF
	    ? -1 : 0;
}

/* mbox_pending - what an undecided line start held back, as it was */
static int
mbox_pending(export_mbox_state *st, FILE *out)
{
	size_t i;

	for (i = 0; i < st->gts; i++)
		if (fputc('>', out) == EOF)
			return -1;
	if (st->from > 0 && fwrite("From ", 1, st->from, out) != st->from)
		return -1;
	st->gts = st->from = 0;
	st->mid_line = 1;
	return 0;
}

/* mbox_byte - one byte at a line's start: ">*From " gets one more '>' */
static int
mbox_byte(export_mbox_state *st, char c, FILE *out)
{
	if (c == '>' && st->from == 0) {
		st->gts++;
		return 0;
	}
	if (c == "From "[st->from]) {
		if (++st->from < 5)
			return 0;
		if (fputc('>', out) == EOF)
			return -1;
		return mbox_pending(st, out);
	}
	if (mbox_pending(st, out) != 0 || fputc(c, out) == EOF)
		return -1;
	st->mid_line = c != '\n';
	return 0;
}

/* export_mbox_escape - mboxrd: a line matching ^>*From gets one '>' more */
int
export_mbox_escape(export_mbox_state *st, const char *buf, size_t len,
		   FILE *out)
{
	const char *nl;
	size_t n;

	while (len > 0) {
		if (!st->mid_line) {
			if (mbox_byte(st, *buf, out) != 0)
				return -1;
			buf++, len--;
			continue;
		}
		nl = memchr(buf, '\n', len);
		n = nl ? (size_t)(nl - buf) + 1 : len;
		if (fwrite(buf, 1, n, out) != n)
			return -1;
		st->mid_line = nl == NULL;
		buf += n, len -= n;
	}
	return 0;
}

/* export_mbox_flush - the held-back start of a last line */
int
export_mbox_flush(export_mbox_state *st, FILE *out)
{
	return st->mid_line ? 0 : mbox_pending(st, out);
}
