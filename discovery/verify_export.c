/*
 * verify_export.c - check an export with the public keys only.
 *
 * NAME
 *	verify_export - discovery_export_verify()
 *
 * DESCRIPTION
 *	Works on a machine without the archive.  For each row of
 *	manifest.json, in order:
 *
 *	  1. the proof: the record's Ed25519 signature under the key of its
 *	     generation; the ledger entry is the "stored" entry of this id
 *	     (or the "rekeyed" or "redecided" entry of its current record,
 *	     FORMAT.md 1.3, 1.5)
 *	     and names the record's SHA-256; the inclusion path folds the
 *	     entry's leaf hash to the root of the checkpoint; the
 *	     checkpoint's signature holds and its text says that size and
 *	     root (FORMAT.md, sections 4.4 and 6);
 *	  2. the message: its bytes (messages/ID.eml, or the next message of
 *	     messages.mbox with the mboxrd escaping undone) hash to the
 *	     record's sha256;
 *	  3. the row: made again by export_row() from the proof and the
 *	     bytes, it must be the manifest's line byte for byte - so an
 *	     edited digest, header, recipient or policy is found and named.
 *
 *	Then manifest.csv and edrm.xml must be what the checked rows make,
 *	and no file may be in the export that no row names.  Last,
 *	custody.json: the export's own audit entry in the ledger, which
 *	names every id exported, must be in the tree of a signed checkpoint
 *	and name exactly the rows - so a row removed together with its
 *	message, or a row added, is found too.
 *
 *	Memory: one line of the manifest (at most ROW_MAX: a longer one is
 *	a problem), one message's header section, the ids (25 bytes each)
 *	for the added-file check and custody.json.
 *
 * DIAGNOSTICS
 *	Problems go to the caller's problem() as KIND OBJECT DETAIL:
 *	missing, added, content, signature, proof, checkpoint, keys,
 *	manifest.  OBJECT and DETAIL are printable ASCII: a name from the
 *	export (a file, a zip entry, a row's member) is shown with \\ and
 *	\xNN escapes.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "archive/merkle.h"
#include "discovery/exportrow.h"

/* One verification. */
typedef struct vx {
	const char *path;
	archive_problem_fn problem;
	archive_progress_fn progress;
	void *ctx;
	discovery_export_stats *st;
	EVP_PKEY **keys;		/* generation i + 1 at i */
	size_t n_keys;
	discovery_export_format format;
	FILE *mbox;
	char *held;			/* the mbox line read ahead */
	size_t held_cap;
	ssize_t held_len;		/* -1: end of the mbox */
	size_t position;
	FILE *csv, *edrm;		/* what the rows make */
	char (*ids)[ARCHIVE_ID_LEN + 1];
	size_t n_ids, cap_ids;
	char *good_cp;			/* key, text and signature of the last
					   checkpoint whose signature held:
					   every row of an export has the same
					   one, verified once */
} vx;

/* shown - in as printable ASCII into out (cap bytes): a backslash and
 * every byte outside ' '..'~' as \\ and \xNN, cut (with "...") before
 * an escape would not fit.  File and zip entry names come from the
 * export: a terminal must not take them for control sequences, and a
 * JSON string needs valid UTF-8. */
static const char *
shown(const char *in, char *out, size_t cap)
{
	static const char digits[] = "0123456789abcdef";
	size_t o = 0;
	unsigned char c;

	for (; *in != '\0'; in++) {
		c = (unsigned char)*in;
		if (o + 4 + 4 > cap) {
			memcpy(out + o, "...", 4);
			return out;
		}
		if (c == '\\') {
			out[o++] = '\\';
			out[o++] = '\\';
		} else if (c >= 0x20 && c <= 0x7e)
			out[o++] = (char)c;
		else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = digits[c >> 4];
			out[o++] = digits[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

/* tell - one problem to problem(), its object and detail shown */
static void
tell(archive_problem_fn problem, void *ctx, discovery_export_stats *st,
     const char *kind, const char *object, const char *detail)
{
	char o[1024], d[1024];

	st->problems++;
	if (problem != NULL)
		problem(kind, shown(object, o, sizeof(o)),
			shown(detail, d, sizeof(d)), ctx);
}

/* open_file - path for reading, when it is a regular file: a symbolic
 * link (ELOOP), a FIFO or a device (EINVAL) in an export is refused, so
 * that verify never follows one out of the export nor blocks on one */
static FILE *
open_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat sb;
	FILE *f;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	if ((f = fdopen(fd, "r")) == NULL)
		close(fd);
	return f;
}

/* report - one problem */
static void __attribute__((format(printf, 4, 5)))
report(vx *v, const char *kind, const char *object, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	tell(v->problem, v->ctx, v->st, kind, object, detail);
}

/* load_keys - the PEM public keys of pem, generation 1 first */
static int
load_keys(vx *v, const char *pem, mk_error *err)
{
	BIO *mem = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *key, **grown;

	while (mem != NULL && (key = PEM_read_bio_PUBKEY(mem, NULL, NULL, NULL))
	       != NULL) {
		if ((grown = realloc(v->keys, (v->n_keys + 1) * sizeof(*grown)))
		    == NULL) {
			EVP_PKEY_free(key);
			break;
		}
		v->keys = grown;
		v->keys[v->n_keys++] = key;
	}
	BIO_free(mem);
	return v->n_keys > 0 ? 0 : mk_error_set(err, "no public key in the keys"
						" given");
}

/* read_text - a whole small file (malloc'ed), NULL with err */
static char *
read_text(const char *path, mk_error *err)
{
	FILE *f = open_file(path);
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;

	if (f == NULL) {
		mk_error_set(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	n = getdelim(&buf, &cap, '\0', f);
	fclose(f);
	if (n < 0) {
		free(buf);
		buf = strdup("");
	}
	return buf;
}

/* unhex - 2n hex digits into n bytes; 0 or -1 */
static int
unhex(const char *s, unsigned char *out, size_t n)
{
	size_t i;
	unsigned x;

	if (s == NULL || strlen(s) != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &x) != 1)
			return -1;
		out[i] = (unsigned char)x;
	}
	return 0;
}

/* signature_holds - is b64 an Ed25519 signature of text[0..len) under
 * key generation gen? */
static bool
signature_holds(vx *v, json_int_t gen, const char *text, size_t len,
		const char *b64)
{
	unsigned char sig[128];
	EVP_MD_CTX *md;
	size_t n = b64 ? strlen(b64) : 0;
	int got;
	bool ok;

	if (gen < 1 || (size_t)gen > v->n_keys || n != 88)
		return false;
	if ((got = EVP_DecodeBlock(sig, (const unsigned char *)b64, (int)n)) != 66)
		return false;
	md = EVP_MD_CTX_new();
	ok = md != NULL
	    && EVP_DigestVerifyInit(md, NULL, NULL, NULL, v->keys[gen - 1]) == 1
	    && EVP_DigestVerify(md, sig, 64, (const unsigned char *)text, len) == 1;
	EVP_MD_CTX_free(md);
	return ok;
}

/* sha256_hex - the SHA-256 of text as hex */
static void
sha256_hex(const char *text, size_t len, char out[ARCHIVE_SHA256_HEX + 1])
{
	unsigned char md[32];
	unsigned n;
	size_t i;

	EVP_Digest(text, len, md, &n, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* check_entry - the ledger entry is this record's "stored" entry, or
 * the "rekeyed" or "redecided" entry of its current record (FORMAT.md
 * 1.3, 1.5, 4.4) */
static bool
check_entry(vx *v, const char *id, json_t *proof, json_t *rec,
	    const char *text)
{
	const char *line = json_string_value(json_object_get(proof, "entry"));
	json_t *e = line ? json_loads(line, 0, NULL) : NULL;
	char hash[ARCHIVE_SHA256_HEX + 1];
	bool ok;

	sha256_hex(text, strlen(text), hash);
	ok = json_is_object(e)
	    && json_is_string(json_object_get(e, "event"))
	    && (strcmp(json_string_value(json_object_get(e, "event")), "stored") == 0
		|| strcmp(json_string_value(json_object_get(e, "event")), "rekeyed") == 0
		|| strcmp(json_string_value(json_object_get(e, "event")), "redecided") == 0)
	    && json_is_string(json_object_get(e, "id"))
	    && strcmp(json_string_value(json_object_get(e, "id")), id) == 0
	    && json_is_string(json_object_get(e, "record"))
	    && strcmp(json_string_value(json_object_get(e, "record")), hash) == 0
	    && json_equal(json_object_get(e, "sha256"), json_object_get(rec, "sha256"));
	if (!ok)
		report(v, "proof", id, "the ledger entry is not the stored entry"
		       " of this record");
	json_decref(e);
	return ok;
}

/* check_inclusion - the entry's leaf is in the checkpoint's tree */
static bool
check_inclusion(vx *v, const char *id, json_t *proof)
{
	const char *line = json_string_value(json_object_get(proof, "entry"));
	json_t *e = line ? json_loads(line, 0, NULL) : NULL, *path, *h;
	json_t *cp = json_object_get(proof, "checkpoint");
	json_int_t index = json_integer_value(json_object_get(proof, "leaf_index"));
	json_int_t size = json_integer_value(json_object_get(proof, "tree_size"));
	json_int_t seq = json_integer_value(json_object_get(e, "seq"));
	merkle_hash leaf, root, hashes[MERKLE_MAX_PATH];
	size_t i;
	bool ok;

	/* seq > 0 first: seq - 1 of the least integer would overflow */
	ok = line != NULL && seq > 0 && index == seq - 1
	    && index >= 0 && index < size
	    && unhex(json_string_value(json_object_get(cp, "root")), root,
		     MERKLE_HASH) == 0;
	json_decref(e);
	path = json_object_get(proof, "path");
	if (ok && (!json_is_array(path) || json_array_size(path) > MERKLE_MAX_PATH))
		ok = false;
	json_array_foreach(path, i, h)
		if (ok && unhex(json_string_value(h), hashes[i], MERKLE_HASH) != 0)
			ok = false;
	if (ok) {
		merkle_leaf_hash(line, strlen(line), leaf);
		ok = merkle_inclusion_verify(leaf, (uint64_t)index, (uint64_t)size,
					     hashes, json_array_size(path), root) == 0;
	}
	if (!ok)
		report(v, "proof", id, "the ledger entry is not in the tree of the"
		       " checkpoint (inclusion proof fails)");
	return ok;
}

/* signed_checkpoint - the signature of the checkpoint cp (its text)
 * holds; the same key, text and signature as the last one that held is
 * not verified again */
static bool
signed_checkpoint(vx *v, json_t *cp, const char *text)
{
	json_int_t key = json_integer_value(json_object_get(cp, "key"));
	const char *sig = json_string_value(json_object_get(cp, "signature"));
	char *same = NULL;

	if (sig == NULL || asprintf(&same, "%lld\n%s\n%s", (long long)key, sig,
				    text) < 0)
		return false;
	if (v->good_cp != NULL && strcmp(v->good_cp, same) == 0) {
		free(same);
		return true;
	}
	if (!signature_holds(v, key, text, strlen(text), sig)) {
		free(same);
		return false;
	}
	free(v->good_cp);
	v->good_cp = same;
	return true;
}

/* check_checkpoint - its text says the proof's size and root; signed */
static bool
check_checkpoint(vx *v, const char *id, json_t *proof)
{
	json_t *cp = json_object_get(proof, "checkpoint");
	const char *text = json_string_value(json_object_get(cp, "text"));
	const char *root = json_string_value(json_object_get(cp, "root"));
	char want[256];
	bool ok;

	snprintf(want, sizeof(want), "mailkeep-checkpoint/1\n%lld\n%s\n",
		 (long long)json_integer_value(json_object_get(proof, "tree_size")),
		 root ? root : "");
	ok = text != NULL && strncmp(text, want, strlen(want)) == 0
	    && signed_checkpoint(v, cp, text);
	if (!ok)
		report(v, "checkpoint", id, "the checkpoint's signature does not"
		       " hold, or it is not the tree of the proof");
	return ok;
}

/* check_proof - step 1 of the header; the parsed record, or NULL */
static json_t *
check_proof(vx *v, const char *id, json_t *proof)
{
	json_t *record = json_object_get(proof, "record"), *rec;
	const char *text = json_string_value(json_object_get(record, "text"));
	json_int_t signer = json_integer_value(json_object_get(record, "signer"));

	/* json_is_object() is a macro that reads its argument twice: the
	 * parse must stand on its own, or it runs twice and leaks one */
	rec = text != NULL ? json_loads(text, 0, NULL) : NULL;
	if (!json_is_string(json_object_get(proof, "id"))
	    || strcmp(json_string_value(json_object_get(proof, "id")), id) != 0
	    || !json_is_object(rec)) {
		json_decref(rec);
		report(v, "proof", id, "the row carries no proof of this message");
		return NULL;
	}
	if (!json_is_string(json_object_get(rec, "id"))
	    || strcmp(json_string_value(json_object_get(rec, "id")), id) != 0) {
		report(v, "signature", id, "the signed record is another message's");
		json_decref(rec);
		return NULL;
	}
	if (!signature_holds(v, signer, text, strlen(text), json_string_value(
			     json_object_get(record, "signature"))))
		report(v, "signature", id, "the record's signature does not hold"
		       " under key generation %lld", (long long)signer);
	if (check_entry(v, id, proof, rec, text))
		check_inclusion(v, id, proof);
	check_checkpoint(v, id, proof);
	return rec;
}

/* hash_file - the digests of PATH/messages/ID.eml; 0, or -1 if absent */
static int
hash_file(vx *v, const char *id, export_digest *d, mk_error *err)
{
	char *p, buf[65536];
	FILE *f;
	size_t n;

	if (asprintf(&p, "%s/messages/%s.eml", v->path, id) < 0)
		return mk_error_set(err, "out of memory");
	f = open_file(p);
	free(p);
	if (f == NULL)
		return -1;
	if (export_digest_begin(d, err) != 0) {
		fclose(f);
		return -1;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		export_digest_add(d, buf, n);
	fclose(f);
	return export_digest_end(d, err);
}

/* mbox_read - the next line of the mbox into held (-1 at its end) */
static void
mbox_read(vx *v)
{
	v->held_len = getline(&v->held, &v->held_cap, v->mbox);
}

/* is_escaped_from - does line match ^>+From ? */
static bool
is_escaped_from(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && line[i] == '>')
		i++;
	return i > 0 && len - i >= 5 && memcmp(line + i, "From ", 5) == 0;
}

/* hash_mbox - the digests of the next message of the mbox, escaping
 * undone and the "\n" after it dropped; 0, or -1 when there is none */
static int
hash_mbox(vx *v, export_digest *d, mk_error *err)
{
	char *prev = NULL;
	size_t prev_len = 0;
	const char *s;

	if (v->held_len < 5 || memcmp(v->held, "From ", 5) != 0)
		return -1;
	if (export_digest_begin(d, err) != 0)
		return -1;
	for (mbox_read(v); v->held_len >= 0; mbox_read(v)) {
		if (v->held_len >= 5 && memcmp(v->held, "From ", 5) == 0)
			break;
		if (prev != NULL)
			export_digest_add(d, prev, prev_len);
		free(prev);
		s = is_escaped_from(v->held, (size_t)v->held_len) ? v->held + 1
		    : v->held;
		prev_len = (size_t)v->held_len - (size_t)(s - v->held);
		if ((prev = malloc(prev_len + 1)) == NULL)
			return mk_error_set(err, "out of memory");
		memcpy(prev, s, prev_len);
	}
	if (prev != NULL && prev_len > 0 && prev[prev_len - 1] == '\n')
		export_digest_add(d, prev, prev_len - 1);
	free(prev);
	return export_digest_end(d, err);
}

/* differing_member - the first member of want that row does not equal */
static const char *
differing_member(json_t *want, json_t *row)
{
	const char *key;
	json_t *val;

	json_object_foreach(want, key, val)
		if (!json_equal(val, json_object_get(row, key)))
			return key;
	json_object_foreach(row, key, val)
		if (json_object_get(want, key) == NULL)
			return key;
	return "(the order or spelling of the line)";
}

/* keep_id - remember id for the added-file check */
static int
keep_id(vx *v, const char *id)
{
	void *grown;

	if (v->n_ids == v->cap_ids) {
		v->cap_ids = v->cap_ids ? 2 * v->cap_ids : 256;
		if ((grown = reallocarray(v->ids, v->cap_ids, sizeof(*v->ids)))
		    == NULL)
			return -1;
		v->ids = grown;
	}
	snprintf(v->ids[v->n_ids++], ARCHIVE_ID_LEN + 1, "%s", id);
	return 0;
}

/* message_digest - step 2: d filled from the message of id; 1 when
 * there is one, 0 when it is missing, -1 on error */
static int
message_digest(vx *v, const char *id, export_digest *d, mk_error *err)
{
	int rc;

	memset(d, 0, sizeof(*d));
	if (v->format == DISCOVERY_EXPORT_EML)
		rc = hash_file(v, id, d, err);
	else {
		v->position++;
		rc = hash_mbox(v, d, err);
	}
	if (rc == 0)
		return 1;
	export_digest_free(d);
	if (err->msg[0] != '\0')
		return -1;
	report(v, "missing", id, "%s", v->format == DISCOVERY_EXPORT_EML
	       ? "its file messages/ID.eml is not in the export"
	       : "messages.mbox holds fewer messages than the manifest lists");
	return 0;
}

/* compare_row - step 3: the row made again is the line; the expected
 * CSV and EDRM rows from it */
static int
compare_row(vx *v, const char *id, const char *line, json_t *row,
	    json_t *proof, export_digest *d, mk_error *err)
{
	char file[ARCHIVE_ID_LEN + 16];
	json_t *want;
	char *text;

	snprintf(file, sizeof(file), v->format == DISCOVERY_EXPORT_EML
		 ? "messages/%s.eml" : "messages.mbox", id);
	want = export_row(proof, d, file, d ? v->position : 0, err);
	if (want == NULL)
		return -1;
	text = export_row_text(want);
	if (text == NULL || strcmp(text, line) != 0)
		report(v, "manifest", id, "manifest.json row: \"%s\" is not what"
		       " the signed record and the message make",
		       differing_member(want, row));
	free(text);
	if (export_csv_row(v->csv, want) != 0 || export_edrm_row(v->edrm, want) != 0)
		mk_error_set(err, "temporary file: %s", strerror(errno));
	json_decref(want);
	return err->msg[0] ? -1 : 0;
}

/* verify_row - the three steps for one manifest line */
static int
verify_row(vx *v, const char *line, size_t lineno, mk_error *err)
{
	json_t *row = json_loads(line, 0, NULL), *proof, *rec;
	const char *id = json_string_value(json_object_get(row, "id"));
	char object[48];
	export_digest d;
	int have = 0, rc = 0;
	bool full;

	snprintf(object, sizeof(object), "manifest.json line %zu", lineno);
	if (!json_is_object(row) || id == NULL || strlen(id) != ARCHIVE_ID_LEN
	    || strspn(id, "0123456789abcdef") != ARCHIVE_ID_LEN) {
		report(v, "manifest", object, "not a row with a message id");
		json_decref(row);
		return 0;
	}
	v->st->messages++;
	proof = json_object_get(row, "proof");
	if ((rec = check_proof(v, id, proof)) == NULL || keep_id(v, id) != 0) {
		json_decref(row);
		return rec == NULL ? 0 : mk_error_set(err, "out of memory");
	}
	full = json_is_string(json_object_get(rec, "sha256"));
	if (full && (have = message_digest(v, id, &d, err)) < 0)
		rc = -1;
	else if (full && have) {
		v->st->content++;
		v->st->bytes += (uint64_t)d.size;
		if (strcmp(d.sha256_hex, json_string_value(json_object_get(rec,
			   "sha256"))) != 0)
			report(v, "content", id, "the message's bytes are not the"
			       " ones its signed record names");
	}
	if (rc == 0 && (!full || have))
		rc = compare_row(v, id, line, row, proof, full ? &d : NULL, err);
	if (full && have)
		export_digest_free(&d);
	json_decref(rec);
	json_decref(row);
	return rc;
}

/* same_file - does the file at name hold what tmp holds?  The line of
 * the first difference into *at */
static bool
same_file(vx *v, const char *name, FILE *tmp, size_t *at)
{
	char *p, *a = NULL, *b = NULL;
	size_t ca = 0, cb = 0;
	ssize_t na, nb;
	FILE *f;
	bool same = true;

	*at = 0;
	if (asprintf(&p, "%s/%s", v->path, name) < 0)
		return false;
	f = open_file(p);
	free(p);
	if (f == NULL)
		return false;
	rewind(tmp);
	do {
		(*at)++;
		na = getline(&a, &ca, f);
		nb = getline(&b, &cb, tmp);
		same = na == nb && (na < 0 || memcmp(a, b, (size_t)na) == 0);
	} while (same && na >= 0);
	free(a);
	free(b);
	fclose(f);
	return same;
}

/* check_derived - manifest.csv and edrm.xml are what the rows make */
static void
check_derived(vx *v)
{
	size_t at;

	if (!same_file(v, "manifest.csv", v->csv, &at))
		report(v, "manifest", "manifest.csv", "line %zu is not what the"
		       " checked rows make (edited, or missing)", at);
	if (!same_file(v, "edrm.xml", v->edrm, &at))
		report(v, "manifest", "edrm.xml", "line %zu is not what the"
		       " checked rows make (edited, or missing)", at);
}

/* compare_ids - qsort/bsearch order of ids */
static int
compare_ids(const void *x, const void *y)
{
	return memcmp(x, y, ARCHIVE_ID_LEN);
}

/* is_top_file - a file an export of v's format has at its top */
static bool
is_top_file(vx *v, const char *name)
{
	static const char *names[] = { "manifest.json", "manifest.csv",
				       "edrm.xml", "keys.pem", "custody.json",
				       "README.txt" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return strcmp(name, v->format == DISCOVERY_EXPORT_EML ? "messages"
		      : "messages.mbox") == 0;
}

/* check_added_messages - every file of messages/ is a row's */
static void
check_added_messages(vx *v)
{
	char *p, object[300], id[ARCHIVE_ID_LEN + 1];
	struct dirent *de;
	size_t len;
	DIR *d;

	if (asprintf(&p, "%s/messages", v->path) < 0)
		return;
	d = opendir(p);
	free(p);
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		len = strlen(de->d_name);
		memset(id, 0, sizeof(id));
		memcpy(id, de->d_name, len < ARCHIVE_ID_LEN ? len : ARCHIVE_ID_LEN);
		if (len == ARCHIVE_ID_LEN + 4
		    && strcmp(de->d_name + ARCHIVE_ID_LEN, ".eml") == 0
		    && v->n_ids > 0 && bsearch(id, v->ids, v->n_ids,
					       sizeof(*v->ids), compare_ids))
			continue;
		snprintf(object, sizeof(object), "messages/%.250s", de->d_name);
		report(v, "added", object, "no manifest row names this file");
	}
	if (d != NULL)
		closedir(d);
}

/* check_files - no file added, no row twice, the mbox has no more */
static void
check_files(vx *v)
{
	struct dirent *de;
	size_t i;
	DIR *d = opendir(v->path);

	while (d != NULL && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0
		    && !is_top_file(v, de->d_name))
			report(v, "added", de->d_name, "an export has no such file");
	if (d != NULL)
		closedir(d);
	if (v->n_ids > 0)
		qsort(v->ids, v->n_ids, sizeof(*v->ids), compare_ids);
	for (i = 1; i < v->n_ids; i++)
		if (memcmp(v->ids[i - 1], v->ids[i], ARCHIVE_ID_LEN) == 0)
			report(v, "manifest", v->ids[i], "listed twice");
	if (v->format == DISCOVERY_EXPORT_EML)
		check_added_messages(v);
	else if (v->held_len >= 0)
		report(v, "added", "messages.mbox", "holds more messages than the"
		       " manifest lists");
}

/* The largest custody.json read: an export names at most 100,000 ids
 * (ACCESS_MAX_RESULTS), about 30 bytes each in its entry. */
#define CUSTODY_MAX	(16 * 1024 * 1024)

/* custody_entry - the audit entry custody.json proves, checked to be a
 * granted export's; NULL after reporting why not */
static json_t *
custody_entry(vx *v, json_t *proof)
{
	const char *line = json_string_value(json_object_get(proof, "entry"));
	json_t *e = line != NULL ? json_loads(line, 0, NULL) : NULL;
	const char *event = json_string_value(json_object_get(e, "event"));
	const char *action = json_string_value(json_object_get(e, "action"));
	const char *outcome = json_string_value(json_object_get(e, "outcome"));

	if (event != NULL && strcmp(event, "access") == 0 && action != NULL
	    && strcmp(action, "export") == 0 && outcome != NULL
	    && strcmp(outcome, "granted") == 0
	    && json_is_array(json_object_get(e, "ids")))
		return e;
	report(v, "proof", "custody.json", "is not the audit entry of a granted"
	       " export");
	json_decref(e);
	return NULL;
}

/* custody_ids - the entry's ids, sorted, into *out (caller frees); how
 * many, or -1 when one is not an id */
static ssize_t
custody_ids(json_t *ids, char (**out)[ARCHIVE_ID_LEN + 1])
{
	char (*list)[ARCHIVE_ID_LEN + 1];
	size_t i, n = json_array_size(ids);
	const char *id;
	json_t *x;

	if ((list = calloc(n + 1, sizeof(*list))) == NULL)
		return -1;
	json_array_foreach(ids, i, x) {
		id = json_string_value(x);
		if (id == NULL || strlen(id) != ARCHIVE_ID_LEN) {
			free(list);
			return -1;
		}
		memcpy(list[i], id, ARCHIVE_ID_LEN + 1);
	}
	qsort(list, n, sizeof(*list), compare_ids);
	*out = list;
	return (ssize_t)n;
}

/* compare_custody - every id the audit entry names has a row, and every
 * row is named (both lists sorted) */
static void
compare_custody(vx *v, char (*named)[ARCHIVE_ID_LEN + 1], size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v->n_ids == 0 || bsearch(named[i], v->ids, v->n_ids,
					     sizeof(*v->ids), compare_ids) == NULL)
			report(v, "missing", named[i], "the export's audit entry"
			       " (custody.json) names it; no manifest row does");
	for (i = 0; i < v->n_ids; i++)
		if (n == 0 || bsearch(v->ids[i], named, n, sizeof(*named),
				      compare_ids) == NULL)
			report(v, "added", v->ids[i], "a manifest row the export's"
			       " audit entry (custody.json) does not name");
}

/* check_custody - custody.json is the export's audit entry, in the tree
 * of a signed checkpoint, and names exactly the rows' ids (v->ids,
 * sorted by check_files) */
static void
check_custody(vx *v)
{
	char *p = NULL, *text = NULL, (*named)[ARCHIVE_ID_LEN + 1] = NULL;
	json_t *proof = NULL, *e = NULL;
	struct stat sb;
	mk_error err;
	ssize_t n;

	if (asprintf(&p, "%s/custody.json", v->path) < 0)
		return;
	if (lstat(p, &sb) != 0)
		report(v, "missing", "custody.json", "the export's audit entry is"
		       " not there, so a row removed with its message would"
		       " not be seen");
	else if (sb.st_size > CUSTODY_MAX)
		report(v, "proof", "custody.json", "is larger than an export's"
		       " audit entry can be (%lld bytes)", (long long)CUSTODY_MAX);
	else if ((text = read_text(p, &err)) == NULL
		 || (proof = json_loads(text, 0, NULL)) == NULL
		 || !json_is_object(proof))
		report(v, "proof", "custody.json", "is not a JSON object");
	else if (check_inclusion(v, "custody.json", proof)
		 && check_checkpoint(v, "custody.json", proof)
		 && (e = custody_entry(v, proof)) != NULL) {
		if ((n = custody_ids(json_object_get(e, "ids"), &named)) < 0)
			report(v, "proof", "custody.json", "its entry's ids are"
			       " not message ids");
		else
			compare_custody(v, named, (size_t)n);
	}
	free(named);
	json_decref(e);
	json_decref(proof);
	free(text);
	free(p);
}

/* The longest manifest.json line read: a row holds one message's signed
 * record and proof, a few KB, more with thousands of recipients; a longer
 * line is a problem, not memory spent. */
#define ROW_MAX		((size_t)64 << 20)

/* read_line - the next line of f into *line (malloc'ed, *cap its size),
 * newline kept, at most max bytes: its length; -1 at the end; -2 when it
 * is longer (the rest of it is passed over) */
static ssize_t
read_line(FILE *f, char **line, size_t *cap, size_t max)
{
	size_t len = 0;
	char *grown;
	int c;

	while ((c = getc_unlocked(f)) != EOF) {
		if (len == max) {
			while (c != '\n' && (c = getc_unlocked(f)) != EOF)
				;
			return -2;
		}
		if (len + 2 > *cap) {
			*cap = *cap ? 2 * *cap : 4096;
			if (*cap > max + 2)
				*cap = max + 2;
			if ((grown = realloc(*line, *cap)) == NULL)
				return -2;
			*line = grown;
		}
		(*line)[len++] = (char)c;
		if (c == '\n')
			break;
	}
	if (len == 0)
		return -1;
	(*line)[len] = '\0';
	return (ssize_t)len;
}

/* read_header - the first line of manifest.json: the format */
static int
read_header(vx *v, FILE *f, mk_error *err)
{
	static const char eml[] = "{\"format\":\"" EXPORT_MANIFEST_FORMAT
				  "\",\"export\":\"eml\",\"messages\":[\n";
	static const char mbox[] = "{\"format\":\"" EXPORT_MANIFEST_FORMAT
				   "\",\"export\":\"mbox\",\"messages\":[\n";
	static const char zip[] = "{\"format\":\"" EXPORT_MANIFEST_FORMAT
				  "\",\"export\":\"zip\",\"messages\":[\n";
	char *line = NULL, *p;
	size_t cap = 0;
	ssize_t n = read_line(f, &line, &cap, 4096);
	int rc = 0;

	if (n > 0 && (strcmp(line, eml) == 0 || strcmp(line, zip) == 0))
		v->format = DISCOVERY_EXPORT_EML;
	else if (n > 0 && strcmp(line, mbox) == 0) {
		v->format = DISCOVERY_EXPORT_MBOX;
		if (asprintf(&p, "%s/messages.mbox", v->path) < 0)
			rc = mk_error_set(err, "out of memory");
		else if ((v->mbox = open_file(p)) == NULL)
			report(v, "missing", "messages.mbox", "%s", strerror(errno));
		else
			mbox_read(v);
		free(p);
	} else
		rc = mk_error_set(err, "%s/manifest.json is not a mailkeep export"
				  " manifest (%s)", v->path, EXPORT_MANIFEST_FORMAT);
	if (v->mbox == NULL)
		v->held_len = -1;
	free(line);
	return rc;
}

/* verify_rows - every row line, up to the closing line "]}" */
static int
verify_rows(vx *v, FILE *f, mk_error *err)
{
	char *line = NULL;
	size_t cap = 0, lineno = 1;
	ssize_t n;
	bool comma = true, closed = false;
	int rc = 0;

	while (rc == 0 && (n = read_line(f, &line, &cap, ROW_MAX)) != -1) {
		lineno++;
		if (n == -2) {
			report(v, "manifest", "manifest.json", "line %zu is longer"
			       " than %zu bytes", lineno, ROW_MAX);
			continue;
		}
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (closed)
			report(v, "manifest", "manifest.json", "text after its end");
		else if (strcmp(line, "]}") == 0)
			closed = true;
		else if (!comma)
			report(v, "manifest", "manifest.json", "line %zu: a row"
			       " without a comma before it", lineno);
		if (closed || !comma)
			continue;
		if ((comma = n > 0 && line[n - 1] == ','))
			line[--n] = '\0';
		rc = verify_row(v, line, lineno, err);
		if (v->progress != NULL)
			v->progress("messages", v->st->messages, 0, v->ctx);
	}
	free(line);
	if (rc == 0 && (!closed || comma) && v->st->messages > 0)
		report(v, "manifest", "manifest.json", "cut short (no closing line)");
	return rc;
}

/* vx_free - what a verification holds */
static void
vx_free(vx *v)
{
	size_t i;

	for (i = 0; i < v->n_keys; i++)
		EVP_PKEY_free(v->keys[i]);
	free(v->keys);
	if (v->mbox) fclose(v->mbox);
	if (v->csv) fclose(v->csv);
	if (v->edrm) fclose(v->edrm);
	free(v->held);
	free(v->ids);
	free(v->good_cp);
}

/* check_keys_file - with pinned keys: the export's keys.pem holds the
 * same keys, generation for generation */
static void
check_keys_file(vx *v, const char *own)
{
	BIO *mem = own ? BIO_new_mem_buf(own, -1) : NULL;
	EVP_PKEY *key;
	size_t n = 0;
	bool same = own != NULL;

	while (mem != NULL && (key = PEM_read_bio_PUBKEY(mem, NULL, NULL, NULL))
	       != NULL) {
		if (n >= v->n_keys || EVP_PKEY_eq(key, v->keys[n]) != 1)
			same = false;
		n++;
		EVP_PKEY_free(key);
	}
	BIO_free(mem);
	if (!same || n != v->n_keys)
		report(v, "keys", "keys.pem", "is not the pinned public keys"
		       " (--keys)");
}

/* verify_tree - the check of the file's header on an export directory */
static int
verify_tree(const char *path, const char *keys_pem,
	    archive_problem_fn problem, archive_progress_fn progress,
	    void *ctx, discovery_export_stats *st, mk_error *err)
{
	vx v = { .path = path, .problem = problem, .progress = progress,
		 .ctx = ctx, .st = st, .held_len = -1 };
	char *own = NULL, *p = NULL;
	FILE *f = NULL;
	int rc = -1;

	if (asprintf(&p, "%s/manifest.json", path) < 0)
		return mk_error_set(err, "out of memory");
	if ((f = open_file(p)) == NULL)
		mk_error_set(err, "%s: %s (not an export?)", p, strerror(errno));
	else if ((free(p), asprintf(&p, "%s/keys.pem", path) < 0)
		 || ((own = read_text(p, err)) == NULL && keys_pem == NULL))
		;
	else if ((err->msg[0] = '\0') != '\0')	/* keys.pem may be gone */
		;
	else if (load_keys(&v, keys_pem ? keys_pem : own, err) == 0
		 && read_header(&v, f, err) == 0) {
		if (keys_pem != NULL)
			check_keys_file(&v, own);
		if ((v.csv = tmpfile()) == NULL || (v.edrm = tmpfile()) == NULL
		    || export_csv_header(v.csv) != 0 || export_edrm_begin(v.edrm) != 0)
			mk_error_set(err, "temporary file: %s", strerror(errno));
		else if ((rc = verify_rows(&v, f, err)) == 0) {
			export_edrm_end(v.edrm);
			fflush(v.csv);
			fflush(v.edrm);
			check_derived(&v);
			check_files(&v);
			check_custody(&v);
		}
	}
	if (f != NULL)
		fclose(f);
	free(p);
	free(own);
	vx_free(&v);
	return rc;
}

/* The caller's problem function, for entries of a zip no export has. */
typedef struct zip_report {
	archive_problem_fn problem;
	void *ctx;
	discovery_export_stats *st;
} zip_report;

/* zip_added - an entry of the zip that is not an export's file */
static void
zip_added(const char *name, void *ctx)
{
	zip_report *z = ctx;

	tell(z->problem, z->ctx, z->st, "added", name,
	     "an export has no such file");
}

/* discovery_export_verify - a directory, or a zip taken apart first */
int
discovery_export_verify(const char *path, const char *keys_pem,
			archive_problem_fn problem, archive_progress_fn progress,
			void *ctx, discovery_export_stats *st, mk_error *err)
{
	zip_report z = { problem, ctx, st };
	struct stat sb;
	char *dir;
	int rc;

	memset(st, 0, sizeof(*st));
	err->msg[0] = '\0';
	if (stat(path, &sb) != 0)
		return mk_error_set(err, "%s: %s", path, strerror(errno));
	if (S_ISDIR(sb.st_mode))
		return verify_tree(path, keys_pem, problem, progress, ctx, st, err);
	if ((dir = export_zip_unpack(path, zip_added, &z, err)) == NULL)
		return -1;
	rc = verify_tree(dir, keys_pem, problem, progress, ctx, st, err);
	export_tree_remove(dir);
	free(dir);
	return rc;
}
