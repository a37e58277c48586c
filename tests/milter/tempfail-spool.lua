-- tests/milter/tempfail-spool.lua - TEMPFAIL when no spool file can be made.
--
-- With spool/ gone, before this milter has received a message (it keeps
-- the spool files of received messages for the next ones), the message
-- is refused with 451 4.3.0, at the first header or at EOM; once spool/
-- is back the next message on the same connection is archived.
local T = dofile(os.getenv("MK_MILTER_LIB"))
local archive = assert(os.getenv("MK_ARCHIVE"), "MK_ARCHIVE not set")

T.run(function()
	local conn = T.connect{host = "mx.example.org", addr = "192.0.2.81"}

	-- 1: no spool/: refused (451), at the first header or at EOM
	assert(os.rename(archive .. "/spool", archive .. "/spool.away"))
	local ok, err = pcall(T.message, conn, {name = "no-spool",
		mail_macros = {"i", "SPOOL00001"}, refused = true})
	assert(os.rename(archive .. "/spool.away", archive .. "/spool"))
	if not ok then error(err, 0) end
	T.ok(mt.eom_check(conn, MT_SMTPREPLY, "451", "4.3.0",
			  "Message not archived, try again later") or
	     mt.getreply(conn) == SMFIR_REPLYCODE,
	     "no spool/: the reply is 451 4.3.0")

	-- 2: and with spool/ back, the next message goes through
	T.message(conn, {name = "after-no-spool",
		mail_macros = {"i", "SPOOL00002"},
		expect = {queue_id = "SPOOL00002"}})
	mt.disconnect(conn)
end)
