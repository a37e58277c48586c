#!/bin/bash
# tests/e2e/sigkill.sh - nothing is lost when mailkeep-milter is killed with
# SIGKILL during a burst: 300 messages over 10 parallel SMTP sessions, the
# milter killed twice mid-burst and restarted each time.  The client retries
# what was refused (Postfix tempfails while the milter is gone:
# milter_default_action = tempfail) and records each message that got 250;
# afterwards every one of them is in the archive, and the spool holds no
# leftover partial message.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
e2e_init sigkill
e2e_conf
mk_init
milter_start
e2e_postfix

COUNT=${E2E_BURST_COUNT:-300}
archived_count() { grep -c "archived as" "$T/milter.log" || true; }

"$PYTHON3" "$E2E_DIR/smtpclient.py" burst --port "$PF_PORT" --count "$COUNT" \
    --sessions 10 --prefix "sigkill.$$" --deadline 240 --out "$T/accepted" \
    > "$T/burst.out" 2>&1 &
burst=$!

# reached N - the milter has archived N messages, or the burst is over
reached() { [ "$(archived_count)" -ge "$1" ] || ! kill -0 "$burst" 2>/dev/null; }
kills=0
for round in 1 2; do
	# Kill once the milter has archived another COUNT/5 messages.
	target=$(( $(archived_count) + COUNT / 5 ))
	wait_for 120 reached "$target" || { fail "round $round: the milter archived nothing for 120s"; break; }
	kill -0 "$burst" 2>/dev/null || break
	note "round $round: SIGKILL after $(archived_count) archived"
	milter_kill
	kills=$(( kills + 1 ))
	sleep 0.2	# Postfix tempfails while the milter is gone
	milter_start
done
check "the milter was killed with SIGKILL mid-burst and restarted ($kills times)" test "$kills" -ge 1

wait "$burst"; rc=$?
note "burst: $(cat "$T/burst.out")"
check_eq "burst client finished: every message eventually got 250" 0 "$rc"
n_acc=$(wc -l < "$T/accepted")
note "$n_acc messages got 250"

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
dups=$(( $(echo "$json" | jq length) - $(wc -l < "$T/in-archive") ))
note "$dups message(s) archived more than once (stored, then tempfailed by the kill, then resent)"

# A clean stop now: the spool must be empty (partial spool files of killed
# transactions are removed at the next start).
milter_stop
left=$(find "$ARCHIVE/spool" -type f | wc -l)
check_eq "no partial spool files left after restart and stop" 0 "$left"
e2e_finish
