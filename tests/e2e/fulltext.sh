#!/bin/bash
# tests/e2e/fulltext.sh - full-text search over mail archived through a
# real Postfix, found through a real mailkeep-access.
#
# tests/e2e/gen_mime.py writes messages that each hide one word where only
# real MIME decoding finds it (base64; quoted-printable split by a soft
# line break; koi8-r, ISO-2022-JP, windows-1252 and UTF-7 parts; an
# RFC 2047 Subject; an RFC 2231 attachment name; HTML, with a word in a
# <script> that must not be found; an attached message; a malformed
# multipart).  They go through Postfix with third-party mail (the Python
# test suite's email data and SpamAssassin's samples) and a message for a
# domain whose role the reader lacks.  mailkeep-access indexes them in
# the background; the test waits until "mailkeep status" says nothing is
# behind, then finds each word with --text, --subject or --attachment and
# with the query language, exactly in its message, and checks that a
# reader without the role finds nothing, that every message is still
# archived byte-exact, and that the malformed one did not stop the
# indexer.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
e2e_init "$(basename "$0" .sh)"

e2e_reader_archive

# 1. The messages, over SMTP.
send_mime
sent=$MIME_SENT
secret=$T/secret.eml
printf 'From: a@sender.test\r\nTo: boss@secret.example.com\r\nSubject: s\r\nMessage-ID: <secret.fulltext@sender.test>\r\n\r\nThe clandestine okapi meeting.\r\n' > "$secret"
reply=$(smtp_send --from a@sender.test --to boss@secret.example.com "$secret")
[ "${reply%% *}" = 250 ] || fail "secret.eml: not accepted: $reply"
sent=$(( sent + 1 ))
third=0
PYDATA=${PYTHON_EMAIL_DATA:-/usr/lib/python3.11/test/test_email/data}
for f in "$PYDATA"/msg_0[1-9].txt "$PYDATA"/msg_1[0-9].txt \
	 "$top_builddir"/tests/corpus/third-party/spamassassin/sample-*.txt \
	 "$top_srcdir"/tests/corpus/third-party/spamassassin/sample-*.txt; do
	[ -f "$f" ] || continue
	reply=$(smtp_send --from third@sender.test --to reader@example.com "$f")
	[ "${reply%% *}" = 250 ] && third=$(( third + 1 ))
done
note "sent $sent test messages and $third third-party ones"
check "third-party mail was sent too" test "$third" -gt 0
pf_wait_drained "$PF" 60 || fail "postfix queue did not drain"

# 2. The indexer catches up by itself.
stored=0
for i in $(seq 120); do
	st=$(through status --json 2>/dev/null) || st=
	stored=$(jq -r '.stored // 0' <<<"$st")
	if [ "$stored" -ge $(( sent + third )) ] && [ "$(jq -r .lag_messages <<<"$st")" = 0 ]; then
		break
	fi
	sleep 0.5
done
note "status: $st"
check_eq "status: every message stored" "$(( sent + third ))" "$stored"
check_eq "status: nothing behind" 0 "$(jq -r .lag_messages <<<"$st")"
check_eq "status: every message indexed" "$stored" "$(jq -r .indexed <<<"$st")"
check_eq "status: none failed (malformed MIME is indexed as far as it goes)" 0 "$(jq -r .errors <<<"$st")"
human=$(through status) || fail "status: $human"
case $human in *"0 behind"*) pass "status for people says 0 behind";; *) fail "status: $human";; esac

# 3. Every hidden word finds its message, and only it.
while IFS=$'\t' read -r name mid how word; do
	case $how in
	text) args=(--text "$word");;
	subject) args=(--subject "$word");;
	attachment) args=(--attachment "$word");;
	none) args=(--text "$word");;
	esac
	got=$(through search --json "${args[@]}" 2>"$T/err") || { fail "$name: search ${args[*]}: $(cat "$T/err")"; continue; }
	mids=$(jq -r '[.[].message_id] | join(" ")' <<<"$got")
	if [ "$how" = none ]; then
		check_eq "$name: '$word' (in a <script>) is not text" "" "$mids"
	else
		check_eq "$name: ${args[*]} finds exactly its message" "$mid" "$mids"
	fi
done < "$T/mime/words.tsv"

# 4. The query language: fields, phrases, negation, has:attachment.
q() { through search --json "$@" | jq -r '[.[].message_id] | sort | join(" ")'; }
check_eq "query: subject:Quartalsüberblick" "<rfc2047.fulltext@sender.test>" "$(q 'subject:Quartalsüberblick')"
check_eq "query: a quoted phrase" "<html.fulltext@sender.test>" "$(q '"hippopotamus parade"')"
check_eq "query: a phrase in the wrong order finds nothing" "" "$(q '"parade hippopotamus"')"
check_eq "query: words AND" "<qp.fulltext@sender.test>" "$(q flummoxedpelican estuary)"
check_eq "query: -word excludes" "" "$(q flummoxedpelican -estuary)"
check_eq "query: from: with text" "<base64.fulltext@sender.test>" "$(q from:sender@sender.test zanzibarquill)"
check_eq "query: from: another sender excludes" "" "$(q from:third@sender.test zanzibarquill)"
check_eq "query: has:attachment attachment:" "<rfc2231.fulltext@sender.test>" "$(q has:attachment attachment:schedule)"
check_eq "query: FTS syntax typed is just words" "" "$(q 'NEAR(zanzibarquill' 'OR' '*')"
check_eq "query: a snippet around the word" "Minutes of the meeting: [[zanzibarquill]] approved." \
    "$(through search --json zanzibarquill | jq -r '.[0].snippet')"
check "query: the snippet for people, on the line after" grep -q '^    .*\[\[hippopotamus\]\]' <<<"$(through search hippopotamus)"
check_eq "query: --count" 1 "$(through search --count zanzibarquill)"
check_eq "query: --count --json" '{"count": 1, "truncated": false}' "$(through search --count --json zanzibarquill)"
n_all=$(through search --count 'subject:plain')
check "query: --count of a field" test "$n_all" -ge 10
p1=$(through search --json --limit 3 'subject:plain' | jq -r '[.[].id] | join(" ")')
p2=$(through search --json --limit 3 --offset 3 'subject:plain' | jq -r '[.[].id] | join(" ")')
all6=$(through search --json --limit 6 'subject:plain' | jq -r '[.[].id] | join(" ")')
check_eq "query: --offset pages through --limit" "$all6" "$p1 $p2"
nw=$(through search --json --newest --limit 1 'subject:plain' | jq -r '.[0].id')
old=$(through search --json 'subject:plain' | jq -r '.[-1].id')
check_eq "query: --newest first" "$old" "$nw"
# The envelope and header options, each the query field of its name.
cnt() { through search --count "$@" 2>&1; }
check_eq "--header-from: the From header" "$MIME_SENT" "$(cnt --header-from sender@sender.test)"
check_eq "--header-from twice: either value (OR)" "$MIME_SENT" \
    "$(cnt --header-from sender@sender.test --header-from nobody@nowhere.test)"
check_eq "--header-from: another address finds none" 0 "$(cnt --header-from nobody@nowhere.test)"
check "--header-to: the To header" test "$(cnt --header-to reader@example.com)" -ge "$MIME_SENT"
one=$(through search --json --limit 1 --header-from sender@sender.test)
one_id=$(jq -r '.[0].id' <<<"$one")
one_size=$(jq -r '.[0].size' <<<"$one")
one_qid=$(jq -r '.[0].queue_id' <<<"$one")
check_eq "--queue-id: exactly its message" "$one_id" \
    "$(through search --json --queue-id "$one_qid" | jq -r '[.[].id] | join(" ")')"
check "--larger/--smaller: a size between them" jq -e --arg id "$one_id" 'any(.[]; .id == $id)' \
    <<<"$(through search --json --larger $(( one_size - 1 )) --smaller $(( one_size + 1 )))"
check_eq "--larger: no message is larger than 1G" 0 "$(cnt --larger 1G)"
check_eq "--client-ip: every message came from 127.0.0.1" "$(cnt 'subject:plain')" \
    "$(cnt --client-ip 127.0.0.1 'subject:plain')"
check_eq "--client-ip: none from 192.0.2.1" 0 "$(cnt --client-ip 192.0.2.1)"
if out=$(through search --larger 1k --larger 2k 2>&1); then
	fail "--larger twice was taken: $out"
else
	check_eq "--larger twice: a usage error (exit 2)" 2 "$?"
fi
if out=$(through search --client-ip 300.1.1.1 2>&1); then
	fail "--client-ip 300.1.1.1 was taken: $out"
else
	check "--client-ip: a bad address is named" grep -q "300.1.1.1" <<<"$out"
fi
if out=$(through search 'form:alice' 2>&1); then
	fail "query: an unknown field is refused: $out"
else
	pass "query: an unknown field is refused ($out)"
fi

# 5. Roles still decide: the secret domain's words are not root's to find.
check_eq "roles: a word of a message the reader may not see finds nothing" "" "$(q okapi)"
n=$(mk search --json --message-id secret.fulltext@sender.test | jq length)
check_eq "roles: yet that message is archived (offline, as the archive account)" 1 "$n"

# 6. The audit trail has the queries.
aj=$(through audit --json --action search) || fail "audit: $aj"
check "audit: the query text is recorded" jq -e 'any(.[]; .query.q == "has:attachment attachment:schedule")' <<<"$aj"

# 7. Every message is still byte-exact, the malformed one included.
for name in malformed qp utf7; do
	id=$(mk search --json --message-id "$name.fulltext@sender.test" | jq -r '.[0].id')
	check_archived "$id" "$T/mime/$name.eml"
done

# 8. rebuild-index makes the full-text index anew too (both daemons
#    stopped), and the service searches the new one.
svc_stop
milter_stop
out=$(mk rebuild-index --json 2>&1) || fail "rebuild-index: $out"
check_eq "rebuild-index: the full text of every message" "$stored" "$(jq -r .full_text <<<"$out" 2>/dev/null)"
svc_start
check_eq "after rebuild-index: a word is found again" "<koi8r.fulltext@sender.test>" "$(q кракозябра)"
svc_stop
e2e_finish
