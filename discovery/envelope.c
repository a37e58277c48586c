/*
 * envelope.c - the terms of a query that the index row answers.
 *
 * NAME
 *	envelope - does a message's envelope satisfy a query?
 *
 * DESCRIPTION
 *	The terms of a query fall in two kinds: those the full-text index
 *	answers (words of the text, the subject, attachment names, header
 *	From and To/Cc, has:attachment; fulltext.c) and those every
 *	message's index row answers: envelope sender and recipients,
 *	Message-ID, received time, size, client address, queue id.  This
 *	file decides the second kind for one archive_message, so that a
 *	search can run either way round and filter by the other.
 *
 *	Terms combine with AND; positive terms of one field with OR;
 *	negated terms each exclude (discovery.h).  A message kept as
 *	metadata only is answered by these terms alone.
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "discovery/discovery.h"

/* address_matches - addr is want, or want is "@domain" and addr's
 * domain is it (case-insensitive) */
static bool
address_matches(const char *addr, const char *want)
{
	const char *at;

	if (addr == NULL)
		return false;
	if (want[0] != '@')
		return strcasecmp(addr, want) == 0;
	return (at = strrchr(addr, '@')) != NULL && strcasecmp(at, want) == 0;
}

/* any_rcpt - one of msg's recipients matches want */
static bool
any_rcpt(const archive_message *msg, const char *want)
{
	size_t i;

	for (i = 0; i < msg->n_rcpts; i++)
		if (address_matches(msg->rcpts[i], want))
			return true;
	return false;
}

/* same_ip - a and b are one IPv4 or IPv6 address, however written */
static bool
same_ip(const char *a, const char *b)
{
	unsigned char x[16], y[16];

	if (a == NULL)
		return false;
	if (inet_pton(AF_INET, a, x) == 1 && inet_pton(AF_INET, b, y) == 1)
		return memcmp(x, y, 4) == 0;
	if (inet_pton(AF_INET6, a, x) == 1 && inet_pton(AF_INET6, b, y) == 1)
		return memcmp(x, y, 16) == 0;
	return strcasecmp(a, b) == 0;
}

/* term_holds - does term t (ignoring its negation) hold for msg? */
static bool
term_holds(const discovery_term *t, const archive_message *msg)
{
	switch (t->field) {
	case DQ_FROM: return address_matches(msg->mail_from, t->value);
	case DQ_TO: return any_rcpt(msg, t->value);
	case DQ_PARTY:
		return address_matches(msg->mail_from, t->value)
		    || any_rcpt(msg, t->value);
	case DQ_MESSAGE_ID:
		return msg->message_id != NULL
		    && strcmp(msg->message_id, t->value) == 0;
	case DQ_AFTER: return msg->received_at >= t->number;
	case DQ_BEFORE: return msg->received_at < t->number;
	case DQ_LARGER: return msg->size > t->number;
	case DQ_SMALLER: return msg->size < t->number;
	case DQ_CLIENT_IP: return same_ip(msg->client_addr, t->value);
	case DQ_QUEUE_ID:
		return msg->queue_id != NULL
		    && strcasecmp(msg->queue_id, t->value) == 0;
	default: return true;	/* the full-text index's, or not here */
	}
}

/* discovery_is_envelope_field - is f answered by the index row? */
bool
discovery_is_envelope_field(discovery_field f)
{
	switch (f) {
	case DQ_FROM: case DQ_TO: case DQ_PARTY: case DQ_MESSAGE_ID:
	case DQ_AFTER: case DQ_BEFORE: case DQ_LARGER: case DQ_SMALLER: case DQ_CLIENT_IP:
	case DQ_QUEUE_ID:
		return true;
	default:
		return false;
	}
}

/* field_holds - the terms of field f: none negated holds, and one
 * positive holds if there is any */
static bool
field_holds(const discovery_query *q, discovery_field f,
	    const archive_message *msg)
{
	bool positive = false, any = false;
	size_t i;

	for (i = 0; i < q->n; i++) {
		const discovery_term *t = &q->terms[i];

		if (t->field != f)
			continue;
		if (t->negated) {
			if (term_holds(t, msg))
				return false;
			continue;
		}
		positive = true;
		any = any || term_holds(t, msg);
	}
	return !positive || any;
}

/* discovery_envelope_matches - every envelope field of q holds for msg */
bool
discovery_envelope_matches(const discovery_query *q,
			   const archive_message *msg)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		if (discovery_is_envelope_field(q->terms[i].field)
		    && !field_holds(q, q->terms[i].field, msg))
			return false;
	return true;
}
