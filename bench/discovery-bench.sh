#!/bin/bash
# discovery-bench.sh - search, count, export and verify-export times on a
# filled archive (issue 9's speed section; docs/PERFORMANCE.md, "Discovery
# on 1,000,000 messages").
#
# SYNOPSIS
#	[BENCH_ARCHIVE=/work/bench-1m/archive] [BENCH_RUNS=7]
#	[BENCH_PARTS="sizes inproc cli export"] [BENCH_EXPORT_SINCE=...]
#	[BENCH_EXPORT_UNTIL=...] [BENCH_FORMATS="eml mbox zip"]
#	bench/discovery-bench.sh
#
# DESCRIPTION
#	Run from a built tree, as root, on an archive made by
#	bench/fill-1m.sh (its mailkeep.conf, policy and fulltext.sqlite
#	beside it; the queries below name that generator's addresses and
#	words).  Re-runnable: it changes nothing but the ledger (every
#	search and export is audited there, as always) and its work
#	directory BENCH_WORK (default: the archive's parent/work).  First a
#	writer opens the archive once (tests/tools/archive-fill -g with no
#	input), so an archive made by an older mailkeep gets the current
#	indexes; the caches are warmed by reading index.sqlite and
#	fulltext.sqlite once and by a first round of every query, which is
#	not counted: every figure is warm cache.
#
#	Parts (BENCH_PARTS):
#	  sizes   bytes on disk: blobs, records, ledger, index.sqlite (with
#	          its WAL), fulltext.sqlite, the whole archive; each per
#	          message stored
#	  inproc  bench/search-bench: access_serve() in this process, no
#	          socket, no process start-up - the service's own time for
#	          each request; BENCH_RUNS interleaved runs, median
#	  cli     the same searches as a user types them: mailkeep search
#	          through a running mailkeep-access (started here like
#	          tests/e2e/lib.sh svc_start does, stopped at the end), and
#	          the envelope ones with mailkeep --offline search (the CLI
#	          opens the archive itself; it has no full-text search).
#	          Wall time of the whole command, median of BENCH_RUNS
#	          interleaved runs; the baselines "whoami" (service round
#	          trip, no archive work) and an offline search that finds
#	          nothing say what process start-up and the connection cost
#	  export  mailkeep export --format F of the messages received in
#	          [BENCH_EXPORT_SINCE, BENCH_EXPORT_UNTIL) (default: one
#	          weekday hour, about 200 messages), then mailkeep
#	          verify-export; MB/s = 10^6 bytes of exported message
#	          content (verify-export's count) per second of wall time.
#	          Runs once per format (BENCH_FORMATS).  A range of 1-2 GB
#	          is e.g. BENCH_EXPORT_SINCE=2025-03-01
#	          BENCH_EXPORT_UNTIL=2025-04-15 (about 60,000 messages).
#	Prints figures; passes or fails nothing.  Results are also left in
#	BENCH_WORK/results.txt.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
: "${BENCH_ARCHIVE:=/work/bench-1m/archive}" "${BENCH_RUNS:=7}"
: "${BENCH_PARTS:=sizes inproc cli export}"
: "${BENCH_EXPORT_SINCE:=2025-06-04T10:00:00Z}" "${BENCH_EXPORT_UNTIL:=2025-06-04T11:00:00Z}"
: "${BENCH_FORMATS:=eml mbox zip}"
A=$BENCH_ARCHIVE
D=$(dirname "$A")
CONF=${BENCH_CONF:-$D/mailkeep.conf}
W=${BENCH_WORK:-$D/work}
MAILKEEP=${MAILKEEP:-$top/cli/mailkeep}
MAILKEEP_ACCESS=${MAILKEEP_ACCESS:-$top/access/mailkeep-access}
SEARCH_BENCH=${SEARCH_BENCH:-$top/bench/search-bench}
ARCHIVE_FILL=${ARCHIVE_FILL:-$top/tests/tools/archive-fill}
SVC_PID=

[ -d "$A" ] && [ -f "$CONF" ] || { echo "discovery-bench.sh: no archive $A or $CONF (bench/fill-1m.sh)" >&2; exit 1; }
[ -f "$A/fulltext.sqlite" ] || { echo "discovery-bench.sh: no $A/fulltext.sqlite (bench/fill-1m.sh indexes)" >&2; exit 1; }
mkdir -p "$W"
exec > >(tee "$W/results.txt") 2>&1

stop_svc() {
	[ -n "$SVC_PID" ] || return 0
	kill -TERM "$SVC_PID" 2>/dev/null || true
	wait "$SVC_PID" 2>/dev/null || true
	SVC_PID=
}
trap stop_svc EXIT

# The queries: NAME, then the mailkeep search arguments, then the request
# the CLI sends for them (bench/search-bench takes these).  The addresses
# and words are bench/mailgen's with seed 1 (mailgen -w RANK prints the
# word of a rank; meeting and budget are ranks 66 and 109, ginhovenho
# 15,000, sadraul 3,000, fadelardel 5,000); docs/PERFORMANCE.md gives the
# number of matches of each.
QUERIES=$(cat <<'EOF'
from-addr-newest	--from robert.durand2@corp.example --limit 100 --newest	{"op":"search","from":"robert.durand2@corp.example","limit":100,"newest":true}
from-addr-oldest	--from robert.durand2@corp.example --limit 100	{"op":"search","from":"robert.durand2@corp.example","limit":100}
from-rare-addr-newest	--from a.novak93@lofaar.fr --limit 100 --newest	{"op":"search","from":"a.novak93@lofaar.fr","limit":100,"newest":true}
from-domain-newest	--from @corp.example --limit 100 --newest	{"op":"search","from":"@corp.example","limit":100,"newest":true}
from-domain-oldest	--from @corp.example --limit 100	{"op":"search","from":"@corp.example","limit":100}
to-addr-newest	--to hiroshi.mueller0@corp.example --limit 100 --newest	{"op":"search","to":"hiroshi.mueller0@corp.example","limit":100,"newest":true}
to-rare-addr-newest	--to carla.moreau8@corp.example --limit 100 --newest	{"op":"search","to":"carla.moreau8@corp.example","limit":100,"newest":true}
to-domain-oldest	--to @eu.corp.example --limit 100	{"op":"search","to":"@eu.corp.example","limit":100}
date-range-oldest	--since 2025-06-02 --until 2025-06-09 --limit 100	{"op":"search","since":1748822400000000,"until":1749427200000000,"limit":100}
date-range-newest	--since 2025-06-02 --until 2025-06-09 --limit 100 --newest	{"op":"search","since":1748822400000000,"until":1749427200000000,"limit":100,"newest":true}
text-common-common	--limit 100 --newest meeting budget	{"op":"search","q":"meeting budget","limit":100,"newest":true}
text-common-rare	--limit 100 --newest meeting ginhovenho	{"op":"search","q":"meeting ginhovenho","limit":100,"newest":true}
text-rare-rare	--limit 100 --newest sadraul fadelardel	{"op":"search","q":"sadraul fadelardel","limit":100,"newest":true}
combined	--from @corp.example --since 2025-01-01 --until 2025-07-01 --limit 100 --newest contract has:attachment	{"op":"search","from":"@corp.example","since":1735689600000000,"until":1751328000000000,"limit":100,"newest":true,"q":"contract has:attachment"}
count-from-domain	--count --from @corp.example	{"op":"search","from":"@corp.example","count":true}
count-text-common	--count meeting	{"op":"search","q":"meeting","count":true}
EOF
)
# the envelope-only ones, which mailkeep --offline search can do
OFFLINE="from-addr-newest from-addr-oldest from-rare-addr-newest from-domain-newest from-domain-oldest to-addr-newest to-rare-addr-newest to-domain-oldest date-range-oldest date-range-newest"

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
now_us() { echo $(( $(date +%s%N) / 1000 )); }
mk() { "$MAILKEEP" -c "$CONF" "$@"; }

echo "== discovery-bench $(date -u +%FT%TZ) archive $A runs $BENCH_RUNS"
echo "   mailkeep $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# A writer opens it once: current indexes (index_upgrade).
"$ARCHIVE_FILL" -g "$A" < /dev/null > /dev/null

svc_start() {
	local t=0
	"$MAILKEEP_ACCESS" -c "$CONF" -f >> "$W/access.log" 2>&1 &
	SVC_PID=$!
	until mk whoami > /dev/null 2>&1; do
		kill -0 "$SVC_PID" 2>/dev/null || { tail "$W/access.log"; echo "mailkeep-access exited" >&2; exit 1; }
		t=$(( t + 1 )); [ "$t" -le 600 ] || { echo "mailkeep-access not ready" >&2; exit 1; }
		sleep 0.1
	done
}

if [[ " $BENCH_PARTS " == *" sizes "* ]]; then
	svc_start
	st=$(mk status --json)
	stop_svc
	n=$(jq -r .stored <<<"$st")
	echo "== sizes on disk (du -B1 / stat), $n messages stored, $(jq -r .indexed <<<"$st") indexed, lag $(jq -r .lag_messages <<<"$st")"
	printf '%-18s %16s %14s\n' part bytes "bytes/message"
	size_of() { du -s -B1 "$@" 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
	for part in blobs records ledger keys index fulltext total; do
		case $part in
		index) b=$(size_of "$A"/index.sqlite*);;
		fulltext) b=$(size_of "$A"/fulltext.sqlite*);;
		total) b=$(size_of "$A");;
		*) b=$(size_of "$A/$part");;
		esac
		printf '%-18s %16s %14.0f\n' "$part" "$b" "$(echo "$b / $n" | bc -l)"
	done
	apparent=$(du -s -B1 --apparent-size "$A/blobs" | cut -f1)
	printf '%-18s %16s %14.0f   (apparent size; du above counts 4 KiB blocks)\n' blobs-apparent "$apparent" "$(echo "$apparent / $n" | bc -l)"
fi

# warm: read the index files once
cat "$A"/index.sqlite* "$A"/fulltext.sqlite* > /dev/null

if [[ " $BENCH_PARTS " == *" inproc "* ]]; then
	awk -F'\t' '{ print $1 "\t" $3 }' <<<"$QUERIES" > "$W/requests.tsv"
	printf 'whoami\t{"op":"whoami"}\n' >> "$W/requests.tsv"
	echo "== in process: access_serve() as root (role readers), median of $BENCH_RUNS interleaved runs after one warm-up run"
	"$SEARCH_BENCH" -r 1 "$CONF" "$W/requests.tsv" > /dev/null
	"$SEARCH_BENCH" -r "$BENCH_RUNS" "$CONF" "$W/requests.tsv"
fi

if [[ " $BENCH_PARTS " == *" cli "* ]]; then
	svc_start
	: > "$W/cli.tsv"
	for r in $(seq 0 "$BENCH_RUNS"); do	# run 0 warms, not counted
		t0=$(now_us); mk whoami > /dev/null; t1=$(now_us)
		echo "$r service baseline-whoami $(( t1 - t0 ))" >> "$W/cli.tsv"
		t0=$(now_us); mk --offline search --message-id '<none@bench>' > /dev/null; t1=$(now_us)
		echo "$r offline baseline-empty-search $(( t1 - t0 ))" >> "$W/cli.tsv"
		while IFS=$'\t' read -r name args req; do
			read -r -a argv <<<"$args"
			t0=$(now_us); mk search "${argv[@]}" > "$W/out.txt"; t1=$(now_us)
			echo "$r service $name $(( t1 - t0 ))" >> "$W/cli.tsv"
			[ "$r" = 0 ] && cp "$W/out.txt" "$W/out-$name.txt"
			if [[ " $OFFLINE " == *" $name "* ]]; then
				t0=$(now_us); mk --offline search "${argv[@]}" > /dev/null; t1=$(now_us)
				echo "$r offline $name $(( t1 - t0 ))" >> "$W/cli.tsv"
			fi
		done <<<"$QUERIES"
	done
	stop_svc
	echo "== mailkeep search, wall time of the command (ms), median of $BENCH_RUNS interleaved runs after one warm-up run"
	printf '%-22s %12s %12s %10s\n' query service offline results
	for name in baseline-whoami baseline-empty-search $(cut -f1 <<<"$QUERIES"); do
		s=$(awk -v n="$name" '$1 > 0 && $2 == "service" && $3 == n { print $4 }' "$W/cli.tsv" | median)
		o=$(awk -v n="$name" '$1 > 0 && $2 == "offline" && $3 == n { print $4 }' "$W/cli.tsv" | median)
		res=-
		if [ -f "$W/out-$name.txt" ]; then
			case $name in count-*) res=$(head -n1 "$W/out-$name.txt");;
			*) res=$(grep -c '^[0-9a-f]\{24\}' "$W/out-$name.txt" || true);; esac
		fi
		printf '%-22s %12s %12s %10s\n' "$name" "${s:+$(echo "scale=1; $s / 1000" | bc)}" \
		    "${o:+$(echo "scale=1; $o / 1000" | bc)}" "$res"
	done
fi

if [[ " $BENCH_PARTS " == *" export "* ]]; then
	svc_start
	echo "== export of [$BENCH_EXPORT_SINCE, $BENCH_EXPORT_UNTIL), then verify-export (wall time; MB = 10^6 bytes of message content)"
	printf '%-6s %9s %12s %10s %10s %10s %10s %12s\n' format messages bytes "export s" "MB/s" "verify s" "MB/s" "ms/message"
	for fmt in $BENCH_FORMATS; do
		out=$W/export.$fmt
		rm -rf "$out"
		t0=$(now_us)
		mk export --since "$BENCH_EXPORT_SINCE" --until "$BENCH_EXPORT_UNTIL" --format "$fmt" --out "$out" --json > "$W/export-$fmt.json"
		t1=$(now_us)
		mk verify-export "$out" --json > "$W/verify-$fmt.json" || true
		t2=$(now_us)
		msgs=$(jq -r .messages "$W/export-$fmt.json")
		bytes=$(jq -r .bytes "$W/verify-$fmt.json")
		[ "$(jq -r .problems "$W/verify-$fmt.json")" = 0 ] || echo "   verify-export $fmt found problems: $W/verify-$fmt.json"
		printf '%-6s %9s %12s %10.2f %10.1f %10.2f %10.1f %12.1f\n' "$fmt" "$msgs" "$bytes" \
		    "$(echo "($t1 - $t0) / 1000000" | bc -l)" "$(echo "$bytes / ($t1 - $t0)" | bc -l)" \
		    "$(echo "($t2 - $t1) / 1000000" | bc -l)" "$(echo "$bytes / ($t2 - $t1)" | bc -l)" \
		    "$(echo "($t1 - $t0) / 1000 / $msgs" | bc -l)"
	done
	stop_svc
fi
echo "== done $(date -u +%FT%TZ)"
