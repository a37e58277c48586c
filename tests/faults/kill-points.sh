#!/bin/bash
# tests/faults/kill-points.sh - SIGKILL at every point of a commit, by the
# fault shim (tests/tools/faultinject.so), without an MTA.
#
# DESCRIPTION
#	First the shim's count mode (MK_FAULT_COUNT) lists every write,
#	fsync/fdatasync, rename and ftruncate a writer makes while it stores
#	4 messages (2 threads, archive-fill -C 1: a checkpoint in every
#	commit) into a copy of a small archive and closes it: the blobs in
#	spool/, their copies into the content segment and its fdatasyncs
#	(content/), the records/ appends and
#	fdatasyncs, the ledger's, the checkpoints', SQLite's WAL writes and
#	fsyncs, and its checkpoint into index.sqlite at close.  Each point is
#	"OP PATH-CLASS NTH": the NTH call OP on a path of that class (the
#	rule OP:CLASS:NTH:ACTION of the shim).  Where a class has more than
#	FAULTS_SAMPLE points (default 3) an evenly spread sample is taken,
#	first and last included, so every kind of step is covered.
#
#	For each point: a fresh copy of the archive, the same store with
#	the rule OP:CLASS:NTH:kill-after (the call is made, then SIGKILL;
#	for the data writes of content/, records/, the ledger and checkpoints also
#	"torn": half the bytes, then SIGKILL), then a restart: a new writer
#	(archive-fill, which rolls forward at open) stores again every
#	message the killed one had not acknowledged, as the MTA retries.
#	Then the invariants of tests/faults/lib.sh on case "OP CLASS NTH
#	ACTION": every acknowledged message there exactly once, byte-exact,
#	in the index and in one rebuilt from the ledger; all acknowledged in
#	the end; verify clean; spool/ empty.  A point the run did not reach
#	(threads batch differently from run to run) is noted, and its
#	invariants are checked all the same.
#
#	Known failures: tests/faults/known-failures; MK_FAULTS_STRICT=1
#	makes them fail (tests/faults/lib.sh).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/faults/lib.sh"
ft_init kill-points

N=4
SAMPLE=${FAULTS_SAMPLE:-3}
FILL_OPTS=(-m -C 1 -t 2)
# The classes of paths, most specific first (the shim's PATH syntax).
CLASSES=("/spool/" "/content/" "/records$" "/records/" "/ledger/ledger.log"
	 "/ledger/checkpoints.log" "/index.sqlite-wal" "/index.sqlite$")

ft_msgs "$T/base-msgs" base 2
ft_plain_fill -m "$T/base" "$T"/base-msgs/*.eml
[ "$FILL_RC" -eq 0 ] || bail "base archive: archive-fill failed: $(head -c 300 "$T/fill.err")"
ft_msgs "$T/msgs" kp "$N"
FILES=()
for (( k = 0; k < N; k++ )); do FILES+=("$T/msgs/kp.$k.eml"); done

# classify PATH - the first class PATH belongs to, or nothing
classify() {
	local c s
	for c in "${CLASSES[@]}"; do
		s=${c%\$}
		if [ "$s" != "$c" ]; then
			[[ $1 == *"$s" ]] && { echo "$c"; return; }
		else
			[[ $1 == *"$s"* ]] && { echo "$c"; return; }
		fi
	done
}

# The count run: every call of the commit, in order.
cp -a "$T/base" "$T/count"
ft_fill MK_FAULT_COUNT="$T/count/" MK_FAULT_LOG="$T/count.log" -- \
    "${FILL_OPTS[@]}" "$T/count" "${FILES[@]}"
[ "$FILL_RC" -eq 0 ] || bail "count run: archive-fill failed: $(head -c 300 "$T/fill.err")"
# "OP CLASS NTH" of every point, NTH counted as the shim counts: calls
# of that exact OP whose path the class matches.
declare -A seen=()
: > "$T/points.all"
while IFS=$'\t' read -r what op rc path; do
	[ "$what" = call ] || continue
	case $op in open|openat) continue;; esac
	class=$(classify "$path")
	[ -n "$class" ] || continue
	seen["$op $class"]=$(( ${seen["$op $class"]:-0} + 1 ))
	echo "$op $class ${seen["$op $class"]}" >> "$T/points.all"
done < "$T/count.log"
# sample: per OP CLASS, at most SAMPLE points spread evenly
: > "$T/points"
for key in "${!seen[@]}"; do
	total=${seen[$key]}
	if [ "$total" -le "$SAMPLE" ]; then
		for (( i = 1; i <= total; i++ )); do echo "$key $i"; done
	else
		for (( i = 0; i < SAMPLE; i++ )); do
			echo "$key $(( 1 + i * (total - 1) / (SAMPLE - 1) ))"
		done
	fi >> "$T/points"
done
sort -u -o "$T/points" "$T/points"
note "count run: $(wc -l < "$T/points.all") points; per OP CLASS (total): $(for key in "${!seen[@]}"; do printf '%s=%s; ' "$key" "${seen[$key]}"; done)"
note "$(wc -l < "$T/points") points sampled (at most $SAMPLE each)"
: > "$T/cases"
while read -r op class nth; do
	echo "$op $class $nth kill-after" >> "$T/cases"
	case "$op $class" in
	"copy_file_range /content/"|"write /records/"|"write /ledger/ledger.log"|"write /ledger/checkpoints.log")
		echo "$op $class $nth torn" >> "$T/cases";;
	esac
done < "$T/points"

# kill_case OP CLASS NTH ACTION - kill there, restart, retry, check
kill_case() {
	local op=$1 class=$2 nth=$3 action=$4 case="$1 $2 $3 $4" c k retry=() map=()
	c=$T/case.$(( ++CASE_NO ))
	mkdir -p "$c"
	cp -a "$T/base" "$c/A"
	ft_fill MK_FAULT="$op:$class:$nth:$action" MK_FAULT_LOG="$c/fault.log" -- \
	    "${FILL_OPTS[@]}" -r "$c/report" "$c/A" "${FILES[@]}"
	cp "$T/fill.err" "$c/fill1.err"
	if ! grep -q '^fired' "$c/fault.log" 2>/dev/null; then
		note "$case: not reached in this run (exit $FILL_RC); checking the invariants all the same"
	elif [ "$FILL_RC" -ne 137 ]; then
		ft_check "$case" killed "the rule fired but archive-fill exited $FILL_RC, not by SIGKILL"
	fi
	touch "$c/report"
	for (( k = 0; k < N; k++ )); do
		[ -n "$(ft_acked "$c/report" "$k")" ] && continue
		retry+=("${FILES[$k]}") map+=("$k")
	done
	note "$case: killed after $(grep -c '^stored' "$c/report") acknowledged; ${#retry[@]} to retry"
	if [ ${#retry[@]} -gt 0 ]; then
		ft_plain_fill "${FILL_OPTS[@]}" -r "$c/report2" "$c/A" "${retry[@]}"
		cp "$T/fill.err" "$c/fill2.err"
		# report2's numbers are positions in retry: back to FILES'
		awk -F '\t' -v OFS='\t' -v m="${map[*]}" \
		    'BEGIN { split(m, a, " ") } { $2 = 2; $3 = a[$3 + 1]; print }' \
		    "$c/report2" >> "$c/report"
	fi
	ft_invariants -a "$case" "$c/A" "$c/report" "${FILES[@]}"
}

CASE_NO=0
while read -r op class nth action; do
	kill_case "$op" "$class" "$nth" "$action"
done < "$T/cases"
ft_finish
