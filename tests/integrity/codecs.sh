#!/bin/bash
# tests/integrity/codecs.sh - one archive whose blobs are of every codec
# (zlib, zstd, none; encrypted and not): verify, get, rebuild-index and
# standard tools all read it.
#
# DESCRIPTION
#	Stores it_corpus in turn with archive-fill -z zlib:6, -z zstd:3,
#	-z none (unencrypted, -u) and the default (zstd, encrypted), each
#	run its own files (so nothing is deduplicated across codecs), and
#	checks (docs/FORMAT.md 2 and 2.1):
#	  - each blob's header byte 7 is the codec its run wrote;
#	  - every unencrypted blob decompresses with a standard tool alone
#	    (zstd -d for codec 2, Python's zlib for codec 1, nothing for 0)
#	    to bytes whose SHA-256 is the blob's name;
#	  - verify is clean, every message reads back byte-exact with get,
#	    and again after rebuild-index;
#	  - an unencrypted zstd blob with a byte after its frame, or whose
#	    frame (written by the zstd command) has a window over 2 MiB, is
#	    named by verify.
#
#	Helpers, work directory and exit status: tests/integrity/lib.sh.
#	Environment (set by `make check`): top_srcdir top_builddir MAILKEEP
#	ARCHIVE_FILL.  INTEGRITY_KEEP=1 keeps the work directory.

set -u

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
# shellcheck source=/dev/null  # tests/integrity/lib.sh, checked on its own
. "$top_srcdir/tests/integrity/lib.sh"

it_init codecs zstd python3 sha256sum tail cmp
it_corpus
A=$T/archive

# The runs: archive-fill options, the codec byte they write.
RUNS=("-u -z zlib:6" "-u -z zstd:3" "-u -z none" "")
CODEC=(1 2 0 2)
[ ${#CORPUS[@]} -ge 8 ] || bail "it_corpus has only ${#CORPUS[@]} messages"
declare -A FILE_OF=() RUN_OF=()
for r in "${!RUNS[@]}"; do
	files=()
	for ((i = r; i < ${#CORPUS[@]}; i += ${#RUNS[@]})); do files+=("${CORPUS[$i]}"); done
	read -r -a opts <<< "${RUNS[$r]}"
	it_fill "${opts[@]}" "$A" "${files[@]}"
	check_eq "run ${RUNS[$r]:-(default)}: every file stored" "${#files[@]}" "${#FILL_IDS[@]}"
	for i in "${!FILL_IDS[@]}"; do
		FILE_OF[${FILL_IDS[$i]}]=${files[$i]}
		RUN_OF[${FILL_IDS[$i]}]=$r
	done
done

# blob_path ID - the blob of message ID (its sha256 is the file's)
blob_path() {
	local sha
	sha=$(sha256sum < "${FILE_OF[$1]}" | cut -c1-64)
	echo "$A/blobs/${sha:0:2}/$sha"
}

# byte_at FILE OFFSET - one byte of FILE, as a decimal number
byte_at() { od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' '; }

# decode FILE CODEC - the content of an unencrypted blob, standard tools only
decode() {
	case $2 in
	0) tail -c +29 "$1";;
	1) tail -c +29 "$1" | python3 -c 'import sys, zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read()))';;
	2) tail -c +29 "$1" | zstd -d -q -c;;
	esac
}

bad_header=0 bad_decode=0 decoded=0 bad_get=0
for id in "${!FILE_OF[@]}"; do
	b=$(blob_path "$id") r=${RUN_OF[$id]}
	[ "$(byte_at "$b" 7)" = "${CODEC[$r]}" ] || { bad_header=$((bad_header + 1)); note "$b: codec $(byte_at "$b" 7), run $r wrote ${CODEC[$r]}"; }
	if [ "$(byte_at "$b" 8)" = 0 ]; then
		decoded=$((decoded + 1))
		[ "$(decode "$b" "${CODEC[$r]}" | sha256sum | cut -c1-64)" = "$(basename "$b")" ] ||
			{ bad_decode=$((bad_decode + 1)); note "$b: does not decode to its name"; }
	fi
done
check_eq "every blob's byte 7 is its run's codec (${#FILE_OF[@]} blobs)" 0 "$bad_header"
check_eq "every unencrypted blob ($decoded) decodes with zstd / Python zlib / tail to its name" 0 "$bad_decode"

# read_all WHEN - verify and get of every message
read_all() {
	local out rc id
	out=$(mk "$A" verify 2>&1); rc=$?
	check_eq "$1: verify exits 0" 0 "$rc"
	case $out in
	*": all good") pass "$1: verify says 'all good'";;
	*) fail "$1: verify printed: $(echo "$out" | tail -n 3)";;
	esac
	bad_get=0
	for id in "${!FILE_OF[@]}"; do
		if ! mk "$A" get "$id" > "$T/got" 2> "$T/get.err" || ! cmp -s "$T/got" "${FILE_OF[$id]}"; then
			bad_get=$((bad_get + 1))
			note "$1: get $id: $(head -c 200 "$T/get.err")"
		fi
	done
	check_eq "$1: get returns every message (${#FILE_OF[@]}) byte-exact" 0 "$bad_get"
}
read_all "mixed archive"
out=$(mk "$A" rebuild-index 2>&1) || fail "rebuild-index: $out"
read_all "after rebuild-index"

# Blobs a reader must refuse, though unencrypted: verify names them.

# blob_problems NAME - how many problems of the last it_verify name blob NAME
blob_problems() {
	# shellcheck disable=SC2016  # $n is jq's
	vj --arg n "$1" '[.problems[] | select(.kind == "blob" and (.object | contains($n)))] | length'
}
id=$(for i in "${!RUN_OF[@]}"; do [ "${RUN_OF[$i]}" = 1 ] && echo "$i"; done | head -n 1)
b=$(blob_path "$id")
name=$(basename "$b")
it_copy "$A" "$T/trail"
printf '\0' >> "$T/trail/blobs/${name:0:2}/$name"
it_verify "$T/trail"
check_eq "a byte after the zstd frame: verify names the blob" "1" \
    "$(blob_problems "$name")"
if vj '.problems[0].detail' | grep -q "after the zstd frame"; then
	pass "... as a byte after the frame"
else
	fail "... detail: $(vj '.problems[0].detail')"
fi
it_copy "$A" "$T/window"
# the same content in a frame of the zstd command's own, with a 4 MiB
# window (--long=22; from standard input, so no content size shrinks it)
{ head -c 28 "$b"; zstd -q -c --long=22 < "${FILE_OF[$id]}"; } > "$T/window/blobs/${name:0:2}/$name"
it_verify "$T/window"
check_eq "a zstd frame with a 4 MiB window: verify names the blob" "1" \
    "$(blob_problems "$name")"
if vj '.problems[0].detail' | grep -qi "memory"; then
	pass "... as needing too much memory ($(vj '.problems[0].detail'))"
else
	fail "... detail: $(vj '.problems[0].detail // "nothing"')"
fi

it_finish
