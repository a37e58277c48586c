#!/bin/bash
# tests/e2e/export.sh - mailkeep export and verify-export over mail
# archived through a real Postfix, read through a real mailkeep-access.
#
# Messages (the MIME ones of gen_mime.py, one with body lines that start
# with "From " and ">From ", one for a metadata-only domain, one for a
# domain whose role root lacks) go through Postfix.  root (role readers)
# exports them as eml and as mbox: the files are the archived bytes, the
# manifests name every message with its digests and proof, verify-export
# passes with the keys pinned; the message outside root's role is in no
# export.  Then copies are tampered with - one byte of a message, one
# manifest row (a digest, a header), the CSV, a message removed, a file
# added, a key replaced - and verify-export names each.  One message is
# checked with the openssl command line alone.  An export into a path
# that exists, or one the service refuses, leaves nothing behind.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
e2e_init "$(basename "$0" .sh)"
command -v jq > /dev/null || skip "export: needs jq"

e2e_reader_archive meta.example.com=metadata

# 1. The messages.
send_mime
full=$MIME_SENT
printf 'From: a@sender.test\r\nTo: r@example.com\r\nSubject: from lines\r\nMessage-ID: <fromlines.export@sender.test>\r\n\r\nFrom the start.\r\n>From once escaped\r\n>>From twice\r\nFrom\r\nlast line without a newline, From ' > "$T/fromlines.eml"
reply=$(smtp_send --from a@sender.test --to r@example.com "$T/fromlines.eml")
[ "${reply%% *}" = 250 ] || fail "fromlines.eml: not accepted: $reply"
full=$(( full + 1 ))
printf 'From: a@sender.test\r\nTo: who@meta.example.com\r\nSubject: only traffic data\r\nMessage-ID: <meta.export@sender.test>\r\n\r\nNot kept.\r\n' > "$T/meta.eml"
reply=$(smtp_send --from a@sender.test --to who@meta.example.com "$T/meta.eml")
[ "${reply%% *}" = 250 ] || fail "meta.eml: not accepted: $reply"
printf 'From: a@sender.test\r\nTo: boss@secret.example.com\r\nSubject: s\r\nMessage-ID: <secret.export@sender.test>\r\n\r\nSecret.\r\n' > "$T/secret.eml"
reply=$(smtp_send --from a@sender.test --to boss@secret.example.com "$T/secret.eml")
[ "${reply%% *}" = 250 ] || fail "secret.eml: not accepted: $reply"
pf_wait_drained "$PF" 60 || fail "postfix queue did not drain"
for i in $(seq 100); do
	[ "$(mk search --json | jq length)" -ge $(( full + 2 )) ] && break; sleep 0.1
done
mk keys export-public > "$T/pinned.pem" || bail "keys export-public"
want=$(( full + 1 ))

# 2. eml.
out=$(through export --out "$T/x-eml" --json 2>"$T/err") || fail "export eml: $(cat "$T/err")"
check_eq "eml: every message root may get is exported" "$want" "$(jq -r .messages <<<"$out")"
check "eml: no partial output left" test ! -e "$T/x-eml.partial"
m=$T/x-eml/manifest.json
check "eml: manifest.json is JSON" sh -c 'jq -e . "$1" > /dev/null' _ "$m"
check_eq "eml: manifest rows" "$want" "$(jq '.messages | length' "$m")"
check_eq "eml: content files" "$full" "$(ls "$T/x-eml/messages" | wc -l)"
secret_id=$(mk search --json --message-id secret.export@sender.test | jq -r '.[0].id')
check "eml: the message outside root's role is not exported" \
	test "$(jq --arg i "$secret_id" '[.messages[] | select(.id == $i)] | length' "$m")" = 0
meta_row=$(jq -c '.messages[] | select(.message_id == "<meta.export@sender.test>")' "$m")
check_eq "eml: the metadata-only message is a row without content" "metadata null" \
	"$(jq -r '"\(.content) \(.file)"' <<<"$meta_row")"
meta_id=$(jq -r .id <<<"$meta_row")
check "eml: ... and has no file" test ! -e "$T/x-eml/messages/$meta_id.eml"
for name in qp malformed base64; do
	id=$(mk search --json --message-id "$name.fulltext@sender.test" | jq -r '.[0].id')
	check "eml: $name is byte-exact" cmp -s "$T/x-eml/messages/$id.eml" "$T/mime/$name.eml"
	row=$(jq -c --arg i "$id" '.messages[] | select(.id == $i)' "$m")
	check_eq "eml: $name: MD5" "$(md5sum < "$T/mime/$name.eml" | cut -c1-32)" "$(jq -r .md5 <<<"$row")"
	check_eq "eml: $name: SHA-1" "$(sha1sum < "$T/mime/$name.eml" | cut -c1-40)" "$(jq -r .sha1 <<<"$row")"
	check_eq "eml: $name: custodian" "reader@example.com" "$(jq -r .custodian <<<"$row")"
	check_eq "eml: $name: Message-ID (as in the record)" "<$name.fulltext@sender.test>" "$(jq -r .message_id <<<"$row")"
done
check_eq "eml: CSV has a header and a line a row" "$(( want + 1 ))" "$(grep -c '^"' "$T/x-eml/manifest.csv")"
check "eml: edrm.xml is XML with a Document a row" test "$(grep -c '<Document ' "$T/x-eml/edrm.xml")" = "$want"
check "eml: keys.pem is the archive's keys" cmp -s "$T/x-eml/keys.pem" "$T/pinned.pem"
check "eml: README.txt" grep -q verify-export "$T/x-eml/README.txt"
out=$("$MAILKEEP" verify-export "$T/x-eml" --keys "$T/pinned.pem" 2>&1) || fail "verify-export eml: $out"
case $out in *"0 problems"*) pass "verify-export eml: $out";; *) fail "verify-export eml: $out";; esac
aj=$(through audit --json --action export) || fail "audit: $aj"
check_eq "audit: one export entry naming every id" "$want" "$(jq '[.[] | select(.outcome == "granted")][0].ids | length' <<<"$aj")"

# 3. mbox.
out=$(through export --format mbox --out "$T/x-mbox" 2>&1) || fail "export mbox: $out"
check_eq "mbox: separators" "$full" "$(grep -c '^From MAILER-DAEMON ' "$T/x-mbox/messages.mbox")"
check "mbox: a body line 'From ' is escaped as '>From '" grep -q '^>From the start' "$T/x-mbox/messages.mbox"
check "mbox: '>From ' becomes '>>From '" grep -q '^>>From once escaped' "$T/x-mbox/messages.mbox"
out=$("$MAILKEEP" verify-export "$T/x-mbox" --keys "$T/pinned.pem" 2>&1) || fail "verify-export mbox: $out"
case $out in *"0 problems"*) pass "verify-export mbox: $out";; *) fail "verify-export mbox: $out";; esac
check_eq "mbox: same digests as eml" "$(jq -c '[.messages[] | .sha256]' "$T/x-eml/manifest.json")" \
	"$(jq -c '[.messages[] | .sha256]' "$T/x-mbox/manifest.json")"

# 4. Exports that cannot happen leave nothing.
out=$(through export --out "$T/x-eml" 2>&1) && fail "export into an existing path: $out"
pass "export into an existing path is refused ($out)"
out=$(through export --out "$T/x-secret" --to boss@secret.example.com --json 2>&1) || fail "export secret: $out"
check_eq "a reader without the role exports nothing" 0 "$(jq -r .messages <<<"$out")"
out=$(through export --out "$T/x-bad" 'form:alice' 2>&1) && fail "a bad query: $out"
check "a refused export leaves no output" test ! -e "$T/x-bad" -a ! -e "$T/x-bad.partial"

# 4a. Ctrl-C while the service has not answered: nothing is left.
kill -STOP "$SVC_PID"
"$MAILKEEP" -c "$CONF" export --out "$T/x-int" > "$T/int.out" 2>&1 &
cpid=$!	# the command itself, not a subshell: it gets the SIGINT
for i in $(seq 50); do [ -e "$T/x-int.partial" ] && break; sleep 0.1; done
sleep 0.3
kill -INT "$cpid"
for i in $(seq 50); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$cpid" 2>/dev/null && { kill -KILL "$cpid"; fail "Ctrl-C: export did not stop"; }
wait "$cpid"; rc=$?
kill -CONT "$SVC_PID"
check_eq "Ctrl-C: export fails" 1 "$rc"
check "Ctrl-C: no output, no partial output" test ! -e "$T/x-int" -a ! -e "$T/x-int.partial"
check "Ctrl-C: says so" grep -q interrupted "$T/int.out"

# 4b. zip: the eml tree in one file, written with libarchive.
out=$(through export --format zip --out "$T/x.zip" 2>&1) || fail "export zip: $out"
check "zip: a zip file" test -f "$T/x.zip" -a ! -e "$T/x.zip.partial" -a ! -e "$T/x.zip.partial.d"
"$PYTHON3" - "$T/x.zip" "$T/x-zip" <<'PY' || fail "zip: python zipfile cannot read it"
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
check_eq "zip: same messages as eml" "$(cd "$T/x-eml/messages" && ls)" "$(cd "$T/x-zip/messages" && ls)"
id=$(mk search --json --message-id qp.fulltext@sender.test | jq -r '.[0].id')
check "zip: byte-exact inside" cmp -s "$T/x-zip/messages/$id.eml" "$T/mime/qp.eml"
out=$("$MAILKEEP" verify-export "$T/x.zip" --keys "$T/pinned.pem" 2>&1) || fail "verify-export zip: $out"
case $out in *"0 problems"*) pass "verify-export zip: $out";; *) fail "verify-export zip: $out";; esac
cp "$T/x.zip" "$T/t.zip"
printf 'extra' > "$T/evil.txt"
"$PYTHON3" - "$T/t.zip" "$T/evil.txt" <<'PY' || bail "zip append"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "a") as z:
    z.write(sys.argv[2], "../evil.txt")
PY
out=$("$MAILKEEP" verify-export "$T/t.zip" --keys "$T/pinned.pem" 2>&1)
check "zip: an entry outside the tree is named, not written" sh -c 'case "$1" in *"PROBLEM added ../evil.txt"*) exit 0;; esac; exit 1' _ "$out"
check "zip: ... and nothing escaped" test ! -e "${TMPDIR:-/tmp}/evil.txt"

# 5. Tampering, each on its own copy.
victim=$(mk search --json --message-id qp.fulltext@sender.test | jq -r '.[0].id')
tamper() {	# tamper NAME EXPECTED-PATTERN COMMAND...
	local name=$1 pat=$2; shift 2
	rm -rf "$T/t-$name"; cp -a "$T/x-eml" "$T/t-$name"
	( cd "$T/t-$name" && "$@" ) || bail "tamper $name"
	out=$("$MAILKEEP" verify-export "$T/t-$name" --keys "$T/pinned.pem" 2>&1)
	rc=$?
	check "tampered ($name): verify-export fails" test "$rc" = 1
	case $out in *$pat*) pass "tampered ($name): named: $(grep PROBLEM <<<"$out" | head -n 2 | tr '\n' ' ')";;
	*) fail "tampered ($name): wanted '$pat' in: $out";; esac
}
tamper byte "PROBLEM content $victim" sh -c "printf X | dd of=messages/$victim.eml bs=1 seek=40 conv=notrunc 2>/dev/null"
tamper row-hash "PROBLEM manifest $victim" sed -i "/\"id\":\"$victim\"/s/\"md5\":\"[0-9a-f]*\"/\"md5\":\"00000000000000000000000000000000\"/" manifest.json
tamper row-subject "PROBLEM manifest $victim: manifest.json row: \"subject\"" \
	sed -i "/\"id\":\"$victim\"/s/\"subject\":\"[^\"]*\"/\"subject\":\"edited\"/" manifest.json
tamper csv "PROBLEM manifest manifest.csv" sed -i '2s/"full"/"fu11"/' manifest.csv
tamper removed "PROBLEM missing $victim" rm "messages/$victim.eml"
tamper added "PROBLEM added messages/extra.eml" cp "messages/$victim.eml" messages/extra.eml
tamper removed-with-row "PROBLEM missing $victim: the export's audit entry (custody.json) names it" \
	sh -c "rm messages/$victim.eml && sed -i '/\"id\":\"$victim\"/d' manifest.json && sed -i '/\"$victim\"/d' manifest.csv"
tamper custody-gone "PROBLEM missing custody.json" rm custody.json
tamper custody-edited "PROBLEM proof custody.json" sed -i 's/\\"outcome\\":\\"granted\\"/\\"outcome\\":\\"granted\\" /' custody.json
tamper record "PROBLEM signature $victim" sed -i "/\"id\":\"$victim\"/s/\\\\\"size\\\\\":/\\\\\"size\\\\\":1/g" manifest.json
openssl genpkey -algorithm ed25519 -out "$T/stranger.key" 2>/dev/null &&
	openssl pkey -in "$T/stranger.key" -pubout -out "$T/stranger.pem" 2>/dev/null || bail "openssl genpkey"
tamper keys "PROBLEM keys keys.pem" cp "$T/stranger.pem" keys.pem
out=$("$MAILKEEP" verify-export "$T/t-keys" 2>&1) && fail "replaced keys.pem without --keys: $out"
pass "a replaced keys.pem fails even without --keys (nothing signed with it)"

# 6. One message with openssl alone (docs/FORMAT.md, section 6).
row=$(jq -c --arg i "$victim" '.messages[] | select(.id == $i)' "$m")
d=$T/byhand; mkdir -p "$d"
jq -j .record.text <<<"$row" > "$d/record.txt"
jq -r .record.signature <<<"$row" | base64 -d > "$d/record.sig"
g=$(jq -r .record.signer <<<"$row")
awk -v g="$g" '/^# mailkeep signing key, generation /{k=($6 == g)} !/^#/{if (k) print}' "$T/pinned.pem" > "$d/key.pem"
check "openssl: the record's signature" openssl pkeyutl -verify -pubin -inkey "$d/key.pem" -rawin \
	-in "$d/record.txt" -sigfile "$d/record.sig"
check_eq "openssl: the message's SHA-256 is the signed record's" \
	"$(jq -r .sha256 "$d/record.txt")" "$(openssl dgst -sha256 -r "$T/x-eml/messages/$victim.eml" | cut -c1-64)"
check_eq "openssl: the entry names the record" "$(jq -r .proof.entry <<<"$row" | jq -r .record)" \
	"$(openssl dgst -sha256 -r "$d/record.txt" | cut -c1-64)"
jq -j .proof.checkpoint.text <<<"$row" > "$d/cp.txt"
jq -r .proof.checkpoint.signature <<<"$row" | base64 -d > "$d/cp.sig"
g=$(jq -r .proof.checkpoint.key <<<"$row")
awk -v g="$g" '/^# mailkeep signing key, generation /{k=($6 == g)} !/^#/{if (k) print}' "$T/pinned.pem" > "$d/cpkey.pem"
check "openssl: the checkpoint's signature" openssl pkeyutl -verify -pubin -inkey "$d/cpkey.pem" -rawin \
	-in "$d/cp.txt" -sigfile "$d/cp.sig"
c=$T/x-eml/custody.json
check_eq "jq: custody.json's entry names exactly the exported ids" \
	"$(jq -r '.messages[].id' "$m" | sort | tr '\n' ' ')" \
	"$(jq -r .entry "$c" | jq -r '.ids[]' | sort | tr '\n' ' ')"
check_eq "jq: custody.json's entry is a granted export" "access export granted" \
	"$(jq -r .entry "$c" | jq -r '"\(.event) \(.action) \(.outcome)"')"
check_eq "jq: custody.json is proved against the rows' checkpoint" \
	"$(jq -r .proof.checkpoint.text <<<"$row")" "$(jq -r .checkpoint.text "$c")"

svc_stop
e2e_finish
