/*
 * seed_verify_export.c - the seed corpus of fuzz_verify_export, made from
 * real exports.
 *
 * NAME
 *	seed_verify_export - write tests/fuzz/corpus/verify_export/
 *
 * SYNOPSIS
 *	make fuzz-seeds
 *	tests/fuzz/seed_verify_export OUTDIR
 *
 * DESCRIPTION
 *	Makes a new archive in a temporary directory and stores three
 *	messages the way the milter does: one with encoded From and Subject
 *	headers, a Cc and body lines starting with "From " and ">From "
 *	(CRLF), signed by key generation 1; then the keys are rotated and
 *	one with LF line ends and no final newline, and one kept as
 *	metadata only, follow, signed by generation 2, as is the checkpoint.
 *	The three are exported as the access service sends them (as
 *	tests/unit/test_export.c does), by the real writer, in every format
 *	(eml, mbox, zip).  Each export is checked by discovery_export_verify()
 *	(no problem allowed) and written to OUTDIR in fuzz_verify_export's
 *	input format (README.txt left out, except in the zip file itself):
 *	valid-* as made, bad-* each tampered one way (a message byte, a row
 *	member, the CSV, the XML, a proof, a key, a file removed or added,
 *	the mbox, the zip's names ...).  Prints the names it wrote.  Ids,
 *	keys and signatures are new on every run.
 *
 * DIAGNOSTICS
 *	Exits 1 with a message when anything fails.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "access/access.h"
#include "discovery/discovery.h"

#define MAX_FILES	32

/* One file of an export. */
typedef struct file {
	char *name;
	char *data;
	size_t len;
} file;

/* One seed: how (the first byte) and the files. */
typedef struct seed {
	char how;
	file f[MAX_FILES];
	size_t n;
} seed;

static const char *outdir;

/* die - the message, exit 1 */
static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("seed_verify_export: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* check - die with err's message unless ok */
static void
check(int ok, const mk_error *err, const char *what)
{
	if (!ok)
		die("%s: %s", what, err ? err->msg : strerror(errno));
}

/* add - a copy of len bytes as file name of s */
static void
add(seed *s, const char *name, const char *data, size_t len)
{
	file *f = &s->f[s->n++];

	if (s->n > MAX_FILES)
		die("too many files");
	f->name = strdup(name);
	f->data = malloc(len + 1);
	check(f->name != NULL && f->data != NULL, NULL, "malloc");
	memcpy(f->data, data, len);
	f->data[len] = '\0';
	f->len = len;
}

/* copy - a new seed like s, how as given */
static seed
copy(const seed *s, char how)
{
	seed c = { how, { { NULL, NULL, 0 } }, 0 };
	size_t i;

	for (i = 0; i < s->n; i++)
		add(&c, s->f[i].name, s->f[i].data, s->f[i].len);
	return c;
}

/* release - what s holds */
static void
release(seed *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->f[i].name);
		free(s->f[i].data);
	}
	s->n = 0;
}

/* get - the file name of s (or one whose name starts with name when
 * prefix), or die */
static file *
get(seed *s, const char *name, int prefix)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (prefix ? strncmp(s->f[i].name, name, strlen(name)) == 0
		    : strcmp(s->f[i].name, name) == 0)
			return &s->f[i];
	die("no file %s", name);
}

/* drop - file name out of s */
static void
drop(seed *s, const char *name)
{
	file *f = get(s, name, 0);

	free(f->name);
	free(f->data);
	memmove(f, f + 1, (size_t)(&s->f[s->n] - (f + 1)) * sizeof(*f));
	s->n--;
}

/* edit - the first old of file name (from its nth occurrence of after,
 * when after is given) replaced by new */
static void
edit(seed *s, const char *name, const char *after, int nth, const char *old,
     const char *new)
{
	file *f = get(s, name, 0);
	char *at = f->data, *d;
	size_t lo = strlen(old), ln = strlen(new);

	while (after != NULL && nth-- > 0)
		if ((at = strstr(at, after)) == NULL)
			die("%s: no %s", name, after);
		else
			at += strlen(after);
	if ((at = strstr(at, old)) == NULL)
		die("%s: no %s", name, old);
	if ((d = malloc(f->len - lo + ln + 1)) == NULL)
		die("malloc");
	memcpy(d, f->data, (size_t)(at - f->data));
	memcpy(d + (at - f->data), new, ln);
	memcpy(d + (at - f->data) + ln, at + lo,
	       f->len - (size_t)(at - f->data) - lo + 1);
	f->len = f->len - lo + ln;
	free(f->data);
	f->data = d;
}

/* insert - n bytes of text into f at offset at (at <= f->len) */
static void
insert(file *f, size_t at, const char *text, size_t n)
{
	char *d = malloc(f->len + n + 1);

	check(d != NULL, NULL, "malloc");
	memcpy(d, f->data, at);
	memcpy(d + at, text, n);
	memcpy(d + at + n, f->data + at, f->len - at);
	f->len += n;
	d[f->len] = '\0';
	free(f->data);
	f->data = d;
}

/* flip - the hex digit right after the nth occurrence of after in file
 * name becomes another one */
static void
flip(seed *s, const char *name, const char *after, int nth)
{
	file *f = get(s, name, 0);
	char *at = f->data;

	while (nth-- > 0)
		if ((at = strstr(at, after)) == NULL)
			die("%s: no %s", name, after);
		else
			at += strlen(after);
	if (strchr("0123456789abcdef", *at) == NULL || *at == '\0')
		die("%s: no hex digit after %s", name, after);
	*at = *at == '0' ? '1' : '0';
}

/* write_seed - s into OUTDIR/name in fuzz_verify_export's format */
static void
write_seed(const seed *s, const char *name)
{
	char path[4096];
	size_t i;
	FILE *out;

	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	check((out = fopen(path, "w")) != NULL, NULL, path);
	fputc(s->how, out);
	for (i = 0; i < s->n; i++) {
		if (memmem(s->f[i].data, s->f[i].len, "\n==> ", 5) != NULL)
			die("%s: %s holds a separator line", name, s->f[i].name);
		fprintf(out, "%s==> %s\n", i ? "\n" : "", s->f[i].name);
		fwrite(s->f[i].data, 1, s->f[i].len, out);
	}
	check(fclose(out) == 0, NULL, path);
	printf("%s\n", path);
}

/* read_file - the whole file at path */
static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL, *grown;
	size_t cap = 0, n;

	check(f != NULL, NULL, path);
	*len = 0;
	do {
		if (*len + 65536 > cap) {
			cap = 2 * cap + 65536;
			check((grown = realloc(buf, cap + 1)) != NULL, NULL, "malloc");
			buf = grown;
		}
		*len += n = fread(buf + *len, 1, cap - *len, f);
	} while (n > 0);
	check(!ferror(f), NULL, path);
	fclose(f);
	buf[*len] = '\0';
	return buf;
}

/* add_path - file dir/name of the export as name */
static void
add_path(seed *s, const char *dir, const char *name)
{
	char path[4096], *data;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	data = read_file(path, &len);
	add(s, name, data, len);
	free(data);
}

/* by_name - scandir order */
static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* read_tree - an export directory's files (no README.txt) */
static seed
read_tree(const char *dir)
{
	static const char *top[] = { "manifest.json", "manifest.csv",
				     "edrm.xml", "keys.pem", "custody.json",
				     "messages.mbox" };
	seed s = { '0', { { NULL, NULL, 0 } }, 0 };
	char path[4096], name[512];
	struct dirent **de;
	struct stat sb;
	int i, n;

	for (i = 0; i < (int)(sizeof(top) / sizeof(top[0])); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, top[i]);
		if (stat(path, &sb) == 0)
			add_path(&s, dir, top[i]);
	}
	snprintf(path, sizeof(path), "%s/messages", dir);
	if ((n = scandir(path, &de, NULL, by_name)) < 0)
		return s;
	for (i = 0; i < n; i++) {
		if (de[i]->d_name[0] != '.') {
			snprintf(name, sizeof(name), "messages/%s", de[i]->d_name);
			add_path(&s, dir, name);
		}
		free(de[i]);
	}
	free(de);
	return s;
}

/* read_zip - a zip export's entries, in its order (no README.txt) */
static seed
read_zip(const char *path)
{
	seed s = { '1', { { NULL, NULL, 0 } }, 0 };
	struct archive *za = archive_read_new();
	struct archive_entry *e;
	char *buf;
	la_ssize_t n;

	archive_read_support_format_zip(za);
	if (archive_read_open_filename(za, path, 65536) != ARCHIVE_OK)
		die("%s: %s", path, archive_error_string(za));
	while (archive_read_next_header(za, &e) == ARCHIVE_OK) {
		size_t len = (size_t)archive_entry_size(e);

		check((buf = malloc(len + 1)) != NULL, NULL, "malloc");
		if ((n = archive_read_data(za, buf, len)) != (la_ssize_t)len)
			die("%s: %s", path, archive_error_string(za));
		if (strcmp(archive_entry_pathname(e), "README.txt") != 0)
			add(&s, archive_entry_pathname(e), buf, len);
		free(buf);
	}
	archive_read_free(za);
	return s;
}

/* Feeding the writer: content chunks. */
static int
to_writer(const void *buf, size_t len, void *ctx)
{
	mk_error err;

	check(discovery_export_data(ctx, buf, len, &err) == 0, &err, "export data");
	return 0;
}

/* key_item - archive_key_fn into a JSON array */
static int
key_item(unsigned gen, const char *pem, size_t len, void *ctx)
{
	return json_array_append_new(ctx, json_pack("{s:I, s:s%}", "gen",
				     (json_int_t)gen, "pem", pem, len));
}

/* send_item - obj (consumed) as a 'J' frame to the writer */
static void
send_item(discovery_export *x, json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT);
	mk_error err;

	check(text != NULL && discovery_export_item(x, text, strlen(text), &err)
	      == 0, &err, "export item");
	free(text);
	json_decref(obj);
}

/* audit_export - the export's audit entry naming ids, as the service
 * writes it, a checkpoint over it, a prover of that checkpoint into *pv;
 * the entry's proof (custody.json) */
static json_t *
audit_export(archive *ar, char ids[][ARCHIVE_ID_LEN + 1], size_t n,
	     archive_prover **pv)
{
	access_identity who = { .uid = 0, .user = "root", .via = "offline" };
	const char *ptrs[16];
	access_audit a = { .op = ACCESS_OP_EXPORT, .outcome = ACCESS_GRANTED,
			   .ids = ptrs, .n_ids = n };
	archive_proof *p;
	int64_t seq = 0;
	json_t *custody;
	mk_error err;
	size_t i;

	if (n > 16)
		die("too many ids for one seed export");
	for (i = 0; i < n; i++)
		ptrs[i] = ids[i];
	check(access_audit_write(ar, &who, &a, &seq, &err) == 0, &err, "audit");
	check(archive_checkpoint_now(ar, &err) == 0, &err, "checkpoint");
	check(archive_prover_open(ar, pv, &err) == 0, &err, "prover");
	check(archive_prover_entry(*pv, seq, &p, &err) == 0, &err, "custody");
	custody = access_entry_proof_json(p);
	archive_proof_free(p);
	return custody;
}

/* export - the messages ids into path in format fmt, as the service
 * sends them; then verified */
static void
export(archive *ar, char ids[][ARCHIVE_ID_LEN + 1], size_t n,
       const char *path, discovery_export_format fmt)
{
	discovery_export_stats st;
	discovery_export *x;
	json_t *keys = json_array(), *custody;
	archive_prover *pv;
	archive_message *msg;
	archive_proof *p;
	mk_error err;
	size_t i, rows;

	check((x = discovery_export_begin(path, fmt, &err)) != NULL, &err, path);
	check(archive_public_keys(ar, key_item, keys, &err) == 0, &err, "keys");
	custody = audit_export(ar, ids, n, &pv);
	send_item(x, json_pack("{s:o, s:o}", "keys", keys, "custody", custody));
	for (i = 0; i < n; i++) {
		check(archive_lookup(ar, ids[i], &msg, &err) == 0, &err, "lookup");
		check(archive_prover_proof(pv, msg, &p, &err) == 0, &err,
		      "proof");
		send_item(x, json_pack("{s:{}, s:o}", "message", "proof",
				       access_proof_json(p)));
		archive_proof_free(p);
		if (msg->content == ARCHIVE_FULL)
			check(archive_read(ar, ids[i], to_writer, x, &err) == 0,
			      &err, "read");
		archive_message_free(msg);
	}
	archive_prover_free(pv);
	check(discovery_export_finish(x, &rows, &err) == 0, &err, "finish");
	check(discovery_export_verify(path, NULL, NULL, NULL, NULL, &st, &err)
	      == 0, &err, "verify");
	if (st.problems != 0 || st.messages != n)
		die("%s: %llu problems in %llu rows", path,
		    (unsigned long long)st.problems,
		    (unsigned long long)st.messages);
}

/* store - one message with content; its id into id */
static void
store(archive *ar, const char *text, const archive_envelope *env, char *id)
{
	archive_spool *sp;
	mk_error err;

	check((sp = archive_spool_begin(ar, env->policy.retain_until, &err)) != NULL, &err, "spool");
	check(archive_spool_write(sp, text, strlen(text), &err) == 0, &err,
	      "spool");
	check(archive_spool_commit(sp, env, id, &err) == 0, &err, "commit");
}

/* other_key - a new Ed25519 public key as PEM (static) */
static const char *
other_key(void)
{
	static char pem[512];
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	BIO *b = BIO_new(BIO_s_mem());
	int n;

	check(k != NULL && b != NULL && PEM_write_bio_PUBKEY(b, k) == 1, NULL,
	      "Ed25519 key");
	n = BIO_read(b, pem, sizeof(pem) - 1);
	pem[n > 0 ? n : 0] = '\0';
	BIO_free(b);
	EVP_PKEY_free(k);
	return pem;
}

/* The archive's messages. */
static const char one[] =
	"From: =?UTF-8?Q?J=C3=B6rg_Sender?= <a@sender.test>\r\n"
	"To: r@example.com, \"Other\" <o@example.com>\r\n"
	"Cc: c@example.com\r\n"
	"Subject: =?UTF-8?B?w5xiZXIgdGhlIGV4cG9ydA==?=\r\n"
	"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	"Message-ID: <one@sender.test>\r\n"
	"\r\n"
	"From the start\r\n>From once\r\n>>From twice\r\nFrom";
static const char two[] = "Subject: two\n\nline\nFrom ";

int
main(int argc, char **argv)
{
	static const char *rcpts1[] = { "r@example.com", "o@example.com" };
	static const char *rcpts2[] = { "x@example.org" };
	static const char *roles[] = { "legal" };
	static const archive_party parties1[] = {
		{ "o@example.com", "domain example.com" } };
	static const archive_party parties3[] = {
		{ "meta@example.net", "address meta@example.net" } };
	archive_envelope env1 = { .mail_from = "a@sender.test", .rcpts = rcpts1,
		.n_rcpts = 2, .message_id = "<one@sender.test>",
		.subject = "=?UTF-8?B?w5xiZXIgdGhlIGV4cG9ydA==?=",
		.date = "Tue, 14 Nov 2023 22:13:20 +0000",
		.received_at = 1700000000123456,
		.policy = { .direction = "inbound", .roles = roles, .n_roles = 1,
			    .parties = parties1, .n_parties = 1 } };
	archive_envelope env2 = { .mail_from = "b@sender.test", .rcpts = rcpts2,
		.n_rcpts = 1, .received_at = 1700000100000000 };
	archive_envelope env3 = { .mail_from = "", .rcpts = rcpts2,
		.n_rcpts = 1, .message_id = "<three@sender.test>",
		.received_at = 1700000200000000,
		.policy = { .content = ARCHIVE_METADATA, .retain_until = 1900000000,
			    .parties = parties3, .n_parties = 1 } };
	char ids[3][ARCHIVE_ID_LEN + 1], work[64], dir[128], path[128];
	char msg1[128], msg3[128];
	seed eml, mbox, zipped, s;
	archive *ar;
	mk_error err;
	unsigned gen;
	size_t len;
	char *zipfile;

	if (argc != 2)
		die("usage: seed_verify_export OUTDIR");
	outdir = argv[1];
	mkdir(outdir, 0755);
	snprintf(work, sizeof(work), "/tmp/mk-seeds-XXXXXX");
	check(mkdtemp(work) != NULL, NULL, "mkdtemp");
	snprintf(dir, sizeof(dir), "%s/archive", work);
	check(archive_create(dir, &err) == 0, &err, "archive_create");

	check((ar = archive_open(dir, ARCHIVE_WRITE, &err)) != NULL, &err, dir);
	store(ar, one, &env1, ids[0]);
	check(archive_rotate_keys(ar, &gen, &err) == 0, &err, "rotate");
	archive_close(ar);
	check((ar = archive_open(dir, ARCHIVE_WRITE, &err)) != NULL, &err, dir);
	store(ar, two, &env2, ids[1]);
	check(archive_store_metadata(ar, &env3, 4321, ids[2], &err) == 0, &err,
	      "metadata");
	check(archive_checkpoint_now(ar, &err) == 0, &err, "checkpoint");

	snprintf(path, sizeof(path), "%s/x-eml", work);
	export(ar, ids, 3, path, DISCOVERY_EXPORT_EML);
	eml = read_tree(path);
	snprintf(path, sizeof(path), "%s/x-mbox", work);
	export(ar, ids, 3, path, DISCOVERY_EXPORT_MBOX);
	mbox = read_tree(path);
	snprintf(path, sizeof(path), "%s/x.zip", work);
	export(ar, ids, 3, path, DISCOVERY_EXPORT_ZIP);
	zipped = read_zip(path);
	zipfile = read_file(path, &len);
	archive_close(ar);
	snprintf(msg1, sizeof(msg1), "messages/%s.eml", ids[0]);
	snprintf(msg3, sizeof(msg3), "messages/%s.eml", ids[2]);

	/* As made. */
	write_seed(&eml, "valid-eml");
	write_seed(&mbox, "valid-mbox");
	write_seed(&zipped, "valid-zip");
	s = copy(&eml, '4');
	add(&s, "@keys", get(&eml, "keys.pem", 0)->data,
	    get(&eml, "keys.pem", 0)->len);
	write_seed(&s, "valid-eml-pinned");
	release(&s);
	s = (seed){ '2', { { NULL, NULL, 0 } }, 0 };
	add(&s, "@zip", zipfile, len);
	write_seed(&s, "valid-zip-file");
	release(&s);

	/* eml, tampered. */
	s = copy(&eml, '0');
	edit(&s, msg1, NULL, 0, "From the start", "From the stArt");
	write_seed(&s, "bad-content");
	release(&s);
	s = copy(&eml, '0');
	edit(&s, "manifest.json", NULL, 0, "\"subject\":\"\\u00DCber",
	     "\"subject\":\"Uber");
	write_seed(&s, "bad-row-subject");
	release(&s);
	s = copy(&eml, '0');
	edit(&s, "manifest.json", NULL, 0, "\"custodian\":\"o@", "\"custodian\":\"r@");
	write_seed(&s, "bad-row-custodian");
	release(&s);
	s = copy(&eml, '0');
	edit(&s, "manifest.json", NULL, 0, "\"received_at\":", "\"received_at\":1");
	write_seed(&s, "bad-row-received");
	release(&s);
	s = copy(&eml, '0');
	edit(&s, "manifest.csv", NULL, 0, "\"b@sender.test\"", "\"c@sender.test\"");
	write_seed(&s, "bad-csv");
	release(&s);
	s = copy(&eml, '0');
	edit(&s, "edrm.xml", NULL, 0, "TagValue=\"two\"", "TagValue=\"Two\"");
	write_seed(&s, "bad-edrm");
	release(&s);
	s = copy(&eml, '0');
	drop(&s, msg1);
	write_seed(&s, "bad-missing");
	release(&s);
	s = copy(&eml, '0');
	drop(&s, "custody.json");
	write_seed(&s, "bad-custody-missing");
	release(&s);
	s = copy(&eml, '0');
	edit(&s, "custody.json", NULL, 0, "\\\"outcome\\\":\\\"granted",
	     "\\\"outcome\\\":\\\"refused");
	write_seed(&s, "bad-custody-entry");
	release(&s);
	s = copy(&eml, '0');
	add(&s, "messages/0123456789abcdef01234567.eml", one, strlen(one));
	add(&s, msg3, two, strlen(two));
	add(&s, "notes.txt", "", 0);
	add(&s, "messages/dir/", "", 0);
	write_seed(&s, "bad-added");
	release(&s);
	s = copy(&eml, '0');
	get(&s, "keys.pem", 0)->len = 0;
	insert(get(&s, "keys.pem", 0), 0, other_key(), strlen(other_key()));
	write_seed(&s, "bad-keys");
	release(&s);
	s = copy(&eml, '4');
	add(&s, "@keys", get(&eml, "keys.pem", 0)->data,
	    get(&eml, "keys.pem", 0)->len);
	edit(&s, "keys.pem", "-----END PUBLIC KEY-----\n", 1, "", other_key());
	write_seed(&s, "bad-keys-pinned");
	release(&s);
	s = copy(&eml, '0');
	flip(&s, "manifest.json", "{\\\"seq\\\":", 1);
	write_seed(&s, "bad-entry-seq");
	release(&s);
	s = copy(&eml, '0');
	flip(&s, "manifest.json", "\"path\":[\"", 1);
	write_seed(&s, "bad-path");
	release(&s);
	s = copy(&eml, '0');
	flip(&s, "manifest.json", "\"root\":\"", 1);
	write_seed(&s, "bad-checkpoint-root");
	release(&s);
	s = copy(&eml, '0');
	edit(&s, "manifest.json", "\"checkpoint\":", 1, "\"signature\":\"",
	     "\"signature\":\"A");
	edit(&s, "manifest.json", "\"checkpoint\":", 1, "==\"", "=\"");
	write_seed(&s, "bad-checkpoint-signature");
	release(&s);
	s = copy(&eml, '0');
	edit(&s, "manifest.json", "\"proof\":", 1,
	     "\\\"mail_from\\\":\\\"a@", "\\\"mail_from\\\":\\\"e@");
	write_seed(&s, "bad-record-text");
	release(&s);
	s = copy(&eml, '0');
	edit(&s, "manifest.json", "\"proof\":", 1, "\"signer\":1",
	     "\"signer\":2");
	write_seed(&s, "bad-record-signer");
	release(&s);
	s = copy(&eml, '0');
	edit(&s, "manifest.json", NULL, 0, "},\n{", "}\n{");
	write_seed(&s, "bad-no-comma");
	release(&s);
	s = copy(&eml, '0');
	edit(&s, "manifest.json", NULL, 0, "\n]}\n", "\n");
	write_seed(&s, "bad-cut-short");
	release(&s);
	s = copy(&eml, '0');
	edit(&s, "manifest.json", NULL, 0, "\n]}\n", "\n]}\n{}\n");
	write_seed(&s, "bad-after-end");
	release(&s);
	s = copy(&eml, '0');
	edit(&s, "manifest.json", NULL, 0, "mailkeep-export/1", "mailkeep-export/2");
	write_seed(&s, "bad-format");
	release(&s);
	s = copy(&eml, '0');
	edit(&s, "manifest.json", NULL, 0, "\n{", "\n{},\n[],\n{\"id\":\"0123\"},\n{");
	write_seed(&s, "bad-not-a-row");
	release(&s);
	s = copy(&eml, '0');
	{
		file *m = get(&s, "manifest.json", 0);
		char *row = strchr(m->data, '\n') + 1;

		insert(m, (size_t)(row - m->data), row,
		       (size_t)(strchr(row, '\n') + 1 - row));
	}
	write_seed(&s, "bad-listed-twice");
	release(&s);

	/* mbox, tampered. */
	s = copy(&mbox, '0');
	edit(&s, "messages.mbox", NULL, 0, ">>From twice", ">>>From twice");
	write_seed(&s, "bad-mbox-escape");
	release(&s);
	s = copy(&mbox, '0');
	{
		file *m = get(&s, "messages.mbox", 0);
		char *at = strstr(m->data, "\nFrom MAILER-DAEMON");

		check(at != NULL, NULL, "the mbox has one message only");
		m->len = (size_t)(at + 1 - m->data);
		m->data[m->len] = '\0';
	}
	write_seed(&s, "bad-mbox-short");
	release(&s);
	s = copy(&mbox, '0');
	edit(&s, "messages.mbox", NULL, 0, "From ", "From MAILER-DAEMON Thu Jan  1"
	     " 00:00:00 1970\nan extra one\n\nFrom ");
	write_seed(&s, "bad-mbox-extra");
	release(&s);
	s = copy(&mbox, '0');
	drop(&s, "messages.mbox");
	add(&s, "messages/", "", 0);
	write_seed(&s, "bad-mbox-missing");
	release(&s);

	/* zip, tampered. */
	s = copy(&zipped, '1');
	add(&s, "../escape", "x", 1);
	add(&s, "/absolute", "x", 1);
	add(&s, "messages/.hidden", "x", 1);
	add(&s, "messages/", "", 0);
	add(&s, "messages/sub/x.eml", "x", 1);
	add(&s, "messages/\033[31mred.eml", "x", 1);
	write_seed(&s, "bad-zip-names");
	release(&s);
	s = copy(&zipped, '1');
	add(&s, "manifest.json", "{}\n", 3);
	write_seed(&s, "bad-zip-duplicate");
	release(&s);
	s = (seed){ '2', { { NULL, NULL, 0 } }, 0 };
	add(&s, "@zip", zipfile, len / 2);
	write_seed(&s, "bad-zip-truncated");
	release(&s);

	release(&eml);
	release(&mbox);
	release(&zipped);
	free(zipfile);
	snprintf(path, sizeof(path), "rm -rf '%s'", work);
	return system(path) == 0 ? 0 : 1;
}
