-- tests/milter/macros.lua - macros present, absent, and at different stages.
--
-- An MTA sends only the macros whose values it has, and each MTA at its
-- own stage: Sendmail gives the queue id {i} at MAIL, Postfix only once
-- the first RCPT is accepted (so at RCPT for the later recipients, and at
-- EOM).  Whatever is missing is stored as unknown (null), never a crash or
-- a reject.  Each case has a connection of its own: libmilter keeps a
-- stage's macros until the MTA sends that stage's macros again.
local T = dofile(os.getenv("MK_MILTER_LIB"))

T.run(function()
	-- nothing at all: no macros, client of an unknown address family
	-- (as Sendmail -bs on a pipe), no HELO
	local conn = T.connect{host = "unknown", addr = "unspec", helo = false}
	T.message(conn, {
		name = "no-macros",
		from = "<nobody@example.org>",
		mail_macros = false, rcpt_macros = false,
		expect = {queue_id = T.NULL, auth_user = T.NULL,
			  tls_version = T.NULL, helo = T.NULL,
			  client_name = "unknown"},
	})
	-- the same once more on this connection (nothing left over)
	T.message(conn, {
		name = "no-macros-again",
		from = "<>",
		mail_macros = false, rcpt_macros = false,
		expect = {queue_id = T.NULL, auth_user = T.NULL,
			  tls_version = T.NULL},
	})
	mt.disconnect(conn)

	-- Sendmail style: {i}, {auth_authen} and {tls_version} at MAIL
	conn = T.connect{host = "sm.example.org", addr = "192.0.2.61",
		conn_macros = {"j", "sm.example.org", "{daemon_name}", "MTA",
			       "{if_addr}", "192.0.2.1"}}
	T.message(conn, {
		name = "sendmail-style",
		mail_macros = {"i", "5ANKqa1B012345", "{auth_type}", "PLAIN",
			       "{auth_authen}", "alice@example.org",
			       "{tls_version}", "TLSv1.2",
			       "{cipher}", "ECDHE-RSA-AES256-GCM-SHA384"},
		rcpt_macros = false,
		abort_after = "none",
		expect = {queue_id = "5ANKqa1B012345",
			  auth_user = "alice@example.org",
			  tls_version = "TLSv1.2", client_addr = "192.0.2.61"},
	})
	mt.disconnect(conn)

	-- Postfix style: {tls_version} at HELO, {auth_authen} at MAIL,
	-- {i} from the second RCPT on and at EOM (milter_rcpt_macros gets
	-- it once the queue file exists)
	conn = T.connect{host = "pf.example.org", addr = "192.0.2.62",
		conn_macros = {"j", "pf.example.org", "{daemon_name}", "smtpd",
			       "{daemon_addr}", "192.0.2.2",
			       "{client_addr}", "192.0.2.62"},
		helo_macros = {"{tls_version}", "TLSv1.3",
			       "{cipher}", "TLS_AES_128_GCM_SHA256"}}
	T.message(conn, {
		name = "postfix-style",
		rcpts = {"<p1@example.net>", "<p2@example.net>"},
		mail_macros = {"{auth_type}", "LOGIN", "{auth_authen}", "bob",
			       "{mail_addr}", "alice@example.org"},
		rcpt_macros = function(i)
			if i == 1 then return {"{rcpt_addr}", "p1@example.net"} end
			return {"i", "4dGq1T3ZxYz", "{rcpt_addr}", "p2@example.net"}
		end,
		eom_macros = {"i", "4dGq1T3ZxYz"},
		expect = {queue_id = "4dGq1T3ZxYz", auth_user = "bob",
			  tls_version = "TLSv1.3"},
	})
	mt.disconnect(conn)

	-- Postfix style with {i} only at EOM (milter_end_of_data_macros),
	-- none at RCPT
	conn = T.connect{host = "pf2.example.org", addr = "192.0.2.63"}
	T.message(conn, {
		name = "qid-at-eom-only",
		mail_macros = {"{auth_authen}", "carol"},
		eom_macros = {"i", "4dGqEOM0001"},
		expect = {queue_id = "4dGqEOM0001", auth_user = "carol",
			  tls_version = T.NULL},
	})
	mt.disconnect(conn)

	-- an unknown address family, but {client_addr} given as a macro
	conn = T.connect{host = "[192.0.2.64]", addr = "unspec",
		conn_macros = {"{client_addr}", "192.0.2.64"}}
	T.message(conn, {
		name = "client-addr-macro",
		mail_macros = {"i", "CADDR00001"},
		expect = {queue_id = "CADDR00001", client_addr = "192.0.2.64"},
	})
	mt.disconnect(conn)
end)
