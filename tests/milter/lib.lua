-- tests/milter/lib.lua - helpers shared by mailkeep's miltertest scripts.
--
-- SYNOPSIS
--	local T = dofile(os.getenv("MK_MILTER_LIB"))
--	T.run(function()
--		local conn = T.connect{host = "mx.example.org", addr = "192.0.2.1"}
--		T.message(conn, {name = "plain", from = "<a@example.org>",
--			rcpts = {"<b@example.net>"}, headers = {...}, body = "..."})
--		mt.disconnect(conn)
--	end)
--
-- DESCRIPTION
--	tests/milter/run.sh runs each tests/milter/*.lua (except this file)
--	with `miltertest -s` against a mailkeep-milter of its own, with
--	MK_SOCKET (the milter's socket, libmilter syntax), MK_OUT (a
--	directory for expectations), MK_SPOOL (the archive's spool/
--	directory) and MK_MILTER_LIB (this file) in the environment.
--
--	A script checks the milter's replies itself, printing one
--	"ok - ..." or "not ok - ..." line per check.  What must be in the
--	archive afterwards it writes to MK_OUT, and run.sh checks it once the
--	milter has stopped:
--	  NAME.eml	the bytes the archive must hold for message NAME: the
--			headers as the milter rebuilds them ("Name: value"
--			CRLF, a value's LFs made CRLF), CRLF, the body
--	  expect.jsonl	one line a message: {"name": NAME, "want": {...}},
--			want being the fields `mailkeep search --json` must
--			show for it (null where the field must be null); its
--			message_id (<> and blanks aside) finds the entry
--	  count		how many messages the archive must hold in all
--	T.message() writes NAME.eml and a line of expect.jsonl for each
--	message that should be archived; T.run() writes count.
--
--	miltertest exits 1 without saying why when the script raises an
--	error, so T.run() wraps the script in pcall and prints the error as a
--	"not ok" line.  mt.bodystring() sends its string as one body chunk,
--	and libmilter drops the session on a chunk over 65,535 bytes:
--	T.message() sends a body given as a table of strings chunk by chunk,
--	and refuses chunks that are too large.

local T = {}

T.socket = assert(os.getenv("MK_SOCKET"), "MK_SOCKET not set")
T.out = assert(os.getenv("MK_OUT"), "MK_OUT not set")
T.passed, T.failed, T.archived = 0, 0, 0
T.MAX_CHUNK = 65535
T.SMFIC_DATA = string.byte("T")	-- macro stages miltertest does not name
T.SMFIC_EOH = string.byte("N")
T.SMFIC_EOM = string.byte("E")	-- SMFIC_BODYEOB
T.NULL = setmetatable({}, {__tostring = function() return "null" end})

local reply_names = {}
for _, k in ipairs({"SMFIR_CONTINUE", "SMFIR_ACCEPT", "SMFIR_REJECT",
		    "SMFIR_TEMPFAIL", "SMFIR_DISCARD", "SMFIR_REPLYCODE"}) do
	if _G[k] then reply_names[_G[k]] = k end
end

-- reply_name - SMFIR_* name of a reply code, for messages
local function reply_name(r)
	if r == nil then return "nil" end
	return reply_names[r] or string.format("'%s' (%d)",
		(r > 0 and r < 256) and string.char(math.floor(r)) or "?",
		math.floor(r))
end

-- spool_files - the spool files that hold a message: names in the
-- archive's spool/ directory (MK_SPOOL), and the milter's (MK_MILTER_PID)
-- anonymous spool files (O_TMPFILE, "spool/#N (deleted)" in /proc) that
-- are not empty; those it keeps for the next message are emptied
function T.spool_files()
	local dir = os.getenv("MK_SPOOL")
	local pid = os.getenv("MK_MILTER_PID")
	if dir == nil then return nil end
	local names = {}
	local p = assert(io.popen("ls -A '" .. dir .. "'"))
	for line in p:lines() do names[#names + 1] = line end
	p:close()
	if pid == nil then return names end
	p = assert(io.popen("for f in /proc/" .. pid .. "/fd/*; do " ..
		"t=$(readlink \"$f\") || continue; case $t in " ..
		"*/spool/'#'*) [ \"$(stat -L -c %s \"$f\" 2>/dev/null)\" -gt 0 ] " ..
		"2>/dev/null && echo \"$t\";; esac; done"))
	for line in p:lines() do names[#names + 1] = line end
	p:close()
	return names
end

-- ok - count and print one check
function T.ok(cond, msg)
	if cond then
		T.passed = T.passed + 1
		print("ok - " .. msg)
	else
		T.failed = T.failed + 1
		print("not ok - " .. msg)
	end
	return cond
end

-- call - an mt.* step must succeed (nil) and get reply want (default
--	SMFIR_CONTINUE).  A failed step raises an error: the session is
--	unusable after it.  Replies are counted as checks only when quiet is
--	false, so that a 1,000-recipient message is not 1,000 lines.  While
--	T.refusable is set, a TEMPFAIL or REPLYCODE reply raises
--	{refused = what} instead (see T.message's refused).
function T.call(what, rc, conn, want, quiet)
	if rc ~= nil then
		error(what .. " failed: " .. tostring(rc), 2)
	end
	want = want or SMFIR_CONTINUE
	local got = mt.getreply(conn)
	if T.refusable and (got == SMFIR_TEMPFAIL or got == SMFIR_REPLYCODE) then
		error({refused = what .. ": reply " .. reply_name(got)})
	end
	if got ~= want or not quiet then
		T.ok(got == want, string.format("%s: reply %s%s", what,
			reply_name(got),
			got == want and "" or " (want " .. reply_name(want) .. ")"))
	end
	if got ~= want then
		error(what .. ": unexpected reply " .. reply_name(got), 2)
	end
end

-- write_file - write data to MK_OUT/name (append: add it at the end)
function T.write_file(name, data, append)
	local f = assert(io.open(T.out .. "/" .. name, append and "ab" or "wb"))
	assert(f:write(data))
	assert(f:close())
end

-- json - a JSON text for a string, number, boolean, T.NULL, or a table
--	(an array if it has [1] or is empty and marked array, else an object)
local function json_string(s)
	return '"' .. s:gsub('[%c"\\\128-\255]', function(c)
		local b = c:byte()
		if c == '"' then return '\\"' end
		if c == "\\" then return "\\\\" end
		if c == "\n" then return "\\n" end
		if c == "\r" then return "\\r" end
		if c == "\t" then return "\\t" end
		if b >= 128 then return c end	-- UTF-8 passes through
		return string.format("\\u%04x", b)
	end) .. '"'
end

function T.json(v)
	local t = type(v)
	if v == T.NULL or v == nil then return "null" end
	if t == "string" then return json_string(v) end
	if t == "number" then return string.format("%d", v) end
	if t == "boolean" then return tostring(v) end
	assert(t == "table", "json: cannot encode " .. t)
	local parts = {}
	if v[1] ~= nil or getmetatable(v) == "array" then
		for i = 1, #v do parts[i] = T.json(v[i]) end
		return "[" .. table.concat(parts, ",") .. "]"
	end
	local keys = {}
	for k in pairs(v) do keys[#keys + 1] = k end
	table.sort(keys)
	for _, k in ipairs(keys) do
		parts[#parts + 1] = json_string(k) .. ":" .. T.json(v[k])
	end
	return "{" .. table.concat(parts, ",") .. "}"
end

-- array - mark a (possibly empty) table as a JSON array
function T.array(t)
	return setmetatable(t or {}, {__metatable = "array"})
end

-- strip_angles - an SMTP path without its <>, as the archive keeps it
function T.strip_angles(s)
	return (s:match("^<(.*)>$")) or s
end

-- connect - open a session, negotiate, send the connection info
--	opts: host, addr (nil for miltertest's defaults; addr "unspec" for an
--	unknown protocol family), conn_macros {name, value, ...},
--	leadspc (default true: offer SMFIP_HDR_LEADSPC as Postfix does),
--	helo (a name; false to send no HELO at all), helo_macros
function T.connect(opts)
	opts = opts or {}
	local conn = mt.connect(T.socket, 50, 0.1)
	if conn == nil then error("mt.connect(" .. T.socket .. ") failed", 2) end
	local prot = nil		-- miltertest's default: SMFI_CURR_PROT
	if opts.leadspc == false then
		prot = 0x1FFFFF & ~0x100000	-- SMFI_CURR_PROT without LEADSPC
	end
	local rc = mt.negotiate(conn, nil, prot, nil)
	if rc ~= nil then error("mt.negotiate failed: " .. tostring(rc), 2) end
	local leadspc = mt.test_option(conn, SMFIP_HDR_LEADSPC)
	if opts.leadspc ~= false then
		T.ok(leadspc, "negotiate: the milter takes SMFIP_HDR_LEADSPC")
	else
		T.ok(not leadspc, "negotiate: SMFIP_HDR_LEADSPC not offered, not taken")
	end
	T.leadspc = leadspc
	if opts.conn_macros then
		mt.macro(conn, SMFIC_CONNECT, table.unpack(opts.conn_macros))
	end
	T.call("conninfo", mt.conninfo(conn, opts.host or "client.example.org",
		opts.addr or "192.0.2.10"), conn)
	if opts.helo == false then
		-- miltertest sends a HELO of its own before MAIL unless the
		-- session is past it; mt.abort() puts it there without a HELO
		-- on the wire (an ABORT before MAIL is harmless to libmilter).
		mt.abort(conn)
	else
		if opts.helo_macros then
			mt.macro(conn, SMFIC_HELO, table.unpack(opts.helo_macros))
		end
		T.call("helo", mt.helo(conn, opts.helo or "helo.example.org"), conn)
	end
	return conn
end

-- header_bytes - a header as mailkeep-milter must archive it.  The
--	value is given as an MTA without SMFIP_HDR_LEADSPC passes it (no
--	space after the colon); with LEADSPC negotiated, miltertest itself
--	puts the space back in front (as Postfix would pass " value"), and
--	the milter writes "Name:" + value.  Either way: "Name: value".
local function header_bytes(name, value)
	local v = value:gsub("\r?\n", "\r\n")
	return name .. ": " .. v .. "\r\n"
end

-- message - one transaction on conn; see send_message for spec.  With
--	spec.refused, the milter must refuse the message (TEMPFAIL or a reply
--	code) at some step, not accept it: then the transaction is aborted
--	and nothing must be archived.
function T.message(conn, spec)
	if not spec.refused then return T.send_message(conn, spec) end
	T.refusable = true
	local ok, err = pcall(T.send_message, conn, spec)
	T.refusable = false
	if ok then
		T.ok(false, spec.name .. ": accepted, want it refused")
	elseif type(err) == "table" and err.refused then
		T.ok(true, spec.name .. ": refused at " .. err.refused)
		mt.abort(conn)
	else
		error(err, 0)
	end
end

-- send_message - one transaction on conn.  spec fields:
--	name		the message's name (MK_OUT/name.eml, .json); also the
--			default Message-ID <name@mailkeep.test>
--	from, rcpts	envelope (SMTP paths, with <>)
--	mail_macros, rcpt_macros, eom_macros	{name, value, ...} sent before
--			MAIL, before each RCPT, before EOM; rcpt_macros may be
--			a function(i) returning such a table.  MAIL and RCPT
--			default to {mail_addr} / {rcpt_addr}; false: send none
--	headers		{{name, value}, ...}; values without the space after
--			the colon (see header_bytes)
--	body		a string (one chunk) or a table of chunks
--	abort_after	"eom" (default for Postfix-like sessions: abort after
--			eom), "none" (no abort), or "body" / "header" /
--			"rcpt" (abort there: the message must not be archived)
--	expect		fields the archive entry must show (merged over the
--			defaults derived from the envelope); false: nothing
--			archived
--	quiet		count only failed replies (for long messages)
function T.send_message(conn, spec)
	local name = assert(spec.name, "message without a name")
	local quiet = spec.quiet
	local mid = spec.message_id or ("<" .. name .. "@mailkeep.test>")
	local headers = spec.headers or {
		{"From", "Alice <alice@example.org>"},
		{"To", "Bob <bob@example.net>"},
		{"Subject", name},
	}
	local all_headers = {{"Message-ID", mid}}
	for _, h in ipairs(headers) do all_headers[#all_headers + 1] = h end
	local body = spec.body or ("Body of " .. name .. ".\r\n")
	if type(body) == "string" then body = {body} end
	local stop = spec.abort_after or "eom"

	-- An MTA sends the macros of each stage afresh with each command, and
	-- libmilter keeps a stage's macros until new ones come: so send MAIL
	-- and RCPT macros every time (Postfix's {mail_addr}, {rcpt_addr}
	-- unless the spec says otherwise; false: none at all).
	local from = spec.from or "<alice@example.org>"
	local mm = spec.mail_macros
	if mm == nil then mm = {"{mail_addr}", T.strip_angles(from)} end
	if mm then mt.macro(conn, SMFIC_MAIL, table.unpack(mm)) end
	T.call(name .. ": MAIL FROM:" .. from, mt.mailfrom(conn, from), conn,
	       nil, quiet)
	local rcpts = spec.rcpts or {"<bob@example.net>"}
	for i, r in ipairs(rcpts) do
		local m = spec.rcpt_macros
		if type(m) == "function" then m = m(i) end
		if m == nil then m = {"{rcpt_addr}", T.strip_angles(r)} end
		if m then mt.macro(conn, SMFIC_RCPT, table.unpack(m)) end
		T.call(name .. ": RCPT TO:" .. r, mt.rcptto(conn, r), conn, nil,
		       quiet or #rcpts > 5)
	end
	if stop == "rcpt" then
		mt.abort(conn)
		return
	end

	local bytes = {}
	for i, h in ipairs(all_headers) do
		T.call(name .. ": header " .. h[1], mt.header(conn, h[1], h[2]),
		       conn, nil, quiet or i > 1)
		bytes[#bytes + 1] = header_bytes(h[1], h[2])
		if stop == "header" and i == 2 then
			mt.abort(conn)
			return
		end
	end
	T.call(name .. ": EOH", mt.eoh(conn), conn, nil, quiet)
	bytes[#bytes + 1] = "\r\n"
	local sent = 0
	for i, chunk in ipairs(body) do
		if #chunk > T.MAX_CHUNK then
			error(string.format("%s: body chunk %d is %d bytes (> %d)",
				name, i, #chunk, T.MAX_CHUNK))
		end
		if chunk:find("\0", 1, true) then
			error(name .. ": mt.bodystring cannot send NUL bytes")
		end
		T.call(name .. ": body chunk " .. i .. " (" .. #chunk .. " bytes)",
		       mt.bodystring(conn, chunk), conn, nil, quiet or i > 1)
		bytes[#bytes + 1] = chunk
		sent = sent + #chunk
		if stop == "body" and i == math.max(1, #body // 2) then
			mt.abort(conn)
			return
		end
	end
	if #body > 1 then
		T.ok(true, string.format("%s: %d body chunks, %d bytes, all CONTINUE",
			name, #body, sent))
	end
	if spec.eom_macros then
		mt.macro(conn, T.SMFIC_EOM, table.unpack(spec.eom_macros))
	end
	T.call(name .. ": EOM", mt.eom(conn), conn, spec.eom_reply or SMFIR_ACCEPT)
	if spec.refused then return end
	if stop == "eom" then mt.abort(conn) end

	if spec.expect == false then return end
	local to = T.array()
	for i, r in ipairs(rcpts) do to[i] = T.strip_angles(r) end
	local want = {
		message_id = mid, from = T.strip_angles(from), to = to,
		size = #table.concat(bytes),
	}
	for k, v in pairs(spec.expect or {}) do want[k] = v end
	T.write_file(name .. ".eml", table.concat(bytes))
	T.write_file("expect.jsonl", T.json({name = name, want = want}) .. "\n", true)
	T.archived = T.archived + 1
end

-- run - run the script body; report a Lua error as a failed check; write
--	MK_OUT/count; exit 1 when anything failed
function T.run(body)
	local ok, err = pcall(body)
	if not ok then
		T.ok(false, "script error: " .. tostring(err))
	end
	T.write_file("count", string.format("%d\n", T.archived))
	print(string.format("# %d passed, %d failed in the session; %d messages to check in the archive",
		T.passed, T.failed, T.archived))
	if T.failed > 0 then os.exit(1) end
end

return T
