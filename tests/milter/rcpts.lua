-- tests/milter/rcpts.lua - a message to 1,000 recipients.
--
-- All 1,000 are in the envelope record (the `to' array, in order); the
-- message after it on the same connection has only its own recipient.
local T = dofile(os.getenv("MK_MILTER_LIB"))

T.run(function()
	local conn = T.connect{host = "list.example.org", addr = "192.0.2.100"}
	local rcpts = {}
	for i = 1, 1000 do
		rcpts[i] = string.format("<user%04d@list%d.example.net>", i, i % 7)
	end
	T.message(conn, {
		name = "thousand",
		from = "<list-owner@example.org>",
		rcpts = rcpts,
		mail_macros = {"i", "LIST000001"},
		quiet = true,
		expect = {queue_id = "LIST000001"},
	})
	T.ok(true, "1,000 RCPTs accepted")
	T.message(conn, {
		name = "after-thousand",
		rcpts = {"<single@example.net>"},
		mail_macros = {"i", "LIST000002"},
		expect = {queue_id = "LIST000002"},
	})
	mt.disconnect(conn)
end)
