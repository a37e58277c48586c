/*
 * test_access.c - unit tests of access/: the decision, the request
 * parser, and the message as it travels.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "tests/unit/unit.h"

#define ID "01a233ca25f924e93b025376"

/* who - an identity with these roles (a NULL-terminated list) */
static access_identity
who(uid_t uid, char **roles)
{
	access_identity w = { .uid = uid, .user = "t", .roles = roles,
			      .via = "test" };

	while (roles[w.n_roles] != NULL) {
		if (strcmp(roles[w.n_roles], "admin") == 0)
			w.admin = true;
		if (strcmp(roles[w.n_roles], "auditor") == 0)
			w.auditor = true;
		w.n_roles++;
	}
	return w;
}

START_TEST(roles_decide_who_sees_a_message)
{
	char *legal[] = { "legal", NULL }, *hr[] = { "hr", NULL };
	char *admin[] = { "admin", NULL }, *auditor[] = { "auditor", NULL };
	char *none[] = { NULL };
	const char *msg_roles[] = { "compliance", "legal" };
	access_subject m = { .roles = msg_roles, .n_roles = 2 };
	access_identity l = who(1, legal), h = who(2, hr), ad = who(3, admin),
	    au = who(4, auditor), n = who(5, none);

	ck_assert_int_eq(access_decide(&l, ACCESS_OP_GET, &m), ACCESS_OK);
	ck_assert_int_eq(access_decide(&l, ACCESS_OP_SEARCH, &m), ACCESS_OK);
	ck_assert_int_eq(access_decide(&h, ACCESS_OP_SHOW, &m), ACCESS_NO_ROLE);
	ck_assert_int_eq(access_decide(&n, ACCESS_OP_PROOF, &m), ACCESS_NO_ROLE);
	/* the built-in roles give no content, and are what verify needs */
	ck_assert_int_eq(access_decide(&ad, ACCESS_OP_GET, &m), ACCESS_NO_ROLE);
	ck_assert_int_eq(access_decide(&au, ACCESS_OP_SHOW, &m), ACCESS_NO_ROLE);
	ck_assert_int_eq(access_decide(&ad, ACCESS_OP_VERIFY, NULL), ACCESS_OK);
	ck_assert_int_eq(access_decide(&au, ACCESS_OP_AUDIT, NULL), ACCESS_OK);
	ck_assert_int_eq(access_decide(&l, ACCESS_OP_AUDIT, NULL),
			 ACCESS_NOT_PERMITTED);
	ck_assert_int_eq(access_decide(&n, ACCESS_OP_WHOAMI, NULL), ACCESS_OK);
	ck_assert_int_eq(access_decide(&l, ACCESS_OP_GET, NULL), ACCESS_NO_ROLE);
}
END_TEST

START_TEST(four_eyes_needs_a_second_person)
{
	char *hr[] = { "hr", NULL };
	const char *msg_roles[] = { "hr" };
	access_subject m = { .roles = msg_roles, .n_roles = 1,
			     .four_eyes = { true, false, 3600 } };
	access_identity h1 = who(10, hr), h2 = who(11, hr);

	ck_assert_int_eq(access_decide(&h1, ACCESS_OP_GET, &m),
			 ACCESS_NEEDS_APPROVAL);
	ck_assert_int_eq(access_decide(&h1, ACCESS_OP_SHOW, &m), ACCESS_OK);
	m.asks = ACCESS_OP_GET;
	ck_assert_int_eq(access_decide(&h1, ACCESS_OP_REQUEST, &m), ACCESS_OK);
	m.asks = ACCESS_OP_SHOW;	/* show needs no approval here */
	ck_assert_int_eq(access_decide(&h1, ACCESS_OP_REQUEST, &m),
			 ACCESS_NOT_NEEDED);
	m.asks = ACCESS_OP_GET;
	m.has_requester = true;
	m.requester = 10;
	ck_assert_int_eq(access_decide(&h1, ACCESS_OP_APPROVE, &m),
			 ACCESS_SELF_APPROVAL);
	ck_assert_int_eq(access_decide(&h1, ACCESS_OP_DENY, &m),
			 ACCESS_SELF_APPROVAL);
	ck_assert_int_eq(access_decide(&h2, ACCESS_OP_APPROVE, &m), ACCESS_OK);
	m.approved_get = true;
	ck_assert_int_eq(access_decide(&h1, ACCESS_OP_GET, &m), ACCESS_OK);
	/* metadata too */
	m.approved_get = false;
	m.four_eyes.metadata = true;
	ck_assert_int_eq(access_decide(&h1, ACCESS_OP_SEARCH, &m),
			 ACCESS_NEEDS_APPROVAL);
	m.approved_show = true;
	ck_assert_int_eq(access_decide(&h1, ACCESS_OP_SHOW, &m), ACCESS_OK);
	ck_assert_int_eq(access_decide(&h1, ACCESS_OP_GET, &m),
			 ACCESS_NEEDS_APPROVAL);
	/* no four-eyes: nothing to request */
	m.four_eyes.content = m.four_eyes.metadata = false;
	ck_assert_int_eq(access_decide(&h1, ACCESS_OP_REQUEST, &m),
			 ACCESS_NOT_NEEDED);
}
END_TEST

/* parse - access_request_parse of a literal */
static int
parse(const char *text, access_request *rq, mk_error *err)
{
	return access_request_parse(text, strlen(text), rq, err);
}

START_TEST(requests_are_parsed_strictly)
{
	access_request rq;
	mk_error err;
	char *line;

	ck_assert_int_eq(parse("{\"op\":\"get\",\"id\":\"01A233CA25F924E93B025376\"}",
			       &rq, &err), 0);
	ck_assert_int_eq(rq.op, ACCESS_OP_GET);
	ck_assert_str_eq(rq.id, ID);	/* lower-cased */
	access_request_free(&rq);
	ck_assert_int_eq(parse("{\"op\":\"search\",\"from\":\"a@b\",\"limit\":5,"
			       "\"since\":7}", &rq, &err), 0);
	ck_assert_str_eq(rq.query.from, "a@b");
	ck_assert_int_eq(rq.query.limit, 5);
	ck_assert_int_eq(rq.query.since, 7);
	line = access_request_format(&rq);
	ck_assert_str_eq(line, "{\"op\":\"search\",\"from\":\"a@b\",\"since\":7,"
			 "\"limit\":5}\n");
	free(line);
	access_request_free(&rq);
	ck_assert_int_eq(parse("{\"op\":\"get\",\"id\":\"01a233\"}", &rq, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "message id"));
	ck_assert_int_eq(parse("{\"op\":\"get\",\"id\":\"" ID "\",\"x\":1}", &rq, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "takes no member"));
	ck_assert_int_eq(parse("{\"op\":\"drop\"}", &rq, &err), -1);
	ck_assert_int_eq(parse("{\"op\":\"search\",\"from\":\"a\\u0007\"}", &rq, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "control character"));
	ck_assert_int_eq(parse("{\"op\":\"search\",\"limit\":-1}", &rq, &err), -1);
	ck_assert_int_eq(parse("{\"op\":\"request\",\"asks\":\"get\",\"id\":\"" ID "\"}",
			       &rq, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "reason"));
	ck_assert_int_eq(parse("{\"op\":\"approve\"}", &rq, &err), -1);
	ck_assert_int_eq(parse("{\"op\":\"search\",\" id\":1}", &rq, &err), -1);
	ck_assert_int_eq(parse("[]", &rq, &err), -1);
	ck_assert_int_eq(rq.op, ACCESS_OP_NONE);
}
END_TEST


/* Holds and expiry: admin changes, auditor lists; requests are strict. */
START_TEST(holds_are_the_admins)
{
	char *admin[] = { "admin", NULL }, *auditor[] = { "auditor", NULL };
	char *legal[] = { "legal", NULL };
	access_identity ad = who(1, admin), au = who(2, auditor), l = who(3, legal);
	access_request rq;
	mk_error err;
	char *line;

	ck_assert_int_eq(access_decide(&ad, ACCESS_OP_HOLD, NULL), ACCESS_OK);
	ck_assert_int_eq(access_decide(&ad, ACCESS_OP_EXPIRE, NULL), ACCESS_OK);
	ck_assert_int_eq(access_decide(&au, ACCESS_OP_HOLD, NULL),
			 ACCESS_NEEDS_ADMIN);
	ck_assert_int_eq(access_decide(&au, ACCESS_OP_RELEASE, NULL),
			 ACCESS_NEEDS_ADMIN);
	ck_assert_int_eq(access_decide(&l, ACCESS_OP_EXPIRE, NULL),
			 ACCESS_NEEDS_ADMIN);
	ck_assert_int_eq(access_decide(&au, ACCESS_OP_HOLDS, NULL), ACCESS_OK);
	ck_assert_int_eq(access_decide(&l, ACCESS_OP_HOLDS, NULL),
			 ACCESS_NOT_PERMITTED);

	ck_assert_int_eq(parse("{\"op\":\"hold\",\"name\":\"case-7.a_b\",\"reason\":"
			       "\"r\",\"q\":\"party:a@b\",\"since\":5}", &rq, &err), 0);
	ck_assert_int_eq(rq.op, ACCESS_OP_HOLD);
	ck_assert_str_eq(rq.name, "case-7.a_b");
	line = access_request_format(&rq);
	ck_assert_str_eq(line, "{\"op\":\"hold\",\"q\":\"party:a@b\",\"since\":5,"
			 "\"reason\":\"r\",\"name\":\"case-7.a_b\"}\n");
	free(line);
	access_request_free(&rq);
	ck_assert_int_eq(parse("{\"op\":\"hold\",\"name\":\"x\"}", &rq, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "reason"));
	ck_assert_int_eq(parse("{\"op\":\"hold\",\"reason\":\"r\"}", &rq, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "name"));
	ck_assert_int_eq(parse("{\"op\":\"hold\",\"name\":\"a b\",\"reason\":\"r\"}",
			       &rq, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "letters"));
	ck_assert_int_eq(parse("{\"op\":\"release\",\"name\":\"x\",\"reason\":\"r\","
			       "\"q\":\"a\"}", &rq, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "takes no member"));
	ck_assert_int_eq(parse("{\"op\":\"holds\"}", &rq, &err), 0);
	ck_assert_ptr_null(rq.name);
	access_request_free(&rq);
	ck_assert_int_eq(parse("{\"op\":\"expire\",\"dry_run\":true}", &rq, &err), 0);
	ck_assert(rq.dry_run);
	access_request_free(&rq);
	ck_assert_int_eq(parse("{\"op\":\"expire\",\"dry_run\":1}", &rq, &err), -1);
	ck_assert_int_eq(parse("{\"op\":\"expire\",\"now\":1}", &rq, &err), -1);
}
END_TEST

START_TEST(messages_travel_byte_exact)
{
	char *rcpts[] = { "a@example.com", "b@example.com", NULL };
	char *roles[] = { "legal", NULL };
	archive_message m = { .id = ID, .sha256 = "ab", .received_at = 5,
			      .size = 9, .rcpts = rcpts, .n_rcpts = 2,
			      .roles = roles, .n_roles = 1,
			      .subject = "caf\xe9 \x01 latin-1",
			      .mail_from = "x@y" };
	archive_message *back;
	mk_error err;
	char *text = access_message_json(&m, NULL);

	ck_assert_ptr_nonnull(text);
	back = access_message_parse(text, strlen(text), &err);
	ck_assert_msg(back != NULL, "%s", err.msg);
	ck_assert_str_eq(back->subject, m.subject);	/* not UTF-8: base64 */
	ck_assert_str_eq(back->mail_from, "x@y");
	ck_assert_ptr_null(back->helo);
	ck_assert_int_eq(back->n_rcpts, 2);
	ck_assert_str_eq(back->rcpts[1], "b@example.com");
	ck_assert_str_eq(back->roles[0], "legal");
	ck_assert_int_eq(back->size, 9);
	archive_message_free(back);
	free(text);
	ck_assert_ptr_null(access_message_parse("{\"id\":1}", 8, &err));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("access");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, roles_decide_who_sees_a_message);
	tcase_add_test(tc, four_eyes_needs_a_second_person);
	tcase_add_test(tc, requests_are_parsed_strictly);
	tcase_add_test(tc, messages_travel_byte_exact);
	tcase_add_test(tc, holds_are_the_admins);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
