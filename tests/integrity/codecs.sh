#!/bin/bash
# tests/integrity/codecs.sh - one archive whose blobs are of every codec
# (zlib, zstd, none; encrypted and not): verify, get, rebuild-index and
# standard tools all read it.
#
# DESCRIPTION
#	Stores it_corpus in turn with archive-fill -z zlib:6, -z zstd:3,
#	-z none (unencrypted, -u) and the default (zstd, encrypted), each
#	run its own files (so nothing is deduplicated across codecs), and
#	checks (docs/FORMAT.md 2, 2.1 and 2.2), on each message's blob cut
#	out of its content segment (it_blob):
#	  - each blob's header byte 7 is the codec its run wrote, byte 8
#	    its cipher (0 with -u, else 2: the day key of its group);
#	  - every unencrypted blob decompresses with a standard tool alone
#	    (zstd -d for codec 2, Python's zlib for codec 1, nothing for 0)
#	    to bytes whose SHA-256 is the message's content hash;
#	  - verify is clean, every message reads back byte-exact with get,
#	    and again after rebuild-index;
#	  - an unencrypted zstd blob with a byte after its frame, or whose
#	    frame has a window over 2 MiB, is named by verify (kind content,
#	    the message that names the span).  The records are signed, so a
#	    span keeps its offset and length: the forged blob is written
#	    over the span, exactly as long as it.  It is made with the zstd
#	    command's blocks of the same content under a frame header of our
#	    own (craft_frame): its window as wanted, and padded to the
#	    length needed (Frame_Content_Size, a zero Dictionary_ID, empty
#	    raw blocks: all valid RFC 8878); zstd -d checks that the forged
#	    frame holds exactly the content, so that the one thing wrong is
#	    the byte after it or its window.
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

# blob_of ID - the blob of message ID, cut out of its segment into a file
#	under $T (it_blob); its path
blob_of() {
	[ -f "$T/blobs/$1" ] || { mkdir -p "$T/blobs" && it_blob "$A" "$1" "$T/blobs/$1"; }
	echo "$T/blobs/$1"
}

# sha_of ID - the content hash of message ID (archive-fill without -v
#	stores its file unchanged)
sha_of() { sha256sum < "${FILE_OF[$1]}" | cut -c1-64; }

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

CIPHER=(0 0 0 2)
bad_header=0 bad_decode=0 decoded=0 bad_get=0
for id in "${!FILE_OF[@]}"; do
	b=$(blob_of "$id") r=${RUN_OF[$id]}
	[ "$(head -c 6 "$b")" = MKBLOB ] || { bad_header=$((bad_header + 1)); note "$id: no MKBLOB at its span"; }
	[ "$(byte_at "$b" 7)" = "${CODEC[$r]}" ] || { bad_header=$((bad_header + 1)); note "$id: codec $(byte_at "$b" 7), run $r wrote ${CODEC[$r]}"; }
	[ "$(byte_at "$b" 8)" = "${CIPHER[$r]}" ] || { bad_header=$((bad_header + 1)); note "$id: cipher $(byte_at "$b" 8), run $r wrote ${CIPHER[$r]}"; }
	if [ "$(byte_at "$b" 8)" = 0 ]; then
		decoded=$((decoded + 1))
		[ "$(decode "$b" "${CODEC[$r]}" | sha256sum | cut -c1-64)" = "$(sha_of "$id")" ] ||
			{ bad_decode=$((bad_decode + 1)); note "$id: its blob does not decode to its content hash"; }
	fi
done
check_eq "every blob's byte 7 is its run's codec, byte 8 its cipher (${#FILE_OF[@]} blobs)" 0 "$bad_header"
check_eq "every unencrypted blob ($decoded) decodes with zstd / Python zlib / tail to its content hash" 0 "$bad_decode"
check "every message's blob was checked" test "${#FILE_OF[@]}" -eq "$(find "$T/blobs" -type f | wc -l)"

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

# craft_frame CONTENT LENGTH WLOG - a zstd frame of exactly LENGTH bytes
#	holding CONTENT, with a window of 2^WLOG (its Window_Descriptor),
#	on stdout: the blocks of the zstd command's frame of CONTENT under
#	a header of our own, padded to LENGTH by a Frame_Content_Size, a
#	zero Dictionary_ID and empty raw blocks (RFC 8878 3.1.1).  Exit
#	status 1 when no zstd level gives a frame short enough.
craft_frame() {
	python3 - "$@" <<'PY'
import struct, subprocess, sys
content = open(sys.argv[1], "rb").read()
length, wlog = int(sys.argv[2]), int(sys.argv[3])

def blocks_of(frame):
    """the blocks of a frame of the zstd command (no checksum)"""
    assert frame[:4] == b"\x28\xb5\x2f\xfd"
    fhd = frame[4]
    single, dict_flag, fcs_flag = fhd >> 5 & 1, fhd & 3, fhd >> 6
    assert not fhd & 4, "a checksum"
    pos = 5 + (0 if single else 1) + (0, 1, 2, 4)[dict_flag]
    pos += ((1 if single else 0), 2, 4, 8)[fcs_flag]
    blocks = frame[pos:]
    i = 0
    while True:   # walk them: they must end exactly at the end
        h = int.from_bytes(blocks[i:i + 3], "little")
        i += 3 + (1 if (h >> 1 & 3) == 1 else h >> 3)
        if h & 1:
            break
    assert i == len(blocks), "bytes after the last block"
    return blocks

def fcs(size, n):
    if n == 2:
        return (size - 256).to_bytes(2, "little") if 256 <= size < 65792 else None
    return size.to_bytes(n, "little") if size < 1 << (8 * n) else None

for level in range(19, 0, -1):
    frame = subprocess.run(["zstd", "-q", "-c", "--no-check", "-%d" % level,
                            "--zstd=wlog=19"], input=content,
                           stdout=subprocess.PIPE, check=True).stdout
    blocks = blocks_of(frame)
    # header: magic, descriptor, window descriptor, [dict id], [fcs]
    spare = length - (6 + len(blocks))
    for fcs_flag, fcs_n in ((0, 0), (1, 2), (2, 4), (3, 8)):
        for dict_flag, dict_n in ((0, 0), (1, 1), (2, 2), (3, 4)):
            pad = spare - fcs_n - dict_n
            if pad < 0 or pad % 3:
                continue
            f = fcs(len(content), fcs_n) if fcs_n else b""
            if f is None:
                continue
            fhd = fcs_flag << 6 | dict_flag
            out = (b"\x28\xb5\x2f\xfd" + bytes([fhd, (wlog - 10) << 3])
                   + bytes(dict_n) + f
                   + b"\0\0\0" * (pad // 3)   # empty raw blocks, not last
                   + blocks)
            assert len(out) == length
            sys.stdout.buffer.write(out)
            sys.exit(0)
sys.exit(1)
PY
}

# forge NAME WLOG TRAIL - a copy of the archive ($T/NAME) in which the span
#	of message $id (run 1: zstd, unencrypted) holds its header and a
#	crafted frame of window 2^WLOG followed by TRAIL bytes (0 or 1),
#	exactly as long as the span.  Checks that zstd -d reads the frame
#	(without the trailing byte) back to the message.  0, or 1 when
#	there is no such frame (a note says why).
forge() {
	local dir=$T/$1 wlog=$2 trail=$3 file off len
	read -r file off len < <(it_span "$A" "$id")
	it_copy "$A" "$dir"
	if ! craft_frame "${FILE_OF[$id]}" $(( len - 28 - trail )) "$wlog" > "$T/$1.frame"; then
		note "$1: no zstd frame of ${FILE_OF[$id]} fits in $(( len - 28 - trail )) bytes"
		return 1
	fi
	check_eq "$1: the crafted frame decodes with zstd -d to the message" "$(sha_of "$id")" \
	    "$(zstd -d -q -c --memory=64MB < "$T/$1.frame" | sha256sum | cut -c1-64)"
	{ head -c 28 "$(blob_of "$id")"; cat "$T/$1.frame"; head -c "$trail" /dev/zero; } > "$T/$1.blob"
	check_eq "$1: the forged blob is exactly as long as the span" "$len" "$(stat -c %s "$T/$1.blob")"
	dd if="$T/$1.blob" of="$dir/$file" bs=1 seek="$off" conv=notrunc status=none \
	    || bail "$1: cannot write $file"
	check_eq "$1: only the span's bytes changed" "" \
	    "$(cmp -l "$A/$file" "$dir/$file" | awk -v a="$off" -v b="$(( off + len ))" '$1 - 1 < a || $1 - 1 >= b')"
	note "$1: $id's span ($file at $off, $len bytes): a frame of $(stat -c %s "$T/$1.frame") bytes, window 2^$wlog, then $trail byte(s)"
}

# content_problems ID - how many problems of the last it_verify name
#	message ID with kind content
content_problems() {
	# shellcheck disable=SC2016  # $i is jq's
	vj --arg i "$1" '[.problems[] | select(.kind == "content" and .object == $i)] | length'
}

# id: a message of run 1 (zstd, unencrypted) that no other message
# shares a span with (so that verify names it), the largest such.
for i in "${!RUN_OF[@]}"; do
	echo "$i $(it_span "$A" "$i")"
done > "$T/spans.txt"
id=
for i in "${!RUN_OF[@]}"; do
	[ "${RUN_OF[$i]}" = 1 ] || continue
	sp=$(awk -v i="$i" '$1 == i { print $2, $3, $4 }' "$T/spans.txt")
	[ "$(awk '{ print $2, $3, $4 }' "$T/spans.txt" | grep -cxF "$sp")" = 1 ] || continue
	if [ -z "$id" ] || [ "$(stat -c %s "${FILE_OF[$i]}")" -gt "$(stat -c %s "${FILE_OF[$id]}")" ]; then
		id=$i
	fi
done
[ -n "$id" ] || bail "no message of run 1 has a span of its own"

# forged_case NAME WLOG TRAIL WHAT DETAIL - a blob forged by forge (window
#	2^WLOG, TRAIL bytes after the frame) is named by verify, as WHAT, with
#	a detail matching the (case-insensitive) grep pattern DETAIL
forged_case() {
	local name=$1 what=$4 detail=$5
	if ! forge "$name" "$2" "$3"; then
		fail "$what: no frame could be crafted"
		return
	fi
	it_verify "$T/$name"
	check_eq "$what: verify exits 1" 1 "$VERIFY_RC"
	check_eq "$what: verify names $id (kind content)" 1 "$(content_problems "$id")"
	check_eq "... and nothing else" 1 "$(vj '.problems | length')"
	if vj '.problems[0].detail' | grep -qi "$detail"; then
		pass "... as $detail ($(vj '.problems[0].detail'))"
	else
		fail "... detail: $(vj '.problems[0].detail // "nothing"')"
	fi
}

forged_case trail 19 1 "a byte after the zstd frame" "after the zstd frame"
# a window of 4 MiB (the content is smaller: zstd -d reads it at once)
forged_case window 22 0 "a zstd frame with a 4 MiB window" "memory"

# the control: the same crafting with a window of 512 KiB and no byte
# after the frame is a blob every reader takes (so the two cases above
# fail for their one fault, not for the crafting)
if forge control 19 0; then
	it_verify "$T/control"
	check_eq "control: a crafted frame of window 512 KiB, nothing after it: verify clean" "0 true 0" \
	    "$VERIFY_RC $(vj .ok) $(vj '.problems | length')"
	[ "$(vj '.problems | length')" = 0 ] || note "control: $(vj -c .problems | head -c 300)"
	out=$(mk "$T/control" get "$id" 2> "$T/get.err" | sha256sum | cut -c1-64)
	check_eq "control: get reads the crafted blob back to the message" "$(sha_of "$id")" "$out"
else
	fail "control: no frame could be crafted"
fi

it_finish
