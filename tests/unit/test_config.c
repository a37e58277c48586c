/*
 * test_config.c - unit tests of mailkeep.conf parsing (common/mkconfig.c).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mkconfig.h"
#include "common/sockspec.h"
#include "tests/unit/unit.h"

static char path[64];

/* write_conf - put text into a fresh temporary file named in path */
static void
write_conf(const char *text)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/mk-conf-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
}

/* expect_error - loading text fails with an error containing want */
static void
expect_error(const char *text, const char *want)
{
	mk_error err = { { 0 } };
	char full[600];

	write_conf(text);
	ck_assert_ptr_null(mk_config_load(path, &err));
	snprintf(full, sizeof(full), "%s:%s", path, want);
	ck_assert_msg(strstr(err.msg, full) != NULL, "error \"%s\" lacks \"%s\"",
		      err.msg, full);
	unlink(path);
}

START_TEST(minimal_two_lines)
{
	mk_error err;
	mk_config *cfg;

	write_conf("socket = inet:8894@127.0.0.1\narchive = /var/lib/mailkeep\n");
	cfg = mk_config_load(path, &err);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(cfg->socket, "inet:8894@127.0.0.1");
	ck_assert_str_eq(cfg->archive, "/var/lib/mailkeep");
	ck_assert_ptr_null(cfg->policy);
	ck_assert_int_eq(cfg->on_error, MK_ON_ERROR_TEMPFAIL);
	ck_assert_int_eq(cfg->socket_mode, 0660);
	mk_config_free(cfg);
	unlink(path);
}
END_TEST

START_TEST(all_keys_under_section)
{
	mk_error err;
	mk_config *cfg;

	write_conf("; comment\n[mailkeep]\nsocket = unix:/run/mk.sock\n"
		   "archive = /a\npolicy = /p\nuser = mailkeep\n"
		   "pidfile = /run/mk.pid\non_error = accept\nsocket_mode = 0666\n");
	cfg = mk_config_load(path, &err);
	ck_assert_msg(cfg != NULL, "%s", err.msg);
	ck_assert_str_eq(cfg->policy, "/p");
	ck_assert_str_eq(cfg->user, "mailkeep");
	ck_assert_str_eq(cfg->pidfile, "/run/mk.pid");
	ck_assert_int_eq(cfg->on_error, MK_ON_ERROR_ACCEPT);
	ck_assert_int_eq(cfg->socket_mode, 0666);
	mk_config_free(cfg);
	unlink(path);
}
END_TEST

START_TEST(store_keys)
{
	mk_error err;
	mk_config *cfg;

	write_conf("encrypt = no\ncompression = 1\ncheckpoint_entries = 50\n"
		   "checkpoint_interval = 10\n");
	cfg = mk_config_load(path, &err);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(cfg->encrypt, 0);
	ck_assert_int_eq(cfg->codec, MK_CODEC_ZLIB);	/* a number: zlib */
	ck_assert_int_eq(cfg->compression, 1);
	ck_assert_uint_eq(cfg->checkpoint_entries, 50);
	ck_assert_uint_eq(cfg->checkpoint_interval, 10);
	mk_config_free(cfg);
	unlink(path);
	write_conf("archive = /a\n");
	cfg = mk_config_load(path, &err);
	ck_assert_int_eq(cfg->encrypt, 1);	/* the defaults */
	ck_assert_int_eq(cfg->codec, MK_CODEC_ZSTD);
	ck_assert_int_eq(cfg->compression, MK_DEFAULT_LEVEL);
	ck_assert_uint_eq(cfg->checkpoint_entries, 1000);
	ck_assert_uint_eq(cfg->checkpoint_interval, 300);
	mk_config_free(cfg);
	unlink(path);
}
END_TEST

START_TEST(compression_names_codec_and_level)
{
	static const struct { const char *value; mk_codec codec; int level; } ok[] = {
		{ "zstd", MK_CODEC_ZSTD, MK_DEFAULT_LEVEL }, { "zstd:3", MK_CODEC_ZSTD, 3 },
		{ "ZSTD:-1", MK_CODEC_ZSTD, -1 }, { "zstd:19", MK_CODEC_ZSTD, 19 },
		{ "zlib", MK_CODEC_ZLIB, 1 }, { "zlib:9", MK_CODEC_ZLIB, 9 },
		{ "6", MK_CODEC_ZLIB, 6 }, { "0", MK_CODEC_NONE, 0 },
		{ "none", MK_CODEC_NONE, 0 }
	};
	char text[64];
	mk_error err;
	mk_config *cfg;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "compression = %s\n", ok[i].value);
		write_conf(text);
		cfg = mk_config_load(path, &err);
		ck_assert_msg(cfg != NULL, "%s: %s", ok[i].value, err.msg);
		ck_assert_int_eq(cfg->codec, ok[i].codec);
		ck_assert_int_eq(cfg->compression, ok[i].level);
		mk_config_free(cfg);
		unlink(path);
	}
	expect_error("archive = /a\ncompression = lz4\n", "2: compression must be"
		     " zstd, zstd:LEVEL (-5 to 19, not 0), zlib, zlib:LEVEL (1 to 9),"
		     " none, or 0 to 9 (a zlib level, 0 none), not \"lz4\"");
	expect_error("compression = zstd:0\n", "1: compression must be zstd");
	expect_error("compression = zstd:20\n", "1: compression must be zstd");
	expect_error("compression = zstd:\n", "1: compression must be zstd");
	expect_error("compression = zlib:0\n", "1: compression must be zstd");
	expect_error("compression = zstd3\n", "1: compression must be zstd");
}
END_TEST

START_TEST(defaults_when_empty)
{
	mk_error err;
	mk_config *cfg;

	write_conf("");
	cfg = mk_config_load(path, &err);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(cfg->socket, MK_DEFAULT_SOCKET);
	ck_assert_str_eq(cfg->archive, MK_DEFAULT_ARCHIVE);
	mk_config_free(cfg);
	unlink(path);
}
END_TEST

START_TEST(errors_name_file_and_line)
{
	expect_error("socket = inet:1@127.0.0.1\n\nsockt = x\n", "3: unknown key \"sockt\"");
	expect_error("on_error = maybe\n", "1: on_error must be tempfail or accept");
	expect_error("archive = /a\nsocket_mode = 0999\n", "2: socket_mode must be octal");
	expect_error("archive = /a\n[policy]\nmode = full\n", "2: unknown section [policy]");
	expect_error("archive = /a\nthis line has no equals sign\n", "2: syntax error");
	expect_error("archive =\n", "1: empty value");
	expect_error("archive = /a\nbogus = 1\nalso = 2\n", "2: unknown key \"bogus\"");
	expect_error("encrypt = perhaps\n", "1: encrypt must be yes or no");
	expect_error("archive = /a\ncompression = 10\n", "2: compression must be zstd,");
	expect_error("compression = 6x\n", "1: compression must be zstd,");
	expect_error("checkpoint_entries = 0\n", "1: checkpoint_entries must be a number from 1");
	expect_error("checkpoint_interval = -5\n", "1: checkpoint_interval must be a number from 1");
}
END_TEST

/* Problems mk_config_read() reported. */
typedef struct seen {
	int n;
	char text[8][300];
} seen;

/* keep - mk_ini_problem_fn */
static void
keep(void *ctx, const char *name, int line, const char *why)
{
	seen *s = ctx;

	(void)name;
	if (s->n < 8)
		snprintf(s->text[s->n], sizeof(s->text[0]), "%d: %s", line, why);
	s->n++;
}

START_TEST(every_problem_is_named)
{
	seen s = { 0 };
	mk_error err;
	mk_config *cfg;
	int n;

	write_conf("socket = inet:0@127.0.0.1\narchive = /a\ncompression = x\n"
		   "[x]\nnot a key\nuser = u\n[mailkeep]\nfoo = 1\n");
	cfg = mk_config_read(path, keep, &s, &n, &err);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(n, s.n);
	ck_assert_int_eq(n, 6);
	ck_assert_str_eq(s.text[0], "1: socket = inet:0@127.0.0.1: the port 0 is"
			 " out of range (1 to 65535)");
	ck_assert_msg(strncmp(s.text[1], "3: compression must be", 22) == 0,
		      "%s", s.text[1]);
	ck_assert_msg(strncmp(s.text[2], "4: unknown section [x]", 22) == 0,
		      "%s", s.text[2]);
	ck_assert_msg(strncmp(s.text[3], "5: syntax error", 15) == 0, "%s",
		      s.text[3]);
	ck_assert_msg(strncmp(s.text[4], "6: \"user\" is under the unknown"
			      " section [x]", 39) == 0, "%s", s.text[4]);
	ck_assert_msg(strncmp(s.text[5], "8: unknown key \"foo\"", 20) == 0,
		      "%s", s.text[5]);
	ck_assert_int_eq(cfg->line.socket, -1);	/* refused */
	ck_assert_int_eq(cfg->line.archive, 2);
	mk_config_free(cfg);
	unlink(path);
}
END_TEST

/* spec_why - why mk_sockspec_parse() refuses spec ("" when it takes it) */
static const char *
spec_why(const char *spec)
{
	static char why[MK_SOCKSPEC_WHY];
	mk_sockspec s;

	why[0] = '\0';
	(void)mk_sockspec_parse(spec, &s, why);
	return why;
}

START_TEST(socket_specs)
{
	mk_sockspec s;
	char why[MK_SOCKSPEC_WHY];

	ck_assert_int_eq(mk_sockspec_parse("inet:8894@127.0.0.1", &s, why), 0);
	ck_assert_int_eq(s.kind, MK_SOCK_INET);
	ck_assert_uint_eq(s.port, 8894);
	ck_assert_str_eq(s.host, "127.0.0.1");
	ck_assert_int_eq(mk_sockspec_parse("inet6:1@::1", &s, why), 0);
	ck_assert_int_eq(mk_sockspec_check(&s, why), 0);
	ck_assert_int_eq(mk_sockspec_parse("local:/run/x.sock", &s, why), 0);
	ck_assert_str_eq(s.path, "/run/x.sock");
	ck_assert_int_eq(mk_sockspec_parse("inet:65535@localhost", &s, why), 0);
	ck_assert_str_eq(spec_why("inet:65536@h"), "the port 65536 is out of"
			 " range (1 to 65535)");
	ck_assert_str_eq(spec_why("inet:99999999999999999999@h"), "the port"
			 " 99999999999999999999 is out of range (1 to 65535)");
	ck_assert_str_eq(spec_why("inet:0@h"), "the port 0 is out of range (1"
			 " to 65535)");
	ck_assert_str_eq(spec_why("inet:+5@h"), "the port \"+5\" is not a"
			 " decimal number");
	ck_assert_str_eq(spec_why("inet:@h"), "the port is missing (want"
			 " PORT@HOST)");
	ck_assert_str_eq(spec_why("inet:5@"), "the host after '@' is empty");
	ck_assert_str_eq(spec_why("unix:"), "the path after the scheme is empty");
	ck_assert_str_eq(spec_why("Unix:/x"), "unknown scheme \"Unix\" (want"
			 " unix, local, inet or inet6)");
	ck_assert_int_eq(mk_sockspec_parse("inet:1@999.1.1.1", &s, why), 0);
	ck_assert_int_eq(mk_sockspec_check(&s, why), -1);
	ck_assert_msg(strstr(why, "is not an IPv4 address") != NULL, "%s", why);
	ck_assert_int_eq(mk_sockspec_parse("unix:/no/such/dir/x", &s, why), 0);
	ck_assert_int_eq(mk_sockspec_check(&s, why), -1);
	ck_assert_str_eq(why, "the directory /no/such/dir of the path does not"
			 " exist");
	ck_assert_int_eq(mk_sockspec_parse("unix:/x", &s, why), 0);
	ck_assert_int_eq(mk_sockspec_check(&s, why), 0);	/* "/" exists */
}
END_TEST

START_TEST(unreadable_file)
{
	mk_error err;

	ck_assert_ptr_null(mk_config_load("/nonexistent/mailkeep.conf", &err));
	ck_assert_msg(strstr(err.msg, "/nonexistent/mailkeep.conf: cannot read") != NULL,
		      "%s", err.msg);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, minimal_two_lines);
	tcase_add_test(tc, all_keys_under_section);
	tcase_add_test(tc, compression_names_codec_and_level);
	tcase_add_test(tc, defaults_when_empty);
	tcase_add_test(tc, store_keys);
	tcase_add_test(tc, errors_name_file_and_line);
	tcase_add_test(tc, unreadable_file);
	tcase_add_test(tc, every_problem_is_named);
	tcase_add_test(tc, socket_specs);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
