#!/bin/bash
# bench/expire-bench.sh - time `mailkeep expire` (issue 11: 100,000
# messages in under a minute) through a running mailkeep-access, and its
# parts in process (bench/expire-bench).
#
#   BENCH_DIR=/work/bench-expire BENCH_RUNS=3 bench/expire-bench.sh
#
# The archive (made once, kept as BENCH_DIR/archive.orig): messages
# BENCH_FIRST .. BENCH_FIRST+BENCH_COUNT-1 of bench/mailgen's stream of
# BENCH_TOTAL (seed 1: by default messages 900,000-999,999 of the
# 1,000,000 of bench/fill-1m.sh, received 2026-09-25 .. 2026-11-30, so
# every day's group is the size of one day of that archive), stored by
# tests/tools/archive-fill -g with the policy of fill-1m.sh but a
# retention of 1 day and root in role admin, the clock set (libfaketime)
# to the day before the first of them, so that all are due now.
# mailkeep-access then indexes them (timed) until `mailkeep status` shows
# no lag.
#
# Each run restores BENCH_DIR/archive from archive.orig, then
#   service  starts mailkeep-access, times a `mailkeep whoami` (median of
#            3), `mailkeep expire --dry-run --json`, `mailkeep expire
#            --json` (the service's time = the CLI's wall time - whoami),
#            stops it; with MAILKEEP_ACCESS_BEFORE=path (a build from
#            before a change), that service first, then this one, each on
#            a restored archive;
#   inproc   restores again and runs bench/expire-bench -x: the same work
#            in one process, split into its parts (see its header);
#   members  (not in the default BENCH_PARTS) the first 10 days' groups
#            expired in process from archive.held: the archive after a
#            hold over every message was placed and released (a released
#            hold keeps its member rows until they expire), made once.
#            EXPIRE_BENCH_BEFORE=path runs that binary too, first (a build
#            from before a change, for a before/after in the same run).
# Medians, min and max over BENCH_RUNS runs; uptime's load with each.
# Needs root (the service's peer check), jq, faketime; ~5 GB of disk.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
: "${BENCH_DIR:=/work/bench-expire}" "${BENCH_RUNS:=3}"
: "${BENCH_TOTAL:=1000000}" "${BENCH_FIRST:=900000}" "${BENCH_COUNT:=100000}"
: "${BENCH_PARTS:=service inproc}" "${BENCH_MEMBERS_NOW:=1791244800}"  # 2026-10-06
MAILKEEP=${MAILKEEP:-$top/cli/mailkeep}
MAILKEEP_ACCESS=${MAILKEEP_ACCESS:-$top/access/mailkeep-access}
MAILGEN=${MAILGEN:-$top/bench/mailgen}
ARCHIVE_FILL=${ARCHIVE_FILL:-$top/tests/tools/archive-fill}
EXPIRE_BENCH=${EXPIRE_BENCH:-$top/bench/expire-bench}
D=$BENCH_DIR
A=$D/archive
CONF=$D/mailkeep.conf
SVC_PID=

command -v jq > /dev/null || { echo "expire-bench.sh: needs jq" >&2; exit 1; }
mkdir -p "$D"
exec > >(tee -a "$D/expire-results.txt") 2>&1

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
svc_start() {
	local t=0
	"$MAILKEEP_ACCESS" -c "$CONF" -f >> "$D/access.log" 2>&1 &
	SVC_PID=$!
	until mk whoami > /dev/null 2>&1; do
		kill -0 "$SVC_PID" 2>/dev/null || { tail "$D/access.log"; echo "mailkeep-access exited" >&2; exit 1; }
		t=$(( t + 1 )); [ "$t" -le 600 ] || { echo "mailkeep-access not ready" >&2; exit 1; }
		sleep 0.1
	done
}

echo "== expire-bench $(date -u +%FT%TZ) dir $D runs $BENCH_RUNS"
echo "   mailkeep $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) CPUs, load $(load)"

if [ ! -d "$D/archive.orig" ]; then
	[ -e "$A" ] && { echo "expire-bench.sh: $A exists without archive.orig; remove it" >&2; exit 1; }
	LIBFAKETIME=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -n 1)
	[ -n "$LIBFAKETIME" ] || { echo "expire-bench.sh: libfaketimeMT.so.1 not found (apt-get install faketime)" >&2; exit 1; }
	cat > "$D/policy.ini" <<'EOF'
# bench/fill-1m.sh's policy, with a retention of one day and root admin
[defaults]
local_domains = corp.example, *.corp.example
mode = metadata
retention = 1d

[domain corp.example]
mode = full
roles = readers

[domain eu.corp.example]
mode = full
roles = readers

[domain legal.corp.example]
mode = full
roles = legal

[domain private.corp.example]
roles = readers

[role readers]
users = root

[role legal]
users = nobody-at-all

[role auditor]
users = root

[role admin]
users = root
EOF
	printf 'archive = %s\npolicy = %s\naccess_socket = %s\n' "$A" "$D/policy.ini" \
	    "$D/access.sock" > "$CONF"
	mk init > /dev/null
	first=$("$MAILGEN" -s 1 -N "$BENCH_TOTAL" -f "$BENCH_FIRST" -n 1 | head -n 1 | cut -f 2) || true
	day=$(( first / 1000000 / 86400 * 86400 - 86400 ))
	clock="@$(date -u -d "@$day" '+%F %T')"
	echo "== fill: messages $BENCH_FIRST.. ($BENCH_COUNT) of $BENCH_TOTAL, clock $clock, load $(load)"
	t0=$(now_ms)
	"$MAILGEN" -s 1 -N "$BENCH_TOTAL" -f "$BENCH_FIRST" -n "$BENCH_COUNT" -S 2> "$D/mailgen.stats" |
	    LD_PRELOAD=$LIBFAKETIME FAKETIME="$clock" FAKETIME_DONT_FAKE_MONOTONIC=1 \
	    "$ARCHIVE_FILL" -g -P "$D/policy.ini" -t 8 "$A"
	t1=$(now_ms)
	echo "   stored in $(( t1 - t0 )) ms; $(ls "$A/content" | wc -l) groups; load $(load)"
	svc_start
	t0=$(now_ms)
	while :; do
		st=$(mk status --json)
		[ "$(jq -r .lag_messages <<<"$st")" = 0 ] && break
		sleep 1
	done
	t1=$(now_ms)
	stop_svc
	echo "   indexed by mailkeep-access in $(( t1 - t0 )) ms (polled each second): $(jq -c . <<<"$st"); load $(load)"
	cp -a "$A" "$D/archive.orig"
fi

restore() { rm -rf "$A"; cp -a "$D/archive.${1:-orig}" "$A"; sync; }

if [[ " $BENCH_PARTS " == *" members "* ]] && [ ! -d "$D/archive.held" ]; then
	restore
	svc_start
	name=all-$(date +%s)
	mk hold create "$name" --reason "expire-bench: released hold's members" \
	    --since 2000-01-01 --json | jq -c .
	mk hold release "$name" --reason "expire-bench" > /dev/null
	stop_svc
	cp -a "$A" "$D/archive.held"
fi

R=$D/expire-$(date +%s).tsv
printf 'run\tpart\tms\tdetail\tload\n' > "$R"
for run in $(seq "$BENCH_RUNS"); do
	if [[ " $BENCH_PARTS " == *" service "* ]]; then
		for which in ${MAILKEEP_ACCESS_BEFORE:+before} after; do
			sfx=; [ -z "${MAILKEEP_ACCESS_BEFORE:-}" ] || sfx=-$which
			restore
			if [ "$which" = before ]; then
				MAILKEEP_ACCESS=$MAILKEEP_ACCESS_BEFORE svc_start
			else
				svc_start
			fi
			base=$(for i in 1 2 3; do t0=$(now_ms); mk whoami > /dev/null; t1=$(now_ms); echo $(( t1 - t0 )); done | median)
			l=$(load); t0=$(now_ms); out=$(mk expire --dry-run --json); t1=$(now_ms)
			printf '%s\tdry-run%s\t%s\t%s\t%s\n' "$run" "$sfx" $(( t1 - t0 - base )) "$(jq -c . <<<"$out")" "$l" | tee -a "$R"
			l=$(load); t0=$(now_ms); out=$(mk expire --json); t1=$(now_ms)
			printf '%s\texpire%s\t%s\t%s\t%s\n' "$run" "$sfx" $(( t1 - t0 - base )) "$(jq -c . <<<"$out")" "$l" | tee -a "$R"
			stop_svc
		done
	fi
	if [[ " $BENCH_PARTS " == *" inproc "* ]]; then
		restore
		l=$(load)
		"$EXPIRE_BENCH" -x "$A" > "$D/inproc-$run.txt"
		sed 's/^/   /' "$D/inproc-$run.txt"
		awk -v run="$run" -v l="$l" '
		    /^extract only/ { p = "extract-only" } /^dry run/ { p = "inproc-dry-run" }
		    /^expire / { p = "inproc-expire" } /^  held/ { p = "held" }
		    /^  forget  / { p = "forget" } /^  forget commits/ { p = "forget-commits" }
		    /^  archive/ { p = "archive" } /^  optimize/ { p = "optimize+wal" }
		    /^  slowest group/ { p = "slowest-group" }
		    p != "" { for (i = 1; i <= NF; i++) if ($(i + 1) == "s") { printf "%s\t%s\t%.0f\t\t%s\n", run, p, $i * 1000, l; break } p = "" }
		' "$D/inproc-$run.txt" >> "$R"
	fi
	if [[ " $BENCH_PARTS " == *" members "* ]]; then
		for which in ${EXPIRE_BENCH_BEFORE:+before} after; do
			restore held
			l=$(load)
			bin=$EXPIRE_BENCH; [ "$which" = after ] || bin=$EXPIRE_BENCH_BEFORE
			"$bin" -N "$BENCH_MEMBERS_NOW" "$A" > "$D/members-$which-$run.txt"
			sed "s/^/   $which /" "$D/members-$which-$run.txt"
			awk -v run="$run" -v l="$l" -v w="$which" '
			    /^expire / { p = "members-expire-" w } /^  forget  / { p = "members-forget-" w }
			    p != "" { for (i = 1; i <= NF; i++) if ($(i + 1) == "s") { printf "%s\t%s\t%.0f\t\t%s\n", run, p, $i * 1000, l; break } p = "" }
			' "$D/members-$which-$run.txt" >> "$R"
		done
	fi
done
restore

echo "== medians over $BENCH_RUNS runs, ms (service: CLI wall - whoami)"
printf '%-16s %10s %10s %10s\n' part median min max
for p in dry-run expire dry-run-before expire-before dry-run-after expire-after extract-only inproc-dry-run inproc-expire held forget forget-commits archive optimize+wal slowest-group members-expire-before members-forget-before members-expire-after members-forget-after; do
	v=$(awk -F'\t' -v p="$p" '$2 == p { print $3 }' "$R")
	[ -n "$v" ] || continue
	printf '%-16s %10s %10s %10s\n' "$p" "$(median <<<"$v")" \
	    "$(sort -n <<<"$v" | head -n 1)" "$(sort -n <<<"$v" | tail -n 1)"
done
echo "   raw: $R"
