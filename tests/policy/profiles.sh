#!/bin/bash
# tests/policy/profiles.sh - the compliance profiles of contrib/policies/
# are valid and decide what their comments say.
#
# For each profile: `mailkeep policy check FILE` exits 0 and says "valid"
# with no warning; `mailkeep policy explain` (through a configuration
# whose policy is the profile) for a message from the profile's local
# domain to another domain, received today, gives the mode, the end of
# retention and the roles of the table below, and `policy check` prints
# the four-eyes and notice settings of the table for the rule that
# decides it.  The end of retention is computed here as mailkeep.conf(5),
# "Retention", defines it (kept through the day the period ends, months
# and years by the calendar, clamped to the month's last day; may go from
# the next midnight UTC), independently of mailkeep's code.  The GDPR
# profile keeps nothing of relayed mail (no local party).  Each profile
# names the rule it follows in its comment (a citation is there).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/checks.sh"
: "${MAILKEEP:=$top_builddir/cli/mailkeep}"
[ -x "$MAILKEEP" ] || { echo "missing $MAILKEEP"; exit 99; }
command -v jq > /dev/null || skip "jq not installed"
command -v python3 > /dev/null || skip "python3 not installed"
P=$top_srcdir/contrib/policies
T=$(mktemp -d) || exit 99
trap 'rm -rf "$T"' EXIT

# file  mode  period  roles  four_eyes  notice  citation (a word of it)
PROFILES=(
	"eu-traffic-data.policy metadata 6m lawful-requests no no 2006/24/EC"
	"belgium.policy metadata 12m lawful-requests no no 2005"
	"china-2006.policy metadata 60d lawful-requests no no No.*38"
	"sec-finra.policy full 6y compliance no no 17a-4"
	"hipaa.policy full 6y privacy-office yes no 164.316"
	"germany-gobd.policy full 10y finance-audit no no 147"
	"gdpr-business.policy full 3y legal yes yes 2016/679"
)

# retain_until_of PERIOD - the retain_until (RFC 3339, as explain prints it) of a
#	message received today (UTC) and kept for PERIOD
retain_until_of() {
	python3 - "$1" <<'PY'
import calendar, datetime, re, sys
n, unit = re.fullmatch(r"(\d+)([dmy])", sys.argv[1]).groups()
n = int(n)
d = datetime.datetime.now(datetime.timezone.utc).date()
if unit == "d":
    last = d + datetime.timedelta(days=n)
else:
    months = n * (12 if unit == "y" else 1)
    y, m = divmod(d.month - 1 + months, 12)
    y, m = d.year + y, m + 1
    last = datetime.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))
print((last + datetime.timedelta(days=1)).strftime("%Y-%m-%dT00:00:00.000000Z"))
PY
}

[ "$(ls "$P"/*.policy | wc -l)" -eq "${#PROFILES[@]}" ] ||
	fail "contrib/policies has $(ls "$P"/*.policy | wc -l) profiles, the test knows ${#PROFILES[@]}"
for row in "${PROFILES[@]}"; do
	read -r file mode period roles eyes notice cite <<< "$row"
	f=$P/$file
	[ -f "$f" ] || { fail "$file: missing"; continue; }
	out=$("$MAILKEEP" policy check "$f" 2>&1); rc=$?
	check_eq "$file: policy check exits 0" 0 "$rc"
	check_eq "$file: policy check says valid, no warning" "; $f: valid" "$(head -n 1 <<< "$out")"
	grep -Eq "$cite" "$f" && pass "$file: cites the rule ($cite)" || fail "$file: no citation matching $cite"
	grep -Eq "^ +retention = $period$" <<< "$out" && pass "$file: retention $period" ||
		fail "$file: no rule with retention $period in: $(grep retention <<< "$out" | tr '\n' ' ')"
	# the rule with that retention has these four-eyes and notice values
	rule=$(awk -v p="$period" '/^\[/ { s = $0 } $0 ~ "^ +retention = " p "$" { print s; exit }' <<< "$out")
	block=$(awk -v s="$rule" '/^\[/ { on = ($0 == s) } on' <<< "$out")
	check_eq "$file: $rule four_eyes" "$eyes" "$(sed -n 's/^ *four_eyes = //p' <<< "$block")"
	check_eq "$file: $rule notice" "$notice" "$(sed -n 's/^ *notice = //p' <<< "$block")"
	printf 'policy = %s\n' "$f" > "$T/conf"
	json=$("$MAILKEEP" -c "$T/conf" policy explain --from alice@example.com \
	    --to bob@elsewhere.test --json 2>&1) || { fail "$file: explain failed: $json"; continue; }
	check_eq "$file: outbound mail is kept as $mode" "$mode" "$(jq -r .mode <<< "$json")"
	check_eq "$file: ... until the end of $period" "$(retain_until_of "$period")" "$(jq -r .retain_until <<< "$json")"
	check_eq "$file: ... for the roles $roles" "$roles" "$(jq -r '.roles | join(",")' <<< "$json")"
done

# GDPR: relayed mail (no party here) is not kept
printf 'policy = %s\n' "$P/gdpr-business.policy" > "$T/conf"
check_eq "gdpr-business.policy: relayed mail is not kept" none \
    "$("$MAILKEEP" -c "$T/conf" policy explain --from x@a.test --to y@b.test --json | jq -r .mode)"
note "profiles: $CHECKS_PASS passed, $CHECKS_FAIL failed"
[ "$CHECKS_FAIL" -eq 0 ]
