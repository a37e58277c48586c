#!/bin/bash
# tests/e2e/sigkill.sh - nothing is lost when mailkeep-milter is killed with
# SIGKILL during a burst: 300 messages over 10 parallel SMTP sessions, the
# milter killed twice mid-burst and restarted each time.  The client retries
# what was refused (the MTA tempfails while the milter is gone: Postfix's
# milter_default_action = tempfail, Sendmail's F=T) and records each message
# that got 250; afterwards every one of them is in the archive under the
# queue id it got, and the spool holds no leftover partial message.
# The MTA is $E2E_MTA: Postfix when run as itself, Sendmail (messages of
# 20 KB) when sourced by tests/e2e/sendmail_sigkill.sh.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
e2e_init "$(basename "$0" .sh)" "$E2E_MTA"
e2e_conf
mk_init
milter_start
e2e_mta

COUNT=${E2E_BURST_COUNT:-300}
archived_count() { grep -c "archived as" "$T/milter.log" || true; }

case $E2E_MTA in
postfix) burst_opts=(--deadline 240);;
sendmail) burst_opts=(--size 20000 --deadline 120);;
esac
"$PYTHON3" "$E2E_DIR/smtpclient.py" burst --port "$SMTP_PORT" --count "$COUNT" \
    --sessions 10 --prefix "$E2E_NAME.$$" "${burst_opts[@]}" --out "$T/accepted" \
    > "$T/burst.out" 2>&1 &
burst=$!

# reached N - the milter has archived N messages, or the burst is over
reached() { [ "$(archived_count)" -ge "$1" ] || ! kill -0 "$burst" 2>/dev/null; }
kills=0
for round in 1 2; do
	case $E2E_MTA in
	postfix)
		# Kill once the milter has archived another COUNT/5 messages.
		target=$(( $(archived_count) + COUNT / 5 )) secs=120;;
	sendmail)
		# Kill once COUNT/4, then COUNT/2 messages are archived (fixed
		# targets: Sendmail takes over 100 messages a second here, and
		# the milter's log lines come in batches, so a target counted
		# from the restart could come after the burst's end).
		target=$(( COUNT * round / 4 )) secs=60;;
	esac
	wait_for "$secs" reached "$target" || { fail "round $round: the milter archived nothing for ${secs}s"; break; }
	kill -0 "$burst" 2>/dev/null || break
	note "round $round: SIGKILL after $(archived_count) archived"
	milter_kill
	kills=$(( kills + 1 ))
	sleep 0.2	# the MTA tempfails while the milter is gone
	milter_start
done
check "the milter was killed with SIGKILL mid-burst and restarted ($kills times)" test "$kills" -ge 1
[ "$kills" -ge 2 ] || note "only $kills kill(s): the burst ended first"

wait "$burst"; rc=$?
note "burst: $(cat "$T/burst.out")"
check_eq "burst client finished: every message eventually got 250" 0 "$rc"
n_acc=$(wc -l < "$T/accepted")
note "$n_acc messages got 250"
if [ "$E2E_MTA" = sendmail ]; then
	n_tf=$(grep -c "Milter: .*reject=4\|Milter .*error\|to error state" "$MTA_LOG" || true)
	note "sendmail logged $n_tf milter tempfail/error lines"
fi

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
# Sendmail's queue id is in the 250 reply's text ("ID Message accepted").
[ "$E2E_MTA" != sendmail ] ||
    check "no accepted message lacks a queue id" test "$(grep -c ' -$' "$T/accepted")" -eq 0
dups=$(( $(echo "$json" | jq length) - $(wc -l < "$T/in-archive") ))
note "$dups message(s) archived more than once (stored, then tempfailed by the kill, then resent)"

# A clean stop now: the spool must be empty (partial spool files of killed
# transactions are removed at the next start).
milter_stop
left=$(find "$ARCHIVE/spool" -type f | wc -l)
check_eq "no partial spool files left after restart and stop" 0 "$left"
# Killed writers leave no torn state: the archive verifies whole (an index
# row a killed commit did not insert was rolled forward at the restart).
if mk verify --json > "$T/verify.json" 2> "$T/verify.err"; then
	pass "verify after the kills: clean ($(jq -c '{ledger_entries, records, index_rows, blobs}' "$T/verify.json"))"
else
	fail "verify after the kills: $(jq -c '.problems[:5]' "$T/verify.json" 2>/dev/null) $(head -c 300 "$T/verify.err")"
fi
e2e_finish
