#!/bin/bash
# fill-1m.sh - the archive of the discovery benchmark: 1,000,000 messages
# of bench/mailgen stored through archive.h, then the full-text index.
#
# SYNOPSIS
#	[BENCH_DIR=/work/bench-1m] [BENCH_COUNT=1000000] [BENCH_SEED=1]
#	[BENCH_THREADS=8] [BENCH_INDEX=1] bench/fill-1m.sh
#
# DESCRIPTION
#	Run from a built tree.  Writes into BENCH_DIR (kept out of the source
#	tree; 1,000,000 messages take about 19 GB with their indexes):
#	  policy.ini	the policy of the fill (made when missing): local
#			domains corp.example and *.corp.example; corp.example and
#			eu.corp.example in full for role readers,
#			legal.corp.example in full for role legal,
#			private.corp.example and mail without a local party
#			other than it as metadata only; root is reader and
#			auditor
#	  mailkeep.conf	archive, policy and access socket for the CLI and
#			mailkeep-access
#	  archive/	made with "mailkeep init", filled by
#			bench/mailgen -N COUNT -s SEED -S |
#			tests/tools/archive-fill -g -P policy.ini -t THREADS
#	  fill.log	archive-fill's progress and summary, mailgen's size
#			distribution (-S)
#	  index.log	bench/index-bench ARCHIVE 1, pinned to one core: reading
#			every message (baseline), then discovery_index_rebuild(),
#			which leaves archive/fulltext.sqlite (BENCH_INDEX=0: skip)
#	The archive is made with the shipped defaults (zlib level 1,
#	encryption, signed records, group commit, fsync): no durability
#	knob is turned down for the fill.  Refuses to run when
#	BENCH_DIR/archive exists.  1,000,000 messages took 52 minutes to
#	store on a busy 2-CPU machine (18 at the 932 messages/s of a quiet
#	one) and index-bench about 10 more (docs/PERFORMANCE.md).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
: "${BENCH_DIR:=/work/bench-1m}" "${BENCH_COUNT:=1000000}" "${BENCH_SEED:=1}"
: "${BENCH_THREADS:=8}" "${BENCH_INDEX:=1}"
MAILKEEP=${MAILKEEP:-$top/cli/mailkeep}
MAILGEN=${MAILGEN:-$top/bench/mailgen}
ARCHIVE_FILL=${ARCHIVE_FILL:-$top/tests/tools/archive-fill}
INDEX_BENCH=${INDEX_BENCH:-$top/bench/index-bench}
A=$BENCH_DIR/archive

[ -e "$A" ] && { echo "fill-1m.sh: $A exists; remove it or pick another BENCH_DIR" >&2; exit 1; }
mkdir -p "$BENCH_DIR"
if [ ! -f "$BENCH_DIR/policy.ini" ]; then
	cat > "$BENCH_DIR/policy.ini" <<'EOF'
# The policy of the discovery benchmark archive (bench/fill-1m.sh).
[defaults]
local_domains = corp.example, *.corp.example
mode = metadata
retention = 10y

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
EOF
fi
cat > "$BENCH_DIR/mailkeep.conf" <<EOF
archive = $A
policy = $BENCH_DIR/policy.ini
access_socket = $BENCH_DIR/access.sock
EOF
"$MAILKEEP" -c "$BENCH_DIR/mailkeep.conf" init > /dev/null
{
	echo "# $(date -u +%FT%TZ) mailgen -N $BENCH_COUNT -s $BENCH_SEED -S |" \
	    "archive-fill -g -P policy.ini -t $BENCH_THREADS $A"
	"$MAILGEN" -N "$BENCH_COUNT" -s "$BENCH_SEED" -S 2>"$BENCH_DIR/mailgen.stats" |
	    "$ARCHIVE_FILL" -g -P "$BENCH_DIR/policy.ini" -t "$BENCH_THREADS" "$A" 2>&1
	cat "$BENCH_DIR/mailgen.stats"
	echo "# $(date -u +%FT%TZ) done"
} > "$BENCH_DIR/fill.log"
cat "$BENCH_DIR/fill.log"
if [ "$BENCH_INDEX" = 1 ]; then
	{
		echo "# $(date -u +%FT%TZ) taskset -c 0 index-bench $A 1"
		taskset -c 0 "$INDEX_BENCH" "$A" 1
		echo "# $(date -u +%FT%TZ) done"
	} > "$BENCH_DIR/index.log" 2>&1
	cat "$BENCH_DIR/index.log"
fi
