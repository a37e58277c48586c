-- tests/milter/chunks.lua - bodies in many chunks come back byte-exact.
--
-- 2 MB in chunks of 65,535 bytes (libmilter's largest) and of odd sizes
-- (1, 2, 3, 4095, 65534 ...), with a CRLF split between two chunks, 8-bit
-- bytes, a bare CR and a bare LF, long lines and no line end at the very
-- end; then a body of 3,000 tiny chunks.
local T = dofile(os.getenv("MK_MILTER_LIB"))

-- line - a deterministic CRLF-terminated line of the body, ~70 bytes
local function line(n)
	return string.format("%08d The quick brown fox jumps over the lazy dog \xe9\xff\x80 %08x\r\n",
			     n, n * 2654435761 % 4294967296)
end

T.run(function()
	local conn = T.connect{host = "big.example.org", addr = "2001:db8::25",
		helo = "big.example.org"}

	-- the 2 MB body, cut into chunks of the sizes below, cycling
	local parts, n = {}, 0
	local total = 0
	while total < 2 * 1024 * 1024 do
		n = n + 1
		local l = line(n)
		if n % 997 == 0 then l = l:sub(1, -3) .. "\r" .. "bare CR, then bare LF\n" end
		if n % 1499 == 0 then l = string.rep("x", 5000) .. "\r\n" end
		parts[#parts + 1] = l
		total = total + #l
	end
	parts[#parts + 1] = "no line end at the end"
	local body = table.concat(parts)
	local sizes = {65535, 1, 65535, 2, 3, 4095, 65534, 65535, 17, 4096,
		       65535, 65535, 8191, 1000, 65535}
	local chunks, pos, k = {}, 1, 0
	while pos <= #body do
		k = k % #sizes + 1
		local len = sizes[k]
		-- once, end a chunk between CR and LF
		if #chunks == 20 then
			local cr = body:find("\r\n", pos + 100, true)
			if cr then len = cr - pos + 1 end
		end
		chunks[#chunks + 1] = body:sub(pos, pos + len - 1)
		pos = pos + len
	end
	T.ok(chunks[21]:sub(-1) == "\r" and chunks[22]:sub(1, 1) == "\n",
	     "chunk 21 ends between CR and LF")
	T.message(conn, {
		name = "two-megabytes",
		rcpts = {"<big@example.net>"},
		mail_macros = {"i", "BIG0000001"},
		headers = {{"From", "big@example.org"}, {"Subject", "2 MB"}},
		body = chunks,
		quiet = true,
		expect = {queue_id = "BIG0000001", client_addr = "2001:db8::25"},
	})
	T.ok(#body > 2 * 1024 * 1024, string.format("sent %d body bytes in %d chunks", #body, #chunks))

	-- 3,000 chunks of 1 to 7 bytes
	local tiny = {}
	for i = 1, 3000 do
		local len = (i % 7) + 1
		tiny[i] = string.rep(string.char(97 + i % 26), len - 1) .. (i % 5 == 0 and "\n" or ".")
	end
	T.message(conn, {
		name = "tiny-chunks",
		rcpts = {"<tiny@example.net>"},
		mail_macros = {"i", "TINY000001"},
		body = tiny,
		quiet = true,
		expect = {queue_id = "TINY000001"},
	})
	mt.disconnect(conn)
end)
