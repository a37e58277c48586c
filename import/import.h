/*
 * import.h - the one interface of mailkeep's import reader.
 *
 * NAME
 *	import - read mail that predates the milter, one message at a time
 *
 * SYNOPSIS
 *	#include "import/import.h"
 *
 *	import_source *src = import_source_open(IMPORT_MBOX, path, &err);
 *	while ((rc = import_next(src, &sink, ctx, &err)) == 1)
 *		;
 *	import_source_close(src);
 *
 * DESCRIPTION
 *	A source is one mbox file, one Maildir or one message file or
 *	directory of message files.  import_next() reads the next message of
 *	a source and hands it to the caller's sink, streaming: begin (where
 *	it comes from), the envelope derived from its headers, its bytes in
 *	chunks of at most IMPORT_CHUNK, end.  Or, instead of the envelope,
 *	chunks and end, a skip with a reason, possibly after some chunks (a
 *	read error in the middle): the caller then drops what it got.  Every
 *	message of a source is either handed over or skipped with a reason;
 *	nothing is dropped silently.  What a skip means, how messages are
 *	stored, deduplicated and counted is the caller's business: this
 *	library knows nothing of the archive or the access service.
 *
 *	Memory is bounded whatever the input: a read buffer of
 *	IMPORT_READ_BUF, a header block of at most IMPORT_MAX_HEADER and a
 *	chunk of IMPORT_CHUNK a source.  A 100 MB message (or a 100 MB line)
 *	passes through in chunks.
 *
 *	The bytes handed over are the message exactly as in the file: bare
 *	CR, NUL bytes, CRLF line ends, 8-bit headers and a missing last line
 *	end are kept (and noted, see IMPORT_NOTE_*).  Only the mbox framing
 *	is removed (below).
 *
 *   Sources
 *	IMPORT_MBOX      one mbox file (below).
 *	IMPORT_MAILDIR   a directory with cur/ and new/: their files, by file
 *	                 name (bytewise; Maildir names start with the delivery
 *	                 time), cur/ before new/ for equal names.  tmp/ (mail
 *	                 being delivered) and Maildir++ subfolders (.Name/)
 *	                 are not read: import each subfolder as a Maildir of
 *	                 its own.
 *	IMPORT_EML       a file holding one message, or a directory whose
 *	                 files are each one message, walked depth-first in
 *	                 bytewise name order (subdirectories included, at most
 *	                 IMPORT_MAX_DEPTH deep).
 *	In a directory, an entry whose name starts with "." is skipped as a
 *	"hidden file", and anything that is not a regular file or directory
 *	(a symbolic link, a FIFO, a socket, a device) is skipped as "not a
 *	regular file": a symbolic link is followed only when it is the path
 *	the caller named.  A file that
 *	cannot be opened or read is skipped with the system's reason.
 *
 *   mbox
 *	The separator rule.  A line is a separator, starting a message, when
 *	it starts with "From " and
 *	  - it is the first line of the file (whatever follows "From "), or
 *	  - it follows a line end, is at most IMPORT_MAX_FROM_LINE bytes, and
 *	    reads "From SENDER DATE", SENDER one word (or a quoted string and
 *	    what follows it up to a space; it may be missing) and DATE of
 *	    asctime(3) form: "Www Mmm dd hh:mm[:ss] yyyy", the day one or two
 *	    digits, space- or zero-padded, an optional zone ("+0000", "PST")
 *	    before or after the year, anything after that (UUCP's "remote
 *	    from ...").
 *	No blank line is required before a separator: mailkeep's own export
 *	(FORMAT.md 9.1) writes a message without a last line end followed by
 *	"\n" and the next "From " line, and that must read back.  A "From "
 *	line inside a body that an mboxo writer failed to quote is kept in
 *	the message unless it carries a sender and a date as above (as mutt
 *	reads mbox files).  Then, within a message, one '>' is removed from
 *	every line matching "^>+From " (mboxrd; an mboxo file's original
 *	">From " lines lose one '>' too, which no reader can tell apart), and
 *	the line end before the next separator or the end of the file belongs
 *	to the framing and is removed: "\r\n" when the message's own From
 *	line ended in "\r\n" (a CRLF mbox) and those are the bytes, else
 *	"\n".  So an export of mailkeep reads back byte-exact, and its
 *	manifest digests match.  A file ending inside a line (truncated)
 *	hands its last message over byte-exact with IMPORT_NOTE_TRUNCATED.
 *	Content-Length: (mboxcl2) is ignored: it is often wrong after
 *	editing, and a wrong one loses messages; mboxcl2 writers that do not
 *	quote "From " lines are read by the separator rule above.  Bytes
 *	before the first separator are skipped as "mbox: file does not start
 *	with a From line".  The From line's date is read as UTC.
 *
 *   Derived envelope
 *	The envelope is made from the header block (at most
 *	IMPORT_MAX_HEADER bytes; a longer one is cut there for the envelope
 *	only, IMPORT_NOTE_HEADER_CUT) and is marked derived: it is what the
 *	headers say, not what an MTA said.
 *	  mail_from   Return-Path: (the first; "<>" gives ""), else the mbox
 *	              From line's sender unless MAILER-DAEMON, else the first
 *	              address of From:, else NULL.
 *	  rcpts       every address of every Delivered-To: and X-Original-To:,
 *	              else of To:, Cc: and Bcc: (GMime's address parser, groups
 *	              flattened); duplicates (ASCII case-insensitive) removed,
 *	              first occurrence kept, at most IMPORT_MAX_RCPTS.
 *	  message_id, subject, date
 *	              the first such header's value as in the message (RFC
 *	              2047 not decoded, folding kept, leading blanks and the
 *	              last line end removed, cut at a NUL byte).
 *	  received_at the date of the topmost Received: header (the last one
 *	              added: when the receiving MTA had it, which is when the
 *	              milter would have seen it), else Date:, else the mbox
 *	              From line's date, else the file's mtime.  received_from
 *	              says which.  An "--as-received-at" is the caller's.
 *	A message whose first line is neither a header field ("Name:") nor a
 *	"From " line is skipped as "not a message: no header block"; an
 *	empty one as "empty message".  Header lines that are neither fields
 *	nor continuations are ignored for the envelope (the bytes are kept).
 *
 * DIAGNOSTICS
 *	import_source_open() returns NULL and import_next() -1 with a one
 *	line reason in err; import_next() also returns -1 when the sink asks
 *	to stop ("stopped by the caller").  A read error inside an mbox skips
 *	the message being read ("truncated: read error: ...") and the next
 *	call returns -1.  Nothing here prints.
 */
#ifndef MAILKEEP_IMPORT_H
#define MAILKEEP_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Limits a user can meet; documented in mailkeep(1). */
#define IMPORT_MAX_HEADER	(1024 * 1024)	/* header bytes read for the
						   envelope */
#define IMPORT_MAX_FROM_LINE	1000	/* bytes of an mbox separator line */
#define IMPORT_MAX_RCPTS	10000	/* recipients derived per message */
#define IMPORT_MAX_DEPTH	32	/* directory levels of an EML tree */
#define IMPORT_CHUNK		65536	/* most bytes in one chunk call */
#define IMPORT_READ_BUF		65536	/* bytes read from a file at a time */

typedef struct import_source import_source;	/* opaque */

/* What a source is. */
typedef enum {
	IMPORT_MBOX = 0,
	IMPORT_MAILDIR = 1,
	IMPORT_EML = 2
} import_kind;

/* Where a derived received_at came from. */
typedef enum {
	IMPORT_TIME_RECEIVED = 0,	/* the topmost Received: header */
	IMPORT_TIME_DATE = 1,		/* Date: */
	IMPORT_TIME_FROM_LINE = 2,	/* the mbox From line */
	IMPORT_TIME_MTIME = 3		/* the file's modification time */
} import_time_source;

/* What was noticed about a message (bits of import_done.notes). */
#define IMPORT_NOTE_NO_NEWLINE	0x01	/* the last line has no line end */
#define IMPORT_NOTE_HEADER_CUT	0x02	/* header block over IMPORT_MAX_HEADER */
#define IMPORT_NOTE_NO_BODY	0x04	/* no blank line after the headers */
#define IMPORT_NOTE_RCPTS_CUT	0x08	/* over IMPORT_MAX_RCPTS recipients */
#define IMPORT_NOTE_NUL		0x10	/* NUL bytes */
#define IMPORT_NOTE_BARE_CR	0x20	/* a CR not followed by LF */
#define IMPORT_NOTE_TRUNCATED	0x40	/* mbox: the file ends inside the line */
#define IMPORT_NOTE_LAST	0x40

/*
 * Where a message comes from; owned by the source, valid until the
 * message's end or skip.
 */
typedef struct import_origin {
	const char *path;		/* the file */
	int64_t offset;			/* mbox: its From line's byte offset */
	uint64_t number;		/* mbox: 1-based, 0 for bytes before the
					   first From line; else 0 */
	const char *from_sender;	/* mbox From line's sender, or NULL */
	bool has_from_date;
	int64_t from_date;		/* its date, microseconds since the
					   epoch, when has_from_date */
} import_origin;

/*
 * The envelope derived from a message's headers.  Every string is owned
 * by the envelope and may be NULL; import_envelope_free() frees it.
 */
typedef struct import_envelope {
	char *mail_from;		/* without <>; "" for a null sender */
	char **rcpts;			/* without <> */
	size_t n_rcpts;
	char *message_id;		/* header values as in the message */
	char *subject;
	char *date;
	int64_t received_at;		/* microseconds since the epoch, UTC */
	import_time_source received_from;
	bool derived;			/* always true: from headers, not an MTA */
	unsigned notes;			/* IMPORT_NOTE_HEADER_CUT, _RCPTS_CUT,
					   _NO_BODY */
} import_envelope;

/* What is known at a message's end. */
typedef struct import_done {
	uint64_t size;			/* bytes handed over */
	unsigned notes;			/* IMPORT_NOTE_* bits */
} import_done;

/*
 * The caller's side.  Each function returns 0 to go on, anything else to
 * stop the import (import_next() then returns -1).  For each message:
 * begin, then either envelope, chunk..., end, or skip (possibly after
 * some chunks: drop them).  The pointers passed are valid during the
 * call only.
 */
typedef struct import_sink {
	int (*begin)(const import_origin *where, void *ctx);
	int (*envelope)(const import_envelope *env, void *ctx);
	int (*chunk)(const char *buf, size_t len, void *ctx);
	int (*end)(const import_done *done, void *ctx);
	int (*skip)(const char *reason, void *ctx);
} import_sink;

/* import_source_open - open path as a source of kind; NULL and err on
 * failure.  The source is the caller's: import_source_close(). */
import_source *import_source_open(import_kind kind, const char *path,
				  mk_error *err);

/* import_next - hand the next message (or skip) to sink: 1 done, 0 no
 * more, -1 error or stopped (err says which) */
int import_next(import_source *src, const import_sink *sink, void *ctx,
		mk_error *err);

/* import_source_close - release src (NULL is fine) */
void import_source_close(import_source *src);

/* import_envelope_derive - the envelope of a header block: hdr (len
 * bytes, the message's start, NULs allowed), the mbox From line's sender
 * (or NULL) and date (when has_from_date), the file's mtime; NULL only
 * when out of memory.  Free with import_envelope_free(). */
import_envelope *import_envelope_derive(const char *hdr, size_t len,
					const char *from_sender,
					bool has_from_date, int64_t from_date,
					int64_t mtime);

/* import_envelope_free - free env and its strings (NULL is fine) */
void import_envelope_free(import_envelope *env);

/* import_note_text - a note bit as a few words, or NULL for none */
const char *import_note_text(unsigned note);

/* import_kind_name - "mbox", "maildir", "eml" */
const char *import_kind_name(import_kind kind);

/* import_from_line_parse - is line (len bytes, no line end needed) a
 * From line "From SENDER DATE" of the separator rule?  Then *sender (a
 * copy, the caller frees it; "" when missing) and *when (microseconds)
 * are set; else false.  sender may be NULL. */
bool import_from_line_parse(const char *line, size_t len, char **sender,
			    int64_t *when);

#endif /* MAILKEEP_IMPORT_H */
