-- tests/milter/abort.lua - ABORT at every point of a transaction.
--
-- Postfix sends ABORT after every transaction, successful ones included:
-- it must reset the message state, neither lose nor duplicate the message
-- just accepted, and the next message on the connection must get its own
-- envelope (no recipients, sender or auth user left from the one before).
-- An ABORT before EOM (mid-body, after the headers, after RCPT) must
-- leave nothing in the archive and no file in spool/, and the connection
-- must go on working.  A connection closed mid-message likewise.
local T = dofile(os.getenv("MK_MILTER_LIB"))

-- spool_check - spool/ must (not) be empty now.  Over a Unix socket the
-- milter answers neither body chunks nor ABORT (no-reply flags), so it may
-- still be working on the last command: wait for it, 10 s at most.
local function spool_check(what, want_empty)
	local files = T.spool_files()
	if files == nil then return end
	local tries = 0
	while (#files == 0) ~= want_empty and tries < 100 do
		os.execute("sleep 0.1")
		files = T.spool_files()
		tries = tries + 1
	end
	if want_empty then
		T.ok(#files == 0, what .. ": spool/ is empty" ..
			(#files == 0 and "" or " (holds " .. table.concat(files, " ") .. ")"))
	else
		T.ok(#files > 0, what .. ": spool/ holds the message under way")
	end
end

T.run(function()
	local conn = T.connect{host = "mx2.example.org", addr = "203.0.113.9",
		helo_macros = {"{tls_version}", "TLSv1.3",
			       "{cipher}", "TLS_AES_256_GCM_SHA384"},
		helo = "mx2.example.org"}

	-- 1: accepted, then Postfix's ABORT
	T.message(conn, {
		name = "first",
		from = "<alice@example.org>",
		rcpts = {"<r1@example.net>", "<r2@example.net>", "<r3@example.net>"},
		mail_macros = {"{auth_type}", "PLAIN", "{auth_authen}", "alice"},
		eom_macros = {"i", "QFIRST0001"},
		abort_after = "eom",
		expect = {queue_id = "QFIRST0001", auth_user = "alice",
			  tls_version = "TLSv1.3", helo = "mx2.example.org",
			  client_addr = "203.0.113.9"},
	})
	mt.abort(conn)	-- a second ABORT in a row is harmless too

	-- 2: same connection; MAIL macros without auth this time
	T.message(conn, {
		name = "second",
		from = "<bob@example.org>",
		rcpts = {"<s1@example.com>"},
		mail_macros = {"{mail_addr}", "bob@example.org"},
		eom_macros = {"i", "QSECOND002"},
		expect = {queue_id = "QSECOND002", auth_user = T.NULL,
			  tls_version = "TLSv1.3"},
	})

	-- 3: ABORT in the middle of the body: not archived, spool emptied
	spool_check("before the mid-body abort", true)
	T.message(conn, {
		name = "aborted-body",
		from = "<carol@example.org>",
		rcpts = {"<leak1@example.com>", "<leak2@example.com>"},
		mail_macros = {"{auth_authen}", "carol"},
		body = {"part one\r\n", "part two\r\n", "part three\r\n",
			"part four\r\n"},
		abort_after = "body",
		expect = false,
	})
	spool_check("after the mid-body abort", true)

	-- 4: the next message is whole and has only its own envelope
	T.message(conn, {
		name = "after-body-abort",
		from = "<dave@example.org>",
		rcpts = {"<t1@example.com>", "<t2@example.com>"},
		eom_macros = {"i", "QFOURTH004"},
		expect = {queue_id = "QFOURTH004", auth_user = T.NULL},
	})

	-- 5, 6: ABORT after RCPT, after two headers
	T.message(conn, {name = "aborted-rcpt", rcpts = {"<leak3@example.com>"},
		      abort_after = "rcpt", expect = false})
	T.message(conn, {name = "aborted-header", rcpts = {"<leak4@example.com>"},
		      abort_after = "header", expect = false})
	spool_check("after the header abort", true)

	-- 7: and once more a whole one, without an ABORT after it
	T.message(conn, {
		name = "last",
		from = "<erin@example.org>",
		rcpts = {"<u1@example.com>"},
		eom_macros = {"i", "QSEVENTH07"},
		abort_after = "none",
		expect = {queue_id = "QSEVENTH07"},
	})
	mt.disconnect(conn)

	-- 8: a connection that goes away mid-body (QUIT without ABORT, as
	-- when the SMTP client drops): nothing archived, spool emptied
	conn = T.connect{host = "gone.example.org", addr = "192.0.2.99"}
	T.call("gone: MAIL", mt.mailfrom(conn, "<gone@example.org>"), conn)
	T.call("gone: RCPT", mt.rcptto(conn, "<leak5@example.com>"), conn)
	T.call("gone: header", mt.header(conn, "Message-ID", "<gone@mailkeep.test>"), conn)
	T.call("gone: EOH", mt.eoh(conn), conn)
	T.call("gone: body", mt.bodystring(conn, "half a message\r\n"), conn)
	spool_check("mid-body", false)
	mt.disconnect(conn)
	-- the milter handles the close asynchronously: give it a moment
	local files
	for _ = 1, 50 do
		files = T.spool_files()
		if files == nil or #files == 0 then break end
		mt.sleep(0.1)
	end
	spool_check("after a close mid-body", true)
end)
