#!/bin/bash
# tests/e2e/tempfail.sh - when the archive cannot store, the MTA answers 4xx
# at the end of DATA (milter TEMPFAIL) and nothing is half-archived; once the
# archive is writable again the same message gets 250 and is archived.
# The milter runs as "nobody" (root would ignore the permissions); the test
# takes write permission away from the archive's spool/ and then from
# content/ and its segments, each time restarting the milter, which
# otherwise goes on with the spool files and the segment it has open.
# The MTA is $E2E_MTA: Postfix when run as itself, Sendmail when sourced by
# tests/e2e/sendmail_tempfail.sh (which says what Sendmail replies and logs).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
e2e_init "$(basename "$0" .sh)" "$E2E_MTA"
id nobody > /dev/null 2>&1 || skip "no user nobody"
e2e_conf "user = nobody"
mk_init
milter_start
e2e_mta

# mkmsg N - a message with a unique Message-ID in $T/msgN.eml; prints the id
mkmsg() {
	local mid="<$E2E_NAME.$1.$$@sender.test>"
	printf 'From: tf@sender.test\nTo: tf@rcpt.test\nSubject: tempfail %s\nDate: Mon, 24 Nov 2025 12:00:00 +0100\nMessage-ID: %s\n\nbody of %s\n' \
	    "$1" "$mid" "$1" > "$T/msg$1.eml"
	echo "$mid"
}
send() { smtp_send --from tf@sender.test --to tf@rcpt.test "$T/msg$1.eml"; }
count_mid() { mk_search_mid "$1" | jq length; }

mid=$(mkmsg 0)
reply=$(send 0)
check_eq "writable archive: 250 (as user nobody)" 250 "${reply%% *}"

for dir in spool content; do
	mid=$(mkmsg "$dir")
	# No write permission for the milter's user anywhere under $dir.
	find "$ARCHIVE/$dir" \( -type d -o -type f \) -exec chmod a-w {} +
	milter_stop; milter_start	# no spool file or segment kept open
	before=$(wc -l < "$MTA_LOG")
	reply=$(send "$dir")
	note "$dir unwritable: $reply"
	case "$E2E_MTA $reply" in
	"sendmail 451 "*"4.3.0 Message not archived"*) pass "$dir/ unwritable: the client gets the milter's 451 4.3.0 ($reply)";;
	"$E2E_MTA 4"*) pass "$dir/ unwritable: the client gets 4xx ($reply)";;
	*) fail "$dir/ unwritable: want 4xx, got: $reply";;
	esac
	if wait_for 5 mta_log_grep "$(( before + 1 ))" "$MTA_TEMPFAIL_RE"; then
		pass "$dir/ unwritable: $MTA_NAME logs the milter's tempfail at $MTA_EOM"
	else
		fail "$dir/ unwritable: no $MTA_TEMPFAIL_LOG in the maillog"
	fi
	check_eq "$dir/ unwritable: nothing archived" 0 "$(count_mid "$mid")"
	find "$ARCHIVE/$dir" \( -type d -o -type f \) -exec chmod u+w {} +
	reply=$(send "$dir")
	check_eq "$dir/ writable again: same message gets 250" 250 "${reply%% *}"
	check_eq "$dir/ writable again: archived once" 1 "$(count_mid "$mid")"
	id=$(mk_search_mid "$mid" | jq -r '.[0].id')
	[ "$id" = null ] || check_archived "$id" "$T/msg$dir.eml" "msg$dir.eml"
done
why=$(grep -i "Permission denied" "$T/milter.log" | head -n 1)
if [ -n "$why" ]; then
	pass "the milter logs why it tempfailed: ${why#*]: }"
else
	fail "the milter logged no reason (Permission denied) for the tempfail"
fi
e2e_finish
