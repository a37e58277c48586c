#!/bin/bash
# tests/faults/commit-faults.sh - every step of a commit failing with
# ENOSPC and with EIO, by the fault shim (tests/tools/faultinject.so),
# without an MTA.
#
# DESCRIPTION
#	For each STEP (below) and each errno: a copy of a small archive
#	takes 4 messages (unique Message-IDs, 3 threads, so batches form)
#	from archive-fill, with the rule STEP:NTH:ERRNO armed (NTH is "2+":
#	the first matching call succeeds, every later one fails, the disk
#	stays full); once every message was tried, archive-fill removes the
#	shim's flag file (the fault is gone) and stores the failed messages
#	again in the same process, as an MTA's retry reaches the milter that
#	kept running.  Then, as that milter left it (case "STEP/ERRNO"), and
#	again after a new writer opened the archive and stored one more
#	message (case "STEP/ERRNO reopened"), the invariants of
#	tests/faults/lib.sh: every acknowledged message there exactly once
#	(by Message-ID), byte-exact, every message acknowledged in the end,
#	verify clean, spool/ empty.  Also: the rule fired ("fired"; a rule
#	that never fires proves nothing), and the new writer stored its
#	message ("reopen").
#
#	The steps (OP:PATH of the rule; faultinject.c):
#	  blob-write	  writes:/spool/	 the blob's data, in its spool file
#			  (anonymous, O_TMPFILE: "spool/#N (deleted)")
#	  content-open	  opens:/content/	 the content segment (once a
#			  writer, so NTH is 1+ here)
#	  content-copy	  writes:/content/	 the blob copied into its span
#			  of the segment (copy_file_range)
#	  content-sync	  fdatasync:/content/	 the committer's sync of the
#			  segment, once a batch
#	  record-write	  writes:/records/	 records/DAY.log append
#	  record-sync	  fdatasync:/records/	 its fdatasync
#	  records-dirsync fsync:/records$	 records/ (a new segment's name:
#			  once a writer, so NTH is 1+ here)
#	  ledger-write	  writes:/ledger/ledger.log
#	  ledger-sync	  syncs:/ledger/ledger.log
#	  sqlite-wal-write writes:/index.sqlite-wal  the SQLite commit
#	  (The writer's index runs with synchronous=NORMAL since the index
#	  left the durability path, docs/FORMAT.md 1.1: a commit neither
#	  syncs the WAL nor writes the database file - SQLite does both
#	  only at a WAL checkpoint - so no rule on them can fail a commit.)
#	  checkpoint-write writes:/ledger/checkpoints.log (archive-fill -C 1:
#			  a checkpoint in every commit)
#	  checkpoint-sync syncs:/ledger/checkpoints.log
#	FAULTS_STEPS (names) and FAULTS_ERRNOS (default "ENOSPC EIO") choose
#	a subset; FAULTS_NTH changes NTH.
#
#	Known failures: tests/faults/known-failures; MK_FAULTS_STRICT=1
#	makes them fail (tests/faults/lib.sh).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/faults/lib.sh"
ft_init commit-faults

STEPS=(
	"blob-write writes:/spool/"
	"content-open opens:/content/ 1+"
	"content-copy writes:/content/"
	"content-sync fdatasync:/content/"
	"record-write writes:/records/"
	"record-sync fdatasync:/records/"
	"records-dirsync fsync:/records$ 1+"
	"ledger-write writes:/ledger/ledger.log"
	"ledger-sync syncs:/ledger/ledger.log"
	"sqlite-wal-write writes:/index.sqlite-wal"
	"checkpoint-write writes:/ledger/checkpoints.log"
	"checkpoint-sync syncs:/ledger/checkpoints.log"
)
ERRNOS=${FAULTS_ERRNOS:-ENOSPC EIO}
NTH=${FAULTS_NTH:-2+}
N=4

# The archive every case starts from: two messages already stored.
ft_msgs "$T/base-msgs" base 2
ft_plain_fill -m "$T/base" "$T"/base-msgs/*.eml
[ "$FILL_RC" -eq 0 ] || bail "base archive: archive-fill failed: $(head -c 300 "$T/fill.err")"

# run_case NAME RULE ERRNO NTH - one step failing with ERRNO
run_case() {
	local name=$1 rule=$2 err=$3 NTH=$4 c=$T/$1.$3 case=$1/$3 fired failed stored files
	mkdir -p "$c"
	cp -a "$T/base" "$c/A" || bail "cp -a $T/base"
	ft_msgs "$c" "$name-$err" "$N"
	files=()
	for (( k = 0; k < N; k++ )); do files+=("$c/$name-$err.$k.eml"); done
	touch "$c/flag"
	ft_fill MK_FAULT="$rule:$NTH:$err" MK_FAULT_FLAG="$c/flag" \
	    MK_FAULT_LOG="$c/fault.log" -- \
	    -m -C 1 -t 3 -r "$c/report" -x "$c/flag" "$c/A" "${files[@]}"
	cp "$T/fill.err" "$c/fill.err"
	fired=$(grep -c '^fired' "$c/fault.log" 2>/dev/null)
	failed=$(awk -F '\t' '$1 == "failed" && $2 == 1' "$c/report" | wc -l)
	stored=$(awk -F '\t' '$1 == "stored" && $2 == 2' "$c/report" | wc -l)
	note "$case: rule $rule:$NTH:$err fired ${fired:-0} times; $failed of $N failed, $stored stored by the retry (archive-fill exit $FILL_RC)$( [ "$failed" -eq 0 ] || echo "; first error: $(awk -F '\t' '$1 == "failed" { print $4; exit }' "$c/report")")"
	if [ "${fired:-0}" -gt 0 ]; then
		ft_check "$case" fired ok
	else
		ft_check "$case" fired "the rule $rule:$NTH:$err never fired (no such call?)"
	fi
	ft_invariants "$case" "$c/A" "$c/report" "${files[@]}"

	# A new writer: open (roll-forward), one more message.
	ft_msgs "$c" "$name-$err-canary" 1
	ft_plain_fill -m -r "$c/report2" "$c/A" "$c/$name-$err-canary.0.eml"
	if [ "$FILL_RC" -eq 0 ] && [ "$(ft_mk "$c/A" search --json --message-id "$(ft_mid "$c/$name-$err-canary.0.eml")" | jq length)" = 1 ]; then
		ft_check "$case" reopen ok
	else
		ft_check "$case" reopen "a new writer could not store a message (exit $FILL_RC): $(head -c 300 "$T/fill.err")"
	fi
	ft_invariants -a "$case reopened" "$c/A" "$c/report" "${files[@]}"
}

for step in "${STEPS[@]}"; do
	read -r name rule nth <<< "$step"
	if [ -n "${FAULTS_STEPS:-}" ] && ! [[ " $FAULTS_STEPS " == *" $name "* ]]; then
		continue
	fi
	for err in $ERRNOS; do
		run_case "$name" "$rule" "$err" "${nth:-$NTH}"
	done
done
ft_finish
