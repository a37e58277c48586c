/*
 * wiretext.c - texts on the access service's wire, and an import's
 * MESSAGE frame.
 *
 * NAME
 *	wiretext - strings that may not be UTF-8, as JSON and back
 *
 * DESCRIPTION
 *	JSON carries UTF-8 only; header values and addresses are bytes.  A
 *	string that is valid UTF-8 travels as a JSON string, any other as
 *	{"base64": ...}, and comes back byte for byte.  The MESSAGE frame of
 *	an import (access.h) is made of such texts.  This file needs only
 *	jansson and OpenSSL's Base64, so that tests/fuzz/fuzz_request can
 *	take it alone.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "access/internal.h"

/* wire_text - s as a JSON string, {"base64": ...} when it is not UTF-8,
 * null when NULL */
json_t *
wire_text(const char *s)
{
	json_t *v;
	unsigned char *b64;
	size_t len;

	if (s == NULL)
		return json_null();
	if ((v = json_string(s)) != NULL)
		return v;
	len = strlen(s);
	if ((b64 = malloc(4 * ((len + 2) / 3) + 1)) == NULL)
		return NULL;
	EVP_EncodeBlock(b64, (const unsigned char *)s, (int)len);
	v = json_pack("{s:s}", "base64", (char *)b64);
	free(b64);
	return v;
}

/* wire_text_of - a JSON value made by wire_text back into a malloc'ed string
 * in *out (NULL for null); -1 when it is neither */
int
wire_text_of(json_t *v, char **out)
{
	const char *b64;
	size_t len, pad;
	int n;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v))
		return (*out = strdup(json_string_value(v))) ? 0 : -1;
	if ((b64 = json_string_value(json_object_get(v, "base64"))) == NULL)
		return -1;
	len = strlen(b64);
	pad = len > 0 && b64[len - 1] == '=' ? 1 + (len > 1 && b64[len - 2] == '=')
	    : 0;
	/* the Base64 alphabet, '=' only as the padding of the last group */
	if (len % 4 != 0 || strspn(b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
				   "klmnopqrstuvwxyz0123456789+/") != len - pad
	    || (*out = malloc(len / 4 * 3 + 1)) == NULL)
		return -1;
	n = EVP_DecodeBlock((unsigned char *)*out, (const unsigned char *)b64,
			    (int)len);
	if (n < 0 || n != (int)(len / 4 * 3) || (size_t)n < pad)
		return free(*out), *out = NULL, -1;
	n -= (int)pad;
	(*out)[n] = '\0';
	if (memchr(*out, '\0', (size_t)n) != NULL)
		return free(*out), *out = NULL, -1;
	return 0;
}

/* wire_strings - an array of texts (wire_text() each) */
json_t *
wire_strings(const char *const *items, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr != NULL && i < n; i++)
		if (json_array_append_new(arr, wire_text(items[i])) != 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

/* access_import_msg_json - m as a MESSAGE frame's text */
char *
access_import_msg_json(const access_import_msg *m)
{
	json_t *obj = json_object();
	char *text = NULL;
	int bad = obj == NULL;

	bad |= json_object_set_new(obj, "mail_from", wire_text(m->mail_from));
	bad |= json_object_set_new(obj, "rcpts", wire_strings(
				   (const char *const *)m->rcpts, m->n_rcpts));
	bad |= json_object_set_new(obj, "message_id", wire_text(m->message_id));
	bad |= json_object_set_new(obj, "subject", wire_text(m->subject));
	bad |= json_object_set_new(obj, "date", wire_text(m->date));
	bad |= json_object_set_new(obj, "received_at",
				   json_integer(m->received_at));
	bad |= json_object_set_new(obj, "source", wire_text(m->source));
	if (!bad)
		text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	return text;
}

/* import_rcpts - the rcpts array of a MESSAGE frame into out */
static const char *
import_rcpts(json_t *arr, access_import_msg *out)
{
	size_t i, n = json_array_size(arr);

	if (!json_is_array(arr) || n > ARCHIVE_MAX_RCPTS)
		return "rcpts";
	if (n > 0 && (out->rcpts = calloc(n, sizeof(char *))) == NULL)
		return "rcpts";
	for (i = 0; i < n; i++, out->n_rcpts++)
		if (wire_text_of(json_array_get(arr, i), &out->rcpts[i]) != 0
		    || out->rcpts[i] == NULL)
			return "rcpts";
	return NULL;
}

/* access_import_msg_parse - a MESSAGE frame into out */
int
access_import_msg_parse(const char *text, size_t len, access_import_msg *out,
			mk_error *err)
{
	json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *when = json_object_get(obj, "received_at");
	const char *bad = NULL;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		bad = "not a JSON object";
	else if (wire_text_of(json_object_get(obj, "mail_from"), &out->mail_from) != 0)
		bad = "mail_from";
	else if ((bad = import_rcpts(json_object_get(obj, "rcpts"), out)) != NULL)
		;
	else if (wire_text_of(json_object_get(obj, "message_id"), &out->message_id)
		 || wire_text_of(json_object_get(obj, "subject"), &out->subject)
		 || wire_text_of(json_object_get(obj, "date"), &out->date)
		 || wire_text_of(json_object_get(obj, "source"), &out->source))
		bad = "a header value";
	else if (!json_is_integer(when) || json_integer_value(when) < 0)
		bad = "received_at";
	else
		out->received_at = json_integer_value(when);
	json_decref(obj);
	if (bad == NULL)
		return 0;
	access_import_msg_free(out);
	return mk_error_set(err, "a message's envelope: bad %s", bad);
}

/* access_import_msg_free - the strings of m */
void
access_import_msg_free(access_import_msg *m)
{
	size_t i;

	free(m->mail_from);
	for (i = 0; i < m->n_rcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	free(m->message_id);
	free(m->subject);
	free(m->date);
	free(m->source);
	memset(m, 0, sizeof(*m));
}
