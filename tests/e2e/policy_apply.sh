#!/bin/bash
# tests/e2e/policy_apply.sh - a changed policy applied to stored mail
# (issue 11: mailkeep policy apply), through a real Postfix, milter and
# mailkeep-access.
#
# Mail is stored under a policy that keeps everything in full for two
# years, clear and uncompressed (encrypt = no, compression = none), so
# that a word of a message would be seen by grep in any file that still
# held it: one message for each of a.test, meta.test and gone.test, and
# one for a custodian of meta.test under a legal hold.  The policy file
# then says 30 days, metadata only for meta.test and nothing for
# gone.test, and mailkeep-access reloads it (SIGHUP).  Then:
#   policy apply as nobody   refused (admin only), audited;
#   policy apply --dry-run   counts and changes nothing;
#   policy apply (milter up) refused: it needs the archive to itself;
#   policy apply --reason    with the milter stopped: a.test's message
#                            moves to its 30-day group, meta.test's keeps
#                            its metadata only (its words in no file),
#                            gone.test's is gone (in no file), the held
#                            one keeps its content byte-exact; show and
#                            search say so, verify is clean, the audit
#                            entry has the reason; a second run changes
#                            nothing.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
e2e_init "$(basename "$0" .sh)"

svc_sock
POL=$T/policy.ini
write_policy() {	# RETENTION META_MODE GONE_MODE
	cat > "$POL.new" <<EOF
[defaults]
local_domains = a.test, meta.test, gone.test
mode = full
retention = $1
roles = readers
[domain meta.test]
mode = $2
[domain gone.test]
mode = $3
$(e2e_root_roles)
EOF
	mv "$POL.new" "$POL"
}
write_policy 2y full full
e2e_conf "policy = $POL" "access_socket = $SVC_SOCK" "encrypt = no" \
    "compression = none"
mk_init
milter_start
e2e_mta
svc_start

# send FROM TO NAME TOKEN - a message over SMTP; its id into ID[NAME]
declare -A ID
send() {
	local reply
	printf 'From: <%s>\r\nTo: <%s>\r\nSubject: plan %s\r\nMessage-ID: <%s@sender.test>\r\n\r\nThe word %s is in the body.\r\n' \
	    "$1" "$2" "$3" "$3" "$4" > "$T/$3.eml"
	reply=$(smtp_send --from "$1" --to "$2" "$T/$3.eml")
	[ "${reply%% *}" = 250 ] || fail "$3: not accepted: $reply"
	pf_wait_drained "$PF" 60 || fail "$3: postfix queue did not drain"
	ID[$3]=$(mk search --json --message-id "$3@sender.test" | jq -r '.[0].id')
	[ ${#ID[$3]} = 24 ] || fail "$3: not archived"
}

# retain_day NAME - the day the retention of message NAME ends
retain_day() {
	date -u -d "@$(through show "${ID[$1]}" --json | jq -r '.policy.retain_until')" +%F
}

# 1. Stored under the first policy: two years, in full.
send alice@sender.test user@a.test keepa TOKENKEEPA71
send bob@sender.test user@meta.test meta TOKENMETAM52
send gone-sndr-x4@sender.test user@gone.test gone TOKENGONEG33
send boss@sender.test custodian@meta.test held TOKENHELDH14
indexed 4
out=$(through hold create case-9 --reason "dispute 9" --party custodian@meta.test --json) \
    || fail "hold create: $out"
check_eq "the hold covers the custodian's message" 1 "$(jq -r .messages <<<"$out")"
two_years=$(retain_day keepa)
check "stored for about two years" test "$two_years" \> "$(date -u -d '+700 days' +%F)"

# 2. The new regime: 30 days, meta.test metadata only, gone.test nothing.
write_policy 30d metadata none
kill -HUP "$SVC_PID"
for i in $(seq 50); do grep -q "reload" "$T/access.log" 2>/dev/null && break; sleep 0.1; done
sleep 0.5

if out=$(runuser -u nobody -- "$MAILKEEP" -c "$CONF" policy apply --reason x 2>&1); then
	fail "policy apply as nobody was granted: $out"
else
	check "policy apply: refused without the role admin" grep -q "role admin" <<<"$out"
fi
dry=$(through policy apply --reason "regime of 2026" --dry-run --json) || fail "dry run: $dry"
note "dry run: $(jq -c . <<<"$dry")"
check_eq "dry run: every message looked at" 4 "$(jq -r .messages <<<"$dry")"
check_eq "dry run: two with a new retention" 2 "$(jq -r .moved <<<"$dry")"
check_eq "dry run: one to metadata" 1 "$(jq -r .stripped <<<"$dry")"
check_eq "dry run: one removed" 1 "$(jq -r .removed <<<"$dry")"
check_eq "dry run: one held" 1 "$(jq -r .held <<<"$dry")"
check_eq "dry run: the old group would be rewritten" 1 "$(jq -r .groups <<<"$dry")"
check "dry run: nothing changed (the removed one's words)" in_archive TOKENGONEG33
check "dry run: nothing changed (metadata's words)" in_archive TOKENMETAM52
check_eq "dry run: nothing changed (retention)" "$two_years" "$(retain_day keepa)"
if out=$(through policy apply --reason "regime of 2026" 2>&1); then
	fail "policy apply beside the running milter: $out"
else
	check "policy apply: refused while the milter holds the archive" grep -q "mailkeep-milter" <<<"$out"
fi

# 3. Applied, with the milter stopped (the MTA keeps mail meanwhile).
milter_stop
run=$(through policy apply --reason "regime of 2026" --json) || fail "policy apply: $run"
note "apply: $(jq -c . <<<"$run")"
check_eq "apply: two with a new retention" 2 "$(jq -r .moved <<<"$run")"
check_eq "apply: one to metadata" 1 "$(jq -r .stripped <<<"$run")"
check_eq "apply: one removed" 1 "$(jq -r .removed <<<"$run")"
check_eq "apply: one held" 1 "$(jq -r .held <<<"$run")"
check_eq "apply: the old group rewritten" 1 "$(jq -r .groups <<<"$run")"
thirty=$(date -u -d '+31 days' +%F)
check_eq "show: a.test's message kept 30 days now" "$thirty" "$(retain_day keepa)"
check_eq "show: meta.test's message is metadata only" metadata \
    "$(through show "${ID[meta]}" --json | jq -r .content)"
check "get: meta.test's content is no longer kept" sh -c "! '$MAILKEEP' -c '$CONF' get ${ID[meta]} > /dev/null 2>&1"
check "show: gone.test's message is gone" sh -c "! '$MAILKEEP' -c '$CONF' show ${ID[gone]} > /dev/null 2>&1"
check_eq "search: gone.test's message is not found" 0 \
    "$(through search --json --message-id gone@sender.test | jq length)"
check_eq "search: meta.test's message found as metadata" metadata \
    "$(through search --json --message-id meta@sender.test | jq -r '.[0].content')"
for token in TOKENGONEG33 gone-sndr-x4 TOKENMETAM52; do
	if in_archive "$token"; then
		fail "apply: '$token' is still in $(grep -rlaF -- "$token" "$ARCHIVE" | tr '\n' ' ')"
	else
		pass "apply: '$token' is in no file under the archive"
	fi
done
check_eq "show: the held message keeps its content" full \
    "$(through show "${ID[held]}" --json | jq -r .content)"
check_eq "show: the held message's retention is the new one" "$thirty" "$(retain_day held)"
through get "${ID[held]}" > "$T/held.got" || fail "get held"
check "get: the held message byte-exact" cmp -s "$T/held.got" "$T/held.eml"
through get "${ID[keepa]}" > "$T/keepa.got" || fail "get keepa"
check "get: the moved message byte-exact" cmp -s "$T/keepa.got" "$T/keepa.eml"
check "the held message's words stay" in_archive TOKENHELDH14
v=$(through verify --json) || fail "verify: $v"
check_eq "verify after apply: no problem" 0 "$(jq -r '.problems | length' <<<"$v")"
again=$(through policy apply --reason "again" --json) || fail "apply again: $again"
check_eq "apply again: nothing more changes" 3 "$(jq -r .unchanged <<<"$again")"
check_eq "apply again: no group rewritten" 0 "$(jq -r .groups <<<"$again")"

# 4. The audit trail.
aj=$(through audit --json) || fail "audit: $aj"
check "audit: the apply, granted, with its reason" jq -e 'any(.[]; .action == "policy_apply" and .outcome == "granted" and .reason == "regime of 2026")' <<<"$aj"
check "audit: the dry run" jq -e 'any(.[]; .action == "policy_apply" and .query.dry_run == true)' <<<"$aj"
check "audit: the refused apply" jq -e 'any(.[]; .action == "policy_apply" and .outcome == "refused" and .user == "nobody")' <<<"$aj"
svc_stop
e2e_finish
