#!/bin/bash
# tests/e2e/bigmsg.sh - a message with a 100 MB attachment (generated here,
# not committed) passes through Postfix and mailkeep-milter and comes back
# byte-exact; reports the milter's peak RSS (the spool is streamed, so it
# should not grow with the message).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
e2e_init bigmsg
MB=${E2E_BIG_MB:-100}
e2e_conf
mk_init
milter_start
e2e_postfix

"$PYTHON3" "$E2E_DIR/gen_big.py" "$T/big.eml" "$MB" || bail "gen_big.py"
note "message of $(stat -c %s "$T/big.eml") bytes with a $MB MB attachment"
t0=$(date +%s)
reply=$(smtp_send --from big@sender.test --to big@rcpt.test "$T/big.eml")
note "server: $reply ($(( $(date +%s) - t0 ))s)"
check_eq "100 MB message accepted" 250 "${reply%% *}"
qid=$(echo "$reply" | awk '{print $2}')
hwm=$(sed -n 's/^VmHWM:[[:space:]]*//p' "/proc/$MILTER_PID/status" 2>/dev/null)
note "mailkeep-milter peak RSS (VmHWM): $hwm"

id=$(mk_id_by_qid "$qid")
if [ -n "$id" ]; then
	pass "archived as $id"
	check_archived "$id" "$T/big.eml" big.eml
	check_eq "size in the index" "$(mk search --json | jq -r --arg id "$id" '.[] | select(.id == $id) | .size')" \
	    "$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); print(len(d.replace(b"\n", b"\r\n")))' "$T/big.eml")"
else
	fail "queue id $qid not in the archive"
fi
rm -f "$T/big.eml"
e2e_finish
