-- tests/milter/headers.lua - header fields as the MTA passes them.
--
-- A folded header comes to the milter as its value with the line breaks
-- as bare LFs ("a\n\tb"); the archive must hold it CRLF-folded, as it was
-- on the wire.  Also: several folds, an empty value, a repeated field,
-- 8-bit bytes in a value, a long value, a name with unusual characters;
-- with and without SMFIP_HDR_LEADSPC.
local T = dofile(os.getenv("MK_MILTER_LIB"))

local headers = {
	{"Received", "from mx.example.org (mx.example.org [192.0.2.1])\n\tby mail.example.net (Postfix) with ESMTPS id 4dGq1\n\tfor <bob@example.net>; Mon, 23 Nov 2026 10:00:00 +0000 (UTC)"},
	{"Received", "from localhost by mx.example.org"},
	{"From", "Alice <alice@example.org>"},
	{"To", "Bob <bob@example.net>,\n Carol <carol@example.net>,\n\tDave <dave@example.net>"},
	{"Subject", "a\n\tb"},
	{"X-Empty", ""},
	{"X-Latin1", "caf\xe9 \xfc\xe4 8-bit"},
	{"X-Long", string.rep("0123456789", 80)},
	{"X-Weird_Name.v2", "value: with colon"},
	{"DKIM-Signature", "v=1; a=rsa-sha256; d=example.org; s=sel;\n\th=from:to:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\n\tb=dGVzdA=="},
}

T.run(function()
	local conn = T.connect{host = "mx.example.org", addr = "192.0.2.1"}
	T.message(conn, {
		name = "folded",
		headers = headers,
		mail_macros = {"i", "FOLD000001"},
		expect = {queue_id = "FOLD000001"},
	})
	mt.disconnect(conn)

	conn = T.connect{host = "mx.example.org", addr = "192.0.2.1",
			 leadspc = false}
	T.message(conn, {
		name = "folded-no-leadspc",
		headers = headers,
		mail_macros = {"i", "FOLD000002"},
		expect = {queue_id = "FOLD000002"},
	})
	mt.disconnect(conn)
end)
