#!/bin/bash
# tests/e2e/sendmail_basic.sh - a real Sendmail 8.17 with mailkeep attached
# through INPUT_MAIL_FILTER (contrib/sendmail/mailkeep.mc): one message to
# several recipients, two of them BCC-only, is archived with its whole
# envelope (Sendmail's queue id, client address, HELO, sender, every
# recipient) and its exact bytes; then a few files of tests/corpus/ in one
# session, each archived byte-exact under the queue id Sendmail gave it.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
e2e_init sendmail_basic sendmail
e2e_conf
mk_init
milter_start
e2e_sendmail

mid="<smbasic.$$.$(date +%s%N)@sender.test>"
msg=$T/basic.eml
cat > "$msg" <<EOF
From: Alice Example <alice@sender.test>
To: Bob <bob@rcpt.test>
Cc: carol@rcpt.test
Subject: quarterly numbers via sendmail
Date: Mon, 24 Nov 2025 09:00:00 +0100
Message-ID: $mid
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Bob, Carol,

the numbers are attached in spirit.
. a line starting with a dot
.
and the line above is a lone dot.
-- 
Alice
EOF

rcpts="bob@rcpt.test carol@rcpt.test dave@bcc.test erin@rcpt.test"
args=()
for r in $rcpts; do args+=(--to "$r"); done
reply=$(smtp_send --helo client.mailkeep.test --from alice@sender.test "${args[@]}" "$msg")
note "server: $reply"
code=${reply%% *}
check_eq "SMTP: message accepted" 250 "$code"
qid=$(echo "$reply" | awk '{print $2}')
[ "$code" = 250 ] || e2e_finish
case "$reply" in
*"$qid Message accepted for delivery"*) pass "the reply names Sendmail's queue id ($qid)";;
*) fail "no queue id in the reply: $reply";;
esac
if wait_for 10 grep -q "$qid: Milter accept: message" "$SM/maillog"; then
	pass "maillog: the milter accepted $qid"
else
	fail "maillog: no 'Milter accept: message' for $qid"
fi

json=$(mk_search_mid "$mid") || bail "mailkeep search --message-id failed"
check_eq "search --message-id: exactly one result" 1 "$(echo "$json" | jq length)"
r=$(echo "$json" | jq '.[0]')
id=$(echo "$r" | jq -r .id)
note "archived as $id: $(echo "$r" | jq -c .)"

check_eq "queue_id is Sendmail's queue id" "$qid" "$(echo "$r" | jq -r .queue_id)"
check_eq "from is the envelope sender" alice@sender.test \
    "$(echo "$r" | jq -r .from | tr -d '<>')"
check_eq "to lists every envelope recipient, BCC-only ones included" \
    "$(echo $rcpts | tr ' ' '\n' | sort | tr '\n' ' ')" \
    "$(echo "$r" | jq -r '.to[]' | tr -d '<>' | sort | tr '\n' ' ')"
check_eq "message_id" "${mid#<}" "$(echo "$r" | jq -r .message_id | sed 's/^<//')"
check_eq "client_addr" 127.0.0.1 "$(echo "$r" | jq -r .client_addr)"
check_eq "client_name (Sendmail's lookup of 127.0.0.1 in its hosts file)" localhost \
    "$(echo "$r" | jq -r .client_name)"
check_eq "helo" client.mailkeep.test "$(echo "$r" | jq -r .helo)"
check_eq "subject" "quarterly numbers via sendmail" "$(echo "$r" | jq -r .subject)"
check_eq "auth_user is empty (no SMTP AUTH)" "" "$(echo "$r" | jq -r '.auth_user // ""')"
check_eq "tls_version is empty (no TLS)" "" "$(echo "$r" | jq -r '.tls_version // ""')"
E2E_TRACE=$SM_TRACE check_archived "$id" "$msg" basic.eml
n_of() { mk search --json "$@" | jq --arg id "$id" '[.[] | select(.id == $id)] | length'; }
check_eq "search --to BCC-only ADDR" 1 "$(n_of --to dave@bcc.test)"

# A few corpus files in one session: each accepted and archived exact.
files=()
for f in crlf.eml folded-header.eml latin1-subject.eml 8bit-headers.eml \
    no-trailing-newline.eml long-line.eml 500-recipients.eml; do
	files+=("$CORPUS/$f")
done
smtp_send --helo corpus.mailkeep.test --from corpus@sender.test \
    --to corpus@rcpt.test "${files[@]}" > "$T/replies" || true
E2E_TRACE=$SM_TRACE check_replies "$T/replies" "${files[@]}"

# What Sendmail changes before the milter sees a message (README.md,
# "Sendmail"): nothing in headers it adds itself (Received:, and Date:,
# Message-ID:, From: when missing, are only in its queue file) or would
# drop at delivery (Bcc:, Return-Path:, Content-Length:); a header section
# running into the body gets its empty line; a leading mbox "From " line is
# removed; a bare CR is refused.
printf 'Subject: no Date, Message-ID, From\nTo: x@rcpt.test\nBcc: hidden@bcc.test\nReturn-Path: <rp@sender.test>\nContent-Length: 5\n\nbody\n' > "$T/nohdr.eml"
printf 'Subject: runs into the body\nMessage-ID: <noblank.%s@sender.test>\nthis is not a header\nbody\n' $$ > "$T/noblank.eml"
printf 'From someone@sender.test Mon Nov 24 00:00:00 2025\nSubject: mbox From line\nMessage-ID: <mbox.%s@sender.test>\n\nbody\n' $$ > "$T/mbox.eml"
tail -n +2 "$T/mbox.eml" > "$T/mbox-without-from-line.eml"
smtp_send --from changes@sender.test --to changes@rcpt.test \
    "$T/nohdr.eml" "$T/noblank.eml" "$T/mbox.eml" > "$T/replies2" || true
while read -r code qid rest; do
	n=$(( ${n:-0} + 1 ))
	[ "$code" = 250 ] || { fail "not accepted: $code $qid $rest"; continue; }
	id=$(mk_id_by_qid "$qid")
	case $n in
	1) E2E_TRACE=$SM_TRACE check_archived "$id" "$T/nohdr.eml" "no Date/Message-ID/From, with Bcc/Return-Path/Content-Length: headers as sent";;
	2) E2E_TRACE=$SM_TRACE check_archived "$id" "$T/noblank.eml" "header section running into the body: empty line added";;
	3) E2E_TRACE=$SM_TRACE check_archived "$id" "$T/mbox-without-from-line.eml" "leading mbox From line: removed";;
	esac
done < "$T/replies2"
check_eq "three replies" 3 "${n:-0}"
reply=$(smtp_send --from changes@sender.test --to changes@rcpt.test "$CORPUS/bare-cr.eml")
case "$reply" in
"421 "*"Bare carriage return"*) pass "bare CR: refused by Sendmail ($reply)";;
*) fail "bare CR: want 421 Bare carriage return, got: $reply";;
esac
e2e_finish
