/*
 * exportrow.h - what the export writer and its verifier share.
 *
 * NAME
 *	exportrow - one manifest row, made the same way on both sides
 *
 * DESCRIPTION
 *	An export's manifest row is a function of three things only: the
 *	signed proof the service handed out (record text, signature, ledger
 *	entry, inclusion proof, signed checkpoint), the digests of the
 *	exported bytes, and the header fields the extractor reads from those
 *	bytes.  The writer makes each row with export_row(); the verifier
 *	checks the proof, recomputes the digests and the headers from the
 *	exported file, makes the row again with the same function and
 *	compares it byte for byte with the line in manifest.json.  The CSV
 *	and EDRM rows are in turn functions of the JSON row.  Internal to
 *	discovery/.
 */
#ifndef MAILKEEP_EXPORTROW_H
#define MAILKEEP_EXPORTROW_H

#include <stdio.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "discovery/discovery.h"

#define EXPORT_HEAD_MAX	(1 << 20)	/* bytes of a header section read */
#define EXPORT_MANIFEST_FORMAT "mailkeep-export/1"

/* The digests and header section of one message's bytes as they pass. */
typedef struct export_digest {
	EVP_MD_CTX *md5, *sha1, *sha256;
	int64_t size;
	char *head;			/* the header section, at most
					   EXPORT_HEAD_MAX bytes */
	size_t head_len;
	bool head_done;
	bool head_nul;			/* a NUL in head: no empty line is
					   looked for past it */
	char md5_hex[33], sha1_hex[41], sha256_hex[65];
} export_digest;

/* export_digest_begin / _add / _end - digests of a byte stream; _end
 * fills the hex digests; _free frees (also after _end) */
int export_digest_begin(export_digest *d, mk_error *err);
int export_digest_add(export_digest *d, const void *buf, size_t len);
int export_digest_end(export_digest *d, mk_error *err);
void export_digest_free(export_digest *d);

/* export_row - the manifest row of the message the proof object names
 * (a new JSON object); d is NULL for a message kept as metadata only;
 * file its path in the export ("messages/ID.eml", "messages.mbox"),
 * position its place in the mbox (0 otherwise) */
json_t *export_row(json_t *proof, const export_digest *d, const char *file,
		   size_t position, mk_error *err);

/* export_row_text - the row as its manifest.json line (malloc'ed) */
char *export_row_text(json_t *row);

/* export_csv_header / export_csv_row - manifest.csv */
int export_csv_header(FILE *f);
int export_csv_row(FILE *f, json_t *row);

/* export_edrm_begin / _row / _end - edrm.xml (EDRM XML 1.2) */
int export_edrm_begin(FILE *f);
int export_edrm_row(FILE *f, json_t *row);
int export_edrm_end(FILE *f);

/* export_mbox_escape - mboxrd escaping of a stream (state in *st, 0 at
 * the start of a message): the escaped bytes to out */
typedef struct export_mbox_state {
	int mid_line;		/* inside a line past its start */
	size_t gts;		/* '>' seen at the start of this line */
	size_t from;		/* bytes of "From " matched after them */
} export_mbox_state;
int export_mbox_escape(export_mbox_state *st, const char *buf, size_t len,
		       FILE *out);
int export_mbox_flush(export_mbox_state *st, FILE *out);

/* export_zip_pack - the export tree at tree into a new zip file, synced */
int export_zip_pack(const char *tree, const char *zip, mk_error *err);

/* export_zip_unpack - a zip export's files into a new temporary
 * directory (its name malloc'ed; remove with export_tree_remove());
 * entries no export has go to added(name, ctx) and are not written */
char *export_zip_unpack(const char *zip, void (*added)(const char *, void *),
			void *ctx, mk_error *err);

/* export_tree_remove - remove a directory tree the export made */
void export_tree_remove(const char *dir);

#endif /* MAILKEEP_EXPORTROW_H */
