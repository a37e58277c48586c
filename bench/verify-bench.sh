#!/bin/bash
# verify-bench.sh - how fast `mailkeep verify` checks an archive on one core.
#
# NAME
#	bench/verify-bench.sh - MB/s of original message bytes that
#	`mailkeep verify` checks, pinned to one CPU
#
# SYNOPSIS
#	bench/verify-bench.sh             (from the top of a built tree)
#	VERIFY_COUNT=2000 VERIFY_SIZE=102400 VERIFY_MIX_COUNT=20000 \
#	VERIFY_RUNS=3 VERIFY_CPU=0 bench/verify-bench.sh
#
# DESCRIPTION
#	Fills archives with tests/tools/archive-fill in the default
#	configuration (zlib level 6, AES-256-GCM blobs, Ed25519-signed and
#	AES-GCM-sealed records, Merkle ledger with signed checkpoints), every
#	copy distinct (-v, so each is a blob of its own):
#
#	  text   VERIFY_COUNT copies of one generated text/plain message of
#	         VERIFY_SIZE bytes (English-like text, as bench/store-bench.sh
#	         makes it);
#	  mix    VERIFY_MIX_COUNT messages taken in turn from the e-mail
#	         corpus (1-10 KB messages; 0 skips this archive).
#
#	Then runs `taskset -c VERIFY_CPU mailkeep -c CONF verify --json`
#	VERIFY_RUNS times on each archive, the archives interleaved.  Each
#	verify checks everything: the ledger and its signed checkpoints, the
#	keys, every record (decrypted, signature verified, compared with the
#	ledger), the SQLite index against the records, and every blob
#	(decrypted, inflated, SHA-256 compared with its name).  The archive
#	was just written, so its files are in the page cache: this measures
#	CPU, not the disk.
#
#	MB/s = content_bytes (from verify --json: original bytes of the
#	blobs, 10^6 a MB) / wall seconds of the verify process; CPU is its
#	user + system seconds.  The table gives medians, and every run.
#	Figures go to stdout.  This script prints figures; it never passes
#	or fails on them (a verify that finds problems is an error, though:
#	the archive is expected to be sound).
#
# ENVIRONMENT
#	VERIFY_COUNT      messages of the text archive (2000)
#	VERIFY_SIZE       bytes of its message (102400)
#	VERIFY_MIX_COUNT  messages of the corpus archive (20000); 0 skips it
#	VERIFY_RUNS       verify runs per archive (3)
#	VERIFY_CPU        the CPU to pin verify to (0)
#	VERIFY_DIR        parent of the work directory (${TMPDIR:-/tmp})
#	VERIFY_CORPUS     the corpus files (default as in bench/store-bench.sh)
#	VERIFY_KEEP=1     keep the work directory
#	ARCHIVE_FILL, MAILKEEP  programs (default: this tree)
#
# DIAGNOSTICS
#	Exit status 0 when every run completed and found the archive sound;
#	non-zero with a message on stderr otherwise.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
VERIFY_COUNT=${VERIFY_COUNT:-2000}
VERIFY_SIZE=${VERIFY_SIZE:-102400}
VERIFY_MIX_COUNT=${VERIFY_MIX_COUNT:-20000}
VERIFY_RUNS=${VERIFY_RUNS:-3}
VERIFY_CPU=${VERIFY_CPU:-0}
VERIFY_DIR=${VERIFY_DIR:-${TMPDIR:-/tmp}}
ARCHIVE_FILL=${ARCHIVE_FILL:-$top/tests/tools/archive-fill}
MAILKEEP=${MAILKEEP:-$top/cli/mailkeep}

die() { echo "verify-bench: $*" >&2; exit 1; }
note() { echo "verify-bench: $*" >&2; }

[ -x "$ARCHIVE_FILL" ] || die "$ARCHIVE_FILL not built (make)"
[ -x "$MAILKEEP" ] || die "$MAILKEEP not built (make)"
command -v taskset > /dev/null || die "taskset not found (util-linux)"

if [ -n "${VERIFY_CORPUS:-}" ]; then
	read -r -a corpus <<< "$VERIFY_CORPUS"
else
	shopt -s nullglob
	corpus=(/usr/lib/python3*/test/test_email/data/msg_*.txt
		"$top"/tests/corpus/*.eml
		"$top"/tests/corpus/third-party/spamassassin/*)
	shopt -u nullglob
fi

W=$(mktemp -d "$VERIFY_DIR/mailkeep-verify-bench.XXXXXX")
cleanup() {
	if [ "${VERIFY_KEEP:-0}" = 1 ]; then
		note "work directory kept: $W"
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Copies of the programs, so that a rebuild of the tree during the runs
# neither breaks them nor mixes two builds.
cp "$ARCHIVE_FILL" "$W/archive-fill" || die "cannot copy $ARCHIVE_FILL"
cp "$MAILKEEP" "$W/mailkeep" || die "cannot copy $MAILKEEP"

# gen_text SIZE FILE - a generated text message (bench/gen-text.sh)
gen_text() {
	bash "$top"/bench/gen-text.sh "$1" "$2" "$W"
}

# ---------------------------------------------------------------- archives

archives=(text)
[ "$VERIFY_MIX_COUNT" -gt 0 ] && [ "${#corpus[@]}" -gt 0 ] && archives+=(mix)

{
	echo "== mailkeep verify benchmark (bench/verify-bench.sh) =="
	echo "command:   VERIFY_COUNT=$VERIFY_COUNT VERIFY_SIZE=$VERIFY_SIZE VERIFY_MIX_COUNT=$VERIFY_MIX_COUNT VERIFY_RUNS=$VERIFY_RUNS VERIFY_CPU=$VERIFY_CPU bench/verify-bench.sh"
	echo "date:      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "machine:   nproc $(nproc), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(free -h | awk '/^Mem:/ { print $2 }') RAM, kernel $(uname -r)"
	echo "libraries: $(openssl version 2>/dev/null | cut -d' ' -f1-2), zlib $(dpkg-query -W -f '${Version}' zlib1g 2>/dev/null || echo '?'), SQLite $(dpkg-query -W -f '${Version}' libsqlite3-0 2>/dev/null || echo '?')"
	echo "tree:      $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$top" diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)'), CFLAGS $(sed -n 's/^CFLAGS = //p' "$top/Makefile" 2>/dev/null)"
	echo "program:   $MAILKEEP built $(date -u -r "$MAILKEEP" '+%Y-%m-%d %H:%M:%S UTC') (a copy is run)"
	echo "work dir:  $W on $(df -T "$W" | awk 'NR == 2 { print $2 " (" $1 ")" }')"
	echo "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at start"
}

gen_text "$VERIFY_SIZE" "$W/msg.txt"
for a in "${archives[@]}"; do
	if [ "$a" = text ]; then
		args=(-v -n "$VERIFY_COUNT" "$W/$a" "$W/msg.txt")
	else
		args=(-v -n "$VERIFY_MIX_COUNT" "$W/$a" "${corpus[@]}")
	fi
	"$W/archive-fill" "${args[@]}" > "$W/fill.out" 2> "$W/fill.err" ||
		die "archive-fill failed: $(head -n 3 "$W/fill.err")"
	echo "archive $a: $(head -n 1 "$W/fill.out") (archive-fill, default configuration, -v)"
	echo "archive = $W/$a" > "$W/$a.conf"
done

# ---------------------------------------------------------------- runs

# verify_once ARCHIVE - one pinned verify; writes "bytes blobs records
#	wall user sys load" to $W/run.out
verify_once() {
	local a=$1 load TIMEFORMAT='%R %U %S'
	sync
	load=$(cut -d' ' -f1 /proc/loadavg)
	{ time taskset -c "$VERIFY_CPU" "$W/mailkeep" -c "$W/$a.conf" verify --json \
	    > "$W/verify.json" 2> "$W/verify.err"; } 2> "$W/time.out" ||
		die "verify of $a failed: $(head -n 3 "$W/verify.err")"
	grep -q '"ok": true' "$W/verify.json" || die "verify of $a found problems: $(head -c 400 "$W/verify.json")"
	awk -v t="$(cat "$W/time.out")" -v load="$load" -F'[:,]' '
	    /"content_bytes"/ { b = $2 + 0 } /"blobs"/ { n = $2 + 0 } /"records"/ { r = $2 + 0 }
	    END { print b, n, r, t, load }' "$W/verify.json" > "$W/run.out"
}

: > "$W/results.tsv"
for r in $(seq 1 "$VERIFY_RUNS"); do
	for a in "${archives[@]}"; do
		verify_once "$a"
		read -r bytes blobs records wall usr sys load < "$W/run.out"
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$a" "$r" "$bytes" "$blobs" "$records" "$wall" "$usr" "$sys" "$load" >> "$W/results.tsv"
		awk -v a="$a" -v r="$r" -v b="$bytes" -v n="$blobs" -v w="$wall" -v u="$usr" -v s="$sys" -v l="$load" 'BEGIN {
			printf "  run %d %-5s %d blobs, %.1f MB: %6.2f s wall, %6.2f s CPU (user %.2f, sys %.2f): %6.1f MB/s, %7.0f msg/s, load %s\n",
			    r, a, n, b / 1e6, w, u + s, u, s, b / w / 1e6, n / w, l }'
	done
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# col ARCHIVE EXPR - an awk expression of bytes, blobs, wall, usr, sys, load
col() {
	awk -F'\t' -v a="$1" '$1 == a { bytes = $3; blobs = $4; wall = $6; usr = $7; sys = $8; load = $9
		print '"$2"' }' "$W/results.tsv"
}

echo
echo "== verify, pinned to CPU $VERIFY_CPU: medians of $VERIFY_RUNS runs =="
printf '%-5s %7s %9s %9s %8s %8s %9s %9s %-22s %s\n' archive blobs "MB" "wall s" "CPU s" "MB/s" "CPU MB/s" "msg/s" "runs MB/s" "load"
for a in "${archives[@]}"; do
	awk -v a="$a" -v n="$(col "$a" blobs | median)" -v b="$(col "$a" bytes | median)" \
	    -v w="$(col "$a" wall | median)" -v c="$(col "$a" 'usr + sys' | median)" \
	    -v mbs="$(col "$a" 'bytes / wall / 1e6' | median)" \
	    -v cmbs="$(col "$a" 'bytes / (usr + sys) / 1e6' | median)" \
	    -v mps="$(col "$a" 'blobs / wall' | median)" \
	    -v runs="$(col "$a" 'sprintf("%.1f", bytes / wall / 1e6)' | tr '\n' ' ')" \
	    -v l="$(col "$a" load | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }')" 'BEGIN {
		printf "%-5s %7d %9.1f %9.2f %8.2f %8.1f %9.1f %9.0f %-22s %s\n", a, n, b / 1e6, w, c, mbs, cmbs, mps, runs, l }'
done
echo "(MB/s: content_bytes of verify --json / wall seconds; CPU MB/s: the same / user + system seconds; load: 1-min load average before each run)"
echo "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at end"
