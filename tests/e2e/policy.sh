#!/bin/bash
# tests/e2e/policy.sh - the per-domain policy through a real Postfix: full,
# metadata-only and none domains side by side in one archive (issue 4).
#
#   full      archived byte-exact; retention, roles and the matched rule
#             stored; the delivered copy carries the notice header.
#   metadata  traffic data only: the message's token (in its Subject and
#             body) appears nowhere under the archive directory (blobs,
#             SQLite files, WAL, spool) nor in the milter's log; `get`
#             refuses; the delivered copy carries the notice (notice = yes).
#   none      nothing stored at all, logged "not archived (policy: none)",
#             the client still gets 250, never a notice header.
#   mixed     recipients in a full and a metadata domain: full, roles union.
#   invalid   a broken policy at start: refuse, "FILE:LINE: problem"; at
#             SIGHUP: keep the running policy and say why; a valid new
#             policy at SIGHUP takes effect for the next message.
#
# Postfix delivers to files (pf_keep_deliveries) instead of discarding, so
# the test sees what the recipients got.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
# PYTHON3 may be a pyenv shim costing seconds per start on a loaded machine:
# resolve the interpreter once (lib.sh starts Python a few times too).
PYTHON3=$("$PYTHON3" -c 'import sys; print(sys.executable)' 2>/dev/null || echo "$PYTHON3")
e2e_init policy
command -v openssl > /dev/null || skip "policy: openssl not installed"

POL=$T/policy.ini
cat > "$POL" <<'EOF'
[defaults]
local_domains = full.test, meta.test, none.test, *.wild.test
mode = none
retention = 30d

[domain full.test]
mode = full
retention = 7y
roles = legal
notice = yes

[domain *.wild.test]
mode = full
retention = 90d
roles = wild

[domain meta.test]
mode = metadata
retention = 60d
roles = compliance
notice = yes

[domain none.test]
mode = none
notice = yes

[role legal]
users = root
[role compliance]
users = root
[role wild]
users = root
EOF
cp "$POL" "$T/policy.v1"

# ---------------------------------------------------------------- start-up
# (7a) A broken policy: the milter refuses to start and names file:line.
printf '[defaults]\nlocal_domains = x.test\nmode = sometimes\n' > "$T/bad-start.ini"
e2e_conf "policy = $T/bad-start.ini"
mk_init
if err=$(timeout 20 "$MAILKEEP_MILTER" -c "$CONF" -f 2>&1); then
	fail "milter started with a broken policy"
else
	check "broken policy at start: refused, error names FILE:LINE" \
	    grep -Eq "$T/bad-start.ini:3: .*(mode|sometimes)" <<<"$err"
	note "start-up error: $err"
fi
check "broken policy at start: no socket left behind" \
    test ! -S "${MILTER_SOCKET#unix:}"

e2e_conf "policy = $POL"
milter_start
e2e_postfix_keep() {
	PF=$(e2e_pf_dir) || bail "no directory for Postfix"
	PF_PORT=$(pf_free_port) || bail "no free port"
	pf_create "$PF" "$PF_PORT" "$MILTER_PF" || bail "pf_create"
	pf_keep_deliveries "$PF" "$T/delivered" || bail "pf_keep_deliveries"
	pf_start "$PF" || bail "postfix start"
	SMTP_PORT=$PF_PORT
	note "postfix on 127.0.0.1:$PF_PORT (delivering to $T/delivered), milter $MILTER_PF"
}
e2e_postfix_keep
OUT=$T/delivered

# ---------------------------------------------------------------- helpers
# newtoken - a unique random token
newtoken() { echo "TOKEN-$(openssl rand -hex 16)"; }

# mkmsg NAME TOKEN TO - write $T/NAME.eml with TOKEN in Subject and body
#	(and in headers metadata mode must not keep either: a display name,
#	an X- header)
mkmsg() {
	cat > "$T/$1.eml" <<EOF
From: Sender $2 <sender@remote.test>
To: $3
Subject: $1 report $2
X-Note: $2
Date: $(date -R)
Message-ID: <$1.$$.$(date +%s%N)@remote.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Hello,

the secret of this message is $2, say it to nobody.
-- 
Sender
EOF
}

# send NAME=RCPT[,RCPT...][=SENDER]... - send each $T/NAME.eml in one SMTP
#	session (sender sender@remote.test unless given)
#	(one Python start: the test machine may be loaded); sets QID[NAME]
#	and checks each reply is 250
declare -A QID=() ID=() TOK=()
cat > "$T/sendmany.py" <<'PY'
import smtplib, sys
sys.path.insert(0, sys.argv[1])
from smtpclient import crlf, queue_id, send_one
s = smtplib.SMTP("127.0.0.1", int(sys.argv[2]), local_hostname="client.policy.test", timeout=60)
s.ehlo("client.policy.test")
for spec in sys.argv[4:]:
    name, rcpts, sender = (spec.split("=", 2) + ["sender@remote.test"])[:3]
    with open("%s/%s.eml" % (sys.argv[3], name), "rb") as f:
        code, msg = send_one(s, sender, rcpts.split(","), crlf(f.read()))
    print(name, code, queue_id(msg), flush=True)
s.quit()
PY
send() {
	local name code qid
	while read -r name code qid; do
		check_eq "$name: SMTP reply 250" 250 "$code"
		QID[$name]=$qid
	done < <("$PYTHON3" "$T/sendmany.py" "$E2E_DIR" "$SMTP_PORT" "$T" "$@")
	for name in "$@"; do
		[ -n "${QID[${name%%=*}]:-}" ] || fail "${name%%=*}: no SMTP reply"
	done
}

# check_exact ID FILE NAME - `get ID` is FILE with CRLF line ends (what
#	compare.py checks, for these plain messages, without a Python start)
check_exact() {
	if cmp -s <(mk get "$1") <(sed 's/\r\?$/\r/' "$2"); then
		pass "$3: archived byte-exact"
	else
		fail "$3: archived bytes differ from $2"
	fi
}

# rec NAME - the search --json record of NAME (by queue id), or "null"
rec() {
	mk search --json | jq -c --arg q "${QID[$1]}" '[.[] | select(.queue_id == $q)][0]'
}

# field NAME KEY - one field of NAME's record as text
field() { jq -r --arg k "$2" '.[$k] | if type == "array" or type == "object" then tojson else . end' <<<"${R[$1]}"; }

# day_of VALUE - a retain_until value (epoch seconds or a date) as YYYY-MM-DD
day_of() {
	case $1 in
	''|null) echo "";;
	*[!0-9]*) date -u -d "$1" +%F 2>/dev/null || echo "bad:$1";;
	*) date -u -d "@$1" +%F;;
	esac
}

# notice_day RETAIN_UNTIL NOTICE - the day the notice should name: "until
#	D" names retain_until's day (the midnight retention ends), "through D"
#	the last day kept, the day before
notice_day() {
	case $2 in
	*"kept through "*) date -u -d "$(day_of "$1") -1 day" +%F;;
	*) day_of "$1";;
	esac
}

# want_until NAME PERIOD - the day retention ends: received day + PERIOD + 1
want_until() {
	local day
	day=$(date -u -d "$(field "$1" received_at)" +%F)
	date -u -d "$day +$2 +1 day" +%F
}

# delivered NAME RCPT - the delivered copy of NAME to RCPT (path)
delivered() { find "$OUT" -name "${QID[$1]}.$2.[0-9]*" | head -n 1; }

# header_of FILE NAME - the value of header NAME in the header section
header_of() {
	awk -v h="$2" 'BEGIN { IGNORECASE = 1 } /^\r?$/ { exit }
	    tolower(substr($0, 1, length(h) + 1)) == tolower(h) ":" { sub(/^[^:]*: ?/, ""); sub(/\r$/, ""); print }' "$1"
}

# token_nowhere WHAT TOKEN PLACE... - pass if TOKEN is in none of PLACEs
token_nowhere() {
	local what=$1 tok=$2 hits; shift 2
	hits=$(grep -rla -- "$tok" "$@" 2>/dev/null)
	if [ -z "$hits" ]; then pass "$what"; else fail "$what: found in ${hits//$'\n'/ }"; fi
}

# policy_checks NAME CONTENT RETENTION ROLES RULES - the policy fields of
#	NAME's search --json record
policy_checks() {
	local name=$1
	check_eq "$name: content" "$2" "$(field "$name" content)"
	check_eq "$name: retain_until = received day + $3 + 1 day" \
	    "$(want_until "$name" "$3")" "$(day_of "$(field "$name" retain_until)")"
	check_eq "$name: roles" "$4" "$(jq -c '.roles' <<<"${R[$name]}")"
	check_eq "$name: policy.parties[].rule" "$5" \
	    "$(jq -c '[.policy.parties[]? | .rule]' <<<"${R[$name]}")"
	check_eq "$name: policy.direction (external sender)" inbound \
	    "$(jq -r '.policy.direction' <<<"${R[$name]}")"
}

# ---------------------------------------------------------------- send
for n in full wild meta none mixed upper out; do TOK[$n]=$(newtoken); done
mkmsg full "${TOK[full]}" alice@full.test
mkmsg wild "${TOK[wild]}" bob@eu.wild.test
mkmsg meta "${TOK[meta]}" carol@meta.test
mkmsg none "${TOK[none]}" dave@none.test
mkmsg mixed "${TOK[mixed]}" "erin@full.test, frank@meta.test"
mkmsg upper "${TOK[upper]}" CAROL@Meta.TEST	# domains match case-insensitively
mkmsg out "${TOK[out]}" x@remote.test		# outbound: the sender's domain decides
send full=alice@full.test wild=bob@eu.wild.test meta=carol@meta.test \
    none=dave@none.test mixed=erin@full.test,frank@meta.test \
    upper=CAROL@Meta.TEST out=x@remote.test=zed@meta.test
pf_wait_drained "$PF" 30 || fail "postfix queue did not drain"

# Before anything reads the archive (a reader could checkpoint the WAL):
# the metadata and none tokens are nowhere under the archive directory.
ls "$ARCHIVE"/index.sqlite-wal > /dev/null 2>&1 && note "WAL present: $(stat -c %s "$ARCHIVE/index.sqlite-wal") bytes"
token_nowhere "metadata: token nowhere under the archive (blobs, SQLite, WAL, spool)" "${TOK[meta]}" "$ARCHIVE"
token_nowhere "none: token nowhere under the archive" "${TOK[none]}" "$ARCHIVE"
token_nowhere "upper (CAROL@Meta.TEST): token nowhere under the archive" "${TOK[upper]}" "$ARCHIVE"
token_nowhere "out (from zed@meta.test): token nowhere under the archive" "${TOK[out]}" "$ARCHIVE"

declare -A R=()
for n in full wild meta mixed upper out; do R[$n]=$(rec "$n"); note "$n: ${R[$n]}"; done

# ---------------------------------------------------------------- full
for n in full wild mixed; do
	ID[$n]=$(field "$n" id)
	if [ -z "${ID[$n]}" ] || [ "${ID[$n]}" = null ]; then
		fail "$n: not in the archive (queue id ${QID[$n]})"; continue
	fi
	check_exact "${ID[$n]}" "$T/$n.eml" "$n"
	check "$n: token in the archived copy" grep -q -- "${TOK[$n]}" <(mk get "${ID[$n]}")
	check_eq "$n: subject kept" "$n report ${TOK[$n]}" "$(field "$n" subject)"
	check "$n: sha256 set" grep -Eq '^[0-9a-f]{64}$' <<<"$(field "$n" sha256)"
done
policy_checks full full "7 years" '["legal"]' '["domain full.test"]'
policy_checks wild full "90 days" '["wild"]' '["domain *.wild.test"]'
# mixed: full (strongest), longest retention, roles of both domains
policy_checks mixed full "7 years" '["compliance","legal"]' \
    '["domain full.test","domain meta.test"]'

# ---------------------------------------------------------------- metadata
ID[meta]=$(field meta id)
if [ -z "${ID[meta]}" ] || [ "${ID[meta]}" = null ]; then
	fail "meta: not in the archive (queue id ${QID[meta]})"
else
	check_eq "meta: from" sender@remote.test "$(field meta from | tr -d '<>')"
	check_eq "meta: to" '["carol@meta.test"]' "$(jq -c '[.to[] | ltrimstr("<") | rtrimstr(">")]' <<<"${R[meta]}")"
	check_eq "meta: queue_id" "${QID[meta]}" "$(field meta queue_id)"
	check_eq "meta: client_addr" 127.0.0.1 "$(field meta client_addr)"
	check_eq "meta: helo" client.policy.test "$(field meta helo)"
	mid=$(sed -n 's/^Message-ID: <\(.*\)>$/\1/p' "$T/meta.eml")
	check_eq "meta: message_id" "$mid" "$(field meta message_id | tr -d '<>')"
	check_eq "meta: size is what the archived copy would have had" \
	    "$(sed 's/\r\?$/\r/' "$T/meta.eml" | wc -c)" "$(field meta size)"
	check_eq "meta: subject null" null "$(field meta subject)"
	check "meta: no sha256" grep -Eqx 'null|' <<<"$(field meta sha256)"
	if err=$(mk get "${ID[meta]}" 2>&1 >/dev/null); then
		fail "meta: get succeeded for a metadata-only message"
	else
		check "meta: get fails with \"metadata only\"" grep -q "metadata only" <<<"$err"
	fi
	policy_checks meta metadata "60 days" '["compliance"]' '["domain meta.test"]'
fi

# upper: CAROL@Meta.TEST is meta.test; out: the local sender is the party
for n in upper out; do
	check_eq "$n: archived as metadata" metadata "$(field "$n" content)"
	check_eq "$n: subject null" null "$(field "$n" subject)"
	check_eq "$n: rule" '["domain meta.test"]' "$(jq -c '[.policy.parties[]? | .rule]' <<<"${R[$n]}")"
done
check_eq "out: policy.direction" outbound "$(jq -r '.policy.direction' <<<"${R[out]}")"
check_eq "out: the party is the sender" '["zed@meta.test"]' \
    "$(jq -c '[.policy.parties[]? | .address]' <<<"${R[out]}")"

# ---------------------------------------------------------------- none
check_eq "none: search --to finds nothing" 0 \
    "$(mk search --json --to dave@none.test | jq length)"
check_eq "none: no record with its queue id" null "$(rec none)"
check "none: milter logged \"not archived (policy: none)\"" \
    grep -q "${QID[none]}: not archived (policy: none)" "$T/milter.log"
check_eq "archive holds exactly the full, wild, meta, mixed, upper and out messages" 6 \
    "$(mk search --json | jq length)"

# ---------------------------------------------------------------- notice
for pair in full:alice@full.test wild:bob@eu.wild.test meta:carol@meta.test \
    none:dave@none.test mixed:erin@full.test mixed:frank@meta.test; do
	n=${pair%%:*} r=${pair#*:}
	f=$(delivered "$n" "$r")
	[ -n "$f" ] || { fail "$n: no delivered copy for $r"; continue; }
	v=$(header_of "$f" X-Archived)
	case $n in
	none)	check_eq "none: delivered copy to $r has no X-Archived header" "" "$v";;
	wild)	check_eq "wild: no notice (rule has no notice = yes)" "" "$v";;
	*)	mode=$( [ "$n" = meta ] && echo metadata || echo full )
		check "$n: delivered copy to $r has X-Archived ($v)" \
		    grep -Eq "\($mode, kept (until|through) [0-9-]+, archive id ${ID[$n]}\)" <<<"$v"
		check_eq "$n: notice names the retention's end" \
		    "$(notice_day "$(field "$n" retain_until)" "$v")" \
		    "$(sed -En 's/.*kept (until|through) ([0-9-]+),.*/\2/p' <<<"$v")";;
	esac
done

# ---------------------------------------------------------------- logs
token_nowhere "metadata: token not in the milter's log" "${TOK[meta]}" "$T/milter.log"
token_nowhere "none: token not in the milter's log" "${TOK[none]}" "$T/milter.log"
check_eq "spool empty after the messages ended" "" \
    "$(find "$ARCHIVE" -path '*spool*' -type f 2>/dev/null)"

# ---------------------------------------------------------------- reloads
# reload_to PATTERN - SIGHUP, wait until the milter logs PATTERN once more
n_logged() { grep -c -- "$1" "$T/milter.log"; }
# shellcheck disable=SC2317  # called through wait_for
more_logged() { [ "$(n_logged "$1")" -gt "$2" ]; }
reload_to() {
	local n
	n=$(n_logged "$1")
	kill -HUP "$MILTER_PID"
	wait_for 10 more_logged "$1" "$n"
}

# (7b) A broken policy at SIGHUP (that would have made meta.test full):
# logged with file:line, the running policy stays.
sed -e '/^\[domain meta.test\]/,/^$/s/^mode = metadata/mode = full/' \
    -e '/^\[domain meta.test\]/a retention = 7x' "$T/policy.v1" > "$POL"
badline=$(grep -n '^retention = 7x' "$POL" | cut -d: -f1)
reload_to "keeping the running policy" || fail "no log line after SIGHUP with a broken policy"
check "broken reload: logged \"keeping the running policy: FILE:LINE: ...\"" \
    grep -q "keeping the running policy: $POL:$badline: " "$T/milter.log"
check "milter alive after a broken policy reload" kill -0 "$MILTER_PID"
TOK[meta2]=$(newtoken)
mkmsg meta2 "${TOK[meta2]}" carol@meta.test
send meta2=carol@meta.test
pf_wait_drained "$PF" 30 || fail "postfix queue did not drain"
token_nowhere "meta2 (after broken reload): token nowhere under the archive" "${TOK[meta2]}" "$ARCHIVE"
R[meta2]=$(rec meta2)
check_eq "meta2: still metadata only (subject null)" null "$(field meta2 subject)"
check_eq "meta2: content" metadata "$(field meta2 content)"
if mk get "$(field meta2 id)" > /dev/null 2>&1; then
	fail "meta2: get succeeded: the broken policy was applied"
else
	pass "meta2: get refused: the old policy still applies"
fi

# (7c) A valid new policy at SIGHUP: meta.test switched to full, notice
# header renamed; the next message follows it.
sed -e '/^\[domain meta.test\]/,/^$/s/^mode = metadata/mode = full/' \
    -e 's/^\[defaults\]$/[defaults]\nnotice_header = X-Compliance-Archive/' \
    "$T/policy.v1" > "$POL"
reload_to "reloaded $CONF" || fail "no \"reloaded\" log line after SIGHUP"
TOK[meta3]=$(newtoken)
mkmsg meta3 "${TOK[meta3]}" carol@meta.test
send meta3=carol@meta.test
pf_wait_drained "$PF" 30 || fail "postfix queue did not drain"
R[meta3]=$(rec meta3)
ID[meta3]=$(field meta3 id)
if [ -n "${ID[meta3]}" ] && [ "${ID[meta3]}" != null ]; then
	check_exact "${ID[meta3]}" "$T/meta3.eml" meta3
	check_eq "meta3: subject kept (full now)" "meta3 report ${TOK[meta3]}" "$(field meta3 subject)"
	policy_checks meta3 full "60 days" '["compliance"]' '["domain meta.test"]'
else
	fail "meta3: not in the archive"
fi
f=$(delivered meta3 carol@meta.test)
if [ -n "$f" ]; then
	check "meta3: notice under the new header name" \
	    grep -Eq "\(full, kept (until|through) [0-9-]+, archive id ${ID[meta3]}\)" <<<"$(header_of "$f" X-Compliance-Archive)"
	check_eq "meta3: no X-Archived header any more" "" "$(header_of "$f" X-Archived)"
else
	fail "meta3: no delivered copy"
fi

# After the milter has stopped (the WAL checkpointed or not), the metadata
# tokens are still nowhere.
milter_stop
for n in meta none upper out meta2; do
	token_nowhere "after stop: $n token nowhere under the archive" "${TOK[$n]}" "$ARCHIVE"
	token_nowhere "$n: token not in the milter's log" "${TOK[$n]}" "$T/milter.log"
	token_nowhere "$n: token not in Postfix's log" "${TOK[$n]}" "$PF/maillog"
done
e2e_finish
