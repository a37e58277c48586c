# shellcheck shell=bash
# tests/integrity/lib.sh - helpers shared by the integrity tests
# (tamper.sh, keys.sh, large.sh): no MTA, no root, no Postfix.
#
# SYNOPSIS
#	. "${top_srcdir:-$(dirname "$0")/../..}/tests/integrity/lib.sh"
#	it_init NAME [TOOL...]		# skip unless jq and TOOLs exist; make $T
#	note MSG / pass MSG / fail MSG / bail MSG / skip MSG
#	check MSG CMD... / check_eq MSG WANT GOT
#	it_corpus			# CORPUS: real messages (python + tests/corpus)
#	it_fill DIR [archive-fill options] FILE...
#					# store; FILL_IDS: the ids, in order
#	it_copy SRC DST			# cp -a SRC DST (a fresh case)
#	mk DIR ARGS...			# mailkeep -c <config for archive DIR> ARGS
#	it_verify DIR [ARGS...]		# verify --json; VERIFY_RC, VERIFY_JSON,
#					# VERIFY_ERR (files under $T)
#	it_finish			# "N passed, N failed", automake status
#
# DESCRIPTION
#	Each test works in its own directory $T, made under
#	$top_builddir/tests/integrity (never in $top_srcdir, which is
#	read-only under make distcheck), and removed at exit unless a check
#	failed or E2E_KEEP=1 (or INTEGRITY_KEEP=1).  Directories registered
#	with it_cleanup_add (large.sh's /dev/shm archive) are removed at exit
#	whatever happened.
#
#	The output is the e2e tests' (tests/e2e/lib.sh): "ok - ..." and
#	"not ok - ..." a check, "# ..." notes, and a last line "# NAME: N
#	passed, N failed in Ss".  Exit status: 0 all passed, 1 a check
#	failed, 77 skipped, 99 a hard error (a program missing).
#
#	Environment (set by `make check`): top_srcdir top_builddir MAILKEEP
#	ARCHIVE_FILL.

set -u

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${MAILKEEP:=$top_builddir/cli/mailkeep}"
: "${ARCHIVE_FILL:=$top_builddir/tests/tools/archive-fill}"
# shellcheck source=tests/checks.sh
. "$top_srcdir/tests/checks.sh"

IT_NAME=
IT_T0=$(date +%s)
IT_CLEANUP=()
T=

# it_cleanup_add - remove DIR at exit, whatever happened
it_cleanup_add() { IT_CLEANUP+=("$1"); }

# it_cleanup - EXIT trap
# shellcheck disable=SC2317  # called by the trap
it_cleanup() {
	local rc=$? d
	set +e
	for d in "${IT_CLEANUP[@]}"; do
		[ -z "$d" ] || rm -rf "$d"
	done
	if [ -n "$T" ] && [ -d "$T" ]; then
		if [ "$CHECKS_SKIPPED" != 1 ] && { [ "$rc" -ne 0 ] || [ "$CHECKS_FAIL" -ne 0 ] \
		    || [ "${E2E_KEEP:-0}" = 1 ] || [ "${INTEGRITY_KEEP:-0}" = 1 ]; }; then
			echo "# kept $T"
		else
			rm -rf "$T"
		fi
	fi
	exit "$rc"
}

# it_init - skip unless jq (and each TOOL) is there, make $T, set the trap
it_init() {
	local tool
	IT_NAME=$1; shift
	for tool in jq "$@"; do
		command -v "$tool" > /dev/null \
		    || skip "$IT_NAME: $tool not installed (apt-get install $tool)"
	done
	[ -x "$MAILKEEP" ] || { echo "missing $MAILKEEP"; exit 99; }
	[ -x "$ARCHIVE_FILL" ] || { echo "missing $ARCHIVE_FILL"; exit 99; }
	mkdir -p "$top_builddir/tests/integrity" || exit 99
	T=$(mktemp -d "$top_builddir/tests/integrity/tmp.$IT_NAME.XXXXXX") || exit 99
	trap it_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	note "$IT_NAME: working in $T"
}

# it_finish - the summary line and the automake exit status
it_finish() {
	note "$IT_NAME: $CHECKS_PASS passed, $CHECKS_FAIL failed in $(( $(date +%s) - IT_T0 ))s"
	[ "$CHECKS_FAIL" -eq 0 ] && exit 0
	exit 1
}

# it_corpus - CORPUS: real messages, Python's email test data
#	(libpython3.X-testsuite) when installed, then tests/corpus/*.eml
it_corpus() {
	local d f
	CORPUS=()
	for d in /usr/lib/python3*/test/test_email/data; do
		[ -d "$d" ] || continue
		for f in "$d"/msg_*.txt; do
			[ -f "$f" ] && CORPUS+=("$f")
		done
		[ ${#CORPUS[@]} -eq 0 ] || break
	done
	[ ${#CORPUS[@]} -gt 0 ] || note "no Python email test data (apt-get install libpython3.11-testsuite): tests/corpus only"
	for f in "$top_srcdir"/tests/corpus/*.eml; do
		[ -f "$f" ] && CORPUS+=("$f")
	done
	[ ${#CORPUS[@]} -gt 0 ] || bail "no messages in $top_srcdir/tests/corpus"
}

# it_fill - archive-fill DIR with OPTIONS and FILEs; FILL_IDS: the ids
#	(the lines after its statistics line), FILL_STATS: that line
it_fill() {
	local out
	if ! out=$("$ARCHIVE_FILL" "$@" 2> "$T/fill.err"); then
		cat "$T/fill.err"
		bail "archive-fill $* failed"
	fi
	# shellcheck disable=SC2034  # for the caller
	FILL_STATS=$(echo "$out" | head -n 1)
	# shellcheck disable=SC2034  # for the caller
	mapfile -t FILL_IDS < <(echo "$out" | tail -n +2)
}

# it_copy - a fresh copy of an archive for one case
it_copy() {
	rm -rf "$2"
	cp -a "$1" "$2" || bail "cp -a $1 $2"
}

# mk_conf - the configuration file of the archive DIR (made when missing)
mk_conf() {
	local conf=$1.conf
	[ -f "$conf" ] || echo "archive = $1" > "$conf"
	echo "$conf"
}

# mk - mailkeep on the archive DIR
mk() {
	local conf
	conf=$(mk_conf "$1"); shift
	"$MAILKEEP" -c "$conf" --offline "$@"
}

# it_verify - `verify --json ARGS` of the archive DIR: VERIFY_RC, and the
#	files VERIFY_JSON (stdout) and VERIFY_ERR (stderr)
it_verify() {
	local dir=$1; shift
	VERIFY_JSON=$T/verify.json
	VERIFY_ERR=$T/verify.err
	mk "$dir" verify --json "$@" > "$VERIFY_JSON" 2> "$VERIFY_ERR"
	VERIFY_RC=$?
	if ! jq -e 'type == "object"' "$VERIFY_JSON" > /dev/null 2>&1; then
		fail "verify --json $* on $dir: not a JSON object (exit $VERIFY_RC): $(head -c 300 "$VERIFY_JSON") $(head -c 300 "$VERIFY_ERR")"
		echo '{"ok":null,"problems":[]}' > "$VERIFY_JSON"
	fi
}

# vj - jq FILTER on the last it_verify's JSON
vj() { jq -r "$@" "$VERIFY_JSON"; }

# is_sanitized - true when FILE (a program) was built with ASan
is_sanitized() {
	LC_ALL=C grep -q __asan_init "$1" 2>/dev/null
}

# it_span DIR ID - where message ID's content is in the archive DIR, as
#	its index says: "FILE OFFSET LENGTH" (FILE relative to DIR; for a
#	format-3 blob "blobs/XX/HASH 0 SIZE"); nothing for metadata only
it_span() {
	python3 - "$1" "$2" <<'PY'
import os, sqlite3, sys
d, mid = sys.argv[1], sys.argv[2]
db = sqlite3.connect("file:%s/index.sqlite?mode=ro" % d, uri=True)
row = db.execute("SELECT content_file, content_off, content_len, sha256"
                 " FROM messages WHERE id = ?", (mid,)).fetchone()
if row is None or row[3] is None:
    sys.exit(0)
if row[0] is not None:
    print(row[0], row[1], row[2])
else:
    rel = "blobs/%s/%s" % (row[3][:2], row[3])
    print(rel, 0, os.path.getsize(os.path.join(d, rel)))
PY
}

# it_blob DIR ID OUT - the blob of message ID cut out of its segment into
#	the file OUT (FORMAT.md 2.2)
it_blob() {
	local file off len
	read -r file off len < <(it_span "$1" "$2")
	[ -n "$file" ] || bail "it_blob: message $2 has no content span"
	tail -c +"$(( off + 1 ))" "$1/$file" | head -c "$len" > "$3"
}
