#!/bin/bash
# tests/integrity/keys.sh - a key rotation: what was stored before and after
# it reads back byte-exact and verifies, under the exported public keys.
#
# DESCRIPTION
#	Stores half of it_corpus, exports the public key (`keys
#	export-public`), rotates the keys (`keys rotate`: generation 2) and
#	stores the other half.  Then:
#	  - every message, from before and after the rotation, reads back
#	    with `get` byte for byte as its file (archive-fill without -v
#	    stores files unchanged);
#	  - verify is clean, also with --keys and the keys exported before
#	    and after the rotation; with a stranger's key it names that
#	    generation (kind key) and nothing else;
#	  - the ledger's "created" and "keys_rotated" entries hold the
#	    public keys that export-public prints;
#	  - the records of messages stored before are signed by key 1,
#	    those stored after by key 2; a checkpoint made now is signed
#	    with key 2;
#	  - content keys are day keys, not generations (FORMAT.md 2, 2.2):
#	    every blob, before and after the rotation, is in a segment of
#	    its group (content/forever/, these messages being kept forever)
#	    with cipher 2 (byte 8) and key generation 0 (bytes 12..15), and
#	    the rotation leaves the day keys (keys/record-*.key) as they
#	    were;
#	  - keys/ is mode 0700 and every file in it 0600.
#
#	Environment (set by `make check`): top_srcdir top_builddir MAILKEEP
#	ARCHIVE_FILL.  E2E_KEEP=1 keeps the work directory.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integrity/lib.sh" || exit 99
it_init "$(basename "$0" .sh)" openssl od python3

A=$T/archive

# raw_keys PEMFILE - the raw Ed25519 public keys in a PEM file (hex, one a
#	line, in order)
raw_keys() {
	local i=0 f
	rm -f "$T"/pem.*
	awk -v dir="$T" '/-----BEGIN PUBLIC KEY-----/ { n++; in_key = 1 }
	    in_key { print > (dir "/pem." n) }
	    /-----END PUBLIC KEY-----/ { in_key = 0; close(dir "/pem." n) }' "$1"
	while :; do
		i=$(( i + 1 ))
		f=$T/pem.$i
		[ -f "$f" ] || break
		openssl pkey -pubin -in "$f" -outform DER 2> /dev/null \
		    | tail -c 32 | od -An -tx1 | tr -d ' \n'
		echo
	done
}

# blob_header ID - "MAGIC CIPHER GENERATION" of the header of message ID's
#	blob in its segment (bytes 0..5, 8, and 12..15 big-endian)
blob_header() {
	local file off len
	read -r file off len < <(it_span "$A" "$1")
	[ -n "$file" ] || { echo "no span"; return; }
	printf '%s ' "$(tail -c +$(( off + 1 )) "$A/$file" | head -c 6)"
	od -An -tu1 -j $(( off + 8 )) -N 8 "$A/$file" \
	    | awk '{ print $1, $5 * 16777216 + $6 * 65536 + $7 * 256 + $8 }'
}

# ---------------------------------------------------------------------
# Before the rotation: every other file of the corpus.

it_corpus
BEFORE=(); AFTER=()
for (( i = 0; i < ${#CORPUS[@]}; i++ )); do
	if (( i % 2 == 0 )); then BEFORE+=("${CORPUS[$i]}"); else AFTER+=("${CORPUS[$i]}"); fi
done
it_fill "$A" "${BEFORE[@]}"
IDS1=("${FILL_IDS[@]}")
check_eq "before the rotation: every file stored" "${#BEFORE[@]}" "${#IDS1[@]}"

mk "$A" keys export-public > "$T/pub1.pem" 2> "$T/export.err"
check_eq "keys export-public exits 0" 0 "$?"
check_eq "export-public before the rotation: one key" 1 "$(grep -c 'BEGIN PUBLIC KEY' "$T/pub1.pem")"
check "export-public: the comment line of generation 1" \
    grep -qx '# mailkeep signing key, generation 1 (Ed25519)' "$T/pub1.pem"
it_verify "$A" --keys "$T/pub1.pem"
check_eq "before the rotation: verify --keys pub1.pem clean" "0 true 0" \
    "$VERIFY_RC $(vj .ok) $(vj '.problems | length')"

# ---------------------------------------------------------------------
# The rotation, then the other half.

mkdir "$T/daykeys.before" || bail "mkdir $T/daykeys.before"
cp -p "$A"/keys/record-*.key "$T/daykeys.before/" || bail "no day key in $A/keys"
out=$(mk "$A" keys rotate --json 2>&1)
check_eq "keys rotate exits 0" 0 "$?"
check_eq "keys rotate makes generation 2" 2 "$(echo "$out" | jq -r .generation 2>/dev/null)"
changed=()
for f in "$T"/daykeys.before/*.key; do
	cmp -s "$f" "$A/keys/$(basename "$f")" || changed+=("$(basename "$f")")
done
check_eq "keys rotate leaves the day keys ($(cd "$T/daykeys.before" && echo *.key)) as they were" "" "${changed[*]}"
it_fill "$A" "${AFTER[@]}"
IDS2=("${FILL_IDS[@]}")
check_eq "after the rotation: every file stored" "${#AFTER[@]}" "${#IDS2[@]}"

mk "$A" keys export-public > "$T/pub-all.pem" 2> "$T/export.err"
check_eq "keys export-public after the rotation exits 0" 0 "$?"
check_eq "export-public after the rotation: two keys" 2 "$(grep -c 'BEGIN PUBLIC KEY' "$T/pub-all.pem")"
check "export-public: the comment line of generation 2" \
    grep -qx '# mailkeep signing key, generation 2 (Ed25519)' "$T/pub-all.pem"
mapfile -t K1 < <(raw_keys "$T/pub1.pem")
mapfile -t KALL < <(raw_keys "$T/pub-all.pem")
check_eq "generation 1 exported before and after the rotation alike" "${K1[0]:-none}" "${KALL[0]:-}"
if [ "${#KALL[@]}" -eq 2 ] && [ "${KALL[0]}" != "${KALL[1]}" ] && [ ${#KALL[1]} -eq 64 ]; then
	pass "generation 2 is a new Ed25519 key"
else
	fail "generation 2 is not a new Ed25519 key: ${KALL[*]}"
fi

# ---------------------------------------------------------------------
# Every message reads back exact.

# check_get NAME IDS... -- FILES... : get each id, compare with its file
check_get() {
	local name=$1; shift
	local ids=() files=() bad=() i
	while [ "$1" != -- ]; do ids+=("$1"); shift; done
	shift
	files=("$@")
	for (( i = 0; i < ${#ids[@]}; i++ )); do
		if ! mk "$A" get "${ids[$i]}" > "$T/got" 2> "$T/get.err"; then
			bad+=("${ids[$i]}: get failed: $(head -c 200 "$T/get.err")")
		elif ! cmp -s "$T/got" "${files[$i]}"; then
			bad+=("${ids[$i]} differs from ${files[$i]}")
		fi
	done
	if [ ${#bad[@]} -eq 0 ]; then
		pass "$name: all ${#ids[@]} messages read back byte-exact"
	else
		fail "$name: ${#bad[@]} of ${#ids[@]} messages not exact: ${bad[*]:0:3}"
	fi
}
check_get "stored before the rotation" "${IDS1[@]}" -- "${BEFORE[@]}"
check_get "stored after the rotation" "${IDS2[@]}" -- "${AFTER[@]}"

# ---------------------------------------------------------------------
# verify, with and without pinned keys.

N=$(( ${#IDS1[@]} + ${#IDS2[@]} ))
it_verify "$A"
check_eq "verify clean" "0 true 0" "$VERIFY_RC $(vj .ok) $(vj '.problems | length')"
check_eq "verify checked every record" "$N" "$(vj .records)"
out=$(mk "$A" verify 2>&1)
case $out in
*": all good") pass "verify (text) says 'all good'";;
*) fail "verify (text): $(echo "$out" | tail -n 3)";;
esac
it_verify "$A" --keys "$T/pub-all.pem"
check_eq "verify --keys pub-all.pem (exported after the rotation) clean" "0 true 0" \
    "$VERIFY_RC $(vj .ok) $(vj '.problems | length')"
[ "$(vj '.problems | length')" = 0 ] || note "$(vj -c .problems | head -c 500)"
it_verify "$A" --keys "$T/pub1.pem"
check_eq "verify --keys pub1.pem (exported before the rotation) clean" "0 true 0" \
    "$VERIFY_RC $(vj .ok) $(vj '.problems | length')"

# verify_stranger NAME FILE OBJECT - verify --keys FILE names OBJECT, kind
#	key, and nothing else
# shellcheck disable=SC2016  # $o is jq's
verify_stranger() {
	it_verify "$A" --keys "$2"
	check_eq "$1: verify exits 1" 1 "$VERIFY_RC"
	check_eq "$1: verify names '$3' (kind key)" 1 \
	    "$(vj --arg o "$3" '[.problems[] | select(.kind == "key" and .object == $o)] | length')"
	check_eq "$1: and nothing else" "[\"key $3\"]" \
	    "$(vj -c '[.problems[] | "\(.kind) \(.object)"] | unique')"
	[ "$(vj '.problems | length')" != 0 ] || return 0
	note "$1: $(vj '.problems[] | "\(.kind) \(.object): \(.detail)"' | head -n 3)"
}
if ! openssl genpkey -algorithm ED25519 -out "$T/stranger.key" 2> /dev/null \
    || ! openssl pkey -in "$T/stranger.key" -pubout -out "$T/stranger.pem" 2> /dev/null; then
	bail "openssl: cannot make an Ed25519 key"
fi
verify_stranger "--keys with an unrelated key" "$T/stranger.pem" "key 1"
{ cat "$T/pub1.pem"; cat "$T/stranger.pem"; } > "$T/half.pem"
verify_stranger "--keys with generation 1 right and an unrelated generation 2" \
    "$T/half.pem" "key 2"

# ---------------------------------------------------------------------
# The ledger records the public keys.

L=$A/ledger/ledger.log
check_eq "the ledger's created entry holds generation 1's public key" "${KALL[0]:-}" \
    "$(jq -r 'select(.event == "created") | .public_key' "$L")"
check_eq "the ledger holds one keys_rotated entry" 1 \
    "$(jq -r 'select(.event == "keys_rotated") | .seq' "$L" | wc -l)"
check_eq "keys_rotated: generation 2" 2 "$(jq -r 'select(.event == "keys_rotated") | .key' "$L")"
check_eq "keys_rotated: the new public key, as exported" "${KALL[1]:-}" \
    "$(jq -r 'select(.event == "keys_rotated") | .public_key' "$L")"
rot=$(jq -r 'select(.event == "keys_rotated") | .seq' "$L" | head -n 1)
late=$(jq -r --argjson r "${rot:-0}" 'select(.event == "stored" and .seq < $r) | .id' "$L" | sort | comm -13 <(printf '%s\n' "${IDS1[@]}" | sort) -)
check_eq "keys_rotated comes after every message stored before it" "" "$late"

# ---------------------------------------------------------------------
# Blob headers: cipher 2 and generation 0 before and after; record
# signers: generation 1 before, 2 after.

mk "$A" search --json > "$T/search.json" || bail "search --json"
# gens NAME WANT IDS... - each message's blob header and record signer
gens() {
	local name=$1 want=$2 id bad_blob=() bad_file=() bad_signer=() file
	shift 2
	for id in "$@"; do
		read -r file _ < <(it_span "$A" "$id")
		case $file in
		content/forever/[0-9][0-9][0-9][0-9][0-9][0-9].seg) ;;
		*) bad_file+=("$id:${file:-none}");;
		esac
		if [ "$(blob_header "$id")" != "MKBLOB 2 0" ]; then
			bad_blob+=("$id:$(blob_header "$id")")
		fi
		if [ "$(jq -r --arg i "$id" 'select(.event == "stored" and .id == $i) | .signer' "$L")" != "$want" ]; then
			bad_signer+=("$id")
		fi
	done
	check_eq "$name: every blob in a segment of content/forever/" "" "${bad_file[*]}"
	check_eq "$name: every blob header says MKBLOB, cipher 2 (day key), key generation 0" "" "${bad_blob[*]}"
	check_eq "$name: every record signed by key $want (ledger signer)" "" "${bad_signer[*]}"
}
gens "stored before the rotation" 1 "${IDS1[@]}"
gens "stored after the rotation" 2 "${IDS2[@]}"
it_blob "$A" "${IDS2[0]}" "$T/blob2"
note "header of a blob stored after the rotation: $(od -An -tx1 -N 16 "$T/blob2" | tr -s ' ')"

mk "$A" ledger checkpoint > /dev/null 2>&1
check_eq "ledger checkpoint exits 0" 0 "$?"
check_eq "a checkpoint made now is signed with key 2 and valid" "2 true" \
    "$(mk "$A" ledger checkpoints --json | jq -r '.[-1] | "\(.key) \(.valid)"')"
check_eq "every checkpoint's signature is valid" "true" \
    "$(mk "$A" ledger checkpoints --json | jq -r 'all(.valid)')"

# ---------------------------------------------------------------------
# keys/ modes.

check_eq "keys/ is mode 0700" 700 "$(stat -c %a "$A/keys")"
check_eq "every file in keys/ is mode 0600" "" \
    "$(find "$A/keys" -type f ! -perm 0600 -printf '%P:%m ')"
check_eq "keys/ holds both generations" "data-1.key data-2.key signing-1.pem signing-2.pem" \
    "$(find "$A/keys" -type f \( -name 'data-*.key' -o -name 'signing-*.pem' \) -printf '%P\n' | sort | tr '\n' ' ' | sed 's/ $//')"

# ---------------------------------------------------------------------
# Run as root, "keys rotate" gives the new key files the owner of keys/,
# so the milter's user (the archive's owner) can still read them.

if [ "$(id -u)" -eq 0 ] && id nobody > /dev/null 2>&1; then
	O=$T/owned
	it_copy "$A" "$O"
	chown -R nobody: "$O"
	mk "$O" keys rotate > /dev/null || fail "keys rotate (as root, archive owned by nobody)"
	check_eq "keys made by root in nobody's archive belong to nobody" "nobody nobody" \
	    "$(stat -c %U "$O/keys/signing-3.pem" "$O/keys/data-3.key" 2>&1 | tr '\n' ' ' | sed 's/ $//')"
else
	note "not root: the ownership of rotated keys is not checked"
fi

it_finish
