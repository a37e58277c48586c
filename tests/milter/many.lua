-- tests/milter/many.lua - 50 messages on one connection.
--
-- Each gets its own archive entry with its own sender, recipients (one to
-- four, none shared with its neighbours) and queue id; Postfix-style
-- (ABORT after each EOM, {i} at EOM) and Sendmail-style (no ABORT, {i}
-- at MAIL) transactions alternate.
local T = dofile(os.getenv("MK_MILTER_LIB"))

T.run(function()
	local conn = T.connect{host = "bulk.example.org", addr = "192.0.2.50",
		helo = "bulk.example.org"}
	for i = 1, 50 do
		local rcpts = {}
		for j = 1, (i % 4) + 1 do
			rcpts[j] = string.format("<m%02d-r%d@example.net>", i, j)
		end
		local qid = string.format("MANY%06d", i)
		local postfix = i % 2 == 0
		local from = string.format("<sender%02d@example.org>", i)
		T.message(conn, {
			name = string.format("many-%02d", i),
			from = from,
			rcpts = rcpts,
			mail_macros = postfix and {"{mail_addr}", T.strip_angles(from)}
				or {"i", qid, "{mail_addr}", T.strip_angles(from)},
			eom_macros = postfix and {"i", qid} or nil,
			abort_after = postfix and "eom" or "none",
			body = string.rep(string.format("message %d of 50\r\n", i), i),
			quiet = true,
			expect = {queue_id = qid, client_addr = "192.0.2.50"},
		})
	end
	T.ok(true, "50 messages sent on one connection, each accepted")
	mt.disconnect(conn)
end)
