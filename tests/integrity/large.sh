#!/bin/bash
# tests/integrity/large.sh - 100,000 messages verify clean, in reasonable
# time.
#
# DESCRIPTION
#	archive-fill -n COUNT -t 16 -v stores COUNT distinct messages (a few
#	small real ones, each copy with its own X-Fill line) in an archive
#	on /dev/shm when it is writable (fsync costs nothing there; the
#	test is about verify, not the disk), else in the build directory.
#	Then verify --json must say ok, with ledger_entries >= COUNT + 1,
#	index_rows = records = COUNT, and blobs = COUNT.  The time of the
#	fill and of verify is printed (speed is measured by bench/, not
#	here); only beyond LARGE_BUDGET seconds (default 1200) is the run
#	taken for a hang and failed.
#
#	COUNT is 100000, or 20000 when mailkeep was built with
#	AddressSanitizer (several times slower), or $LARGE_COUNT.
#	LARGE_DIR=DIR puts the archive in DIR instead.
#	The archive is removed at exit whatever happened (it is several
#	hundred MB).
#
#	Environment (set by `make check`): top_srcdir top_builddir MAILKEEP
#	ARCHIVE_FILL.  E2E_KEEP=1 keeps the work directory (not the archive).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integrity/lib.sh" || exit 99
it_init "$(basename "$0" .sh)"

BUDGET=${LARGE_BUDGET:-1200}
if [ -n "${LARGE_COUNT:-}" ]; then
	COUNT=$LARGE_COUNT
	note "LARGE_COUNT=$COUNT"
elif is_sanitized "$MAILKEEP" || is_sanitized "$ARCHIVE_FILL"; then
	COUNT=20000
	note "sanitizer (ASan) build: $COUNT messages instead of 100000"
else
	COUNT=100000
fi

# Where: /dev/shm when there is room (about 6 KB a message), else $T
# ($LARGE_DIR when set).
need_kb=$(( COUNT * 6 + 65536 ))
where=$T
if [ -n "${LARGE_DIR:-}" ]; then
	where=$(mktemp -d "$LARGE_DIR/mailkeep-large.XXXXXX") || bail "mktemp in $LARGE_DIR"
	it_cleanup_add "$where"
elif [ -d /dev/shm ] && [ -w /dev/shm ] \
    && [ "$(df -Pk /dev/shm 2> /dev/null | awk 'NR == 2 { print $4 }')" -gt "$need_kb" ] 2> /dev/null; then
	where=$(mktemp -d /dev/shm/mailkeep-large.XXXXXX) || bail "mktemp in /dev/shm"
	it_cleanup_add "$where"
fi
A=$where/archive
note "archive in $A ($(df -P "$where" | awk 'NR == 2 { print $1 }'))"

# A handful of small real messages.
FILES=()
for f in "$top_srcdir"/tests/corpus/crlf.eml "$top_srcdir"/tests/corpus/folded-header.eml \
	 "$top_srcdir"/tests/corpus/latin1-subject.eml "$top_srcdir"/tests/corpus/bare-cr.eml \
	 /usr/lib/python3*/test/test_email/data/msg_0[1-4].txt; do
	[ -f "$f" ] && FILES+=("$f")
done
[ ${#FILES[@]} -gt 0 ] || bail "no small messages in $top_srcdir/tests/corpus"
note "$COUNT messages from ${#FILES[@]} files: $(for f in "${FILES[@]}"; do basename "$f"; done | tr '\n' ' ')"

t0=$(date +%s.%N)
"$ARCHIVE_FILL" -n "$COUNT" -t 16 -v "$A" "${FILES[@]}" > "$T/fill.out" 2> "$T/fill.err"
rc=$?
t1=$(date +%s.%N)
check_eq "archive-fill -n $COUNT -t 16 -v exits 0" 0 "$rc"
[ "$rc" -eq 0 ] || { cat "$T/fill.err"; it_finish; }
note "fill: $(head -n 1 "$T/fill.out")"
check_eq "archive-fill printed $COUNT ids" "$COUNT" "$(tail -n +2 "$T/fill.out" | sort -u | wc -l)"

it_verify "$A"
t2=$(date +%s.%N)
check_eq "verify --json exits 0" 0 "$VERIFY_RC"
check_eq "verify: ok true" true "$(vj .ok)"
check_eq "verify: no problems" 0 "$(vj '.problems | length')"
[ "$(vj '.problems | length')" = 0 ] \
    || note "first problems: $(vj '.problems[:5][] | "\(.kind) \(.object): \(.detail)"')"
if [ "$(vj .ledger_entries)" -ge $(( COUNT + 1 )) ] 2> /dev/null; then
	pass "verify: ledger_entries $(vj .ledger_entries) >= $(( COUNT + 1 ))"
else
	fail "verify: ledger_entries $(vj .ledger_entries) < $(( COUNT + 1 ))"
fi
check_eq "verify: index_rows = $COUNT" "$COUNT" "$(vj .index_rows)"
check_eq "verify: records = $COUNT" "$COUNT" "$(vj .records)"
check_eq "verify: blobs = $COUNT (every copy distinct)" "$COUNT" "$(vj .blobs)"
[ ! -s "$VERIFY_ERR" ] || note "verify's stderr: $(head -n 3 "$VERIFY_ERR")"

verify_s=$(awk "BEGIN { printf \"%.1f\", $t2 - $t1 }")
fill_s=$(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }")
total_s=$(awk "BEGIN { printf \"%.1f\", $t2 - $t0 }")
note "$COUNT messages on $(nproc 2> /dev/null || echo '?') cores: fill ${fill_s}s ($(awk "BEGIN { printf \"%.0f\", $COUNT / ($t1 - $t0) }")/s), verify ${verify_s}s ($(awk "BEGIN { printf \"%.0f\", $COUNT / ($t2 - $t1) }")/s), total ${total_s}s; $(du -sh "$A" | cut -f1) on disk"
# Time is a figure, not a verdict (benchmarks measure speed: bench/
# verify-bench.sh); only a run far beyond any machine's is a hang.
if ! awk "BEGIN { exit !($t2 - $t0 < $BUDGET) }"; then
	fail "fill + verify of $COUNT messages took ${total_s}s: over ${BUDGET}s, it hangs"
fi

it_finish
