#!/bin/bash
# tests/e2e/smtp_basic.sh - one message over SMTP to several recipients, two
# of them BCC-only: the archive holds the whole envelope (the MTA's queue id,
# sender, every recipient, client address, HELO) and the exact bytes.
# The MTA is $E2E_MTA: Postfix when run as itself; then the archive and the
# CLI, which do not depend on the MTA, are checked too (received_at, size,
# sha256, the search filters, show, get).  Sendmail when sourced by
# tests/e2e/sendmail_basic.sh; then the reply and Sendmail's log name the
# queue id, a few corpus files go through one session, and what Sendmail
# changes in a message before the milter sees it is checked.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
e2e_init "$(basename "$0" .sh)" "$E2E_MTA"
e2e_conf
mk_init
milter_start
e2e_mta

t_start=$(date -u +%s)
mid="<$E2E_NAME.$$.$(date +%s%N)@sender.test>"
subject="quarterly numbers via $E2E_MTA"
msg=$T/basic.eml
cat > "$msg" <<EOM
From: Alice Example <alice@sender.test>
To: Bob <bob@rcpt.test>
Cc: carol@rcpt.test
Subject: $subject
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
EOM

rcpts="bob@rcpt.test carol@rcpt.test dave@bcc.test erin@rcpt.test"
args=()
for r in $rcpts; do args+=(--to "$r"); done
reply=$(smtp_send --helo client.mailkeep.test --from alice@sender.test "${args[@]}" "$msg")
note "server: $reply"
code=${reply%% *}
check_eq "SMTP: message accepted" 250 "$code"
qid=$(echo "$reply" | awk '{print $2}')
[ "$code" = 250 ] || e2e_finish

case $E2E_MTA in
postfix)
	pf_wait_drained "$PF" 30 || fail "postfix queue did not drain"
	log_qid=$(pf_queue_id_of "$PF" "$mid")
	check_eq "maillog: cleanup logged the queue id the client got" "$qid" "$log_qid"
	how="Postfix's reverse lookup of 127.0.0.1";;
sendmail)
	case "$reply" in
	*"$qid Message accepted for delivery"*) pass "the reply names Sendmail's queue id ($qid)";;
	*) fail "no queue id in the reply: $reply";;
	esac
	if wait_for 10 grep -q "$qid: Milter accept: message" "$MTA_LOG"; then
		pass "maillog: the milter accepted $qid"
	else
		fail "maillog: no 'Milter accept: message' for $qid"
	fi
	how="Sendmail's lookup of 127.0.0.1 in its hosts file";;
esac

json=$(mk_search_mid "$mid") || bail "mailkeep search --message-id failed"
check_eq "search --message-id: exactly one result" 1 "$(echo "$json" | jq length)"
r=$(echo "$json" | jq '.[0]')
id=$(echo "$r" | jq -r .id)
note "archived as $id: $(echo "$r" | jq -c .)"

check_eq "queue_id is $MTA_NAME's queue id" "$qid" "$(echo "$r" | jq -r .queue_id)"
check_eq "from is the envelope sender" alice@sender.test \
    "$(echo "$r" | jq -r .from | tr -d '<>')"
check_eq "to lists every envelope recipient, BCC-only ones included" \
    "$(echo $rcpts | tr ' ' '\n' | sort | tr '\n' ' ')" \
    "$(echo "$r" | jq -r '.to[]' | tr -d '<>' | sort | tr '\n' ' ')"
check_eq "message_id" "${mid#<}" "$(echo "$r" | jq -r .message_id | sed 's/^<//')"
check_eq "client_addr" 127.0.0.1 "$(echo "$r" | jq -r .client_addr)"
check_eq "client_name ($how)" localhost "$(echo "$r" | jq -r .client_name)"
check_eq "helo" client.mailkeep.test "$(echo "$r" | jq -r .helo)"
check_eq "subject" "$subject" "$(echo "$r" | jq -r .subject)"
check_eq "auth_user is empty (no SMTP AUTH)" "" "$(echo "$r" | jq -r '.auth_user // ""')"
check_eq "tls_version is empty (no TLS)" "" "$(echo "$r" | jq -r '.tls_version // ""')"

check_archived "$id" "$msg" basic.eml
# The search filters find it by each party, BCC-only recipients included.
n_of() { mk search --json "$@" | jq --arg id "$id" '[.[] | select(.id == $id)] | length'; }
check_eq "search --to BCC-only ADDR" 1 "$(n_of --to dave@bcc.test)"

if [ "$E2E_MTA" = postfix ]; then
	# The archive and the CLI do not depend on the MTA: checked once.
	ra=$(echo "$r" | jq -r .received_at)
	if [[ "$ra" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$ ]]; then
		pass "received_at is RFC 3339 ($ra)"
		ra_s=$(date -u -d "$ra" +%s 2>/dev/null || echo 0)
		if [ "$ra_s" -ge $(( t_start - 2 )) ] && [ "$ra_s" -le $(( $(date -u +%s) + 2 )) ]; then
			pass "received_at is the time of the test"
		else
			fail "received_at $ra is not between the test's start and now"
		fi
	else
		fail "received_at is not RFC 3339: '$ra'"
	fi

	mk get "$id" > "$T/got.eml"
	check_eq "size is the archived size" "$(stat -c %s "$T/got.eml")" "$(echo "$r" | jq -r .size)"
	check_eq "sha256 is the SHA-256 of the archived bytes" \
	    "$(sha256sum < "$T/got.eml" | cut -d' ' -f1)" "$(echo "$r" | jq -r .sha256)"
	check_eq "search --from ADDR" 1 "$(n_of --from alice@sender.test)"
	check_eq "search --from @DOMAIN" 1 "$(n_of --from @sender.test)"
	check_eq "search --to @DOMAIN" 1 "$(n_of --to @rcpt.test)"
	check_eq "search --from other ADDR finds nothing" 0 "$(n_of --from bob@rcpt.test)"
	check_eq "search --to other DOMAIN finds nothing" 0 "$(n_of --to @nowhere.test)"
	today=$(date -u +%Y-%m-%d)
	check_eq "search --since today" 1 "$(n_of --since "$today")"
	check_eq "search --until 2000-01-01 finds nothing" 0 "$(n_of --until 2000-01-01)"

	if out=$(mk show "$id" --json 2>&1) && [ "$(echo "$out" | jq -r .id 2>/dev/null)" = "$id" ]; then
		pass "show ID --json"
	else
		fail "show ID --json: $out"
	fi
	if mk show "$id" > /dev/null 2>&1; then pass "show ID"; else fail "show ID"; fi
	if mk get no-such-id > /dev/null 2>&1; then fail "get of an unknown id exits non-zero"; else pass "get of an unknown id exits non-zero"; fi
fi

if [ "$E2E_MTA" = sendmail ]; then
	# A few corpus files in one session: each accepted and archived exact
	# (Postfix: tests/e2e/corpus.sh).
	files=()
	for f in crlf.eml folded-header.eml latin1-subject.eml 8bit-headers.eml \
	    no-trailing-newline.eml long-line.eml 500-recipients.eml; do
		files+=("$CORPUS/$f")
	done
	smtp_send --helo corpus.mailkeep.test --from corpus@sender.test \
	    --to corpus@rcpt.test "${files[@]}" > "$T/replies" || true
	check_replies "$T/replies" "${files[@]}"

	# What Sendmail changes before the milter sees a message (README.md,
	# "Sendmail"): nothing in headers it adds itself (Received:, and
	# Date:, Message-ID:, From: when missing, are only in its queue file)
	# or would drop at delivery (Bcc:, Return-Path:, Content-Length:); a
	# header section running into the body gets its empty line; a leading
	# mbox "From " line is removed; a bare CR is refused.
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
		1) check_archived "$id" "$T/nohdr.eml" "no Date/Message-ID/From, with Bcc/Return-Path/Content-Length: headers as sent";;
		2) check_archived "$id" "$T/noblank.eml" "header section running into the body: empty line added";;
		3) check_archived "$id" "$T/mbox-without-from-line.eml" "leading mbox From line: removed";;
		esac
	done < "$T/replies2"
	check_eq "three replies" 3 "${n:-0}"
	reply=$(smtp_send --from changes@sender.test --to changes@rcpt.test "$CORPUS/bare-cr.eml")
	case "$reply" in
	"421 "*"Bare carriage return"*) pass "bare CR: refused by Sendmail ($reply)";;
	*) fail "bare CR: want 421 Bare carriage return, got: $reply";;
	esac
fi
e2e_finish
