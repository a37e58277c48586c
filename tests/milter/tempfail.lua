-- tests/milter/tempfail.lua - TEMPFAIL when the archive cannot store.
--
-- The milter answers ACCEPT only once the archive says the message is
-- durable: when the commit fails (content/ gone) EOM gets 451 4.3.0
-- instead of ACCEPT.  Nothing of that message is in the archive, the
-- spool is empty afterwards, and once the directory is back the next
-- message on the same connection is archived.  (A spool/ that cannot be
-- used: tempfail-spool.lua, with a milter of its own, as this needs one
-- that has no segment open yet.)
local T = dofile(os.getenv("MK_MILTER_LIB"))
local archive = assert(os.getenv("MK_ARCHIVE"), "MK_ARCHIVE not set")

-- hide / restore - move an archive subdirectory away and back
local function hide(sub)
	assert(os.rename(archive .. "/" .. sub, archive .. "/" .. sub .. ".away"))
end
local function restore(sub)
	assert(os.rename(archive .. "/" .. sub .. ".away", archive .. "/" .. sub))
end

T.run(function()
	local conn = T.connect{host = "mx.example.org", addr = "192.0.2.80"}

	-- 1: no content/ (before this milter has a segment open, which it
	-- would go on appending to): the commit fails, EOM is answered 451,
	-- not ACCEPT
	hide("content")
	local ok, err = pcall(T.message, conn, {name = "no-content",
		mail_macros = {"i", "TEMP000001"},
		body = "this body is stored nowhere\r\n",
		eom_reply = SMFIR_REPLYCODE, expect = false})
	restore("content")
	if not ok then error(err, 0) end
	T.ok(mt.eom_check(conn, MT_SMTPREPLY, "451", "4.3.0",
			  "Message not archived, try again later"),
	     "no content/: EOM reply is 451 4.3.0 Message not archived, try again later")
	mt.abort(conn)
	local files = T.spool_files()
	T.ok(files ~= nil and #files == 0, "no content/: no spool file left behind")

	-- 2: and with content/ back, the next message goes through
	T.message(conn, {name = "after-no-content",
		mail_macros = {"i", "TEMP000002"},
		expect = {queue_id = "TEMP000002"}})

	mt.disconnect(conn)
end)
