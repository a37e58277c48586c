#!/bin/bash
# store-bench.sh - what compression, encryption and signatures cost the store.
#
# NAME
#	bench/store-bench.sh - messages/second and MB/second through the
#	archive API (tests/tools/archive-fill), plain against compressed +
#	encrypted + signed, and the size of the stored blobs
#
# SYNOPSIS
#	bench/store-bench.sh              (from the top of a built tree)
#	BENCH_ROUNDS=5 BENCH_CONFIGS="plain full full-zlib:1 full-zstd:3 crypt" \
#	BENCH_PLACES="disk shm" BENCH_MIX_COUNT=2000 \
#	BENCH_SIZES="102400 1048576" bench/store-bench.sh
#
# DESCRIPTION
#	Each run is one archive-fill invocation into a new, empty archive
#	(created before the clock starts: archive-fill times from the first
#	store to the end of archive_close(), i.e. every message durable),
#	from BENCH_THREADS threads, so that group commit batches as it does
#	for the milter.  Every run uses -v, so every copy is a distinct
#	message (an "X-Fill: N" line first) and deduplication hides nothing.
#	Configurations (archive-fill options):
#
#	  plain    -p      no compression, no encryption, unsigned records
#	                   (the baseline; verify rejects such an archive)
#	  full     (none)  mailkeep's default compression (zstd level 1) +
#	                   AES-256-GCM blobs, Ed25519-signed, AES-GCM-sealed
#	                   records: the default
#	  full-SPEC -z SPEC as full, compressed as SPEC says (mailkeep.conf's
#	                   "compression": zstd:3, zlib:1, zstd:-1, ...)
#	  full-z6  -z 6    as full, zlib level 6 (= full-zlib:6)
#	  crypt    -z 0    as full without compression (encryption and
#	                   signatures only)
#	  zlib     -u      as full without blob encryption (records are still
#	                   signed and sealed)
#
#	Workloads:
#	  mix      BENCH_MIX_COUNT messages taken in turn from the e-mail
#	           corpus (BENCH_CORPUS; 1-10 KB messages);
#	  SIZE     for each size in BENCH_SIZES, one generated text/plain
#	           message of SIZE bytes (English-like text: words of
#	           /usr/share/common-licenses drawn with a Zipf-like skew by a
#	           fixed-seed generator, 72-column lines), stored
#	           BENCH_SIZE_BYTES / SIZE times (at least 16).
#
#	For each place (BENCH_PLACES: "disk", a directory on the real file
#	system, BENCH_DISK_DIR; "shm", tmpfs, BENCH_SHM_DIR, where fsync is
#	free, so the figures there are CPU cost only), each workload is run
#	BENCH_ROUNDS times with the configurations interleaved (plain, full,
#	full-z6, ..., plain, full, ...).  The table gives medians: msg/s,
#	MB/s (10^6 bytes of original message a second), CPU seconds
#	(user + system of the whole process, all threads) and the same per
#	message in microseconds, and the ratio of
#	the configuration's median wall time to plain's ("x plain": 1.20
#	means 20 % more time than plain), with the range of the same ratio
#	taken round by round.
#
#	Finally the size of the stored corpus: every BENCH_CORPUS file once,
#	without -v (the files are distinct, so nothing is deduplicated),
#	in the "disk" place, for each configuration: blob bytes (everything
#	in content/, blob headers and GCM tags included) / raw bytes.
#
#	Figures go to stdout (per-run lines, then the tables) and to
#	WORK/results.tsv.  This script prints figures; it never passes or
#	fails on them.
#
# ENVIRONMENT
#	BENCH_ROUNDS      rounds per workload and place (5)
#	BENCH_CONFIGS     configurations, in run order ("plain full full-zlib:1 full-z6 crypt")
#	BENCH_PLACES      "disk shm", or one of them
#	BENCH_DISK_DIR    parent of the disk work directory (${TMPDIR:-/tmp})
#	BENCH_SHM_DIR     parent of the tmpfs work directory (/dev/shm)
#	BENCH_THREADS     archive-fill threads (8)
#	BENCH_MIX_COUNT   messages per mix run (2000); 0 skips the mix
#	BENCH_SIZES       generated message sizes in bytes ("102400 1048576")
#	BENCH_SIZE_BYTES  original bytes per generated-size run (52428800)
#	BENCH_CORPUS      the corpus files (default: Python's test_email
#	                  msg_*.txt when installed, tests/corpus/*.eml,
#	                  tests/corpus/third-party/spamassassin/*)
#	BENCH_KEEP=1      keep the work directories
#	ARCHIVE_FILL      the fill program (tests/tools/archive-fill)
#
# DIAGNOSTICS
#	Exit status 0 when every run completed; non-zero, with a message on
#	stderr, when a run failed or the tree is not built.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
BENCH_ROUNDS=${BENCH_ROUNDS:-5}
BENCH_CONFIGS=${BENCH_CONFIGS:-"plain full full-zlib:1 full-z6 crypt"}
BENCH_PLACES=${BENCH_PLACES:-"disk shm"}
BENCH_DISK_DIR=${BENCH_DISK_DIR:-${TMPDIR:-/tmp}}
BENCH_SHM_DIR=${BENCH_SHM_DIR:-/dev/shm}
BENCH_THREADS=${BENCH_THREADS:-8}
BENCH_MIX_COUNT=${BENCH_MIX_COUNT:-2000}
BENCH_SIZES=${BENCH_SIZES:-"102400 1048576"}
BENCH_SIZE_BYTES=${BENCH_SIZE_BYTES:-52428800}
ARCHIVE_FILL=${ARCHIVE_FILL:-$top/tests/tools/archive-fill}

die() { echo "store-bench: $*" >&2; exit 1; }
note() { echo "store-bench: $*" >&2; }

[ -x "$ARCHIVE_FILL" ] || die "$ARCHIVE_FILL not built (make)"
for c in $BENCH_CONFIGS; do
	case $c in plain|full|full-z6|crypt|zlib) ;;
	full-*) "$ARCHIVE_FILL" -z "${c#full-}" 2>&1 | grep -q -- "-z:" &&
		die "configuration $c: $("$ARCHIVE_FILL" -z "${c#full-}" 2>&1)";;
	*) die "unknown configuration $c (plain full full-SPEC full-z6 crypt zlib)";;
	esac
done
[[ " $BENCH_CONFIGS " == *" plain "* ]] || die "BENCH_CONFIGS must include plain (the baseline)"
for p in $BENCH_PLACES; do
	case $p in disk|shm) ;; *) die "unknown place $p (disk shm)";; esac
done

if [ -n "${BENCH_CORPUS:-}" ]; then
	read -r -a corpus <<< "$BENCH_CORPUS"
else
	shopt -s nullglob
	corpus=(/usr/lib/python3*/test/test_email/data/msg_*.txt
		"$top"/tests/corpus/*.eml
		"$top"/tests/corpus/third-party/spamassassin/*)
	shopt -u nullglob
fi
[ "${#corpus[@]}" -gt 0 ] || die "no corpus files"

# ---------------------------------------------------------------- work dirs

declare -A work
cleanup() {
	local p
	set +e
	for p in "${!work[@]}"; do
		if [ "${BENCH_KEEP:-0}" = 1 ]; then
			note "work directory kept: ${work[$p]}"
		else
			rm -rf "${work[$p]}"
		fi
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for p in $BENCH_PLACES disk; do	# disk always: the size table and inputs
	[ -n "${work[$p]:-}" ] && continue
	if [ "$p" = disk ]; then parent=$BENCH_DISK_DIR; else parent=$BENCH_SHM_DIR; fi
	[ -d "$parent" ] || die "$parent: no such directory"
	work[$p]=$(mktemp -d "$parent/mailkeep-store-bench.XXXXXX")
done
W=${work[disk]}

# A copy of the program, so that a rebuild of the tree during the runs
# neither breaks them nor mixes two builds in one comparison.
FILL=$W/archive-fill
cp "$ARCHIVE_FILL" "$FILL" || die "cannot copy $ARCHIVE_FILL"

# ---------------------------------------------------------------- messages

# gen_text SIZE FILE - a generated text message (bench/gen-text.sh)
gen_text() {
	bash "$top"/bench/gen-text.sh "$1" "$2" "$W"
}

declare -A wl_files wl_count
workloads=()
if [ "$BENCH_MIX_COUNT" -gt 0 ]; then
	workloads+=(mix)
	wl_count[mix]=$BENCH_MIX_COUNT
fi
for size in $BENCH_SIZES; do
	gen_text "$size" "$W/msg-$size.txt"
	workloads+=("$size")
	wl_files[$size]=$W/msg-$size.txt
	n=$((BENCH_SIZE_BYTES / size))
	[ "$n" -ge 16 ] || n=16
	wl_count[$size]=$n
done

# wl_name W - the workload as the table shows it
wl_name() {
	case $1 in
	mix) echo "mix";;
	*) awk -v s="$1" 'BEGIN { if (s >= 1048576 && s % 1048576 == 0) printf "%d MiB\n", s / 1048576;
		else if (s >= 1024 && s % 1024 == 0) printf "%d KiB\n", s / 1024; else printf "%d B\n", s }';;
	esac
}

# ---------------------------------------------------------------- machine

corpus_bytes=$(cat "${corpus[@]}" | wc -c)
fs_of() { df -T "$1" | awk 'NR == 2 { print $2 " (" $1 ")" }'; }
{
	echo "== mailkeep store benchmark (bench/store-bench.sh) =="
	echo "command:   BENCH_ROUNDS=$BENCH_ROUNDS BENCH_CONFIGS=\"$BENCH_CONFIGS\" BENCH_PLACES=\"$BENCH_PLACES\" BENCH_THREADS=$BENCH_THREADS BENCH_MIX_COUNT=$BENCH_MIX_COUNT BENCH_SIZES=\"$BENCH_SIZES\" BENCH_SIZE_BYTES=$BENCH_SIZE_BYTES bench/store-bench.sh"
	echo "date:      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "machine:   nproc $(nproc), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(free -h | awk '/^Mem:/ { print $2 }') RAM, kernel $(uname -r)"
	echo "libraries: $(openssl version 2>/dev/null | cut -d' ' -f1-2), zlib $(dpkg-query -W -f '${Version}' zlib1g 2>/dev/null || echo '?'), zstd $(dpkg-query -W -f '${Version}' libzstd1 2>/dev/null || echo '?'), SQLite $(dpkg-query -W -f '${Version}' libsqlite3-0 2>/dev/null || echo '?')"
	echo "tree:      $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$top" diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)'), CFLAGS $(sed -n 's/^CFLAGS = //p' "$top/Makefile" 2>/dev/null)"
	echo "program:   $ARCHIVE_FILL built $(date -u -r "$ARCHIVE_FILL" '+%Y-%m-%d %H:%M:%S UTC') (a copy is run)"
	for p in $BENCH_PLACES; do
		echo "place:     $p = ${work[$p]} on $(fs_of "${work[$p]}")"
	done
	echo "corpus:    ${#corpus[@]} files, $corpus_bytes bytes (mean $((corpus_bytes / ${#corpus[@]})) B)"
	echo "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at start"
}

# ---------------------------------------------------------------- runs

# opts_of CONFIG - its archive-fill options
opts_of() {
	case $1 in
	plain) echo "-p";;
	full) echo "";;
	full-z6) echo "-z 6";;
	full-*) echo "-z ${1#full-}";;
	crypt) echo "-z 0";;
	zlib) echo "-u";;
	esac
}

# fill PLACE CONFIG WORKLOAD VARY - one archive-fill run into a new archive;
#	writes "messages raw_bytes seconds blob_bytes user sys load" to $W/run.out
fill() {
	local p=$1 c=$2 wl=$3 vary=$4 dir=${work[$1]}/archive load t
	local -a files opts args
	rm -rf "$dir"
	if [ "$wl" = mix ] || [ "$wl" = corpus ]; then files=("${corpus[@]}"); else files=("${wl_files[$wl]}"); fi
	read -r -a opts <<< "$(opts_of "$c")"
	args=(-t "$BENCH_THREADS")
	[ "$vary" = 1 ] && args+=(-v -n "${wl_count[$wl]}")
	sync
	load=$(cut -d' ' -f1 /proc/loadavg)
	local TIMEFORMAT='%U %S'
	{ time "$FILL" "${args[@]}" "${opts[@]}" "$dir" "${files[@]}" \
	    > "$W/fill.out" 2> "$W/fill.err"; } 2> "$W/time.out" ||
		die "archive-fill $c $wl failed: $(head -n 3 "$W/fill.err")"
	t=$(cat "$W/time.out")
	awk -v t="$t" -v load="$load" 'NR == 1 { print $2, $4, $6, $8, t, load }' "$W/fill.out" > "$W/run.out"
}

: > "$W/results.tsv"
for p in $BENCH_PLACES; do
	for wl in "${workloads[@]}"; do
		echo "-- $p, $(wl_name "$wl"), ${wl_count[$wl]} messages a run, $BENCH_THREADS threads"
		for r in $(seq 1 "$BENCH_ROUNDS"); do
			for c in $BENCH_CONFIGS; do
				fill "$p" "$c" "$wl" 1
				read -r n raw sec blob usr sys load < "$W/run.out"
				printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
				    "$p" "$wl" "$c" "$r" "$n" "$raw" "$sec" "$blob" "$usr" "$sys" "$load" >> "$W/results.tsv"
				awk -v c="$c" -v r="$r" -v n="$n" -v raw="$raw" -v s="$sec" -v b="$blob" \
				    -v u="$usr" -v y="$sys" -v l="$load" 'BEGIN {
					printf "  round %d %-13s %6.3f s %8.1f msg/s %7.1f MB/s  CPU %5.2f s (user %.2f)  blob/raw %.3f  load %s\n",
					    r, c, s, n / s, raw / s / 1e6, u + y, u, b / raw, l }'
			done
		done
	done
done
rm -rf "${work[disk]}/archive" "${work[shm]:-/nonexistent}/archive"

# ---------------------------------------------------------------- tables

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# col PLACE WORKLOAD CONFIG EXPR - an awk expression of n, raw, sec, blob,
#	usr, sys, load for each run
col() {
	awk -F'\t' -v p="$1" -v w="$2" -v c="$3" '$1 == p && $2 == w && $3 == c {
		n = $5; raw = $6; sec = $7; blob = $8; usr = $9; sys = $10; load = $11
		print '"$4"' }' "$W/results.tsv"
}
# round_ratios PLACE WORKLOAD CONFIG - seconds(CONFIG) / seconds(plain), per round
round_ratios() {
	awk -F'\t' -v p="$1" -v w="$2" -v c="$3" '$1 == p && $2 == w && $3 == "plain" { b[$4] = $7 }
	    $1 == p && $2 == w && $3 == c { t[$4] = $7 }
	    END { for (r in t) if (b[r] > 0) print t[r] / b[r] }' "$W/results.tsv"
}

echo
echo "== store: medians of $BENCH_ROUNDS interleaved rounds, $BENCH_THREADS threads, distinct messages (-v) =="
printf '%-5s %-8s %-13s %6s %9s %8s %7s %7s %8s %9s %8s %-13s %s\n' place workload config msgs "msg/s" "MB/s" "CPU s" "user s" "CPU us/m" "x plain" "blob/raw" "round x" "load"
for p in $BENCH_PLACES; do
	for wl in "${workloads[@]}"; do
		tsec=$(col "$p" "$wl" plain sec | median)
		for c in $BENCH_CONFIGS; do
			sec=$(col "$p" "$wl" "$c" sec | median)
			rr=$(round_ratios "$p" "$wl" "$c" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f-%.2f", lo, hi }')
			lo_hi=$(col "$p" "$wl" "$c" load | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }')
			awk -v p="$p" -v w="$(wl_name "$wl")" -v c="$c" -v sec="$sec" -v base="$tsec" -v rr="$rr" -v l="$lo_hi" \
			    -v n="$(col "$p" "$wl" "$c" n | median)" \
			    -v mps="$(col "$p" "$wl" "$c" 'n / sec' | median)" \
			    -v mbs="$(col "$p" "$wl" "$c" 'raw / sec / 1e6' | median)" \
			    -v cpu="$(col "$p" "$wl" "$c" 'usr + sys' | median)" \
			    -v user="$(col "$p" "$wl" "$c" usr | median)" \
			    -v size="$(col "$p" "$wl" "$c" 'blob / raw' | median)" 'BEGIN {
				printf "%-5s %-8s %-13s %6d %9.1f %8.1f %7.2f %7.2f %8.0f %9.2f %8.3f %-13s %s\n",
				    p, w, c, n, mps, mbs, cpu, user, cpu / n * 1e6, sec / base, size, rr, l }'
		done
	done
done
echo "(x plain: median wall time / plain's median wall time; round x: the same ratio round by round, lowest-highest;"
echo " MB/s: 10^6 original bytes a second; CPU s: user + system of archive-fill, all threads (user s: user only);"
echo " CPU us/m: median CPU s / messages, in microseconds;"
echo " load: 1-min load average before each run)"

echo
echo "== size: the corpus once (${#corpus[@]} files, no -v, nothing deduplicated), disk =="
printf '%-13s %12s %12s %9s %10s\n' config "raw bytes" "blob bytes" "blob/raw" "messages"
for c in $BENCH_CONFIGS; do
	fill disk "$c" corpus 0
	read -r n raw sec blob usr sys load < "$W/run.out"
	awk -v c="$c" -v raw="$raw" -v b="$blob" -v nb="$n" 'BEGIN {
		printf "%-13s %12d %12d %9.3f %10d\n", c, raw, b, b / raw, nb }'
done
rm -rf "${work[disk]}/archive"
echo "(blob bytes: the content segments under content/, each blob with its 28-byte header and, when encrypted, its 16-byte GCM tag)"
echo "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at end"
