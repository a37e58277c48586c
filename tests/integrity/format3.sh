#!/bin/bash
# tests/integrity/format3.sh - an archive made by format 3 (content in
# blobs/, one file a content) is read, verified and written by format 4.
#
# DESCRIPTION
#	tests/fixtures/archive-format3.tar.gz is an archive made by mailkeep
#	before content segments (commit 81cdf87, tests/tools/archive-fill of
#	six files of tests/corpus, one of them twice: five blobs), with the
#	list of its ids and files.  The test checks (docs/FORMAT.md 1, 2.2):
#	  - read-only, as it is: verify is clean (5 blobs checked, 6
#	    records), get returns each file byte-exact, FORMAT still says 3;
#	  - a writer (archive-fill) stores new messages: FORMAT now says 4,
#	    the new content is in content/forever/000001.seg, no new file
#	    in blobs/, and one of the old contents stored again goes to the
#	    segment (deduplication is within a group of segments);
#	  - verify is clean, every old and new message reads back byte-exact,
#	    and again after rebuild-index;
#	  - a bit flipped in an old blob is still named by verify.
#
#	Helpers, work directory and exit status: tests/integrity/lib.sh.

set -u

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
# shellcheck source=/dev/null  # tests/integrity/lib.sh, checked on its own
. "$top_srcdir/tests/integrity/lib.sh"

it_init format3 python3 tar cmp
tar -xzf "$top_srcdir/tests/fixtures/archive-format3.tar.gz" -C "$T" ||
	bail "cannot unpack the format-3 fixture"
A=$T/archive
C=$top_srcdir/tests/corpus
declare -A FILE_OF=()
while read -r id file; do FILE_OF[$id]=$C/$file; done < "$T/archive-ids"
check_eq "fixture: six messages" 6 "${#FILE_OF[@]}"

# read_all NAME - every message of FILE_OF reads back byte-exact
read_all() {
	local id bad=()
	for id in "${!FILE_OF[@]}"; do
		mk "$A" get "$id" > "$T/got" 2> "$T/get.err" && cmp -s "$T/got" "${FILE_OF[$id]}" ||
			bad+=("$id:$(head -c 200 "$T/get.err")")
	done
	check_eq "$1: every message reads back byte-exact" "" "${bad[*]}"
}

# verify_clean NAME RECORDS - verify clean, with RECORDS records
verify_clean() {
	it_verify "$A"
	check_eq "$1: verify clean" "0 true" "$VERIFY_RC $(vj .ok)"
	check_eq "$1: records" "$2" "$(vj .records)"
	[ "$(vj '.problems | length')" = 0 ] || note "$1: $(vj '.problems[0]')"
}

verify_clean "format 3 as it is" 6
check_eq "format 3: 5 blobs checked" 5 "$(vj .blobs)"
read_all "format 3"
check_eq "read-only use leaves FORMAT alone" "mailkeep archive 3" "$(cat "$A/FORMAT")"

old_blobs=$(find "$A/blobs" -type f | wc -l)
new=("$C/folded-header.eml" "$C/long-line.eml" "$C/nul-body.eml")
it_fill "$A" "${new[@]}"
check_eq "archive-fill stored 3 more" 3 "${#FILL_IDS[@]}"
for i in "${!FILL_IDS[@]}"; do FILE_OF[${FILL_IDS[$i]}]=${new[$i]}; done
check_eq "a writer upgraded FORMAT" "mailkeep archive 4" "$(cat "$A/FORMAT")"
check_eq "no new file in blobs/" "$old_blobs" "$(find "$A/blobs" -type f | wc -l)"
check_eq "the new content is in one segment" "content/forever/000001.seg" \
    "$(find "$A/content" -type f -printf '%P\n' | sed 's|^|content/|')"
read -r file _ < <(it_span "$A" "${FILL_IDS[2]}")
check_eq "content stored in blobs/ and again since: a span of the segment" \
    "content/forever/000001.seg" "$file"

verify_clean "format 4 over format 3" 9
check_eq "5 blobs and 3 spans checked" 8 "$(vj .blobs)"
read_all "format 4 over format 3"

mk "$A" rebuild-index > "$T/rebuild.out" 2>&1 || fail "rebuild-index: $(head -c 300 "$T/rebuild.out")"
verify_clean "after rebuild-index" 9
read_all "after rebuild-index"

# An old blob altered: still found.
read -r file _ < <(it_span "$A" "$(head -n 1 "$T/archive-ids" | cut -d' ' -f1)")
printf '\x55' | dd of="$A/$file" bs=1 seek=40 conv=notrunc 2> /dev/null
it_verify "$A"
check_eq "a byte of a format-3 blob changed: verify fails" 1 "$VERIFY_RC"
check_eq "... and names the blob" 1 \
    "$(vj --arg f "$file" '[.problems[] | select(.object == $f)] | length')"
it_finish
