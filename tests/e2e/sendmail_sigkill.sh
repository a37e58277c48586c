#!/bin/bash
# tests/e2e/sendmail_sigkill.sh - nothing is lost when mailkeep-milter is
# killed with SIGKILL during a burst through a real Sendmail: 300 messages
# over 10 parallel SMTP sessions, the milter killed twice mid-burst and
# restarted each time.  While the milter is gone, or dies in the middle of
# a transaction, Sendmail tempfails (F=T in INPUT_MAIL_FILTER); the client
# retries what was refused on a new connection and records each message
# that got 250.  Afterwards every one of them is in the archive under the
# queue id Sendmail gave it, and the spool holds no partial message.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
e2e_init sendmail_sigkill sendmail
e2e_conf
mk_init
milter_start
e2e_sendmail

COUNT=${E2E_BURST_COUNT:-300}
archived_count() { grep -c "archived as" "$T/milter.log" || true; }

"$PYTHON3" "$E2E_DIR/smtpclient.py" burst --port "$SMTP_PORT" --count "$COUNT" \
    --sessions 10 --size 20000 --prefix "smsigkill.$$" --deadline 120 --out "$T/accepted" \
    > "$T/burst.out" 2>&1 &
burst=$!

# reached N - the milter has archived N messages, or the burst is over
reached() { [ "$(archived_count)" -ge "$1" ] || ! kill -0 "$burst" 2>/dev/null; }
kills=0
for round in 1 2; do
	# Kill once COUNT/4, then COUNT/2 messages are archived (fixed
	# targets: Sendmail takes over 100 messages a second here, and the
	# milter's log lines come in batches, so a target counted from the
	# restart could come after the burst's end).
	target=$(( COUNT * round / 4 ))
	wait_for 60 reached "$target" || { fail "round $round: the milter archived nothing for 60s"; break; }
	kill -0 "$burst" 2>/dev/null || break
	note "round $round: SIGKILL after $(archived_count) archived"
	milter_kill
	kills=$(( kills + 1 ))
	sleep 0.2	# Sendmail tempfails while the milter is gone
	milter_start
done
check "the milter was killed with SIGKILL mid-burst and restarted ($kills times)" test "$kills" -ge 1
[ "$kills" -ge 2 ] || note "only $kills kill(s): the burst ended first"

wait "$burst"; rc=$?
note "burst: $(cat "$T/burst.out")"
check_eq "burst client finished: every message eventually got 250" 0 "$rc"
n_acc=$(wc -l < "$T/accepted")
note "$n_acc messages got 250"
n_tf=$(grep -c "Milter: .*reject=4\|Milter .*error\|to error state" "$SM/maillog" || true)
note "sendmail logged $n_tf milter tempfail/error lines"

json=$(mk search --json) || bail "mailkeep search --json failed"
echo "$json" | jq -r '.[].message_id' | sed 's/^<*/</; s/>*$/>/' | sort -u > "$T/in-archive"
cut -d' ' -f1 "$T/accepted" | sort -u > "$T/want"
missing=$(comm -23 "$T/want" "$T/in-archive" | wc -l)
if [ "$missing" -eq 0 ]; then
	pass "all $n_acc messages that got 250 are in the archive"
else
	fail "$missing of $n_acc messages that got 250 are missing from the archive, e.g. $(comm -23 "$T/want" "$T/in-archive" | head -n 3 | tr '\n' ' ')"
fi
# The queue ids the client was given are the archived records' queue ids.
echo "$json" | jq -r '.[].queue_id' | sort -u > "$T/qids"
cut -d' ' -f2 "$T/accepted" | sort -u > "$T/want-qids"
check_eq "every accepted queue id is archived" 0 "$(comm -23 "$T/want-qids" "$T/qids" | wc -l)"
check "no accepted message lacks a queue id" test "$(grep -c ' -$' "$T/accepted")" -eq 0
dups=$(( $(echo "$json" | jq length) - $(wc -l < "$T/in-archive") ))
note "$dups message(s) archived more than once (stored, then tempfailed by the kill, then resent)"

milter_stop
left=$(find "$ARCHIVE/spool" -type f | wc -l)
check_eq "no partial spool files left after restart and stop" 0 "$left"
e2e_finish
