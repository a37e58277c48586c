#!/bin/bash
# tests/milter/run.sh - protocol-level tests of mailkeep-milter with miltertest.
#
# SYNOPSIS
#	tests/milter/run.sh [NAME...]	# NAME: a script, e.g. abort or abort.lua
#	make check TESTS=tests/milter/run.sh
#
# DESCRIPTION
#	Drives mailkeep-milter without an MTA: each tests/milter/*.lua (but
#	lib.lua, their shared helpers) is a miltertest(8) script that plays
#	the MTA's side of the milter protocol.  For each script, in a
#	directory of its own under the build directory, this driver
#	  1. writes a mailkeep.conf with its own archive and Unix socket,
#	     runs `mailkeep init' and starts mailkeep-milter -f;
#	  2. runs `miltertest -s SCRIPT' with MK_SOCKET (the socket),
#	     MK_OUT (where the script writes what the archive must hold),
#	     MK_ARCHIVE (the archive directory), MK_SPOOL (its spool/),
#	     MK_MILTER_PID (the milter, whose spool files are anonymous
#	     open files) and MK_MILTER_LIB (lib.lua) in the
#	     environment; the script checks the milter's replies itself and
#	     prints "ok - ..." / "not ok - ..." lines;
#	  3. checks that the milter is still running and spool/ is empty, and
#	     sends it SIGTERM.
#	libmilter takes about 4 s to stop, so the stops overlap: when every
#	script has run, the driver waits for each milter (it must exit 0, with
#	no sanitizer report in its log, spool/ empty) and then checks its
#	archive: `mailkeep search --json' holds exactly MK_OUT/count messages;
#	for each line of MK_OUT/expect.jsonl exactly one entry has its
#	Message-ID, with the fields it names equal and the sha256 of
#	MK_OUT/NAME.eml; and for a sample of them (all when a script archives
#	at most 8 messages) `mailkeep get' gives bytes identical (cmp) to
#	MK_OUT/NAME.eml.  See lib.lua for the format of MK_OUT.
#
#	One "ok - ..." / "not ok - ..." line per check, a summary at the end;
#	exit 0 when everything passed, 1 otherwise, 77 (skip) without
#	miltertest or jq.
#
# ENVIRONMENT
#	top_srcdir top_builddir MAILKEEP_MILTER MAILKEEP, as `make check'
#	sets them (defaults: this source tree).  MILTER_KEEP=1 keeps the work
#	directory; MILTER_KEEP_FAILED=1 keeps it when a check failed.
#	MILTERTEST names the miltertest binary.

set -u

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${MAILKEEP_MILTER:=$top_builddir/milter/mailkeep-milter}"
: "${MAILKEEP:=$top_builddir/cli/mailkeep}"
: "${MILTERTEST:=$(command -v miltertest 2>/dev/null)}"
SRC=$top_srcdir/tests/milter
T0=$(date +%s)
PASS=0
FAIL=0
W=
CUR=		# the script being run or checked
declare -A MPID=()	# script -> its milter's pid, until it is reaped
declare -A NFAIL=()	# script -> failed checks

pass() { PASS=$(( PASS + 1 )); echo "ok - $*"; }
fail() {
	FAIL=$(( FAIL + 1 )); NFAIL[$CUR]=$(( ${NFAIL[$CUR]:-0} + 1 ))
	echo "not ok - $*"
}
note() { echo "# $*"; }
skip() { echo "SKIP: $*"; exit 77; }

[ -n "$MILTERTEST" ] && [ -x "$MILTERTEST" ] ||
	skip "miltertest not installed (apt-get install miltertest)"
command -v jq >/dev/null || skip "jq not installed (apt-get install jq)"
[ -x "$MAILKEEP_MILTER" ] || { echo "missing $MAILKEEP_MILTER"; exit 99; }
[ -x "$MAILKEEP" ] || { echo "missing $MAILKEEP"; exit 99; }

# The scripts: those named on the command line, else all but lib.lua.
SCRIPTS=()
if [ $# -gt 0 ]; then
	for a in "$@"; do SCRIPTS+=("${a%.lua}"); done
else
	for f in "$SRC"/*.lua; do
		n=$(basename "$f" .lua)
		[ "$n" = lib ] || SCRIPTS+=("$n")
	done
fi

# cleanup - EXIT trap: stop what still runs, remove the work directory
cleanup() {
	local rc=$? n
	set +e
	for n in "${!MPID[@]}"; do
		kill -KILL "${MPID[$n]}" 2>/dev/null
		wait "${MPID[$n]}" 2>/dev/null
	done
	if [ -n "$W" ] && [ -d "$W" ]; then
		if [ "${MILTER_KEEP:-0}" = 1 ] ||
		   { [ "${MILTER_KEEP_FAILED:-0}" = 1 ] && { [ "$FAIL" -ne 0 ] || [ "$rc" -ne 0 ]; }; }; then
			echo "# kept $W"
		else
			rm -rf "$W"
		fi
	fi
	rm -rf "/tmp/mk-milter.$$"
	exit "$rc"
}

mkdir -p "$top_builddir/tests/milter"
W=$(mktemp -d "$top_builddir/tests/milter/tmp.run.XXXXXX") || exit 99
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
note "miltertest suite: ${SCRIPTS[*]}; working in $W"

# mk - the mailkeep CLI on script N's archive
mk() { local n=$1; shift; "$MAILKEEP" -c "$W/$n/mailkeep.conf" --offline "$@"; }

# socket_path - a Unix socket path for script N, short enough for sun_path
socket_path() {
	local p=$W/$1/milter.sock
	if [ ${#p} -gt 100 ]; then
		mkdir -p "/tmp/mk-milter.$$"
		p=/tmp/mk-milter.$$/$1.sock
	fi
	echo "$p"
}

# spool_empty - true when script N's spool/ holds no file; prints them
spool_empty() {
	local left
	left=$(ls -A "$W/$1/archive/spool" 2>&1)
	[ -z "$left" ] && return 0
	echo "$left" | tr '\n' ' '
	return 1
}

# milter_start N - config, archive, milter; false when it did not start.
#	Sets SOCKET_SPEC.
milter_start() {
	local n=$1 d=$W/$1 sock t=0
	sock=$(socket_path "$n")
	SOCKET_SPEC=unix:$sock
	mkdir -p "$d/out"
	cat > "$d/mailkeep.conf" <<-EOF
	socket = unix:$sock
	archive = $d/archive
	pidfile = $d/milter.pid
	on_error = tempfail
	socket_mode = 0600
	EOF
	if ! mk "$n" init > "$d/init.log" 2>&1; then
		fail "$n: mailkeep init: $(tail -n 3 "$d/init.log")"
		return 1
	fi
	"$MAILKEEP_MILTER" -c "$d/mailkeep.conf" -f > "$d/milter.log" 2>&1 &
	MPID[$n]=$!
	until [ -S "$sock" ]; do
		if ! kill -0 "${MPID[$n]}" 2>/dev/null; then
			wait "${MPID[$n]}"
			fail "$n: mailkeep-milter exited at start (status $?): $(tail -n 3 "$d/milter.log")"
			unset "MPID[$n]"
			return 1
		fi
		t=$(( t + 1 ))
		if [ "$t" -gt 300 ]; then
			fail "$n: mailkeep-milter: no socket after 30 s"
			return 1
		fi
		sleep 0.1
	done
}

# run_script N - phase 1 for script N: milter, miltertest, SIGTERM
run_script() {
	local n=$1 d=$W/$1 rc t1 ok nok left
	CUR=$n
	if [ ! -f "$SRC/$n.lua" ]; then
		fail "$n: no script $SRC/$n.lua"
		return
	fi
	mkdir -p "$d"
	milter_start "$n" || return
	t1=$(date +%s.%N)
	MK_SOCKET=$SOCKET_SPEC MK_OUT=$d/out MK_ARCHIVE=$d/archive \
	MK_SPOOL=$d/archive/spool MK_MILTER_PID=${MPID[$n]} \
	MK_MILTER_LIB=$SRC/lib.lua \
		timeout 300 "$MILTERTEST" -s "$SRC/$n.lua" > "$d/mt.out" 2> "$d/mt.err"
	rc=$?
	# the script's own checks, counted with ours
	sed -e "s/^\(not \)\{0,1\}ok - /&$n: /" -e "s/^# /# $n: /" "$d/mt.out"
	ok=$(grep -c '^ok - ' "$d/mt.out")
	nok=$(grep -c '^not ok - ' "$d/mt.out")
	PASS=$(( PASS + ok ))
	FAIL=$(( FAIL + nok ))
	NFAIL[$n]=$(( ${NFAIL[$n]:-0} + nok ))
	if [ -s "$d/mt.err" ]; then
		sed "s/^/# $n: miltertest: /" "$d/mt.err"
	fi
	if [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ]; then
		fail "$n: miltertest exited with status $rc"
	elif [ "$ok" -eq 0 ] && [ "$nok" -eq 0 ]; then
		fail "$n: the script made no check"
	fi
	note "$n: session took $(printf '%.1f' "$(echo "$(date +%s.%N) - $t1" | bc)") s"
	if kill -0 "${MPID[$n]}" 2>/dev/null; then
		pass "$n: mailkeep-milter still running after the session"
	else
		fail "$n: mailkeep-milter died during the session: $(tail -n 5 "$d/milter.log")"
	fi
	if left=$(spool_empty "$n"); then
		pass "$n: spool/ empty after the session"
	else
		fail "$n: spool/ not empty after the session: $left"
	fi
	kill -TERM "${MPID[$n]}" 2>/dev/null
}

# milter_wait N - wait (at most 30 s) for script N's milter to stop
milter_wait() {
	local n=$1 pid=${MPID[$1]:-} t=0 st
	CUR=$n
	[ -n "$pid" ] || return 1
	while kill -0 "$pid" 2>/dev/null; do
		t=$(( t + 1 ))
		if [ "$t" -gt 300 ]; then
			fail "$n: mailkeep-milter ignored SIGTERM for 30 s; killed"
			kill -KILL "$pid" 2>/dev/null
			break
		fi
		sleep 0.1
	done
	wait "$pid" 2>/dev/null
	st=$?
	unset "MPID[$n]"
	if [ "$st" -eq 0 ]; then
		pass "$n: mailkeep-milter stopped on SIGTERM, status 0"
	else
		fail "$n: mailkeep-milter exit status $st"
	fi
	if grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$W/$n/milter.log"; then
		fail "$n: sanitizer report in the milter's log: $(grep -m1 "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$W/$n/milter.log")"
	fi
}

# The comparison of the archive's index with MK_OUT/expect.jsonl, one
# line a message: OK|FAIL <tab> name <tab> archive id <tab> detail.
# $sums holds "sha256 name" lines for the MK_OUT/NAME.eml files.
COMPARE_JQ='
def norm: (. // "") | gsub("^[\\s<]+|[\\s>]+$"; "");
($sums | split("\n") | map(select(length > 0) | split(" ")
	| {(.[1]): .[0]}) | add // {}) as $h
| $e[] | . as $x
| [$s[0][] | select((.message_id | norm) == ($x.want.message_id | norm))] as $m
| if ($m | length) != 1 then
	"FAIL\t\($x.name)\t-\t\($m | length) archive entries with Message-ID \($x.want.message_id), want 1"
  else $m[0] as $g
  | ([$x.want | to_entries[] | select(.value != $g[.key])
      | "\(.key): want \(.value | tojson | .[0:200]), got \($g[.key] | tojson | .[0:200])"]
     + (if $g.sha256 != $h[$x.name] then
	["sha256: want \($h[$x.name]) (of what was sent), got \($g.sha256)"]
	else [] end)) as $d
  | if ($d | length) == 0 then
	"OK\t\($x.name)\t\($g.id)\t\($x.want | keys | join(" ")), sha256"
    else "FAIL\t\($x.name)\t\($g.id)\t\($d | join("; "))" end
  end'

# check_archive N - phase 2 for script N: the archive against MK_OUT.
#	Every message: its index entry (fields, and the SHA-256 of the bytes
#	sent).  A sample (all when there are few, else every tenth and the
#	last): `mailkeep get' and cmp with the bytes sent.
check_archive() {
	local n=$1 d=$W/$1 json want got left status name id detail i=0 total
	CUR=$n
	if left=$(spool_empty "$n"); then
		pass "$n: spool/ empty after the milter stopped"
	else
		fail "$n: spool/ not empty after the milter stopped: $left"
	fi
	if ! json=$(mk "$n" search --json 2> "$d/search.err") ||
	   ! echo "$json" | jq -e 'type == "array"' > /dev/null 2>&1; then
		fail "$n: mailkeep search --json failed: $(head -c 300 "$d/search.err")"
		return
	fi
	echo "$json" > "$d/search.json"
	want=$(cat "$d/out/count" 2>/dev/null || echo "?")
	got=$(echo "$json" | jq length)
	if [ "$want" = "$got" ]; then
		pass "$n: the archive holds $got messages, as many as were accepted"
	else
		fail "$n: the archive holds $got messages, want $want"
	fi
	[ -s "$d/out/expect.jsonl" ] || return
	(cd "$d/out" && sha256sum -- *.eml) | sed 's/ [ *]\(.*\)\.eml$/ \1/' > "$d/sums"
	total=$(wc -l < "$d/out/expect.jsonl")
	while IFS=$'\t' read -r status name id detail; do
		i=$(( i + 1 ))
		if [ "$status" = OK ]; then
			pass "$n/$name: index entry $id ($detail) as sent"
			[ "$total" -le 8 ] || [ $(( i % 10 )) -eq 0 ] ||
				[ "$i" -eq "$total" ] || continue
		else
			fail "$n/$name: archive entry $id: $detail"
			[ "$id" != - ] || continue	# and see where the bytes differ
		fi
		if ! mk "$n" get "$id" > "$d/got.$name" 2> "$d/get.err"; then
			fail "$n/$name: mailkeep get $id failed: $(head -c 300 "$d/get.err")"
		elif cmp "$d/got.$name" "$d/out/$name.eml" > "$d/cmp.out" 2>&1; then
			pass "$n/$name: mailkeep get: bytes identical to what was sent ($(wc -c < "$d/got.$name") bytes)"
			rm -f "$d/got.$name"
		else
			fail "$n/$name: mailkeep get: bytes differ from what was sent: $(cat "$d/cmp.out")"
		fi
	done < <(jq -r -n --slurpfile s "$d/search.json" \
		--slurpfile e "$d/out/expect.jsonl" --rawfile sums "$d/sums" \
		"$COMPARE_JQ" 2> "$d/jq.err" || echo "FAIL	(jq)	-	$(head -c 300 "$d/jq.err")")
	note "$n: $i messages checked in the archive"
}

for n in "${SCRIPTS[@]}"; do
	run_script "$n"
done
for n in "${SCRIPTS[@]}"; do
	if [ -n "${MPID[$n]:-}" ]; then
		milter_wait "$n"
		check_archive "$n"
	fi
done

note "miltertest suite: $PASS passed, $FAIL failed in $(( $(date +%s) - T0 )) s"
if [ "$FAIL" -ne 0 ]; then
	for n in "${SCRIPTS[@]}"; do
		if [ "${NFAIL[$n]:-0}" -ne 0 ] && [ -f "$W/$n/milter.log" ]; then
			echo "----- tail of $n's milter.log"
			tail -n 20 "$W/$n/milter.log"
		fi
	done
	exit 1
fi
exit 0
