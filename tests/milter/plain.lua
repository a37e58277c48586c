-- tests/milter/plain.lua - one plain message, as Postfix passes it, and
-- the same from an MTA that does not offer SMFIP_HDR_LEADSPC.
--
-- Connect (client host and address), HELO, MAIL, three RCPTs, headers,
-- EOH, the body in one chunk, EOM: ACCEPT, and the archive holds the
-- headers and body exactly as sent (CRLF) with the envelope.  Then the
-- abort Postfix sends after every transaction, and QUIT.
local T = dofile(os.getenv("MK_MILTER_LIB"))

T.run(function()
	local conn = T.connect{host = "mx1.example.org", addr = "192.0.2.25",
		conn_macros = {"j", "mailkeep.test", "{daemon_name}", "smtpd"},
		helo = "mx1.example.org"}
	T.message(conn, {
		name = "plain",
		from = "<alice@example.org>",
		rcpts = {"<bob@example.net>", "<carol@example.net>",
			 "<dave@example.com>"},
		mail_macros = {"i", "4XyZ1A2B3C", "{auth_type}", ""},
		headers = {
			{"Return-Path", "<alice@example.org>"},
			{"From", "Alice <alice@example.org>"},
			{"To", "Bob <bob@example.net>, Carol <carol@example.net>"},
			{"Cc", "dave@example.com"},
			{"Date", "Mon, 23 Nov 2026 10:00:00 +0000"},
			{"Subject", "Quarterly report"},
			{"MIME-Version", "1.0"},
			{"Content-Type", "text/plain; charset=us-ascii"},
		},
		body = "Hello Bob,\r\n\r\nthe report is attached.\r\n" ..
		       ".leading dot, trailing space \r\n\tand a tab\r\n" ..
		       "-- \r\nAlice\r\n",
		expect = {
			queue_id = "4XyZ1A2B3C",
			client_addr = "192.0.2.25",
			client_name = "mx1.example.org",
			helo = "mx1.example.org",
			auth_user = T.NULL, tls_version = T.NULL,
			subject = "Quarterly report",
			date = "Mon, 23 Nov 2026 10:00:00 +0000",
		},
	})
	mt.disconnect(conn)

	-- Sendmail 8.13 and other old MTAs: no SMFIP_HDR_LEADSPC, so the
	-- values come without their leading space and the milter writes
	-- "Name: value".
	conn = T.connect{host = "old.example.org", addr = "198.51.100.7",
		leadspc = false, helo = "old.example.org"}
	T.message(conn, {
		name = "no-leadspc",
		from = "<>",
		rcpts = {"<postmaster@example.net>"},
		mail_macros = {"i", "u9A0B1c2d3"},
		headers = {
			{"From", "Mail Delivery System <MAILER-DAEMON@example.org>"},
			{"Subject", "Undelivered Mail Returned to Sender"},
		},
		body = "This is the mail system.\r\n",
		abort_after = "none",	-- Sendmail sends no abort after EOM
		expect = {
			queue_id = "u9A0B1c2d3", from = "",
			client_addr = "198.51.100.7",
			client_name = "old.example.org",
			subject = "Undelivered Mail Returned to Sender",
		},
	})
	mt.disconnect(conn)
end)
