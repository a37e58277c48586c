/*
 * export_writer.c - an export directory, written as the service streams.
 *
 * NAME
 *	export_writer - discovery_export_begin() ... _finish() / _abort()
 *
 * DESCRIPTION
 *	The client side of "mailkeep export" (discovery.h): the frames of
 *	the service's answer go in one at a time - the keys, then for each
 *	message its proof and its content bytes - and the files of the
 *	export (docs/FORMAT.md, section 9) come out.  Rows are made by
 *	export_row() (export.c), which the verifier uses too.
 *
 *	Everything is written under PATH.partial; _finish() closes it,
 *	makes it durable (the message files with one syncfs(), the
 *	manifests and directories with an fsync each) and renames
 *	PATH.partial to PATH as its very last step; _abort() removes PATH.partial.  A zip export
 *	writes its tree in PATH.partial.d, packs it into PATH.partial
 *	(export_zip.c), renames that to PATH and removes the tree.  PATH must not
 *	exist, and neither may PATH.partial (left by an export killed
 *	without a chance to clean up: removing it is the user's call).
 *
 * DIAGNOSTICS
 *	-1 with the problem in err.  Nothing prints.
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

/* One export being written. */
struct discovery_export {
	char *path, *partial;		/* the tree being written */
	char *zip_partial;		/* zip: PATH.partial (the tree is
					   PATH.partial.d) */
	discovery_export_format format;
	FILE *manifest, *csv, *edrm, *mbox, *eml;
	json_t *proof;			/* the message being received */
	bool full;
	export_digest d;
	export_mbox_state ms;
	size_t rows, positions;
};

static const char *format_names[] = { "eml", "mbox", "zip" };

static const char readme[] =
"This is an export of a mailkeep archive (docs/FORMAT.md, section 9).\n"
"\n"
"  messages/ID.eml  each message exactly as archived (eml format), or\n"
"  messages.mbox    every message as mboxrd (mbox format): a line\n"
"                   \"From MAILER-DAEMON <time>\" before each message, a\n"
"                   '>' added to every line of it that starts with\n"
"                   \">*From \", and one \"\\n\" after it.  The transform is\n"
"                   reversible; the digests of the manifests are those of\n"
"                   the ORIGINAL bytes, before it.\n"
"  manifest.json    one row a message, one line a row: digests (MD5,\n"
"                   SHA-1, SHA-256), size, custodian, envelope, headers,\n"
"                   received time, policy decision, the signed record and\n"
"                   the ledger inclusion proof with its signed checkpoint\n"
"  manifest.csv     the same rows as CSV\n"
"  edrm.xml         the same rows as an EDRM XML 1.2 load file\n"
"  keys.pem         the archive's public signing keys, generation 1 first\n"
"  custody.json     the export's own audit entry in the archive's ledger,\n"
"                   naming every id exported, with its inclusion proof in\n"
"                   the same signed checkpoint: a row removed together\n"
"                   with its message is still named there\n"
"\n"
"To check it (no archive needed; pin the keys you got from the archive's\n"
"owner by another channel, \"mailkeep keys export-public\"):\n"
"\n"
"  mailkeep verify-export THIS-DIRECTORY --keys PINNED-KEYS.pem\n"
"\n"
"By hand, with openssl alone, for one message (docs/FORMAT.md, section 6):\n"
"take its row from manifest.json (jq -c '.messages[] | select(.id==\"ID\")'),\n"
"its \"proof\" member is the proof.json of section 6, and messages/ID.eml\n"
"(or the message taken out of the mbox) its message.eml:\n"
"\n"
"  1. sha256sum of the message = the record's sha256 = the row's sha256\n"
"  2. openssl pkeyutl -verify -pubin -inkey key-G.pem -rawin \\\n"
"         -in record.txt -sigfile record.sig   (the record's signature)\n"
"  3. the ledger entry names the record's SHA-256\n"
"  4. the inclusion path folds to the checkpoint's root\n"
"  5. openssl pkeyutl -verify ... -in cp.txt -sigfile cp.sig\n"
"\n"
"Every other member of a row is either computed from the message bytes\n"
"or copied from the signed record, so an edited row no longer matches.\n";

/* remove_one - nftw: remove a file or an emptied directory */
static int
remove_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p) == 0 || errno == ENOENT ? 0 : -1;
}

/* export_tree_remove - remove dir and everything in it */
void
export_tree_remove(const char *dir)
{
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* open_in - a new file name in the partial directory */
static FILE *
open_in(discovery_export *x, const char *name, mk_error *err)
{
	char *p;
	FILE *f;

	if (asprintf(&p, "%s/%s", x->partial, name) < 0) {
		mk_error_set(err, "out of memory");
		return NULL;
	}
	if ((f = fopen(p, "wx")) == NULL)
		mk_error_set(err, "%s: %s", p, strerror(errno));
	free(p);
	return f;
}

/* open_files - the manifests and the mbox, their first lines */
static int
open_files(discovery_export *x, mk_error *err)
{
	if ((x->manifest = open_in(x, "manifest.json", err)) == NULL
	    || (x->csv = open_in(x, "manifest.csv", err)) == NULL
	    || (x->edrm = open_in(x, "edrm.xml", err)) == NULL)
		return -1;
	if (x->format == DISCOVERY_EXPORT_MBOX
	    && (x->mbox = open_in(x, "messages.mbox", err)) == NULL)
		return -1;
	if (fprintf(x->manifest, "{\"format\":\"%s\",\"export\":\"%s\","
		    "\"messages\":[", EXPORT_MANIFEST_FORMAT,
		    format_names[x->format]) < 0
	    || export_csv_header(x->csv) != 0 || export_edrm_begin(x->edrm) != 0)
		return mk_error_set(err, "%s: %s", x->partial, strerror(errno));
	return 0;
}

/* free_export - x's names and x */
static void
free_export(discovery_export *x)
{
	if (x != NULL) {
		free(x->path);
		free(x->partial);
		free(x->zip_partial);
	}
	free(x);
}

/* discovery_export_begin - start an export into path (discovery.h) */
discovery_export *
discovery_export_begin(const char *path, discovery_export_format format,
		       mk_error *err)
{
	discovery_export *x = calloc(1, sizeof(*x));
	char *msgs = NULL;
	struct stat st;
	int rc;

	if (x == NULL || (x->path = strdup(path)) == NULL
	    || asprintf(&x->partial, format == DISCOVERY_EXPORT_ZIP
			? "%s.partial.d" : "%s.partial", path) < 0
	    || (format == DISCOVERY_EXPORT_ZIP
		&& asprintf(&x->zip_partial, "%s.partial", path) < 0)) {
		free_export(x);
		mk_error_set(err, "out of memory");
		return NULL;
	}
	x->format = format;
	if (stat(path, &st) == 0 || errno != ENOENT)
		rc = mk_error_set(err, "%s already exists", path);
	else if (x->zip_partial != NULL && stat(x->zip_partial, &st) == 0)
		rc = mk_error_set(err, "%s exists (left by an export that did not"
				  " finish: remove it)", x->zip_partial);
	else if (mkdir(x->partial, 0700) != 0)
		rc = mk_error_set(err, "%s: %s%s", x->partial, strerror(errno),
				  errno == EEXIST ? " (left by an export that"
				  " did not finish: remove it)" : "");
	else {
		if (asprintf(&msgs, "%s/messages", x->partial) < 0)
			rc = mk_error_set(err, "out of memory");
		else if (format != DISCOVERY_EXPORT_MBOX && mkdir(msgs, 0700) != 0)
			rc = mk_error_set(err, "%s: %s", msgs, strerror(errno));
		else
			rc = open_files(x, err);
		free(msgs);
		if (rc != 0)
			discovery_export_abort(x);
		return rc == 0 ? x : NULL;
	}
	free_export(x);
	return NULL;
}

/* write_keys_file - keys.pem as "mailkeep keys export-public" prints it */
static int
write_keys_file(discovery_export *x, json_t *keys, mk_error *err)
{
	FILE *f = open_in(x, "keys.pem", err);
	json_t *k;
	size_t i;
	int rc = 0;

	if (f == NULL)
		return -1;
	json_array_foreach(keys, i, k)
		if (fprintf(f, "# mailkeep signing key, generation %lld"
			    " (Ed25519)\n%s", (long long)json_integer_value(
			    json_object_get(k, "gen")), json_string_value(
			    json_object_get(k, "pem"))) < 0)
			rc = -1;
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rc = -1;
	if (fclose(f) != 0 || rc != 0)
		return mk_error_set(err, "%s/keys.pem: %s", x->partial,
				    strerror(errno));
	return 0;
}

/* write_custody_file - custody.json: the proof of the export's own audit
 * entry, one compact JSON object and a newline */
static int
write_custody_file(discovery_export *x, json_t *custody, mk_error *err)
{
	FILE *f;
	char *text;
	int rc = 0;

	if (!json_is_object(custody))
		return mk_error_set(err, "the service sent no proof of the"
				    " export's audit entry");
	if ((text = json_dumps(custody, JSON_COMPACT | JSON_PRESERVE_ORDER))
	    == NULL)
		return mk_error_set(err, "out of memory");
	if ((f = open_in(x, "custody.json", err)) == NULL) {
		free(text);
		return -1;
	}
	if (fprintf(f, "%s\n", text) < 0 || fflush(f) != 0
	    || fsync(fileno(f)) != 0)
		rc = -1;
	free(text);
	if (fclose(f) != 0 || rc != 0)
		return mk_error_set(err, "%s/custody.json: %s", x->partial,
				    strerror(errno));
	return 0;
}

/* end_message - the message being received is whole: its row */
static int
end_message(discovery_export *x, mk_error *err)
{
	char file[ARCHIVE_ID_LEN + 16];
	const char *id = json_string_value(json_object_get(x->proof, "id"));
	json_t *row;
	char *text;
	int rc = 0;

	if (x->proof == NULL)
		return 0;
	if (x->full && x->eml != NULL) {	/* made durable by finish */
		if (fclose(x->eml) != 0)
			rc = -1;
		x->eml = NULL;
	}
	if (x->full && x->mbox != NULL && (export_mbox_flush(&x->ms, x->mbox) != 0
					   || fputc('\n', x->mbox) == EOF))
		rc = -1;
	if (rc != 0)
		return mk_error_set(err, "writing message %s: %s", id,
				    strerror(errno));
	if (x->full && export_digest_end(&x->d, err) != 0)
		return -1;
	snprintf(file, sizeof(file), x->format != DISCOVERY_EXPORT_MBOX
		 ? "messages/%s.eml" : "messages.mbox", id);
	row = export_row(x->proof, x->full ? &x->d : NULL, file,
			 x->format == DISCOVERY_EXPORT_MBOX ? x->positions : 0, err);
	export_digest_free(&x->d);
	json_decref(x->proof);
	x->proof = NULL;
	if (row == NULL)
		return -1;
	text = export_row_text(row);
	if (text == NULL || fprintf(x->manifest, "%s\n%s", x->rows ? "," : "",
				    text) < 0
	    || export_csv_row(x->csv, row) != 0 || export_edrm_row(x->edrm, row) != 0)
		rc = mk_error_set(err, "writing the manifests: %s", strerror(errno));
	free(text);
	json_decref(row);
	x->rows++;
	return rc;
}

/* mbox_separator - the "From " line before a message: its received time
 * in asctime(3) form */
static int
mbox_separator(discovery_export *x)
{
	const char *text = json_string_value(json_object_get(
				json_object_get(x->proof, "record"), "text"));
	json_t *rec = text ? json_loads(text, 0, NULL) : NULL;
	time_t t = (time_t)(json_integer_value(json_object_get(rec,
					       "received_at")) / 1000000);
	char when[64];
	struct tm tm;

	json_decref(rec);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm);
	return fprintf(x->mbox, "From MAILER-DAEMON %s\n", when) < 0 ? -1 : 0;
}

/* has_content - does the signed record of proof name content? */
static bool
has_content(json_t *proof)
{
	const char *text = json_string_value(json_object_get(
				json_object_get(proof, "record"), "text"));
	json_t *rec = text ? json_loads(text, 0, NULL) : NULL;
	bool full = json_is_string(json_object_get(rec, "sha256"));

	json_decref(rec);
	return full;
}

/* start_message - the proof of the next message: its content follows */
static int
start_message(discovery_export *x, json_t *item, mk_error *err)
{
	const char *id;
	char name[ARCHIVE_ID_LEN + 16];

	x->proof = json_incref(json_object_get(item, "proof"));
	id = json_string_value(json_object_get(x->proof, "id"));
	if (id == NULL || strlen(id) != ARCHIVE_ID_LEN || strchr(id, '/'))
		return mk_error_set(err, "the service sent a message without an id");
	if (!(x->full = has_content(x->proof)))
		return 0;
	if (export_digest_begin(&x->d, err) != 0)
		return -1;
	memset(&x->ms, 0, sizeof(x->ms));
	if (x->format == DISCOVERY_EXPORT_MBOX) {
		x->positions++;
		return mbox_separator(x) != 0 ? mk_error_set(err, "writing"
			" messages.mbox: %s", strerror(errno)) : 0;
	}
	snprintf(name, sizeof(name), "messages/%s.eml", id);
	return (x->eml = open_in(x, name, err)) != NULL ? 0 : -1;
}

/* discovery_export_item - one 'J' frame of the service's answer */
int
discovery_export_item(discovery_export *x, const char *buf, size_t len,
		      mk_error *err)
{
	json_t *item = json_loadb(buf, len, 0, NULL);
	int rc;

	if (!json_is_object(item))
		rc = mk_error_set(err, "the service sent a bad item");
	else if (json_object_get(item, "keys") != NULL) {
		rc = write_keys_file(x, json_object_get(item, "keys"), err);
		if (rc == 0)
			rc = write_custody_file(x, json_object_get(item,
						"custody"), err);
	}
	else if ((rc = end_message(x, err)) == 0)
		rc = start_message(x, item, err);
	json_decref(item);
	return rc;
}

/* discovery_export_data - content bytes of the message being received */
int
discovery_export_data(discovery_export *x, const void *buf, size_t len,
		      mk_error *err)
{
	const char *id = json_string_value(json_object_get(x->proof, "id"));

	if (x->proof == NULL || !x->full)
		return mk_error_set(err, "the service sent content for no message");
	if (export_digest_add(&x->d, buf, len) != 0)
		return mk_error_set(err, "out of memory");
	if (x->eml != NULL && fwrite(buf, 1, len, x->eml) != len)
		return mk_error_set(err, "writing message %s: %s", id,
				    strerror(errno));
	if (x->mbox != NULL && export_mbox_escape(&x->ms, buf, len, x->mbox) != 0)
		return mk_error_set(err, "writing messages.mbox: %s",
				    strerror(errno));
	return 0;
}

/* close_synced - fflush, fsync, fclose; -1 if any failed */
static int
close_synced(FILE **f)
{
	int rc = 0;

	if (*f == NULL)
		return 0;
	if (fflush(*f) != 0 || fsync(fileno(*f)) != 0)
		rc = -1;
	if (fclose(*f) != 0)
		rc = -1;
	*f = NULL;
	return rc;
}

/* sync_dir - fsync the directory dir; with tree, syncfs() instead: every
 * file written under it durable at once (one call for the thousands of
 * message files, which an fsync each cost more than writing them; it
 * reports a writeback error of any of them) */
static int
sync_dir(const char *dir, bool tree)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY), rc;

	if (fd < 0)
		return -1;
	rc = tree ? syncfs(fd) : fsync(fd);
	close(fd);
	return rc;
}

/* parent_of - the directory holding path (malloc'ed) */
static char *
parent_of(const char *path)
{
	char *p = strdup(path), *slash;

	if (p == NULL)
		return NULL;
	if ((slash = strrchr(p, '/')) == NULL)
		return strcpy(p, ".");
	if (slash == p)
		slash[1] = '\0';
	else
		*slash = '\0';
	return p;
}

/* write_readme - README.txt */
static int
write_readme(discovery_export *x, mk_error *err)
{
	FILE *f = open_in(x, "README.txt", err);

	if (f == NULL)
		return -1;
	if (fputs(readme, f) == EOF) {
		fclose(f);
		return mk_error_set(err, "README.txt: %s", strerror(errno));
	}
	return close_synced(&f) == 0 ? 0
	    : mk_error_set(err, "README.txt: %s", strerror(errno));
}

/* discovery_export_finish - the last row, the ends of the manifests,
 * fsync, rename PATH.partial to PATH; frees x (also on failure, after
 * removing the partial output) */
int
discovery_export_finish(discovery_export *x, size_t *rows, mk_error *err)
{
	char *msgs = NULL, *parent = parent_of(x->path);
	int rc = end_message(x, err);

	if (rc == 0 && (fputs("\n]}\n", x->manifest) == EOF
			|| export_edrm_end(x->edrm) != 0))
		rc = mk_error_set(err, "writing the manifests: %s", strerror(errno));
	if (rc == 0 && (close_synced(&x->manifest) != 0 || close_synced(&x->csv) != 0
			|| close_synced(&x->edrm) != 0 || close_synced(&x->mbox) != 0))
		rc = mk_error_set(err, "%s: %s", x->partial, strerror(errno));
	if (rc == 0)
		rc = write_readme(x, err);
	if (rc == 0 && x->format == DISCOVERY_EXPORT_EML
	    && sync_dir(x->partial, true) != 0)
		rc = mk_error_set(err, "%s: %s", x->partial, strerror(errno));
	if (rc == 0 && asprintf(&msgs, "%s/messages", x->partial) >= 0
	    && x->format == DISCOVERY_EXPORT_EML && sync_dir(msgs, false) != 0)
		rc = mk_error_set(err, "%s: %s", msgs, strerror(errno));
	if (rc == 0 && x->format == DISCOVERY_EXPORT_ZIP)
		rc = export_zip_pack(x->partial, x->zip_partial, err);
	if (rc == 0 && ((x->format != DISCOVERY_EXPORT_ZIP && sync_dir(x->partial, false) != 0)
			|| rename(x->zip_partial ? x->zip_partial : x->partial,
				  x->path) != 0
			|| parent == NULL || sync_dir(parent, false) != 0))
		rc = mk_error_set(err, "%s: %s", x->path, strerror(errno));
	if (rc == 0 && x->format == DISCOVERY_EXPORT_ZIP)
		export_tree_remove(x->partial);
	free(msgs);
	free(parent);
	if (rows != NULL)
		*rows = x->rows;
	if (rc != 0) {
		discovery_export_abort(x);
		return -1;
	}
	free_export(x);
	return 0;
}

/* discovery_export_abort - close everything, remove PATH.partial, free */
void
discovery_export_abort(discovery_export *x)
{
	if (x == NULL)
		return;
	if (x->manifest) fclose(x->manifest);
	if (x->csv) fclose(x->csv);
	if (x->edrm) fclose(x->edrm);
	if (x->mbox) fclose(x->mbox);
	if (x->eml) fclose(x->eml);
	export_digest_free(&x->d);
	json_decref(x->proof);
	export_tree_remove(x->partial);
	if (x->zip_partial != NULL)
		unlink(x->zip_partial);
	free_export(x);
}
