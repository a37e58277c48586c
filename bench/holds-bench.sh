#!/bin/bash
# bench/holds-bench.sh - time `mailkeep hold create` on a big archive
# (issue 11: a hold over 1,000,000 messages in under 10 s), through a
# running mailkeep-access.
#
#   BENCH_ARCHIVE=/work/bench-1m/archive BENCH_RUNS=3 bench/holds-bench.sh
#
# Three holds a run, each made under a new name (hold names are never
# reused) and released at the end of the run:
#   envelope  --since 2000-01-01            (every message)
#   party     --party BENCH_PARTY           (a custodian: a frequent address)
#   text      BENCH_WORD                    (a common word: the FTS index)
# Reported per hold: the CLI's wall time, a `mailkeep whoami` just before it
# (the round trip and process start-up of a request doing no archive work;
# median of 3), the difference (the service's own time), the members, and
# the load average.  Medians, min and max over BENCH_RUNS runs.
#
# The archive is not changed beyond what the commands themselves add: the
# holds and their members in fulltext.sqlite (a released hold keeps its
# rows), and their audit entries in the ledger.  The service runs with a
# copy of the archive's mailkeep.conf and policy in BENCH_WORK, the policy
# with "[role admin] users = root" added when it has no role admin.
# Run as root from a built tree.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
: "${BENCH_ARCHIVE:=/work/bench-1m/archive}" "${BENCH_RUNS:=3}"
: "${BENCH_PARTY:=robert.durand2@corp.example}" "${BENCH_WORD:=meeting}"
: "${BENCH_KINDS:=envelope party text}"
A=$BENCH_ARCHIVE
D=$(dirname "$A")
SRC_CONF=${BENCH_CONF:-$D/mailkeep.conf}
W=${BENCH_WORK:-$D/work-holds}
MAILKEEP=${MAILKEEP:-$top/cli/mailkeep}
MAILKEEP_ACCESS=${MAILKEEP_ACCESS:-$top/access/mailkeep-access}
SVC_PID=

[ -d "$A" ] && [ -f "$SRC_CONF" ] || { echo "holds-bench.sh: no archive $A or $SRC_CONF" >&2; exit 1; }
command -v jq > /dev/null || { echo "holds-bench.sh: needs jq" >&2; exit 1; }
mkdir -p "$W"
exec > >(tee -a "$W/holds-results.txt") 2>&1

# The service's configuration: the archive's, with root in role admin.
pol=$(sed -n 's/^[[:space:]]*policy[[:space:]]*=[[:space:]]*//p' "$SRC_CONF" | tail -n 1)
[ -n "$pol" ] && [ -f "$pol" ] || { echo "holds-bench.sh: $SRC_CONF names no policy file" >&2; exit 1; }
cp "$pol" "$W/policy.ini"
grep -q '^\[role admin\]' "$W/policy.ini" || printf '\n[role admin]\nusers = root\n' >> "$W/policy.ini"
CONF=$W/mailkeep.conf
grep -v -E '^[[:space:]]*(policy|access_socket)[[:space:]]*=' "$SRC_CONF" > "$CONF"
printf 'policy = %s\naccess_socket = %s\n' "$W/policy.ini" "$W/access.sock" >> "$CONF"

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
mk() { "$MAILKEEP" -c "$CONF" "$@"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

stop_svc() {
	[ -n "$SVC_PID" ] || return 0
	kill -TERM "$SVC_PID" 2>/dev/null || true
	wait "$SVC_PID" 2>/dev/null || true
	SVC_PID=
}
trap stop_svc EXIT
"$MAILKEEP_ACCESS" -c "$CONF" -f >> "$W/access.log" 2>&1 &
SVC_PID=$!
t=0
until mk whoami > /dev/null 2>&1; do
	kill -0 "$SVC_PID" 2>/dev/null || { tail "$W/access.log"; echo "mailkeep-access exited" >&2; exit 1; }
	t=$(( t + 1 )); [ "$t" -le 600 ] || { echo "mailkeep-access not ready" >&2; exit 1; }
	sleep 0.1
done
mk whoami | grep -q admin || { echo "holds-bench.sh: root is not in role admin" >&2; exit 1; }

echo "== holds-bench $(date -u +%FT%TZ) archive $A runs $BENCH_RUNS"
echo "   mailkeep $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) CPUs, load $(load)"
st=$(mk status --json)
echo "   $(jq -r .stored <<<"$st") messages stored, $(jq -r .indexed <<<"$st") indexed, lag $(jq -r .lag_messages <<<"$st")"
# The first hold command reads the whole ledger for hold entries (once:
# the index keeps how far it has read); not counted.
t0=$(now_ms); mk hold list --json > /dev/null; t1=$(now_ms)
echo "   warm-up: hold list $(( t1 - t0 )) ms (reads the ledger's new entries)"

args_of() {
	case $1 in
	envelope) echo "--since 2000-01-01";;
	party) echo "--party $BENCH_PARTY";;
	text) echo "$BENCH_WORD";;
	esac
}

tag=hb$(date +%s)
R=$W/holds-$tag.tsv
printf 'run\tkind\twall_ms\twhoami_ms\tserver_ms\tmembers\tload\n' > "$R"
for run in $(seq "$BENCH_RUNS"); do
	names=
	for kind in $BENCH_KINDS; do
		name=$tag-$kind-$run
		base=$(for i in 1 2 3; do t0=$(now_ms); mk whoami > /dev/null; t1=$(now_ms); echo $(( t1 - t0 )); done | median)
		l=$(load)
		# shellcheck disable=SC2046
		t0=$(now_ms)
		out=$(mk hold create "$name" --reason "holds-bench $tag" $(args_of "$kind") --json)
		t1=$(now_ms)
		n=$(jq -r .messages <<<"$out")
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$kind" $(( t1 - t0 )) "$base" \
		    $(( t1 - t0 - base )) "$n" "$l" | tee -a "$R"
		names="$names $name"
	done
	for name in $names; do
		t0=$(now_ms); mk hold release "$name" --reason "holds-bench $tag done" > /dev/null; t1=$(now_ms)
		echo "   release $name: $(( t1 - t0 )) ms"
	done
done

echo "== hold create, server-side ms (CLI wall - whoami), $BENCH_RUNS runs"
printf '%-10s %10s %10s %10s %10s %10s\n' hold median min max wall-med members
for kind in $BENCH_KINDS; do
	v=$(awk -F'\t' -v k="$kind" '$2 == k { print $5 }' "$R")
	w=$(awk -F'\t' -v k="$kind" '$2 == k { print $3 }' "$R" | median)
	m=$(awk -F'\t' -v k="$kind" '$2 == k { print $6 }' "$R" | median)
	printf '%-10s %10s %10s %10s %10s %10s\n' "$kind" "$(median <<<"$v")" \
	    "$(sort -n <<<"$v" | head -n 1)" "$(sort -n <<<"$v" | tail -n 1)" "$w" "$m"
done
echo "   raw: $R; fulltext.sqlite now $(stat -c %s "$A/fulltext.sqlite") bytes"
