/*
 * fuzz_request.c - libFuzzer target for the access service's request
 * parser.
 *
 * NAME
 *	fuzz_request - run access_request_parse() on arbitrary bytes
 *
 * SYNOPSIS
 *	make fuzz [FUZZ_SECONDS=60]
 *	tests/fuzz/fuzz_request [libFuzzer options] CORPUS_DIR...
 *
 * DESCRIPTION
 *	Anybody on the machine can send mailkeep-access a request line, so
 *	its parser meets hostile bytes first.  Each input is parsed as one
 *	request.  Besides the sanitizers, the target checks what the parser
 *	promises (access/request.c): a refusal says why and leaves the
 *	request empty; an accepted request names a known operation, its id
 *	(when it has one) is ARCHIVE_ID_LEN lower-case hex digits, and it
 *	survives a round trip - access_request_format() then parse again -
 *	unchanged.  A broken promise aborts, which libFuzzer reports as a
 *	crash.  The same bytes are also read as an import's MESSAGE frame
 *	(access_import_msg_parse(), what an import client sends after the
 *	request): refused with a reason, or taken and surviving a round
 *	trip through access_import_msg_json().  Seeds:
 *	tests/fuzz/corpus/request/.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "access/access.h"

/* require - abort when a promise does not hold */
static void
require(int ok)
{
	if (!ok)
		abort();
}

/* same_text - both NULL or equal */
static int
same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* check_id - "" or ARCHIVE_ID_LEN lower-case hex digits */
static void
check_id(const char *id)
{
	size_t i, n = strlen(id);

	require(n == 0 || n == ARCHIVE_ID_LEN);
	for (i = 0; i < n; i++)
		require((id[i] >= '0' && id[i] <= '9')
			|| (id[i] >= 'a' && id[i] <= 'f'));
}

/* check_round_trip - rq formatted and parsed again is rq */
static void
check_round_trip(const access_request *rq)
{
	char *line = access_request_format(rq);
	access_request again;
	mk_error err;

	require(line != NULL && line[strlen(line) - 1] == '\n');
	require(access_request_parse(line, strlen(line) - 1, &again, &err) == 0);
	require(again.op == rq->op && again.asks == rq->asks);
	require(strcmp(again.id, rq->id) == 0);
	require(strcmp(again.message, rq->message) == 0);
	require(again.since == rq->since && again.until == rq->until);
	require(again.limit == rq->limit && again.number == rq->number);
	require(same_text(again.query.from, rq->query.from));
	require(same_text(again.query.to, rq->query.to));
	require(same_text(again.query.message_id, rq->query.message_id));
	require(same_text(again.reason, rq->reason));
	require(same_text(again.keys_pem, rq->keys_pem));
	require(same_text(again.user, rq->user));
	require(same_text(again.action, rq->action));
	require(same_text(again.q, rq->q));
	require(again.newest == rq->newest && again.count == rq->count);
	require(again.offset == rq->offset);
	require(same_text(again.name, rq->name) && same_text(again.kind, rq->kind));
	require(again.dry_run == rq->dry_run
		&& again.received_at == rq->received_at);
	require(again.n_sources == rq->n_sources);
	access_request_free(&again);
	free(line);
}

/* same_msg - two parsed MESSAGE frames are the same */
static void
same_msg(const access_import_msg *a, const access_import_msg *b)
{
	size_t i;

	require(same_text(a->mail_from, b->mail_from));
	require(same_text(a->message_id, b->message_id));
	require(same_text(a->subject, b->subject) && same_text(a->date, b->date));
	require(same_text(a->source, b->source));
	require(a->received_at == b->received_at && a->n_rcpts == b->n_rcpts);
	for (i = 0; i < a->n_rcpts; i++)
		require(strcmp(a->rcpts[i], b->rcpts[i]) == 0);
}

/* check_message_frame - the bytes as an import's MESSAGE frame */
static void
check_message_frame(const uint8_t *data, size_t size)
{
	access_import_msg m, again;
	mk_error err;
	char *text;

	err.msg[0] = '\0';
	if (access_import_msg_parse((const char *)data, size, &m, &err) != 0) {
		require(err.msg[0] != '\0' && m.rcpts == NULL);
		return;
	}
	text = access_import_msg_json(&m);
	require(text != NULL);
	require(access_import_msg_parse(text, strlen(text), &again, &err) == 0);
	same_msg(&m, &again);
	access_import_msg_free(&again);
	access_import_msg_free(&m);
	free(text);
}

/* LLVMFuzzerTestOneInput - one input */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	access_request rq;
	mk_error err;

	check_message_frame(data, size);
	err.msg[0] = '\0';
	if (access_request_parse((const char *)data, size, &rq, &err) != 0) {
		require(err.msg[0] != '\0');
		require(rq.op == ACCESS_OP_NONE && rq.reason == NULL);
		return 0;
	}
	require(rq.op != ACCESS_OP_NONE);
	require(access_op_name(rq.op)[0] != '\0');
	check_id(rq.id);
	check_id(rq.message);
	check_round_trip(&rq);
	access_request_free(&rq);
	return 0;
}
