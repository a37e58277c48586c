#!/bin/bash
# import-bench.sh - how fast mailkeep import stores an mbox.
#
# NAME
#	bench/import-bench.sh - messages a second of "mailkeep import mbox",
#	beside the archive API's own rate on the same messages
#
# SYNOPSIS
#	bench/import-bench.sh             (as root, from a built tree)
#	IB_MESSAGES=20000 IB_RUNS=3 IB_CASES="api import forward" \
#	    bench/import-bench.sh
#
# DESCRIPTION
#	IB_MESSAGES messages of bench/mailgen (the discovery benchmark's
#	model: a realistic mix of sizes, structures and charsets, CRLF) are
#	written once as an mbox (docs/FORMAT.md 9.1) and once as
#	archive-fill's stream.  Each round runs every case on a new archive
#	(defaults of mailkeep.conf(5): zstd:1, encrypted, signed; everything
#	kept in full), the cases interleaved so that the machine's drift
#	touches them alike:
#
#	  api      tests/tools/archive-fill -g -t 16: the archive API with
#	           16 threads storing at once - the ceiling for import
#	  import   mailkeep import mbox through mailkeep-access, which opens
#	           the archive for writing itself (no milter)
#	  forward  the same while mailkeep-milter holds the writer lock: the
#	           stores go to the milter over writer.sock
#
#	mailkeep-access's indexer trails every case (its CPU is part of
#	the cost, as in use).  A case's time is the wall time of the store
#	(api) or of the import command; the table gives the median of
#	IB_RUNS rounds, each round's, and messages a second, and the import
#	cases' ratio to api.  Every import must report IB_MESSAGES imported.
#
# ENVIRONMENT
#	IB_MESSAGES  messages (20000)      IB_RUNS   rounds (3)
#	IB_CASES     cases ("api import forward")
#	IB_DIR       scratch directory (a new one under /tmp)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
N=${IB_MESSAGES:-20000}
RUNS=${IB_RUNS:-3}
CASES=${IB_CASES:-api import forward}
D=${IB_DIR:-$(mktemp -d /tmp/import-bench.XXXXXX)}
MK=$top/cli/mailkeep
ACCESS=$top/access/mailkeep-access
MILTER=$top/milter/mailkeep-milter
FILL=$top/tests/tools/archive-fill
for p in "$MK" "$ACCESS" "$MILTER" "$FILL" "$top/bench/mailgen"; do
	[ -x "$p" ] || { echo "missing $p: build first (make)"; exit 1; }
done

# 1. The messages, as a fill stream and as an mbox.
"$top/bench/mailgen" -N "$N" -n "$N" > "$D/stream"
mkdir -p "$D/eml"
"$top/bench/mailgen" -N "$N" -n "$N" -o "$D/eml" 2>/dev/null
python3 - "$D/eml" "$D/all.mbox" <<'EOF'
import os, re, sys
src, out = sys.argv[1], open(sys.argv[2], 'wb')
for name in sorted(os.listdir(src)):
    data = open(os.path.join(src, name), 'rb').read()
    data = re.sub(rb'(^|\n)(>*From )', lambda m: m.group(1) + b'>' + m.group(2), data)
    out.write(b'From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n' + data + b'\n')
EOF
rm -rf "$D/eml"
printf '[defaults]\nmode = full\nroles = readers\n[role readers]\nusers = root\n[role admin]\nusers = root\n' > "$D/policy.ini"
echo "# $N messages, $(du -m "$D/all.mbox" | cut -f1) MB of mbox; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"

# setup - a new archive and its configuration; mailkeep-access started
setup() {
	rm -rf "$D/archive" "$D/milter.sock" "$D/access.sock"
	cat > "$D/mk.conf" <<EOF
socket = unix:$D/milter.sock
archive = $D/archive
policy = $D/policy.ini
access_socket = $D/access.sock
pidfile = $D/milter.pid
EOF
	"$MK" -c "$D/mk.conf" init > /dev/null || exit 1
	"$ACCESS" -c "$D/mk.conf" -f > "$D/access.log" 2>&1 &
	APID=$!
	for _ in $(seq 100); do "$MK" -c "$D/mk.conf" whoami > /dev/null 2>&1 && return; sleep 0.1; done
	echo "mailkeep-access did not start"; exit 1
}

# teardown - stop what setup and the case started
teardown() {
	kill "$APID" 2>/dev/null; wait "$APID" 2>/dev/null
	[ -z "${MPID:-}" ] || { kill "$MPID" 2>/dev/null; wait "$MPID" 2>/dev/null; MPID=; }
}

# run_case CASE - one timed run; its seconds on stdout
run_case() {
	local t0 t1 out
	setup
	if [ "$1" = forward ]; then
		"$MILTER" -c "$D/mk.conf" -f > "$D/milter.log" 2>&1 &
		MPID=$!
		for _ in $(seq 100); do [ -S "$D/archive/writer.sock" ] && break; sleep 0.1; done
	fi
	t0=$(date +%s.%N)
	if [ "$1" = api ]; then
		"$FILL" -g -t 16 "$D/archive" < "$D/stream" > /dev/null 2>&1
	else
		out=$("$MK" -c "$D/mk.conf" import mbox "$D/all.mbox" | tail -n 1)
	fi
	t1=$(date +%s.%N)
	if [ "$1" != api ] && ! grep -q "^imported $N," <<<"$out"; then
		echo "$1: not all imported: $out" >&2
	fi
	teardown
	echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }'
}

declare -A secs
for r in $(seq "$RUNS"); do
	for c in $CASES; do
		secs[$c]="${secs[$c]:-} $(run_case "$c")"
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
printf '%-8s %9s %9s  %-8s  %s\n' case median msg/s "vs api" runs
api_m=
for c in $CASES; do
	m=$(median <<<"${secs[$c]}")
	[ "$c" = api ] && api_m=$m
	ratio=-
	[ -n "$api_m" ] && [ "$c" != api ] && ratio=$(awk -v a="$api_m" -v b="$m" 'BEGIN { printf "%.2fx", b / a }')
	printf '%-8s %8ss %9.0f  %-8s %s\n' "$c" "$m" "$(awk -v n="$N" -v s="$m" 'BEGIN { print n / s }')" "$ratio" "${secs[$c]}"
done
[ -n "${IB_DIR:-}" ] || rm -rf "$D"
