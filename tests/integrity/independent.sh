#!/bin/bash
# tests/integrity/independent.sh - a third party checks archived messages
# with the public keys and standard tools only.
#
# DESCRIPTION
#	Follows docs/FORMAT.md, section 6 (with 3.1, 4.3 and 4.4): mailkeep
#	produces the material (`get`, `ledger proof --json`, `keys
#	export-public`), and everything after that is checked with the
#	openssl command line, coreutils, bash and jq only; no mailkeep code
#	takes part in the checking.  For every message of an archive:
#	  (a) SHA-256 of the message = the record's "sha256";
#	  (b) the record text's Ed25519 signature holds under the key of
#	      generation "signer";
#	  (c) SHA-256 of the record text = the ledger entry's "record", and
#	      the entry's id and sha256 are the record's;
#	  (d) the leaf hash, SHA-256(0x00 || entry), folded with the audit
#	      path (RFC 9162 2.1.3.2) gives the checkpoint's root;
#	  (e) the checkpoint text's signature holds under the key of
#	      generation "key", and its size and root lines are the
#	      tree_size and root used in (d).
#	And the record text has the members of FORMAT.md 3.1 in order
#	("content" after "size"), and its "content" names a span of a
#	segment content/forever/NNNNNN.seg inside the file, where a blob
#	header of cipher 2 (the day key) and generation 0 begins.
#	Then each way of lying must be caught (a changed message byte, record
#	character, path hash, leaf index or checkpoint root, a stranger's
#	key), and the checks are repeated across a key rotation.  Last, the
#	chain of the ledger (FORMAT.md 4.1): each line's "prev" is
#	SHA-256(0x00 || the line before), and an edited entry is found.
#
#	Helpers, work directory and exit status: tests/integrity/lib.sh.
#	Environment (set by `make check`): top_srcdir top_builddir MAILKEEP
#	ARCHIVE_FILL.  INTEGRITY_KEEP=1 keeps the work directory.

set -u

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
# shellcheck source=/dev/null  # tests/integrity/lib.sh, checked on its own
. "$top_srcdir/tests/integrity/lib.sh"

# Only standard tools from here on.
it_init independent openssl sha256sum base64 od sed head tail cut tr wc cmp dd
case $(openssl version 2>/dev/null) in
OpenSSL\ [3-9].*) ;;
*) skip "independent: needs OpenSSL 3 (pkeyutl -rawin for Ed25519), have: $(openssl version 2>&1)";;
esac
ARCHIVE=$T/archive

# ---------------------------------------------------------------------
# The third party's tools: bash, coreutils, openssl, jq.

# hex2bin HEX - the bytes written as HEX
hex2bin() { printf '%b' "$(printf '%s' "$1" | sed 's/../\\x&/g')"; }

# bin2hex - stdin as lowercase hex, one line
bin2hex() { od -An -v -tx1 | tr -d ' \n'; echo; }

# is_hash S - true when S is 64 lowercase hex digits
is_hash() { [[ $1 =~ ^[0-9a-f]{64}$ ]]; }

# node LEFT RIGHT - SHA-256(0x01 || LEFT || RIGHT), hex
node() {
	{ printf '\1'; hex2bin "$1"; hex2bin "$2"; } | openssl dgst -sha256 -binary | bin2hex
}

# ed25519_verify KEY.pem DATA SIG - openssl's Ed25519 check (OpenSSL 3)
ed25519_verify() {
	local out
	out=$(openssl pkeyutl -verify -pubin -inkey "$1" -rawin -in "$2" -sigfile "$3" 2>&1) &&
		[ "$out" = "Signature Verified Successfully" ]
}

# chain_breaks LEDGER - the chain of "prev" hashes (docs/FORMAT.md 4.1)
#	checked line by line: print K for each entry K whose leaf hash,
#	SHA-256(0x00 || line K), is not the "prev" of line K+1, and "K bad"
#	for a line K that does not start {"seq":K,"prev":"<64 hex>", (line 1:
#	{"seq":1,"event":"created", without prev); nothing when it holds
chain_breaks() {
	local n=0 line prev='' want re
	while IFS= read -r line; do
		n=$(( n + 1 ))
		if [ "$n" -eq 1 ]; then
			[[ $line == '{"seq":1,"event":"created",'* ]] || echo "1 bad"
		else
			re='^\{"seq":'$n',"prev":"([0-9a-f]{64})",'
			if [[ $line =~ $re ]]; then
				want=$( (printf '\0'; printf '%s' "$prev") | openssl dgst -sha256 -binary | bin2hex)
				[ "${BASH_REMATCH[1]}" = "$want" ] || echo "$(( n - 1 ))"
			else
				echo "$n bad"
			fi
		fi
		prev=$line
	done < "$1"
}

# fold LEAF_INDEX TREE_SIZE LEAF_HASH PATHFILE - RFC 9162 2.1.3.2 steps
#	2-5 as docs/FORMAT.md 4.4 writes them (no bound check on the leaf
#	index, see step_inclusion): print the root the path leads to, or fail
fold() {
	local fn=$1 sn=$(( $2 - 1 )) r=$3 p
	while IFS= read -r p; do
		is_hash "$p" || return 1
		[ "$sn" -ne 0 ] || return 1
		if (( (fn & 1) == 1 || fn == sn )); then
			r=$(node "$p" "$r")
			while (( (fn & 1) == 0 && fn != 0 )); do
				fn=$(( fn >> 1 )); sn=$(( sn >> 1 ))
			done
		else
			r=$(node "$r" "$p")
		fi
		fn=$(( fn >> 1 )); sn=$(( sn >> 1 ))
	done < "$4"
	[ "$sn" -eq 0 ] || return 1
	echo "$r"
}

# extract ID PROOF.json MESSAGE DIR - what the third party was handed,
#	as separate files in DIR (so that a test can tamper with one)
extract() {
	local id=$1 proof=$2 msg=$3 d=$4
	mkdir -p "$d" || return 1
	printf '%s\n' "$id" > "$d/id"
	cp "$msg" "$d/message.eml" &&
	jq -j .record.text "$proof" > "$d/record.txt" &&
	jq -r .record.signature "$proof" | base64 -d > "$d/record.sig" &&
	jq -r .record.signer "$proof" > "$d/signer" &&
	jq -j .entry "$proof" > "$d/entry.txt" &&
	jq -r .leaf_index "$proof" > "$d/leaf_index" &&
	jq -r .tree_size "$proof" > "$d/tree_size" &&
	jq -r '.path[]' "$proof" > "$d/path" &&
	jq -r .checkpoint.root "$proof" > "$d/root" &&
	jq -r .checkpoint.size "$proof" > "$d/cp_size" &&
	jq -r .checkpoint.time "$proof" > "$d/cp_time" &&
	jq -r .checkpoint.key "$proof" > "$d/cp_key" &&
	jq -j .checkpoint.text "$proof" > "$d/cp.txt" &&
	jq -r .checkpoint.signature "$proof" | base64 -d > "$d/cp.sig"
}

# The steps.  Each takes the DIR of extract and the directory KEYS of
# key-G.pem files, returns 0 when it holds, else 1 with WHY set.
WHY=

# (a) the content
step_content() {
	local d=$1 want got
	want=$(jq -r .sha256 "$d/record.txt") || { WHY="record text is not JSON"; return 1; }
	is_hash "$want" || { WHY="record sha256 is '$want'"; return 1; }
	got=$(sha256sum < "$d/message.eml" | cut -c1-64)
	[ "$got" = "$want" ] || { WHY="sha256 of message $got, record says $want"; return 1; }
}

# (b) the record's signature, under the key of generation "signer"
step_record_sig() {
	local d=$1 keys=$2 g
	g=$(cat "$d/signer")
	[[ $g =~ ^[1-9][0-9]*$ ]] || { WHY="signer '$g'"; return 1; }
	[ -f "$keys/key-$g.pem" ] || { WHY="no public key of generation $g"; return 1; }
	ed25519_verify "$keys/key-$g.pem" "$d/record.txt" "$d/record.sig" ||
		{ WHY="record signature does not hold under key $g"; return 1; }
}

# (c) the record is the one in the ledger entry
step_record_ledger() {
	local d=$1 h rec ent
	h=$(sha256sum < "$d/record.txt" | cut -c1-64)
	rec=$(jq -r '[.id, .sha256] | @tsv' "$d/record.txt") || { WHY="record text is not JSON"; return 1; }
	ent=$(jq -r '[.event, .record, .id, .sha256, .signer] | @tsv' "$d/entry.txt") ||
		{ WHY="entry is not JSON"; return 1; }
	local e_event e_record e_id e_sha e_signer r_id r_sha
	IFS=$'\t' read -r e_event e_record e_id e_sha e_signer <<< "$ent"
	IFS=$'\t' read -r r_id r_sha <<< "$rec"
	[ "$e_event" = stored ] || [ "$e_event" = rekeyed ] || [ "$e_event" = redecided ] || { WHY="entry event '$e_event'"; return 1; }
	[ "$h" = "$e_record" ] || { WHY="sha256 of record text $h, entry says $e_record"; return 1; }
	[ "$r_id" = "$(cat "$d/id")" ] || { WHY="record id $r_id, asked for $(cat "$d/id")"; return 1; }
	[ "$e_id" = "$r_id" ] || { WHY="entry id $e_id, record id $r_id"; return 1; }
	[ "$e_sha" = "$r_sha" ] || { WHY="entry sha256 $e_sha, record $r_sha"; return 1; }
	[ "$e_signer" = "$(cat "$d/signer")" ] || { WHY="entry signer $e_signer, record's $(cat "$d/signer")"; return 1; }
}

# (d) the entry is in the tree whose root the checkpoint names
step_inclusion() {
	local d=$1 i n leaf root want seq
	i=$(cat "$d/leaf_index"); n=$(cat "$d/tree_size"); want=$(cat "$d/root")
	[[ $i =~ ^[0-9]+$ && $n =~ ^[1-9][0-9]*$ ]] || { WHY="leaf_index '$i', tree_size '$n'"; return 1; }
	is_hash "$want" || { WHY="checkpoint root '$want'"; return 1; }
	# RFC 9162 2.1.3.2 step 1 (missing from FORMAT.md 4.4)
	[ "$i" -lt "$n" ] || { WHY="leaf_index $i not below tree_size $n"; return 1; }
	leaf=$( (printf '\0'; cat "$d/entry.txt") | openssl dgst -sha256 -binary | bin2hex)
	root=$(fold "$i" "$n" "$leaf" "$d/path") || { WHY="audit path does not fold (sn != 0 or a bad hash)"; return 1; }
	[ "$root" = "$want" ] || { WHY="path folds to $root, checkpoint root $want"; return 1; }
	# the leaf's position is the entry's own seq (not said in FORMAT.md)
	seq=$(jq -r .seq "$d/entry.txt")
	[ "$seq" = "$(( i + 1 ))" ] || { WHY="entry seq $seq at leaf index $i"; return 1; }
}

# (e) the checkpoint text: signed, and naming the size and root used
step_checkpoint() {
	local d=$1 keys=$2 g lines
	g=$(cat "$d/cp_key")
	[[ $g =~ ^[1-9][0-9]*$ ]] || { WHY="checkpoint key '$g'"; return 1; }
	[ -f "$keys/key-$g.pem" ] || { WHY="no public key of generation $g"; return 1; }
	ed25519_verify "$keys/key-$g.pem" "$d/cp.txt" "$d/cp.sig" ||
		{ WHY="checkpoint signature does not hold under key $g"; return 1; }
	[ "$(tail -c 1 "$d/cp.txt" | od -An -tx1 | tr -d ' ')" = 0a ] || { WHY="checkpoint text does not end in a newline"; return 1; }
	lines=$(wc -l < "$d/cp.txt")
	[ "$lines" -eq 4 ] || { WHY="checkpoint text has $lines lines"; return 1; }
	[ "$(sed -n 1p "$d/cp.txt")" = mailkeep-checkpoint/1 ] || { WHY="checkpoint text line 1 '$(sed -n 1p "$d/cp.txt")'"; return 1; }
	[ "$(sed -n 2p "$d/cp.txt")" = "$(cat "$d/tree_size")" ] || { WHY="checkpoint text size $(sed -n 2p "$d/cp.txt"), tree_size $(cat "$d/tree_size")"; return 1; }
	[ "$(sed -n 3p "$d/cp.txt")" = "$(cat "$d/root")" ] || { WHY="checkpoint text root $(sed -n 3p "$d/cp.txt"), root used $(cat "$d/root")"; return 1; }
	[ "$(sed -n 4p "$d/cp.txt")" = "$(cat "$d/cp_time")" ] || { WHY="checkpoint text time $(sed -n 4p "$d/cp.txt"), checkpoint time $(cat "$d/cp_time")"; return 1; }
	[ "$(cat "$d/cp_size")" = "$(cat "$d/tree_size")" ] || { WHY="checkpoint size $(cat "$d/cp_size"), tree_size $(cat "$d/tree_size")"; return 1; }
}

STEPS="content record_sig record_ledger inclusion checkpoint"

# run_step STEP DIR KEYS - one of $STEPS
run_step() {
	local s=$1; shift
	case $s in
	content) step_content "$@";;
	record_sig) step_record_sig "$@";;
	record_ledger) step_record_ledger "$@";;
	inclusion) step_inclusion "$@";;
	checkpoint) step_checkpoint "$@";;
	*) WHY="unknown step $s"; return 1;;
	esac
}

# check_all NAME DIR KEYS - each step is an assertion
check_all() {
	local name=$1 d=$2 keys=$3 s
	for s in $STEPS; do
		if run_step "$s" "$d" "$keys"; then pass "$name: $s"; else fail "$name: $s: $WHY"; fi
	done
}

# failing_steps DIR KEYS - print the steps that do not hold
failing_steps() {
	local d=$1 keys=$2 s out=
	for s in $STEPS; do run_step "$s" "$d" "$keys" || out="$out $s"; done
	echo "${out# }"
}

# expect_reject NAME DIR KEYS STEP... - the independent check must fail,
#	and exactly in STEPs
expect_reject() {
	local name=$1 d=$2 keys=$3; shift 3
	local got want="$*"
	got=$(failing_steps "$d" "$keys")
	if [ -z "$got" ]; then
		fail "rejects $name: the independent check accepted it"
	elif [ "$got" != "$want" ]; then
		fail "rejects $name: failed in '$got', want '$want'"
	else
		pass "rejects $name (in $got)"
	fi
}

# tampered NAME SRC - a copy of the extracted DIR SRC to tamper with
tampered() {
	rm -rf "$T/neg/$1" && mkdir -p "$T/neg" && cp -r "$2" "$T/neg/$1" && echo "$T/neg/$1"
}

# split_keys PEMS DIR - key-G.pem per "# mailkeep signing key, generation
#	G (Ed25519)" comment line; print the generations in order
split_keys() {
	local pems=$1 dir=$2 line g=
	mkdir -p "$dir" || return 1
	while IFS= read -r line; do
		if [[ $line =~ ^\#\ mailkeep\ signing\ key,\ generation\ ([0-9]+)\ \(Ed25519\)$ ]]; then
			g=${BASH_REMATCH[1]}
			: > "$dir/key-$g.pem"
			echo "$g"
		elif [ -n "$g" ]; then
			printf '%s\n' "$line" >> "$dir/key-$g.pem"
		fi
	done < "$pems"
}

# fetch ID NAME - mailkeep get and ledger proof --json into $T/NAME.*
fetch() {
	mk "$ARCHIVE" get "$1" > "$T/$2.eml" 2> "$T/$2.err" || { fail "$2: mailkeep get $1: $(head -c 300 "$T/$2.err")"; return 1; }
	mk "$ARCHIVE" ledger proof "$1" --json > "$T/$2.proof.json" 2> "$T/$2.err" ||
		{ fail "$2: mailkeep ledger proof $1 --json: $(head -c 300 "$T/$2.err")"; return 1; }
	jq -e 'type == "object"' "$T/$2.proof.json" > /dev/null 2>&1 || { fail "$2: proof is not a JSON object"; return 1; }
}

# ---------------------------------------------------------------------
# 1. An archive of real mail, a checkpoint, the public keys.

PYDATA=
for d in /usr/lib/python3.11/test/test_email/data /usr/lib/python3*/test/test_email/data; do
	[ -f "$d/msg_01.txt" ] && { PYDATA=$d; break; }
done
C=$top_srcdir/tests/corpus
FILES=("$C/8bit-headers.eml" "$C/500-recipients.eml" "$C/crlf.eml" "$C/nul-body.eml")
if [ -n "$PYDATA" ]; then
	FILES+=("$PYDATA/msg_01.txt" "$PYDATA/msg_10.txt" "$PYDATA/msg_22.txt" "$PYDATA/msg_35.txt")
else
	note "no Python test_email data; corpus files only"
	FILES+=("$C/folded-header.eml" "$C/latin1-subject.eml" "$C/long-line.eml" "$C/no-trailing-newline.eml")
fi
for f in "${FILES[@]}"; do [ -f "$f" ] || bail "missing $f"; done

"$ARCHIVE_FILL" "$ARCHIVE" "${FILES[@]}" > "$T/fill.out" 2> "$T/fill.err" ||
	bail "archive-fill: $(head -c 300 "$T/fill.err")"
mapfile -t IDS < <(tail -n +2 "$T/fill.out")
check_eq "archive-fill stored every file" "${#FILES[@]}" "${#IDS[@]}"
declare -A FILE_OF=()
for i in "${!IDS[@]}"; do FILE_OF[${IDS[$i]}]=${FILES[$i]}; done

mk "$ARCHIVE" ledger checkpoint > "$T/cp1.out" 2>&1 || bail "ledger checkpoint: $(head -c 300 "$T/cp1.out")"
mk "$ARCHIVE" keys export-public > "$T/keys1.pem" 2> "$T/keys.err" || bail "keys export-public: $(head -c 300 "$T/keys.err")"
mapfile -t GENS < <(split_keys "$T/keys1.pem" "$T/keys1")
check_eq "keys export-public: generation 1 only" "1" "${GENS[*]}"
openssl pkey -pubin -in "$T/keys1/key-1.pem" -noout 2> /dev/null ||
	fail "key-1.pem is not a public key openssl reads"

RECORD_KEYS='["v","id","received_at","sha256","size","content","queue_id","client_addr","client_name","helo","auth_user","tls_version","mail_from","rcpts","message_id","subject","date","policy","policy.content","policy.direction","policy.retain_until","policy.roles","policy.parties","content.file","content.offset","content.length"]'

# span_ok DIR - the record text in DIR names its content as FORMAT.md 2.2
#	and 3.1 say: v 4, a file content/GROUP/NNNNNN.seg of the archive
#	(GROUP "forever" here: retain_until null), a span inside it that
#	begins with a blob header (MKBLOB, version 1, cipher 2: the day
#	key, key generation 0); WHY when not
span_ok() {
	local r=$1/record.txt file off len size
	file=$(jq -r '.content.file // empty' "$r")
	off=$(jq -r '.content.offset // empty' "$r")
	len=$(jq -r '.content.length // empty' "$r")
	[ "$(jq -r .v "$r")" = 4 ] || { WHY="record v $(jq -r .v "$r"), not 4"; return 1; }
	[[ $file =~ ^content/forever/[0-9]{6}\.seg$ ]] || { WHY="content.file '$file'"; return 1; }
	[[ $off =~ ^[0-9]+$ && $len =~ ^[1-9][0-9]*$ ]] || { WHY="content.offset '$off', content.length '$len'"; return 1; }
	[ -f "$ARCHIVE/$file" ] || { WHY="no $file in the archive"; return 1; }
	size=$(wc -c < "$ARCHIVE/$file")
	[ $(( off + len )) -le "$size" ] || { WHY="span $off+$len beyond the end of $file ($size bytes)"; return 1; }
	[ "$(tail -c +$(( off + 1 )) "$ARCHIVE/$file" | head -c 16 | bin2hex)" = "4d4b424c4f4201$(tail -c +$(( off + 8 )) "$ARCHIVE/$file" | head -c 1 | bin2hex)0200000000000000" ] \
	    || { WHY="no MKBLOB header of cipher 2, generation 0 at $file $off: $(tail -c +$(( off + 1 )) "$ARCHIVE/$file" | head -c 16 | bin2hex)"; return 1; }
}

# Every message, in ledger order (first, middles, last are all there).
declare -A DIR_OF=() LEAF_OF=()
for id in "${IDS[@]}"; do
	name=$(basename "${FILE_OF[$id]}")
	fetch "$id" "$name" || continue
	cmp -s "$T/$name.eml" "${FILE_OF[$id]}" || fail "$name: mailkeep get does not return the file stored"
	extract "$id" "$T/$name.proof.json" "$T/$name.eml" "$T/ok/$name" || { fail "$name: cannot extract the proof"; continue; }
	DIR_OF[$id]=$T/ok/$name
	LEAF_OF[$id]=$(cat "$T/ok/$name/leaf_index")
	note "$name: $id, leaf $(cat "$T/ok/$name/leaf_index") of $(cat "$T/ok/$name/tree_size"), $(jq -r '.path | length' "$T/$name.proof.json") path hashes"
	check_all "$name" "$T/ok/$name" "$T/keys1"
	# the record text as FORMAT.md 3.1 writes it: these members in this
	# order, ASCII only (non-ASCII as \uXXXX), no trailing newline
	check_eq "$name: record members in the order of FORMAT.md 3.1" "$RECORD_KEYS" \
		"$(jq -c '[keys_unsorted[]] + [.policy | keys_unsorted[] | "policy." + .] + [.content // {} | keys_unsorted[] | "content." + .]' "$T/ok/$name/record.txt")"
	if span_ok "$T/ok/$name"; then
		pass "$name: the record names a span of a content segment with a blob header there (FORMAT.md 2.2)"
	else
		fail "$name: the record's content: $WHY"
	fi
	check_eq "$name: record text is printable ASCII" 0 "$(tr -d '\040-\176' < "$T/ok/$name/record.txt" | wc -c)"
done

# The first, a middle and the last stored message, by leaf index.
mapfile -t BY_LEAF < <(for id in "${!LEAF_OF[@]}"; do echo "${LEAF_OF[$id]} $id"; done | sort -n | cut -d' ' -f2)
[ "${#BY_LEAF[@]}" -ge 3 ] || bail "fewer than 3 messages could be checked"
FIRST=${BY_LEAF[0]}
MIDDLE=${BY_LEAF[$(( ${#BY_LEAF[@]} / 2 ))]}
LAST=${BY_LEAF[$(( ${#BY_LEAF[@]} - 1 ))]}
N1=$(cat "${DIR_OF[$LAST]}/tree_size")
check_eq "the last message is the checkpoint's last leaf" "$(( N1 - 1 ))" "${LEAF_OF[$LAST]}"
check_eq "the first message is leaf 1 (after 'created')" 1 "${LEAF_OF[$FIRST]}"

# ---------------------------------------------------------------------
# 2. Each lie must make the independent check fail.

for id in "$FIRST" "$MIDDLE" "$LAST"; do
	src=${DIR_OF[$id]}
	name=$(basename "$src")

	# a message with one byte changed (in the middle, one bit flipped)
	d=$(tampered "msg.$name" "$src")
	size=$(wc -c < "$d/message.eml")
	off=$(( size / 2 ))
	byte=$(od -An -v -tu1 -j "$off" -N 1 "$d/message.eml" | tr -d ' ')
	printf '%b' "\\x$(printf '%02x' $(( byte ^ 1 )))" |
		dd of="$d/message.eml" bs=1 seek="$off" conv=notrunc status=none
	cmp -s "$d/message.eml" "$src/message.eml" && bail "could not change a byte of $name"
	expect_reject "$name with one byte changed" "$d" "$T/keys1" content

	# a record text with one character changed (the last digit of
	# received_at: still valid JSON, same id and sha256)
	d=$(tampered "rec.$name" "$src")
	rt=$(cat "$d/record.txt")
	[[ $rt =~ \"received_at\":([0-9]+) ]] || bail "$name: no received_at in the record"
	v=${BASH_REMATCH[1]}
	nv=${v:0:${#v}-1}$(( (${v:${#v}-1} + 1) % 10 ))
	printf '%s' "${rt/\"received_at\":$v/\"received_at\":$nv}" > "$d/record.txt"
	if [ "$(wc -c < "$d/record.txt")" != "$(wc -c < "$src/record.txt")" ] || cmp -s "$d/record.txt" "$src/record.txt"; then
		bail "could not change one character of $name's record"
	fi
	expect_reject "$name's record with one character changed" "$d" "$T/keys1" record_sig record_ledger

	# each path hash flipped (one bit of its first byte)
	k=0
	while IFS= read -r p; do
		k=$(( k + 1 ))
		d=$(tampered "path$k.$name" "$src")
		first=$(( 16#${p:0:2} ^ 1 ))
		sed -i "${k}s/^../$(printf '%02x' "$first")/" "$d/path"
		expect_reject "$name with path hash $k flipped" "$d" "$T/keys1" inclusion
	done < "$src/path"
	[ "$k" -gt 0 ] || fail "$name: empty audit path in a tree of $N1 leaves"

	# wrong leaf indexes: the neighbours, the sibling, and one past the
	# tree (i + 2^m, 2^m >= tree_size)
	i=${LEAF_OF[$id]}
	m=1; while [ "$m" -lt "$N1" ]; do m=$(( m * 2 )); done
	tried=" "
	for j in $(( i - 1 )) $(( i + 1 )) $(( i ^ 1 )) $(( i + m )); do
		if [ "$j" -lt 0 ] || [ "$j" -eq "$i" ]; then continue; fi
		[[ $tried != *" $j "* ]] || continue
		tried="$tried$j "
		d=$(tampered "leaf$j.$name" "$src")
		echo "$j" > "$d/leaf_index"
		expect_reject "$name at leaf index $j instead of $i" "$d" "$T/keys1" inclusion
		# the fold alone (FORMAT.md 4.4, no "leaf_index < tree_size")
		leaf=$( (printf '\0'; cat "$d/entry.txt") | openssl dgst -sha256 -binary | bin2hex)
		if r=$(fold "$j" "$N1" "$leaf" "$d/path") && [ "$r" = "$(cat "$d/root")" ]; then
			if [ "$j" -lt "$N1" ]; then
				fail "$name: the audit path folds to the root at leaf index $j too"
			else
				note "FORMAT.md 4.4 as written accepts $name at leaf index $j >= tree_size $N1 (RFC 9162 2.1.3.2 step 1 is missing); the bound check rejects it"
			fi
		elif [ "$j" -lt "$N1" ]; then
			pass "$name: the audit path does not fold to the root at leaf index $j"
		fi
	done
done

src=${DIR_OF[$MIDDLE]}
name=$(basename "$src")

# the checkpoint text with a different root (the signature must not hold)
d=$(tampered "cproot.$name" "$src")
r=$(cat "$d/root")
other=$(printf '%s' "$r" | sha256sum | cut -c1-64)
sed -i "3s/.*/$other/" "$d/cp.txt"
expect_reject "$name with another root in the checkpoint text" "$d" "$T/keys1" checkpoint
# ... and with the same other root as the root used: the path cannot lead there
d=$(tampered "cproot2.$name" "$src")
sed -i "3s/.*/$other/" "$d/cp.txt"
echo "$other" > "$d/root"
expect_reject "$name with another root in the checkpoint and its text" "$d" "$T/keys1" inclusion checkpoint

# a stranger's Ed25519 key in the place of generation 1
mkdir -p "$T/stranger"
if ! { openssl genpkey -algorithm ED25519 -out "$T/stranger.key" 2> /dev/null &&
	openssl pkey -in "$T/stranger.key" -pubout -out "$T/stranger/key-1.pem" 2> /dev/null; }; then
	bail "openssl genpkey -algorithm ED25519"
fi
cmp -s "$T/stranger/key-1.pem" "$T/keys1/key-1.pem" && bail "the stranger's key is the archive's"
for id in "$FIRST" "$LAST"; do
	expect_reject "$(basename "${DIR_OF[$id]}") under a stranger's key" "${DIR_OF[$id]}" "$T/stranger" record_sig checkpoint
done
# the stranger's signatures, verified with the archive's key
d=$(tampered "strsig.$name" "$src")
if ! { openssl pkeyutl -sign -inkey "$T/stranger.key" -rawin -in "$d/record.txt" -out "$d/record.sig" 2> /dev/null &&
	openssl pkeyutl -sign -inkey "$T/stranger.key" -rawin -in "$d/cp.txt" -out "$d/cp.sig" 2> /dev/null; }; then
	bail "openssl pkeyutl -sign with the stranger's key"
fi
expect_reject "$name signed by a stranger" "$d" "$T/keys1" record_sig checkpoint

# ---------------------------------------------------------------------
# 3. Key rotation: generation 2 signs what comes after it, generation 1
#    still checks what it signed, under the new, larger checkpoint.

mk "$ARCHIVE" keys rotate > "$T/rotate.out" 2>&1 || bail "keys rotate: $(head -c 300 "$T/rotate.out")"
NEWFILE=$C/folded-header.eml
"$ARCHIVE_FILL" "$ARCHIVE" "$NEWFILE" > "$T/fill2.out" 2> "$T/fill2.err" ||
	bail "archive-fill after rotation: $(head -c 300 "$T/fill2.err")"
NEWID=$(sed -n 2p "$T/fill2.out")
[[ $NEWID =~ ^[0-9a-f]{24}$ ]] || bail "archive-fill printed no id: $(head -c 300 "$T/fill2.out")"
mk "$ARCHIVE" ledger checkpoint > "$T/cp2.out" 2>&1 || bail "ledger checkpoint: $(head -c 300 "$T/cp2.out")"
mk "$ARCHIVE" keys export-public > "$T/keys2.pem" 2> "$T/keys.err" || bail "keys export-public: $(head -c 300 "$T/keys.err")"
mapfile -t GENS < <(split_keys "$T/keys2.pem" "$T/keys2")
check_eq "keys export-public after rotation: generations 1 and 2, in order" "1 2" "${GENS[*]}"
check_eq "generation 1's public key is unchanged by the rotation" \
	"$(cat "$T/keys1/key-1.pem")" "$(cat "$T/keys2/key-1.pem")"
cmp -s "$T/keys2/key-1.pem" "$T/keys2/key-2.pem" && fail "generation 2 has generation 1's key"

# the new message: signed and checkpointed by generation 2
name=new.$(basename "$NEWFILE")
if fetch "$NEWID" "$name" && extract "$NEWID" "$T/$name.proof.json" "$T/$name.eml" "$T/ok/$name"; then
	new=$T/ok/$name
	cmp -s "$new/message.eml" "$NEWFILE" || fail "$name: mailkeep get does not return the file stored"
	check_eq "$name: record signer" 2 "$(cat "$new/signer")"
	check_eq "$name: checkpoint key" 2 "$(cat "$new/cp_key")"
	check_all "$name" "$new" "$T/keys2"
	N2=$(cat "$new/tree_size")
	# generation 1's key alone must not do
	mkdir -p "$T/only1" && cp "$T/keys2/key-1.pem" "$T/only1/key-2.pem"
	expect_reject "$name with generation 1's key as generation 2" "$new" "$T/only1" record_sig checkpoint
fi

# an old message: its generation-1 record, the generation-2 checkpoint
oldname=old.$(basename "${DIR_OF[$FIRST]}")
if fetch "$FIRST" "$oldname" && extract "$FIRST" "$T/$oldname.proof.json" "$T/$oldname.eml" "$T/ok/$oldname"; then
	old=$T/ok/$oldname
	check_eq "$oldname: record signer" 1 "$(cat "$old/signer")"
	check_eq "$oldname: checkpoint key" 2 "$(cat "$old/cp_key")"
	if [ "$(cat "$old/tree_size")" -gt "$N1" ]; then
		pass "$oldname: proof against the new checkpoint ($(cat "$old/tree_size") > $N1 leaves)"
	else
		fail "$oldname: tree_size $(cat "$old/tree_size"), not above the first checkpoint's $N1"
	fi
	[ -z "${N2:-}" ] || check_eq "$oldname: same checkpoint as the new message's" "$N2" "$(cat "$old/tree_size")"
	check_eq "$oldname: the same record as before the rotation" \
		"$(sha256sum < "${DIR_OF[$FIRST]}/record.txt")" "$(sha256sum < "$old/record.txt")"
	check_all "$oldname" "$old" "$T/keys2"
	# a genuine, validly signed checkpoint, but of another tree: the
	# 9-leaf proof from before the rotation with the new checkpoint text
	d=$(tampered "othercp.$oldname" "${DIR_OF[$FIRST]}")
	cp "$old/cp.txt" "$old/cp.sig" "$old/cp_key" "$old/cp_time" "$old/cp_size" "$d/"
	expect_reject "$oldname's first proof with the later checkpoint's signed text" "$d" "$T/keys2" checkpoint
	cp "$old/root" "$d/"
	expect_reject "$oldname's first proof against the later checkpoint's root" "$d" "$T/keys2" inclusion checkpoint
	# swapping the generations must fail
	mkdir -p "$T/swapped"
	cp "$T/keys2/key-1.pem" "$T/swapped/key-2.pem" && cp "$T/keys2/key-2.pem" "$T/swapped/key-1.pem"
	expect_reject "$oldname with the generations' keys swapped" "$old" "$T/swapped" record_sig checkpoint
fi

# ---------------------------------------------------------------------
# 4. The chain: each ledger line's "prev" is the leaf hash of the line
#    before it, so that an edited entry is found by its successor.

L=$ARCHIVE/ledger/ledger.log
check_eq "the ledger's chain holds ($(wc -l < "$L") entries: stored, access, keys_rotated)" \
	"" "$(chain_breaks "$L" | tr '\n' ' ')"
check_eq "the ledger has the events of the archive's life" "access created keys_rotated stored" \
	"$(jq -r .event "$L" | sort -u | tr '\n' ' ' | sed 's/ $//')"
M=$(( ${LEAF_OF[$MIDDLE]} + 1 ))
mkdir -p "$T/chain"
# one digit of entry M's time changed: entry M is named
sed -E "${M}s/(\"time\":[0-9]*)([0-9])/\1X\2/; ${M}s/X0/1/; ${M}s/X([1-9])/0/" "$L" > "$T/chain/edited.log"
check_eq "the edit of entry $M changed one byte" 1 "$(cmp -l "$L" "$T/chain/edited.log" | wc -l)"
check_eq "the chain names entry $M, edited" "$M" "$(chain_breaks "$T/chain/edited.log" | tr '\n' ' ' | sed 's/ $//')"
# the prev of entry M+1 removed: entry M+1 is named (bad), and entry M+1
# again, since its line changed and entry M+2's prev is not its hash
sed -E "$(( M + 1 ))s/^(\{\"seq\":[0-9]+,)\"prev\":\"[0-9a-f]{64}\",/\1/" "$L" > "$T/chain/noprev.log"
check_eq "the chain names entry $(( M + 1 )), without prev" "$(( M + 1 )) bad $(( M + 1 ))" \
	"$(chain_breaks "$T/chain/noprev.log" | tr '\n' ' ' | sed 's/ $//')"

it_finish
