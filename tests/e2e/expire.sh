#!/bin/bash
# tests/e2e/expire.sh - retention that really forgets, and legal holds,
# through a real Postfix, milter and mailkeep-access.
#
# Mail for example.com is kept in full for one day, clear and
# uncompressed (encrypt = no, compression = none), so that a word of a
# message would be seen by grep in any file that still held it.  Four
# messages arrive: one to be forgotten (a unique sender and body word),
# one for the custodian of a legal hold, one with the custodian's very
# bytes but another envelope (their content is shared in the archive's
# group), and - after the hold is placed - one more for the custodian,
# which the hold takes on arrival.  mailkeep-access is then restarted
# with its clock four days ahead (libfaketime), and:
#   expire --dry-run    counts and changes nothing;
#   expire              forgets the two unheld messages: their sender and
#                       words are in no file under the archive (segments,
#                       records, ledger, index.sqlite, fulltext.sqlite and
#                       their WAL), the held ones read back byte-exact
#                       (the shared content too), verify is clean;
#   hold release        and a second expire forgets them too.
# Only admin places or releases a hold or expires; every one of these
# requests, granted or refused, is an audit entry.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
e2e_init "$(basename "$0" .sh)"
command -v faketime > /dev/null || skip "expire: faketime not installed (apt-get install faketime)"
LIBFAKETIME=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -n 1)
[ -n "$LIBFAKETIME" ] || skip "expire: libfaketimeMT.so.1 not found"
: "${MAILKEEP_ACCESS:=$top_builddir/access/mailkeep-access}"

svc_sock
POL=$T/policy.ini
cat > "$POL" <<EOF
[defaults]
local_domains = example.com
mode = full
retention = 1d
roles = readers
$(e2e_root_roles)
EOF
e2e_conf "policy = $POL" "access_socket = $SVC_SOCK" "encrypt = no" \
    "compression = none"
mk_init
milter_start
e2e_mta
svc_start

# send FROM TO FILE - over SMTP (searches would put the address in the
#	audit trail, which keeps it: ids are found by Message-ID instead)
send() {
	local reply
	reply=$(smtp_send --from "$1" --to "$2" "$3")
	[ "${reply%% *}" = 250 ] || fail "$3: not accepted: $reply"
	pf_wait_drained "$PF" 60 || fail "$3: postfix queue did not drain"
}

# ids_of NAME - the ids of the messages with Message-ID <NAME@sender.test>
ids_of() { mk search --json --message-id "$1@sender.test" | jq -r '[.[].id] | join(" ")'; }

# 1. The mail.
printf 'From: Gone <gone-sender-q7x@sender.test>\r\nTo: user@example.com\r\nSubject: quarterly plan\r\nMessage-ID: <gone@sender.test>\r\n\r\nThe word GONETOKENZ91K is personal data.\r\n' > "$T/gone.eml"
printf 'From: Boss <boss@sender.test>\r\nTo: custodian@example.com\r\nSubject: the dispute\r\nMessage-ID: <kept@sender.test>\r\n\r\nThe word SHAREDTOKENK4 is evidence.\r\n' > "$T/kept.eml"
printf 'From: Boss <boss@sender.test>\r\nTo: custodian@example.com\r\nSubject: later\r\nMessage-ID: <late@sender.test>\r\n\r\nThe word LATETOKENP2 came after the hold.\r\n' > "$T/late.eml"
send gone-sender-q7x@sender.test user@example.com "$T/gone.eml"
ID_gone=$(ids_of gone)
send boss@sender.test custodian@example.com "$T/kept.eml"
ID_kept=$(ids_of kept)
# the same bytes (Message-ID included) for someone else: one content
send shared-sender-m5@sender.test other@example.com "$T/kept.eml"
ID_shared=$(ids_of kept); ID_shared=${ID_shared#"$ID_kept"}; ID_shared=${ID_shared# }
check "all three archived" test ${#ID_gone} = 24 -a ${#ID_kept} = 24 -a ${#ID_shared} = 24
indexed 3
check "before expiry, the unique sender is in the archive's files" in_archive gone-sender-q7x
check "before expiry, the body word is in the archive's files" in_archive GONETOKENZ91K

# 2. A hold: admin only, audited either way.
if out=$(runuser -u nobody -- "$MAILKEEP" -c "$CONF" hold create x --reason y --party a@example.com 2>&1); then
	fail "hold create as nobody was granted: $out"
else
	check "hold create: refused without the role admin" grep -q "role admin" <<<"$out"
fi
out=$(through hold create case-7 --reason "dispute 7 with Boss" --party custodian@example.com --json) \
    || fail "hold create: $out"
check_eq "hold create: covers the custodian's message now" 1 "$(jq -r .messages <<<"$out")"
check_eq "hold create: its terms, canonical" 'party:"custodian@example.com"' "$(jq -r .terms <<<"$out")"
if out2=$(through hold create case-7 --reason again --party x@example.com 2>&1); then
	fail "a second hold of the same name was taken: $out2"
else
	check "hold create: a name in use is refused" grep -q "is open" <<<"$out2"
fi
send boss@sender.test custodian@example.com "$T/late.eml"
ID_late=$(ids_of late)
indexed 4
check_eq "hold: new mail for the custodian is held on arrival" 2 \
    "$(through hold show case-7 --json | jq -r .messages)"
check_eq "search --hold: the matter's messages" "$ID_kept $ID_late" \
    "$(through search --json --hold case-7 | jq -r '[.[].id] | join(" ")')"
check "hold list: one open hold" jq -e 'length == 1 and .[0].state == "open"' \
    <<<"$(through hold list --json)"
human=$(through hold show case-7) || fail "hold show: $human"
check "hold show for people: the reason" grep -q "dispute 7 with Boss" <<<"$human"

# later_svc [SHIM] - mailkeep-access anew, its clock four days ahead, and
#	the fault shim first when given (MK_FAULT from the environment)
later_svc() {
	local asan i
	svc_stop
	echo "----- access start (+4 days${1:+, under the fault shim}) $(date +%T)" >> "$T/access.log"
	asan=$(ldd "$MAILKEEP_ACCESS" 2>/dev/null | awk '/libasan\.so/ { print $3; exit }')
	env LD_PRELOAD="${asan:+$asan }${1:+$1 }$LIBFAKETIME" FAKETIME=+4d \
	    FAKETIME_DONT_FAKE_MONOTONIC=1 MK_FAULT_LOG="$T/faults.log" \
	    "$MAILKEEP_ACCESS" -c "$CONF" -f >> "$T/access.log" 2>&1 &
	SVC_PID=$!
	for i in $(seq 100); do through whoami > /dev/null 2>&1 && break; sleep 0.1; done
}

# 3. Four days later.
later_svc
if runuser -u nobody -- "$MAILKEEP" -c "$CONF" expire > "$T/out" 2>&1; then
	fail "expire as nobody was granted: $(cat "$T/out")"
else
	check "expire: refused without the role admin" grep -q "role admin" "$T/out"
fi
dry=$(through expire --dry-run --json) || fail "expire --dry-run: $dry"
check_eq "dry run: would expire the two unheld" 2 "$(jq -r .expired <<<"$dry")"
check_eq "dry run: two kept for the hold" 2 "$(jq -r .kept_held <<<"$dry")"
check "dry run: nothing changed" in_archive GONETOKENZ91K
run=$(through expire --json) || fail "expire: $run"
note "expire: $(jq -c . <<<"$run")"
check_eq "expire: the two unheld messages" 2 "$(jq -r .expired <<<"$run")"
check_eq "expire: the two held ones kept" 2 "$(jq -r .kept_held <<<"$run")"
check_eq "expire: their words left the full-text index" 2 "$(jq -r .words_forgotten <<<"$run")"
for token in gone-sender-q7x GONETOKENZ91K shared-sender-m5; do
	if in_archive "$token"; then
		fail "expire: '$token' is still in $(grep -rlaF -- "$token" "$ARCHIVE" | tr '\n' ' ')"
	else
		pass "expire: '$token' is in no file under the archive"
	fi
done
check "expire: the expired message is gone" sh -c "! '$MAILKEEP' -c '$CONF' show $ID_gone"
check_archived "$ID_kept" "$T/kept.eml"
check_archived "$ID_late" "$T/late.eml"
check "expire: the shared content's other message is gone" sh -c "! '$MAILKEEP' -c '$CONF' show $ID_shared"
v=$(through verify --json) || fail "verify: $v"
check_eq "verify after expiry: no problem" 0 "$(jq -r '.problems | length' <<<"$v")"
again=$(through expire --json) || fail "expire again: $again"
check_eq "expire again: nothing more" 0 "$(jq -r .expired <<<"$again")"

# 4. Released, the held messages go at the next run - here a run killed
#    (SIGKILL, by the fault shim) just after its "expired" entries are on
#    disk, which the next run finishes: no entry twice, nothing left.
out=$(through hold release case-7 --reason "settled" --json) || fail "hold release: $out"
check_eq "hold release: the hold's messages" 2 "$(jq -r .messages <<<"$out")"
expire_runs=4	# granted expire requests: dry run, run, again, after release
if [ -n "${FAULTINJECT:-}" ] && [ -f "$FAULTINJECT" ]; then
	expire_runs=5	# and the killed one
	# ledger.log's writes in this run: the audit entry of the expire
	# request, then the expired entries
	MK_FAULT='writes:ledger.log:2:kill-after' later_svc "$FAULTINJECT"
	if out=$(through expire --json 2>&1); then
		fail "expire under a kill after its entries finished: $out"
	fi
	for i in $(seq 50); do kill -0 "$SVC_PID" 2>/dev/null || break; sleep 0.1; done
	check "the killed expiry died (SIGKILL, after its entries)" sh -c "! kill -0 $SVC_PID 2>/dev/null"
	check_eq "the killed expiry wrote the two entries" 2 \
	    "$(grep -c '"event":"expired".*"id":"\('"$ID_kept"'\|'"$ID_late"'\)"' "$ARCHIVE/ledger/ledger.log")"
	SVC_PID=
	later_svc
else
	note "FAULTINJECT not set (run through make check): no killed run"
fi
run=$(through expire --json) || fail "expire after release: $run"
check_eq "expire after release: the two" 2 "$(jq -r .expired <<<"$run")"
check_eq "each has one expired entry, however many runs" "1 1" \
    "$(for id in "$ID_kept" "$ID_late"; do grep -c '"event":"expired".*"id":"'"$id"'"' "$ARCHIVE/ledger/ledger.log"; done | tr '\n' ' ' | sed 's/ $//')"
check_eq "expire after release: none held" 0 "$(jq -r .kept_held <<<"$run")"
for token in SHAREDTOKENK4 LATETOKENP2; do
	if in_archive "$token"; then
		fail "after release: '$token' is still in $(grep -rlaF -- "$token" "$ARCHIVE" | tr '\n' ' ')"
	else
		pass "after release: '$token' is in no file under the archive"
	fi
done
v=$(through verify --json) || fail "verify: $v"
check_eq "verify after the second expiry: no problem" 0 "$(jq -r '.problems | length' <<<"$v")"
check "hold show: released, by whom and why" jq -e '.state == "released" and .release_reason == "settled"' \
    <<<"$(through hold show case-7 --json)"

# 5. The audit trail.
aj=$(through audit --json) || fail "audit: $aj"
check "audit: the hold, with its terms and reason" jq -e 'any(.[]; .action == "hold" and .outcome == "granted" and .hold == "case-7" and .terms == "party:\"custodian@example.com\"" and .reason == "dispute 7 with Boss")' <<<"$aj"
check "audit: the refused hold" jq -e 'any(.[]; .action == "hold" and .outcome == "refused" and .user == "nobody")' <<<"$aj"
check "audit: the release" jq -e 'any(.[]; .action == "release" and .hold == "case-7" and .reason == "settled")' <<<"$aj"
check "audit: the dry run and the runs" jq -e --argjson n "$expire_runs" '[.[] | select(.action == "expire" and .outcome == "granted")] | length == $n' <<<"$aj"
check "audit: the refused expire" jq -e 'any(.[]; .action == "expire" and .outcome == "refused")' <<<"$aj"
svc_stop
e2e_finish
