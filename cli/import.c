/*
 * import.c - "mailkeep import": mail that predates the milter.
 *
 * NAME
 *	import - read mbox, Maildir or message files, hand each message to
 *	mailkeep-access
 *
 * DESCRIPTION
 *	The files are read here, with the permissions of whoever runs the
 *	command (import/: split, unquoted, each message's envelope derived
 *	from its headers), and every message is streamed to mailkeep-access
 *	(access.h, "What an import client sends"), which decides, audits
 *	the run and stores.  After each message the service says what
 *	became of it: imported, a duplicate of an archived message, not kept
 *	(the policy keeps nothing of it, or its retention is already over)
 *	or refused (it could not be stored, and why).  What import/ cannot
 *	read as a message is skipped here with its reason.  Nothing is
 *	skipped silently: every message that is not imported is listed,
 *	then the counts.
 *
 *	Each message goes in the form an MTA hands a milter, so that it is
 *	stored as mailkeep-milter would have stored it and a message that
 *	also came through the MTA is found as the same: every line ends in
 *	CRLF (an LF without a CR before it gets one; a lone CR, NUL and
 *	every other byte stay as they are), and a last line without a line
 *	end gets one.  Mail stored as mbox or Maildir has LF line ends; one
 *	that already has CRLF (our own exports) goes as it is.
 *
 *	Memory: one chunk (IMPORT_CHUNK) of one message at a time.
 *	Progress: bytes of the sources read, on a terminal.
 *
 * DIAGNOSTICS
 *	Exit status 0 when every message was imported, a duplicate or not
 *	kept by the policy; 1 when one was skipped or refused, or the run
 *	stopped (the service's error).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "import/import.h"

/* The outcomes, as the service names them, and "skipped" (here). */
static const char *const outcomes[] = {
	"imported", "duplicate", "not_kept", "refused", "cancelled", "skipped"
};
#define N_OUTCOMES (sizeof(outcomes) / sizeof(outcomes[0]))
#define SKIPPED (N_OUTCOMES - 1)

/* A message sent and not answered yet: its name, and why it was dropped
 * (CANCEL) if it was. */
typedef struct pending {
	uint64_t n;
	char source[CLI_MAX_ARG + 64];
	char *skip_reason;
} pending;

/* One run. */
typedef struct importing {
	const cli_request *rq;
	access_client *c;
	cli_json_stream js;		/* --json: the messages not imported */
	cli_progress pl;
	uint64_t done_bytes, total_bytes;	/* of the sources read */
	uint64_t count[N_OUTCOMES];
	char source[CLI_MAX_ARG + 64];	/* the message under way */
	bool sent;			/* its MESSAGE frame went */
	uint64_t last_n;		/* the number of the last one sent */
	pending window[ACCESS_IMPORT_WINDOW];	/* n 0: a free slot */
	pending *current;		/* the message under way's */
	size_t outstanding;		/* finished or dropped, not answered */
	char last;			/* its last byte so far, or 0 */
	char wire[2 * IMPORT_CHUNK];	/* a chunk with CRLF line ends */
	bool failed;			/* the run must stop */
	mk_error err;
} importing;

/* tell - one frame to the service; -1 stops the run */
static int
tell(importing *im, char type, const void *buf, size_t len)
{
	if (access_client_send(im->c, type, buf, len, &im->err) == 0)
		return 0;
	im->failed = true;
	return -1;
}

/* report - one message that was not imported: a line, or a JSON item */
static void
report(importing *im, const char *outcome, const char *id, const char *why)
{
	json_t *obj;

	if (strcmp(outcome, "imported") == 0)
		return;
	if (im->rq->json) {
		obj = json_pack("{s:s, s:s}", "source", im->source, "outcome",
				outcome);
		if (obj != NULL && id != NULL)
			json_object_set_new(obj, "id", json_string(id));
		if (obj != NULL && why != NULL)
			json_object_set_new(obj, "why", json_string(why));
		if (obj != NULL)
			cli_json_put_object(&im->js, obj);
		json_decref(obj);
		return;
	}
	cli_progress_end(&im->pl);
	printf("%-10s ", outcome);
	cli_put_text(stdout, im->source, 0);
	if (id != NULL)
		printf(" (archived as %s)", id);
	if (why != NULL) {
		fputs(": ", stdout);
		cli_put_text(stdout, why, 0);
	}
	putchar('\n');
}

/* end_error - the error of the service's end frame, into im->err */
static void
end_error(importing *im, const char *buf, size_t len)
{
	json_t *obj = json_loadb(buf, len, 0, NULL);
	const char *e = json_string_value(json_object_get(obj, "error"));

	snprintf(im->err.msg, sizeof(im->err.msg), "%s",
		 e ? e : "the service ended the import");
	json_decref(obj);
}

/* outcome_of - the index of an outcome word, or N_OUTCOMES */
static size_t
outcome_of(const char *word)
{
	size_t i;

	for (i = 0; word != NULL && i < SKIPPED; i++)
		if (strcmp(word, outcomes[i]) == 0)
			return i;
	return N_OUTCOMES;
}

/* slot_of - the window's slot of message n (0: a free one), or NULL */
static pending *
slot_of(importing *im, uint64_t n)
{
	size_t i;

	for (i = 0; i < ACCESS_IMPORT_WINDOW; i++)
		if (im->window[i].n == n)
			return &im->window[i];
	return NULL;
}

/* take_answer - one item: what became of a message sent earlier */
static int
take_answer(importing *im, const char *buf, size_t len)
{
	json_t *obj = json_loadb(buf, len, 0, NULL);
	uint64_t n = (uint64_t)json_integer_value(json_object_get(obj, "n"));
	size_t o = outcome_of(json_string_value(json_object_get(obj, "outcome")));
	pending *p = slot_of(im, n);

	if (o == N_OUTCOMES || n == 0 || p == NULL) {
		json_decref(obj);
		return mk_error_set(&im->err, "the service said something"
				    " unexpected");
	}
	snprintf(im->source, sizeof(im->source), "%s", p->source);
	if (p->skip_reason != NULL) {	/* dropped here: skipped, and why */
		im->count[SKIPPED]++;
		report(im, "skipped", NULL, p->skip_reason);
	} else {
		im->count[o]++;
		report(im, outcomes[o], json_string_value(json_object_get(obj,
		       "id")), json_string_value(json_object_get(obj, "why")));
	}
	free(p->skip_reason);
	memset(p, 0, sizeof(*p));
	im->outstanding--;
	json_decref(obj);
	return 0;
}

/* take_outcome - read one answer; -1 stops the run */
static int
take_outcome(importing *im)
{
	const char *buf;
	size_t len;
	char type = 0;

	if (access_client_next(im->c, &type, &buf, &len, &im->err) != 1
	    || type != ACCESS_FRAME_ITEM) {
		if (type == ACCESS_FRAME_END)
			end_error(im, buf, len);
		im->failed = true;
		return -1;
	}
	if (take_answer(im, buf, len) != 0) {
		im->failed = true;
		return -1;
	}
	return 0;
}

/* sent_one - a message finished or dropped: wait for an answer when the
 * window is full */
static int
sent_one(importing *im)
{
	im->outstanding++;
	im->sent = false;
	return im->outstanding >= ACCESS_IMPORT_WINDOW ? take_outcome(im) : 0;
}

/* on_begin - import_sink: a message starts; its name for people */
static int
on_begin(const import_origin *o, void *ctx)
{
	importing *im = ctx;

	if (o->number > 0)
		snprintf(im->source, sizeof(im->source), "%s#%llu", o->path,
			 (unsigned long long)o->number);
	else
		snprintf(im->source, sizeof(im->source), "%s", o->path);
	im->sent = false;
	im->last = 0;
	return 0;
}

/* on_envelope - import_sink: the derived envelope, as a MESSAGE frame */
static int
on_envelope(const import_envelope *e, void *ctx)
{
	importing *im = ctx;
	access_import_msg m = {
		.mail_from = e->mail_from, .rcpts = e->rcpts,
		.n_rcpts = e->n_rcpts, .message_id = e->message_id,
		.subject = e->subject, .date = e->date,
		.received_at = im->rq->has_received_at ? im->rq->received_at
		    : e->received_at,
		.source = im->source,
	};
	char *text = access_import_msg_json(&m);
	int rc;

	if (text == NULL) {
		mk_error_set(&im->err, "out of memory");
		im->failed = true;
		return -1;
	}
	rc = tell(im, ACCESS_FRAME_MESSAGE, text, strlen(text));
	free(text);
	if ((im->sent = rc == 0)) {	/* sent_one() kept a slot free */
		im->current = slot_of(im, 0);
		im->current->n = ++im->last_n;
		snprintf(im->current->source, sizeof(im->current->source), "%s",
			 im->source);
	}
	return rc;
}

/* on_chunk - import_sink: bytes of the message, every LF after a CR */
static int
on_chunk(const char *buf, size_t len, void *ctx)
{
	importing *im = ctx;
	size_t i, n = 0;

	im->done_bytes += len;
	cli_progress_show(&im->pl, "import (bytes)", im->done_bytes,
			  im->total_bytes);
	for (i = 0; i < len && len <= IMPORT_CHUNK; i++) {
		if (buf[i] == '\n' && (i > 0 ? buf[i - 1] : im->last) != '\r')
			im->wire[n++] = '\r';
		im->wire[n++] = buf[i];
	}
	if (len > 0)
		im->last = buf[len - 1];
	return len > IMPORT_CHUNK ? -1 : tell(im, ACCESS_FRAME_DATA, im->wire, n);
}

/* on_end - import_sink: the message is whole: the service's word on it */
static int
on_end(const import_done *d, void *ctx)
{
	importing *im = ctx;

	(void)d;
	if (im->last != '\n' && im->last != 0	/* SMTP's DATA ends a line */
	    && tell(im, ACCESS_FRAME_DATA, "\r\n", 2) != 0)
		return -1;
	if (tell(im, ACCESS_FRAME_FINISH, "", 0) != 0)
		return -1;
	return sent_one(im);
}

/* on_skip - import_sink: not a message, or not readable to its end */
static int
on_skip(const char *reason, void *ctx)
{
	importing *im = ctx;

	pending *p = im->current;

	if (!im->sent) {
		im->count[SKIPPED]++;
		report(im, "skipped", NULL, reason);
		return 0;
	}
	/* what was sent of it goes; its answer says "skipped" then */
	if ((p->skip_reason = strdup(reason)) == NULL
	    || tell(im, ACCESS_FRAME_CANCEL, "", 0) != 0)
		return im->failed = true, -1;
	return sent_one(im);
}

/* kind_of - the word of a source kind */
static import_kind
kind_of(const char *word)
{
	return strcmp(word, "mbox") == 0 ? IMPORT_MBOX
	    : strcmp(word, "maildir") == 0 ? IMPORT_MAILDIR : IMPORT_EML;
}

/* read_source - every message of one path to the service */
static int
read_source(importing *im, const char *path)
{
	static const import_sink sink = { on_begin, on_envelope, on_chunk,
					  on_end, on_skip };
	import_source *src = import_source_open(kind_of(im->rq->import_kind),
						path, &im->err);
	int rc = 1;

	if (src == NULL) {
		snprintf(im->source, sizeof(im->source), "%s", path);
		im->count[SKIPPED]++;
		report(im, "skipped", NULL, im->err.msg);
		return 0;
	}
	while (rc == 1)
		rc = import_next(src, &sink, im, &im->err);
	import_source_close(src);
	if (rc < 0 && !im->failed) {	/* the source broke off */
		snprintf(im->source, sizeof(im->source), "%s", path);
		im->count[SKIPPED]++;
		report(im, "skipped", NULL, im->err.msg);
	}
	return im->failed ? -1 : 0;
}

/* total_size - the bytes of the sources that are files, for progress */
static uint64_t
total_size(const cli_request *rq)
{
	struct stat st;
	uint64_t total = 0;
	size_t i;

	for (i = 0; i < rq->n_import_paths; i++)
		if (stat(rq->import_paths[i], &st) == 0 && S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
	return total;
}

/* print_summary - the counts, for people or as the JSON object's end */
static int
print_summary(importing *im)
{
	size_t i;

	cli_progress_end(&im->pl);
	if (im->rq->json) {
		if (cli_json_end(&im->js) < 0)
			return -1;
		fputs(", \"summary\": {", stdout);
		for (i = 0; i < N_OUTCOMES; i++)
			printf("%s\"%s\": %llu", i ? ", " : "", outcomes[i],
			       (unsigned long long)im->count[i]);
		return puts("}}") == EOF ? -1 : 0;
	}
	printf("imported %llu, duplicates %llu, not kept by the policy %llu,"
	       " skipped %llu, refused %llu\n",
	       (unsigned long long)im->count[0], (unsigned long long)im->count[1],
	       (unsigned long long)im->count[2],
	       (unsigned long long)im->count[SKIPPED],
	       (unsigned long long)(im->count[3] + im->count[4]));
	return ferror(stdout) ? -1 : 0;
}

/* wait_ready - the service's first item: ready, or its refusal */
static int
wait_ready(importing *im)
{
	const char *buf;
	size_t len;
	char type;
	json_t *obj;
	int ok;

	if (access_client_next(im->c, &type, &buf, &len, &im->err) != 1)
		return -1;
	obj = json_loadb(buf, len, 0, NULL);
	ok = type == ACCESS_FRAME_ITEM && json_is_true(json_object_get(obj,
								 "ready"));
	if (!ok)
		snprintf(im->err.msg, sizeof(im->err.msg), "%s",
			 json_string_value(json_object_get(obj, "error"))
			 ? json_string_value(json_object_get(obj, "error"))
			 : "the access service did not take the import");
	json_decref(obj);
	return ok ? 0 : -1;
}

/* run_import - the sources, then EXIT and the service's end frame */
static int
run_import(importing *im)
{
	const char *buf = "";
	size_t i, len;
	char type = 0;

	if (wait_ready(im) != 0)
		return cli_error("%s", im->err.msg);
	if (im->rq->json && (fputs("{\"messages\": ", stdout) == EOF
			     || cli_json_begin(&im->js, stdout) < 0))
		return cli_error("writing to standard output: %s",
				 strerror(errno ? errno : EIO));
	for (i = 0; i < im->rq->n_import_paths; i++)
		if (read_source(im, im->rq->import_paths[i]) != 0)
			return cli_progress_end(&im->pl),
			       cli_error("import stopped: %s", im->err.msg);
	if (tell(im, ACCESS_FRAME_EXIT, "", 0) != 0)
		return cli_error("import stopped: %s", im->err.msg);
	while (access_client_next(im->c, &type, &buf, &len, &im->err) == 1
	       && type == ACCESS_FRAME_ITEM)
		if (take_answer(im, buf, len) != 0)
			return cli_error("import: %s", im->err.msg);
	if (type != ACCESS_FRAME_END || strstr(buf, "\"ok\":true") == NULL
	    || im->outstanding > 0)
		return cli_error("import: the service did not end the run: %s",
				 im->err.msg[0] ? im->err.msg : buf);
	if (print_summary(im) != 0)
		return cli_error("writing to standard output: %s",
				 strerror(errno ? errno : EIO));
	return im->count[SKIPPED] + im->count[3] + im->count[4] > 0
	    ? CLI_EXIT_FAIL : cli_finish_output();
}

/* cli_cmd_import - mailkeep import mbox|maildir|eml PATH... */
int
cli_cmd_import(const mk_config *cfg, const cli_request *rq)
{
	importing *im;
	access_request req;
	size_t i;
	int status;

	if (rq->offline)
		return cli_error("import goes through mailkeep-access, which"
				 " decides and records it; --offline does not"
				 " apply");
	if ((im = calloc(1, sizeof(*im))) == NULL)
		return cli_error("out of memory");
	im->rq = rq;
	im->pl.tty = isatty(STDERR_FILENO);
	memset(&req, 0, sizeof(req));
	req.op = ACCESS_OP_IMPORT;
	req.kind = (char *)rq->import_kind;
	req.sources = (char **)rq->import_paths;
	req.n_sources = rq->n_import_paths;
	req.received_at = rq->has_received_at ? rq->received_at : 0;
	im->total_bytes = total_size(rq);
	if ((im->c = access_client_open(cfg->access_socket, &req,
					&im->err)) == NULL)
		status = cli_error("%s", im->err.msg);
	else
		status = run_import(im);
	access_client_close(im->c);
	for (i = 0; i < ACCESS_IMPORT_WINDOW; i++)
		free(im->window[i].skip_reason);
	free(im);
	return status;
}
