# shellcheck shell=bash
# tests/faults/lib.sh - helpers of the fault tests (commit-faults.sh,
# kill-points.sh, diskfull.sh): the fault shim, message files with
# unique Message-IDs, the invariants every case checks, and the list of
# known failures.
#
# SYNOPSIS
#	. "${top_srcdir:-$(dirname "$0")/../..}/tests/faults/lib.sh"
#	ft_init NAME [TOOL...]		# skip unless jq, the shim and TOOLs
#					# are there; make $T; trap
#	ft_msgs DIR PREFIX N		# N messages DIR/PREFIX.K.eml (K from 0),
#					# each with a unique Message-ID
#	ft_fill [MK_FAULT=... ...] -- ARCHIVE-FILL-ARGS...
#					# archive-fill under the shim; FILL_RC
#	ft_conf DIR			# the mailkeep.conf of archive DIR
#	ft_mk DIR ARGS...		# mailkeep --offline on archive DIR
#	ft_invariants [-a] CASE DIR REPORT FILE...
#					# the invariants after a case (below)
#	ft_check CASE INVARIANT OK|DETAIL
#					# one result, against known-failures
#	ft_finish			# summary line, automake exit status
#
# DESCRIPTION
#	The shim is tests/tools/faultinject.so ($FAULTINJECT; see its header
#	for MK_FAULT, MK_FAULT_FLAG, MK_FAULT_LOG, MK_FAULT_COUNT).  When
#	archive-fill was built with ASan (configure --enable-sanitizers),
#	LD_PRELOAD names the sanitizer runtime first and the shim after it:
#	ASan refuses to run unless its runtime is the first library, and
#	its interceptors of write() and friends then call on to the shim's
#	(dlsym RTLD_NEXT), which calls libc's.  The shim itself is built
#	without the sanitizers (Makefile.am).
#
#	The invariants, after each case (ft_invariants): every message
#	REPORT (archive-fill -r, the lines of every run appended) says was
#	stored is in the archive exactly once, found by its Message-ID with
#	`mailkeep search --offline --json --message-id` (with -a one `search
#	--json` of everything, counted by message_id), under the id it was
#	acknowledged with, and a message never acknowledged at most once:
#	"once" for the messages acknowledged at their first try (pass 1),
#	"retry-once" for those the failure or the kill caught, acknowledged
#	by the retry (pass 2); the same counted in an index made anew from
#	the ledger and records/ (`rebuild-index` on a copy of the archive),
#	what a reader of the ledger sees ("once-rebuilt",
#	"retry-once-rebuilt"); `mailkeep get --offline` gives
#	back each acknowledged message's file byte for byte ("exact");
#	every message was acknowledged in the end ("flows": the retry after
#	the fault worked); `mailkeep verify --offline --json` exits 0 with
#	no problem ("verify"); no file is left in spool/ ("spool").  Each is
#	reported as "ok - CASE: INVARIANT" or "not ok - CASE: INVARIANT:
#	what broke".
#
#	Known failures.  tests/faults/known-failures lists, one a line,
#	"CASE-GLOB | INVARIANT-GLOB | REASON", CASE-GLOB a bash glob on
#	"TEST: CASE" (e.g. "commit-faults: sqlite-wal-*"); '#' starts a
#	comment line.  A listed failure prints "not ok - ... # TODO
#	known failure: REASON" and does not fail the test; a line none of
#	whose cases failed any more is named at the end ("known failure no
#	longer seen") so that it can be removed.  MK_FAULTS_STRICT=1 ignores the list: every failure
#	fails.  The last line says how many known failures were seen.
#
#	$T is made in /dev/shm when that is a writable tmpfs (the cases
#	fsync thousands of times; what is durable is the shim's to decide),
#	else under $top_builddir/tests/faults; FAULTS_TMP=DIR chooses.
#
#	Environment (set by `make check`): top_srcdir top_builddir MAILKEEP
#	ARCHIVE_FILL FAULTINJECT.  E2E_KEEP=1 keeps $T.

set -u

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${MAILKEEP:=$top_builddir/cli/mailkeep}"
: "${ARCHIVE_FILL:=$top_builddir/tests/tools/archive-fill}"
: "${FAULTINJECT:=$top_builddir/tests/tools/faultinject.so}"
# shellcheck source=tests/checks.sh
. "$top_srcdir/tests/checks.sh"

FT_NAME=
FT_T0=$(date +%s)
FT_KNOWN=0
FT_XPASS=0
FT_KNOWN_I=
declare -A FT_KNOWN_PASSED=() FT_KNOWN_FAILED=()
FT_CLEANUP=()
FT_PRELOAD=
T=

# ft_cleanup_add - run CMD (a string) at exit, whatever happened
ft_cleanup_add() { FT_CLEANUP+=("$1"); }

# ft_cleanup - EXIT trap: the registered commands, then $T unless kept
# shellcheck disable=SC2317  # called by the trap
ft_cleanup() {
	local rc=$? c
	set +e
	for c in "${FT_CLEANUP[@]}"; do
		eval "$c"
	done
	if [ -n "$T" ] && [ -d "$T" ]; then
		if [ "$CHECKS_SKIPPED" != 1 ] && { [ "$rc" -ne 0 ] || [ "$CHECKS_FAIL" -ne 0 ] \
		    || [ "${E2E_KEEP:-0}" = 1 ]; }; then
			echo "# kept $T"
		else
			rm -rf "$T"
		fi
	fi
	exit "$rc"
}

# ft_preload - FT_PRELOAD: the LD_PRELOAD list for program P (libasan
#	first when P uses ASan)
ft_preload() {
	local asan
	asan=$(ldd "$1" 2>/dev/null | awk '/libasan\.so/ { print $3; exit }')
	FT_PRELOAD=$FAULTINJECT
	[ -z "$asan" ] || FT_PRELOAD="$asan $FAULTINJECT"
}

# ft_init - skip unless jq (and each TOOL) is there, make $T, set the trap
ft_init() {
	local tool
	FT_NAME=$1; shift
	for tool in jq "$@"; do
		command -v "$tool" > /dev/null \
		    || skip "$FT_NAME: $tool not installed (apt-get install $tool)"
	done
	[ -x "$MAILKEEP" ] || { echo "missing $MAILKEEP"; exit 99; }
	[ -x "$ARCHIVE_FILL" ] || { echo "missing $ARCHIVE_FILL"; exit 99; }
	[ -f "$FAULTINJECT" ] || { echo "missing $FAULTINJECT"; exit 99; }
	[ -r /proc/self/fd ] || skip "$FT_NAME: no /proc/self/fd (the shim names files by it)"
	# On a tmpfs when there is one: the cases fsync thousands of times,
	# and their durability is the shim's to break, not the disk's.
	if [ -z "${FAULTS_TMP:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] \
	    && [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
		FAULTS_TMP=/dev/shm
	fi
	mkdir -p "$top_builddir/tests/faults" || exit 99
	T=$(mktemp -d "${FAULTS_TMP:-$top_builddir/tests/faults}/tmp.$FT_NAME.XXXXXX") || exit 99
	T=$(cd "$T" && pwd -P)
	trap ft_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	ft_preload "$ARCHIVE_FILL"
	# ASan's leak check at exit would report what a killed or failed
	# store leaves; the e2e tests' sanitizer runs keep theirs.
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
	note "$FT_NAME: working in $T; LD_PRELOAD for archive-fill: $FT_PRELOAD"
	ft_load_known
}

# trim - TEXT without leading and trailing blanks
trim() { local t=${1#"${1%%[![:space:]]*}"}; echo "${t%"${t##*[![:space:]]}"}"; }

# ft_load_known - FT_KNOWN_PAT/INV/WHY from tests/faults/known-failures
ft_load_known() {
	local pat inv why
	FT_KNOWN_PAT=() FT_KNOWN_INV=() FT_KNOWN_WHY=()
	[ "${MK_FAULTS_STRICT:-0}" = 1 ] && { note "MK_FAULTS_STRICT=1: known failures fail"; return; }
	while IFS='|' read -r pat inv why; do
		case $pat in ''|'#'*) continue;; esac
		FT_KNOWN_PAT+=("$(trim "$pat")") FT_KNOWN_INV+=("$(trim "$inv")")
		FT_KNOWN_WHY+=("$(trim "$why")")
	done < "$top_srcdir/tests/faults/known-failures"
}

# ft_known CASE INVARIANT - print the reason when "TEST: CASE" and
#	INVARIANT are listed; true if listed
ft_known() {
	local i
	for i in "${!FT_KNOWN_PAT[@]}"; do
		# shellcheck disable=SC2053  # the patterns are globs
		if [[ "$FT_NAME: $1" == ${FT_KNOWN_PAT[$i]} ]] && [[ $2 == ${FT_KNOWN_INV[$i]} ]]; then
			FT_KNOWN_I=$i
			echo "${FT_KNOWN_WHY[$i]}"
			return 0
		fi
	done
	return 1
}

# ft_check CASE INVARIANT RESULT - RESULT "ok" passes; anything else is
#	what broke, a failure unless known
ft_check() {
	local case=$1 inv=$2 result=$3 why
	if [ "$result" = ok ]; then
		pass "$case: $inv"
		ft_known "$case" "$inv" > /dev/null && FT_KNOWN_PASSED[$FT_KNOWN_I]=1
	elif ft_known "$case" "$inv" > /dev/null; then
		why=${FT_KNOWN_WHY[$FT_KNOWN_I]}
		FT_KNOWN_FAILED[$FT_KNOWN_I]=1
		FT_KNOWN=$(( FT_KNOWN + 1 ))
		echo "not ok - $case: $inv: $result # TODO known failure: $why"
	else
		fail "$case: $inv: $result"
	fi
}

# ft_obsolete - note each known-failures line whose cases all passed
ft_obsolete() {
	local i
	for i in "${!FT_KNOWN_PASSED[@]}"; do
		[ -z "${FT_KNOWN_FAILED[$i]:-}" ] || continue
		FT_XPASS=$(( FT_XPASS + 1 ))
		note "known failure no longer seen: '${FT_KNOWN_PAT[$i]} | ${FT_KNOWN_INV[$i]}' passed in every case it names: remove its line from tests/faults/known-failures"
	done
}

# ft_finish - the summary line and the automake exit status
ft_finish() {
	ft_obsolete
	note "$FT_NAME: $CHECKS_PASS passed, $CHECKS_FAIL failed, $FT_KNOWN known failures (TODO), $FT_XPASS known-failures lines no longer seen, in $(( $(date +%s) - FT_T0 ))s"
	[ "$CHECKS_FAIL" -eq 0 ] && exit 0
	exit 1
}

# ft_msgs DIR PREFIX N - N message files DIR/PREFIX.K.eml, K = 0..N-1,
#	Message-ID <PREFIX.K.PID@faults.test>, bodies of different sizes
#	(K * 3 KiB more), so that blobs take several writes and no two are
#	alike
ft_msgs() {
	local dir=$1 prefix=$2 n=$3 k
	mkdir -p "$dir"
	for (( k = 0; k < n; k++ )); do
		{
			printf 'From: sender@faults.test\r\nTo: rcpt@faults.test\r\n'
			printf 'Subject: %s %d\r\nMessage-ID: <%s.%d.%d@faults.test>\r\n\r\n' \
			    "$prefix" "$k" "$prefix" "$k" "$$"
			printf 'body of %s %d\r\n' "$prefix" "$k"
			head -c $(( k * 3072 )) /dev/urandom | base64 -w 76 | sed 's/$/\r/'
		} > "$dir/$prefix.$k.eml"
	done
}

# ft_mid FILE - the Message-ID of a message file
ft_mid() { sed -n 's/^Message-ID: *//Ip' "$1" | head -n 1 | tr -d '\r'; }

# ft_fill [NAME=VALUE...] -- ARGS... - archive-fill ARGS with the shim
#	preloaded and the NAME=VALUEs (MK_FAULT...) in its environment;
#	FILL_RC its status, its output in $T/fill.out and $T/fill.err
ft_fill() {
	local envs=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	# in a subshell, whose stderr takes bash's "Killed" of a kill rule
	( env LD_PRELOAD="$FT_PRELOAD" "${envs[@]}" "$ARCHIVE_FILL" "$@" \
	    > "$T/fill.out" 2> "$T/fill.err" ) 2> /dev/null
	FILL_RC=$?
}

# ft_plain_fill ARGS... - archive-fill ARGS without the shim; FILL_RC
ft_plain_fill() {
	"$ARCHIVE_FILL" "$@" > "$T/fill.out" 2> "$T/fill.err"
	FILL_RC=$?
}

# ft_conf DIR - the configuration file of archive DIR (made when missing)
ft_conf() {
	local conf=$1.conf
	[ -f "$conf" ] || echo "archive = $1" > "$conf"
	echo "$conf"
}

# ft_mk DIR ARGS... - mailkeep --offline ARGS on the archive DIR
ft_mk() {
	local conf
	conf=$(ft_conf "$1"); shift
	"$MAILKEEP" -c "$conf" --offline "$@"
}

# ft_acked REPORT N - the id message N was acknowledged with (the last
#	"stored" line for it), or nothing
ft_acked() {
	awk -F '\t' -v n="$2" '$1 == "stored" && $3 == n { id = $4 } END { if (id != "") print id }' "$1"
}

# ft_pass REPORT N - the pass in which message N was acknowledged
ft_pass() {
	awk -F '\t' -v n="$2" '$1 == "stored" && $3 == n { p = $2 } END { print p }' "$1"
}

# ft_count_mids DIR - "MESSAGE-ID ID" lines of every message of DIR
#	(one `search --json`)
ft_count_mids() {
	ft_mk "$1" search --json 2> "$T/search.err" | jq -r '.[] | "\(.message_id) \(.id)"'
}

# ft_invariants [-a] CASE DIR REPORT FILE... - check the invariants of
#	the archive DIR after a case whose archive-fill runs appended to
#	REPORT, FILE number K being message K (-a: one search of all)
ft_invariants() {
	local all=0
	[ "$1" != -a ] || { all=1; shift; }
	local case=$1 dir=$2 rep=$3; shift 3
	local files=("$@") k f mid id ids n r p v left exact=ok flows=ok
	local -A bad=([once]=ok [once-rebuilt]=ok [retry-once]=ok [retry-once-rebuilt]=ok)
	local once=once rebuilt=once-rebuilt
	[ "$all" = 0 ] || ft_count_mids "$dir" > "$T/mids" \
	    || bad[once]="search --json failed: $(head -c 200 "$T/search.err")"
	rm -rf "$T/rebuilt" "$T/rebuilt.conf"
	if cp -a "$dir" "$T/rebuilt" && ft_mk "$T/rebuilt" rebuild-index > "$T/rebuild.out" 2>&1; then
		ft_count_mids "$T/rebuilt" > "$T/rebuilt.mids" \
		    || bad[once-rebuilt]="search --json of the rebuilt copy failed: $(head -c 200 "$T/search.err")"
	else
		bad[once-rebuilt]="rebuild-index on a copy failed: $(head -c 300 "$T/rebuild.out")"
		: > "$T/rebuilt.mids"
	fi
	for k in "${!files[@]}"; do
		f=${files[$k]}
		mid=$(ft_mid "$f")
		id=$(ft_acked "$rep" "$k")
		if [ "$all" = 1 ]; then
			ids=$(awk -v m="$mid" '$1 == m { print $2 }' "$T/mids")
		elif ! ids=$(ft_mk "$dir" search --json --message-id "$mid" 2> "$T/search.err" | jq -r '.[].id'); then
			bad[once]="search --message-id $mid failed: $(head -c 200 "$T/search.err")"
			continue
		fi
		n=$(printf '%s' "$ids" | grep -c .)
		r=$(awk -v m="$mid" '$1 == m' "$T/rebuilt.mids" | wc -l)
		p=$(ft_pass "$rep" "$k")
		# acknowledged at the first try: "once"; after a failure or a
		# kill, by the retry (or never): "retry-once"
		once=once rebuilt=once-rebuilt
		[ "$p" = 1 ] || { once=retry-once rebuilt=retry-once-rebuilt; }
		if [ -z "$id" ]; then
			[ "$flows" != ok ] || flows="message $k ($mid) never acknowledged: $(awk -F '\t' -v n="$k" '$1 == "failed" && $3 == n { w = $4 } END { print w }' "$rep")"
			[ "$n" -le 1 ] || [ "${bad[$once]}" != ok ] || bad[$once]="message $k ($mid), never acknowledged, stored $n times: $(echo $ids)"
			[ "$r" -le 1 ] || [ "${bad[$rebuilt]}" != ok ] || bad[$rebuilt]="message $k ($mid), never acknowledged, $r times in the rebuilt index"
			continue
		fi
		if [ "$n" -ne 1 ] && [ "${bad[$once]}" = ok ]; then
			bad[$once]="message $k ($mid) acknowledged as $id (pass $p), found $n times: $(echo $ids)"
		elif ! printf '%s\n' "$ids" | grep -qx "$id" && [ "${bad[$once]}" = ok ]; then
			bad[$once]="message $k ($mid) acknowledged as $id (pass $p), but the archive has it as $(echo $ids)"
		fi
		if [ "$r" -ne 1 ] && [ "${bad[$rebuilt]}" = ok ]; then
			bad[$rebuilt]="message $k ($mid) acknowledged as $id (pass $p): $r times in the index rebuild-index makes from the ledger and records/ ($(awk -v m="$mid" '$1 == m { printf "%s ", $2 }' "$T/rebuilt.mids"))"
		fi
		if ! ft_mk "$dir" get "$id" > "$T/got" 2> "$T/get.err"; then
			[ "$exact" != ok ] || exact="get $id (message $k) failed: $(head -c 200 "$T/get.err")"
		elif ! cmp -s "$T/got" "$f"; then
			[ "$exact" != ok ] || exact="get $id (message $k) differs from $(basename "$f"): $(cmp "$T/got" "$f" 2>&1 | head -n 1)"
		fi
	done
	for once in once retry-once once-rebuilt retry-once-rebuilt; do
		ft_check "$case" "$once" "${bad[$once]}"
	done
	ft_check "$case" exact "$exact"
	ft_check "$case" flows "$flows"
	ft_mk "$dir" verify --json > "$T/verify.json" 2> "$T/verify.err"
	v=$?
	if [ "$v" -eq 0 ] && [ "$(jq '.problems | length' "$T/verify.json" 2>/dev/null)" = 0 ]; then
		ft_check "$case" verify ok
	else
		ft_check "$case" verify "exit $v: $(jq -r '[.problems[:3][] | "\(.kind) \(.object): \(.detail)"] | join("; ")' "$T/verify.json" 2>/dev/null) ($(jq '.problems | length' "$T/verify.json" 2>/dev/null) problems) $(head -c 200 "$T/verify.err")"
	fi
	left=$(find "$dir/spool" -type f | wc -l)
	if [ "$left" -eq 0 ]; then
		ft_check "$case" spool ok
	else
		ft_check "$case" spool "$left file(s) left in spool/"
	fi
}
