#!/bin/bash
# tests/integrity/tamper.sh - `mailkeep verify` finds each kind of tampering
# and names exactly what was tampered with, and rebuild-index restores the
# index from the signed records.
#
# DESCRIPTION
#	An archive of the real messages of it_corpus (one of them stored
#	twice, so that two messages share a content span) is filled once,
#	searched once (to learn each message's content hash), its index
#	read once (to learn each message's span in the content segment:
#	FORMAT.md 2.2) and checkpointed (so that the last checkpoint covers
#	the whole ledger).  verify on an untouched
#	copy exits 0 and says "all good".  Then each case tampers with a
#	fresh copy and runs verify --json (and the text verify on a second,
#	identical copy): verify must exit 1, report the problem in both
#	forms alike, name every object the case lists as wanted (kind and
#	object), and blame nothing but those and the objects the case lists
#	as allowed (consequences of the same change, e.g. the index row of
#	a message whose ledger entry was removed).
#
#	The cases: a bit flipped in a span's ciphertext, tag and header
#	(named, kind content, by the first message that names the span); the
#	segment deleted (every span named) and cut short (the spans it cuts
#	named, no other); the bytes of two spans swapped within the segment;
#	index rows edited (a row's span pointed at another span included),
#	deleted and added (sqlite3); ledger entries deleted, reordered,
#	edited (a byte of the entry: named by the chain of "prev" hashes,
#	and by the checkpoints; its "prev" edited or removed), truncated; a
#	signing key (openssl) and the day key (record-forever.key, which
#	seals both the records and the content of its group) replaced; a
#	record line altered and deleted; a checkpoint's root forged.  Then
#	rebuild-index: from nothing and over a tampered index it makes the
#	index that search shows identically and verify accepts, and it
#	refuses while another writer holds the archive's lock (flock).
#
#	Environment (set by `make check`): top_srcdir top_builddir MAILKEEP
#	ARCHIVE_FILL.  E2E_KEEP=1 keeps the work directory.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integrity/lib.sh" || exit 99
it_init "$(basename "$0" .sh)" python3

# ---------------------------------------------------------------------
# Helpers

# flip_bit FILE OFFSET [MASK] - xor one byte of FILE in place
flip_bit() {
	local f=$1 off=$2 mask=${3:-1} b
	b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' \n')
	[ -n "$b" ] || bail "flip_bit: $f has no byte $off"
	printf '%b' "\\0$(printf '%03o' $(( b ^ mask )))" \
	    | dd of="$f" bs=1 seek="$off" conv=notrunc status=none \
	    || bail "flip_bit: cannot write $f"
}

# ids_of_sha SHA - the message ids whose content is SHA, one a line
ids_of_sha() {
	jq -r --arg s "$1" '.[] | select(.sha256 == $s) | .id' "$T/search.json" | sort
}

# sha_of ID - the content SHA-256 of a message
sha_of() {
	jq -r --arg i "$1" '.[] | select(.id == $i) | .sha256' "$T/search.json"
}

# span_of ID - "FILE OFFSET LENGTH" of a message's content span in the
#	template (its SPANS line)
span_of() {
	awk -v i="$1" '$1 == i { print $2, $3, $4 }' "$SPANS"
}

# span_ids FILE OFFSET LENGTH - the ids of the messages that name that
#	span, sorted (the first is the one verify names)
span_ids() {
	awk -v f="$1" -v o="$2" -v l="$3" '$2 == f && $3 == o && $4 == l { print $1 }' "$SPANS" | sort
}

# span_wants FILE OFFSET LENGTH - "want content FIRST" for the first
#	message that names that span (FORMAT.md 7.5: a span is checked and
#	named once), "allow content ID" for the others, in WANT
span_wants() {
	local id first
	first=$(span_ids "$@" | head -n 1)
	[ -n "$first" ] || bail "span_wants: no message names $*"
	WANT+=(want content "$first")
	while read -r id; do
		[ "$id" = "$first" ] || WANT+=(allow content "$id")
	done < <(span_ids "$@")
}

# content_detail ID WHERE - the last verify's problem of kind content
#	naming ID says "WHERE" (e.g. "content/forever/000001.seg at 783")
content_detail() {
	local d
	d=$(jq -r --arg o "$1" '.problems[] | select(.kind == "content" and .object == $o) | .detail' "$VERIFY_JSON")
	case $d in
	*"$2"*) pass "... the problem of $1 says '$2'";;
	*) fail "... the problem of $1 does not say '$2': ${d:-nothing}";;
	esac
}

# seq_of ID - the ledger seq of a message's "stored" entry
seq_of() {
	jq -r --arg i "$1" 'select(.event == "stored" and .id == $i) | .seq' \
	    "$TPL/ledger/ledger.log"
}

# id_at SEQ - the message id of the ledger entry SEQ (empty when none)
id_at() {
	jq -r --argjson s "$1" 'select(.seq == $s) | .id // empty' \
	    "$TPL/ledger/ledger.log"
}

# cps_want FROM - "want ledger OBJECT" (in WANT) for each checkpoint of the
#	template that covers ledger entry FROM: its root no longer holds (or
#	the ledger is shorter than it)
cps_want() {
	local o
	while read -r o; do
		WANT+=(want ledger "$o")
	done < <(jq -r -s --argjson f "$1" 'to_entries[] | select(.value.size >= $f)
	    | "checkpoint \(.key + 1) (size \(.value.size))"' "$TPL/ledger/checkpoints.log")
}

# problems_text - the problems of the last it_verify as verify prints them
problems_text() {
	vj '.problems[] | "PROBLEM \(.kind) \(.object): \(.detail)"'
}

# expect NAME DIR SPEC... - verify DIR finds the tampering, names it, and
#	blames nothing else.  SPEC: "want KIND OBJECT" (must be reported),
#	"allow KIND OBJECT" (may be), "allow_re KIND REGEX" (objects
#	matching REGEX may be).  The text verify runs on DIR as it was
#	(verify adds an access entry to the ledger it checked: the ledger
#	is put back in between).
expect() {
	local name=$1 dir=$2; shift 2
	local wants='[]' allows='[]' n k unrelated missing rc
	while [ $# -gt 0 ]; do
		[ $# -ge 3 ] || bail "expect $name: incomplete spec: $*"
		case $1 in
		want) wants=$(jq -c --arg k "$2" --arg o "$3" '. + [[$k, $o]]' <<< "$wants");;
		allow) allows=$(jq -c --arg k "$2" --arg o "$3" '. + [[$k, $o, false]]' <<< "$allows");;
		allow_re) allows=$(jq -c --arg k "$2" --arg o "$3" '. + [[$k, $o, true]]' <<< "$allows");;
		*) bail "expect $name: unknown spec '$1'";;
		esac
		shift 3
	done
	rm -rf "$T/ledger.saved"
	cp -a "$dir/ledger" "$T/ledger.saved" || bail "save $dir/ledger"
	it_verify "$dir"
	n=$(vj '.problems | length')
	check_eq "$name: verify --json exits 1" 1 "$VERIFY_RC"
	check_eq "$name: verify --json says ok false" false "$(vj .ok)"
	if grep -Eq "verify found $n problems?\$" "$VERIFY_ERR"; then
		pass "$name: stderr says 'verify found $n problem(s)'"
	else
		fail "$name: stderr does not say 'verify found $n problem(s)': $(head -c 300 "$VERIFY_ERR")"
	fi
	missing=$(jq -r --argjson w "$wants" '. as $v | $w[]
	    | select(. as $x | [$v.problems[] | select(.kind == $x[0] and .object == $x[1])] | length == 0)
	    | "\(.[0]) \(.[1])"' "$VERIFY_JSON")
	if [ -z "$missing" ]; then
		pass "$name: names $(jq -r 'map("\(.[0]) \(.[1])") | join(", ")' <<< "$wants" | cut -c1-300)"
	else
		fail "$name: not named: $(echo "$missing" | head -n 5 | tr '\n' ';') (problems: $(problems_text | head -n 5 | tr '\n' ';'))"
	fi
	unrelated=$(jq -r --argjson w "$wants" --argjson a "$allows" '.problems[]
	    | select(. as $p
		| (($w | any(.[0] == $p.kind and .[1] == $p.object))
		   or ($a | any(.[0] == $p.kind and (if .[2] then ($p.object | test("^(" + .[1] + ")$")) else .[1] == $p.object end))))
		| not)
	    | "\(.kind) \(.object): \(.detail)"' "$VERIFY_JSON")
	if [ -z "$unrelated" ]; then
		pass "$name: nothing else blamed ($n problems)"
	else
		fail "$name: $(echo "$unrelated" | wc -l) of $n problems blame something else, e.g. $(echo "$unrelated" | head -n 3 | tr '\n' ';')"
	fi

	# The text form: the same problems, "PROBLEMS FOUND", exit 1.
	{ rm -rf "$dir/ledger" && mv "$T/ledger.saved" "$dir/ledger"; } || bail "restore $dir/ledger"
	mk "$dir" verify > "$T/verify.txt" 2> "$T/verify.txt.err"
	rc=$?
	check_eq "$name: verify (text) exits 1" 1 "$rc"
	if tail -n 1 "$T/verify.txt" | grep -q '^checked .*: PROBLEMS FOUND$'; then
		pass "$name: verify (text) ends 'PROBLEMS FOUND'"
	else
		fail "$name: verify (text) last line: $(tail -n 1 "$T/verify.txt")"
	fi
	if cmp -s <(grep '^PROBLEM ' "$T/verify.txt" | sort) <(problems_text | sort); then
		pass "$name: verify (text) prints the same $n problems"
	else
		fail "$name: verify (text) and verify --json differ: $(diff <(grep '^PROBLEM ' "$T/verify.txt" | sort) <(problems_text | sort) | head -n 4 | tr '\n' ';')"
	fi
	k=$(vj '.problems[] | "\(.kind) \(.object)"' | sort -u | head -n 4 | tr '\n' ';')
	note "$name: $n problems: $k"
	rm -rf "$dir"
}

# case_dir NAME - a fresh copy of the template for one case, in $C
case_dir() {
	C=$T/case.$1
	it_copy "$TPL" "$C"
}

# ---------------------------------------------------------------------
# The archive: real messages, the first one stored a second time.

it_corpus
FILES=("${CORPUS[@]}" "${CORPUS[0]}")
N=${#FILES[@]}
TPL=$T/template
it_fill "$TPL" "${FILES[@]}"
note "filled $TPL: $FILL_STATS"
check_eq "archive-fill stored every file" "$N" "${#FILL_IDS[@]}"
[ "${#FILL_IDS[@]}" -eq "$N" ] || it_finish
mk "$TPL" search --json > "$T/search.json" 2> "$T/search.err" \
    || bail "search --json: $(cat "$T/search.err")"
check_eq "search --json lists every message" "$N" "$(jq length "$T/search.json")"
mk "$TPL" ledger checkpoint > /dev/null 2> "$T/cp.err" \
    || bail "ledger checkpoint: $(cat "$T/cp.err")"
LEDGER_N=$(wc -l < "$TPL/ledger/ledger.log")
N_CP=$(wc -l < "$TPL/ledger/checkpoints.log")
CP_SIZE=$(tail -n 1 "$TPL/ledger/checkpoints.log" | jq -r .size)
check_eq "the last checkpoint covers the whole ledger" "$LEDGER_N" "$CP_SIZE"
LAST_CP="checkpoint $N_CP (size $CP_SIZE)"
DAY=$(basename "$(find "$TPL/records" -name '*.log' | head -n 1)" .log)

ID_DUP1=${FILL_IDS[0]}
ID_DUP2=${FILL_IDS[$(( N - 1 ))]}
SHA_DUP=$(sha_of "$ID_DUP1")
check_eq "the twice-stored message has one content hash" "$SHA_DUP" "$(sha_of "$ID_DUP2")"
check_eq "two messages have that content" 2 "$(ids_of_sha "$SHA_DUP" | wc -l)"
ID_A=${FILL_IDS[3]};  SHA_A=$(sha_of "$ID_A")
ID_B=${FILL_IDS[5]};  SHA_B=$(sha_of "$ID_B")
ID_C=${FILL_IDS[7]}
ID_R=${FILL_IDS[9]}
ID_R2=${FILL_IDS[11]}
if [ "$SHA_A" = "$SHA_B" ] || [ "$SHA_A" = "$SHA_DUP" ] || [ "$SHA_B" = "$SHA_DUP" ]; then
	bail "corpus: messages 4, 6 and 1 are not distinct"
fi

# SPANS: "ID FILE OFFSET LENGTH" of every message, from the template's
# index (it_span); verify itself takes them from the signed records.
SPANS=$T/spans.txt
for id in "${FILL_IDS[@]}"; do
	echo "$id $(it_span "$TPL" "$id")"
done > "$SPANS"
check_eq "every message has a span in a segment" "$N" \
    "$(awk 'NF == 4 && $2 ~ /^content\/forever\/[0-9][0-9][0-9][0-9][0-9][0-9]\.seg$/' "$SPANS" | wc -l)"
SEG=$(awk 'NR == 1 { print $2 }' "$SPANS")
check_eq "every span is in one segment ($SEG)" "$N" "$(awk -v f="$SEG" '$2 == f' "$SPANS" | wc -l)"
check_eq "the twice-stored message's two records name one span" "$(span_of "$ID_DUP1")" "$(span_of "$ID_DUP2")"
check_eq "every other message has a span of its own" "$(( N - 1 ))" \
    "$(awk '{ print $2, $3, $4 }' "$SPANS" | sort -u | wc -l)"
check_eq "the spans cover the segment, one after another from 0" "$(stat -c %s "$TPL/$SEG")" \
    "$(awk '{ print $3, $4 }' "$SPANS" | sort -u -n | awk 'BEGIN { e = 0 } $1 != e { print "gap at " e; exit } { e = $1 + $2 } END { print e }')"
read -r _ OFF_A LEN_A < <(span_of "$ID_A")
read -r _ OFF_DUP LEN_DUP < <(span_of "$ID_DUP1")

# ---------------------------------------------------------------------
# 0. The untouched archive.

case_dir clean
it_verify "$C"
check_eq "untouched: verify --json exits 0" 0 "$VERIFY_RC"
check_eq "untouched: ok true" true "$(vj .ok)"
check_eq "untouched: no problems" 0 "$(vj '.problems | length')"
check_eq "untouched: every record checked" "$N" "$(vj .records)"
check_eq "untouched: every index row checked" "$N" "$(vj .index_rows)"
check_eq "untouched: every distinct span checked (one shared by two messages)" "$(( N - 1 ))" "$(vj .blobs)"
check_eq "untouched: every ledger entry checked (and verify's own, written first)" "$(( LEDGER_N + 1 ))" "$(vj .ledger_entries)"
check_eq "untouched: every checkpoint checked" "$N_CP" "$(vj .checkpoints)"
[ "$(vj '.problems | length')" = 0 ] || note "$(problems_text | head -n 10)"
out=$(mk "$C" verify 2>&1); rc=$?
check_eq "untouched: verify (text) exits 0" 0 "$rc"
case $out in
*": all good") pass "untouched: verify (text) says 'all good'";;
*) fail "untouched: verify (text) printed: $(echo "$out" | tail -n 3)";;
esac
rm -rf "$C"

# ---------------------------------------------------------------------
# 1. A bit flipped in a span of the segment: named (kind content) by the
#    first message that names the span, the detail saying where.

[ "$LEN_A" -gt 60 ] || bail "span of $ID_A is only $LEN_A bytes"
for spec in "ciphertext:$(( 28 + (LEN_A - 44) / 2 )):$ID_A" \
	    "GCM tag:$(( LEN_A - 1 )):$ID_A" \
	    "header magic:0:$ID_DUP1" \
	    "header compression flag:7:$ID_DUP1" \
	    "header cipher:8:$ID_DUP1" \
	    "header key generation:15:$ID_DUP1" \
	    "header nonce:20:$ID_DUP1"; do
	what=${spec%%:*}; rest=${spec#*:}; off=${rest%%:*}; id=${rest#*:}
	read -r file soff slen < <(span_of "$id")
	case_dir spanflip
	flip_bit "$C/$file" $(( soff + off )) 4
	WANT=(); span_wants "$file" "$soff" "$slen"
	expect "content: a bit of the $what (byte $off of the span of $id) flipped" "$C" "${WANT[@]}"
	content_detail "$(span_ids "$file" "$soff" "$slen" | head -n 1)" "$file at $soff"
done

# ---------------------------------------------------------------------
# 2. The segment deleted: every span named (the first message of each);
#    the segment cut short in the middle of a span: that span and every
#    one after it named, none before.

case_dir segdel
rm "$C/$SEG"
WANT=()
while read -r file soff slen; do
	span_wants "$file" "$soff" "$slen"
done < <(awk '{ print $2, $3, $4 }' "$SPANS" | sort -u)
check_eq "segment deleted: one want per distinct span" "$(( N - 1 ))" \
    "$(printf '%s\n' "${WANT[@]}" | grep -cx want)"
expect "content: $SEG deleted (every span, one shared by two messages)" "$C" "${WANT[@]}"
content_detail "$(span_ids "$SEG" "$OFF_DUP" "$LEN_DUP" | head -n 1)" "$SEG at $OFF_DUP"

CUT=$(( OFF_A + LEN_A / 2 ))
case_dir segcut
truncate -s "$CUT" "$C/$SEG" || bail "truncate $SEG"
WANT=()
while read -r file soff slen; do
	span_wants "$file" "$soff" "$slen"
done < <(awk -v c="$CUT" '$3 + $4 > c { print $2, $3, $4 }' "$SPANS" | sort -u)
n_cut=$(printf '%s\n' "${WANT[@]}" | grep -cx want)
if [ "$n_cut" -lt 1 ] || [ "$n_cut" -ge $(( N - 1 )) ]; then
	note "segment cut at $CUT: $n_cut of $(( N - 1 )) spans cut ($ID_A's span is the first one)"
fi
expect "content: $SEG cut short at byte $CUT, in the span of $ID_A ($n_cut spans cut)" "$C" "${WANT[@]}"
content_detail "$ID_A" "$SEG at $OFF_A"

# ---------------------------------------------------------------------
# 3. The index edited with sqlite3: the message id, kind index.

if command -v sqlite3 > /dev/null; then
	# idx NAME SQL ID - run SQL on a fresh copy, expect ID named
	idx() {
		case_dir index
		sqlite3 -bail "$C/index.sqlite" "$2" || bail "sqlite3: $2"
		expect "index: $1" "$C" want index "$3"
	}
	idx "mail_from of a row changed" \
	    "UPDATE messages SET mail_from = 'x@evil.test' WHERE id = '$ID_A'" "$ID_A"
	idx "subject of a row changed" \
	    "UPDATE messages SET subject = 'nothing to see' WHERE id = '$ID_B'" "$ID_B"
	idx "a recipient changed" \
	    "UPDATE recipients SET addr = 'x@evil.test', addr_lc = 'x@evil.test', domain = 'evil.test' WHERE message = '$ID_C'" "$ID_C"
	idx "a recipient added" \
	    "INSERT INTO recipients (message, pos, addr, addr_lc, domain) VALUES ('$ID_A', 99, 'spy@evil.test', 'spy@evil.test', 'evil.test')" "$ID_A"
	idx "a role added" \
	    "INSERT INTO roles (message, role) VALUES ('$ID_B', 'everyone')" "$ID_B"
	idx "a row's content span pointed at another message's span" \
	    "UPDATE messages SET (content_file, content_off, content_len) = (SELECT content_file, content_off, content_len FROM messages WHERE id = '$ID_B') WHERE id = '$ID_A'" "$ID_A"
	idx "a messages row deleted" \
	    "DELETE FROM messages WHERE id = '$ID_C'" "$ID_C"
	fake=feedfacefeedfacefeedface
	idx "a fake row inserted" \
	    "INSERT INTO messages SELECT '$fake', received_at, sha256, size, queue_id, client_addr, client_name, helo, auth_user, tls_version, mail_from, mail_from_lc, mail_from_domain, message_id, 'forged', date_hdr, ledger_seq, content, retain_until, direction, policy_json, record_sha256, content_file, content_off, content_len, origin FROM messages WHERE id = '$ID_A'" "$fake"
else
	note "SKIP the index cases: sqlite3 not installed (apt-get install sqlite3)"
fi

# ---------------------------------------------------------------------
# 4. The ledger: an entry deleted, two reordered, one byte edited, a
#    "prev" edited or removed.

ID_M=${FILL_IDS[$(( N / 2 ))]}
S=$(seq_of "$ID_M")
ID_M2=$(id_at $(( S + 1 )))
if [ -z "$S" ] || [ "$S" -le 1 ] || [ "$S" -ge $(( LEDGER_N - 2 )) ] || [ -z "$ID_M2" ]; then
	bail "no stored entry in the middle of the ledger (seq '$S')"
fi

case_dir ledgerdel
sed -i "${S}d" "$C/ledger/ledger.log"
allow=()
for (( i = S + 1; i <= LEDGER_N; i++ )); do allow+=(allow ledger "ledger seq $i"); done
WANT=(); cps_want "$S"
expect "ledger: entry $S (stored $ID_M) deleted" "$C" \
    want ledger "ledger seq $S" "${WANT[@]}" allow index "$ID_M" "${allow[@]}"

case_dir ledgerswap
awk -v s="$S" 'NR == s { held = $0; next } { print } NR == s + 1 { print held }' \
    "$TPL/ledger/ledger.log" > "$C/ledger/ledger.log"
check_eq "ledger: lines $S and $(( S + 1 )) swapped" "$(sed -n "${S}p" "$TPL/ledger/ledger.log")" \
    "$(sed -n "$(( S + 1 ))p" "$C/ledger/ledger.log")"
WANT=(); cps_want "$S"
expect "ledger: entries $S and $(( S + 1 )) reordered" "$C" \
    want ledger "ledger seq $S" want ledger "ledger seq $(( S + 1 ))" "${WANT[@]}" \
    allow index "$ID_M" allow index "$ID_M2"

# edit_time LINE - one digit of the "time" of a ledger line, changed
edit_time() {
	sed -i -E "${1}s/(\"time\":[0-9]*)([0-9])/\\1X\\2/; ${1}s/X0/1/; ${1}s/X([1-9])/0/" \
	    "$C/ledger/ledger.log"
	[ "$(cmp -l "$TPL/ledger/ledger.log" "$C/ledger/ledger.log" | wc -l)" -eq 1 ] \
	    || bail "edit_time $1: not exactly one byte changed"
}
case_dir ledgeredit
edit_time "$S"
WANT=(); cps_want "$S"
expect "ledger: one byte of entry $S edited" "$C" want ledger "ledger seq $S" "${WANT[@]}"
case $(jq -r --arg o "$LAST_CP" '.problems[] | select(.object == $o) | .detail' "$VERIFY_JSON") in
*"signed root"*) pass "edited entry: the checkpoint's root mismatch is named";;
*) fail "edited entry: no root mismatch: $(jq -c .problems "$VERIFY_JSON" | head -c 300)";;
esac
case $(jq -r --arg o "ledger seq $S" '.problems[] | select(.object == $o) | .detail' "$VERIFY_JSON") in
*"entry $(( S + 1 )) recorded: entry $S "*"was edited") pass "edited entry: the chain names entry $S as edited";;
*) fail "edited entry: no chain problem naming entry $S: $(jq -c .problems "$VERIFY_JSON" | head -c 300)";;
esac

case_dir ledgeredit1
edit_time 1
WANT=(); cps_want 1
expect "ledger: one byte of entry 1 (created) edited: every checkpoint" "$C" \
    want ledger "ledger seq 1" "${WANT[@]}"

# edit_prev LINE - the first hex digit of the "prev" of a ledger line
#	changed (0 becomes 1, anything else 0)
edit_prev() {
	awk -v l="$1" 'NR == l {
		i = index($0, "\"prev\":\"") + 8
		c = substr($0, i, 1)
		$0 = substr($0, 1, i - 1) (c == "0" ? "1" : "0") substr($0, i + 1)
	} { print }' "$TPL/ledger/ledger.log" > "$C/ledger/ledger.log"
	[ "$(cmp -l "$TPL/ledger/ledger.log" "$C/ledger/ledger.log" | wc -l)" -eq 1 ] \
	    || bail "edit_prev $1: not exactly one byte changed"
}
# The "prev" of entry K+1 edited: K is named (K+1's prev no longer is
# its hash: the rule cannot tell which of the two lines changed), and
# so is K+1 (its line changed, so K+2's prev is not its hash); for the
# last entry, only K.
case_dir ledgerprev
edit_prev $(( S + 1 ))
WANT=(); cps_want $(( S + 1 ))
expect "ledger: the prev of entry $(( S + 1 )) edited" "$C" \
    want ledger "ledger seq $S" want ledger "ledger seq $(( S + 1 ))" "${WANT[@]}"

case_dir ledgerprevlast
edit_prev "$LEDGER_N"
WANT=(); cps_want "$LEDGER_N"
expect "ledger: the prev of the last entry ($LEDGER_N) edited" "$C" \
    want ledger "ledger seq $(( LEDGER_N - 1 ))" "${WANT[@]}"

case_dir ledgernoprev
sed -i -E "$(( S + 1 ))s/^(\{\"seq\":[0-9]+,)\"prev\":\"[0-9a-f]{64}\",/\\1/" "$C/ledger/ledger.log"
check_eq "ledger: the prev of entry $(( S + 1 )) removed" null \
    "$(sed -n "$(( S + 1 ))p" "$C/ledger/ledger.log" | jq -c .prev)"
WANT=(); cps_want $(( S + 1 ))
expect "ledger: entry $(( S + 1 )) without its prev" "$C" \
    want ledger "ledger seq $(( S + 1 ))" "${WANT[@]}"

# ---------------------------------------------------------------------
# 5. The bytes of two spans swapped within the segment (a span's record
#    cannot be pointed elsewhere: the span is in the signed record): the
#    span of A and the one after it (or before it, when A's is the
#    last) each hold the other's bytes or part of them; both are named,
#    no other span.

read -r OFF_N LEN_N < <(awk -v e="$(( OFF_A + LEN_A ))" '$3 == e { print $3, $4; exit }' "$SPANS")
if [ -n "${OFF_N:-}" ]; then
	lo=$OFF_A; l1=$LEN_A; l2=$LEN_N
else
	read -r lo l1 < <(awk -v e="$OFF_A" '$3 + $4 == e { print $3, $4; exit }' "$SPANS")
	[ -n "${lo:-}" ] || bail "no span next to $ID_A's"
	l2=$LEN_A
fi
case_dir spanswap
{ head -c "$lo" "$TPL/$SEG"
  tail -c +$(( lo + l1 + 1 )) "$TPL/$SEG" | head -c "$l2"
  tail -c +$(( lo + 1 )) "$TPL/$SEG" | head -c "$l1"
  tail -c +$(( lo + l1 + l2 + 1 )) "$TPL/$SEG"; } > "$C/swap.tmp" || bail "swap spans"
check_eq "spans swapped: the segment keeps its size" "$(stat -c %s "$TPL/$SEG")" "$(stat -c %s "$C/swap.tmp")"
check_eq "spans swapped: only the bytes of the two spans differ" 1 \
    "$(cmp -l "$TPL/$SEG" "$C/swap.tmp" | awk -v a="$lo" -v b="$(( lo + l1 + l2 ))" '$1 - 1 < a || $1 - 1 >= b { bad = 1 } END { print bad ? 0 : 1 }')"
mv "$C/swap.tmp" "$C/$SEG" || bail "swap spans"
WANT=(); span_wants "$SEG" "$lo" "$l1"; span_wants "$SEG" $(( lo + l1 )) "$l2"
expect "content: the bytes of two spans ($lo+$l1, $(( lo + l1 ))+$l2) swapped" "$C" "${WANT[@]}"

# ---------------------------------------------------------------------
# 6. The ledger truncated below the last checkpoint.

case_dir truncate
head -n -3 "$TPL/ledger/ledger.log" > "$C/ledger/ledger.log"
allow=()
for (( i = LEDGER_N - 2; i <= LEDGER_N; i++ )); do
	id=$(id_at "$i")
	[ -z "$id" ] || allow+=(allow index "$id")
done
WANT=(); cps_want $(( LEDGER_N - 2 ))
expect "ledger: last 3 entries removed (truncated)" "$C" "${WANT[@]}" "${allow[@]}"
case $(jq -r --arg o "$LAST_CP" '.problems[] | select(.object == $o) | .detail' "$VERIFY_JSON") in
*truncated*) pass "truncated: the problem says 'truncated'";;
*) fail "truncated: the problem does not say 'truncated': $(jq -c .problems "$VERIFY_JSON" | head -c 300)";;
esac

# ---------------------------------------------------------------------
# 7. Keys replaced.

if command -v openssl > /dev/null; then
	case_dir signkey
	openssl genpkey -algorithm ED25519 -out "$C/keys/signing-1.pem.new" 2> "$T/openssl.err" \
	    || bail "openssl genpkey: $(cat "$T/openssl.err")"
	chmod 600 "$C/keys/signing-1.pem.new"
	mv "$C/keys/signing-1.pem.new" "$C/keys/signing-1.pem"
	expect "key: signing-1.pem replaced by a fresh Ed25519 key" "$C" \
	    want key keys/signing-1.pem
else
	note "SKIP the signing key case: openssl not installed"
fi

# The day key of the group (here forever) seals both the group's records
# and its content spans (cipher 2): replaced, every record fails to
# open (so no span can be named, and every index row lacks its record).
case_dir daykey
head -c 32 /dev/urandom > "$C/keys/record-forever.key"
WANT=()
for id in "${FILL_IDS[@]}"; do
	WANT+=(want record "$id" allow index "$id")
done
expect "key: record-forever.key (the day key of records and content) replaced by 32 random bytes (every message)" \
    "$C" "${WANT[@]}" allow record "records/$DAY.log"

# ---------------------------------------------------------------------
# 8. Records: a byte of one record's data changed; a record line deleted.

case_dir record
rec=$C/records/$DAY.log
line=$(grep -n "\"id\":\"$ID_R\"" "$rec" | cut -d: -f1)
[ -n "$line" ] || bail "no record line for $ID_R"
awk -v l="$line" 'NR == l {
	i = index($0, "\"data\":\"") + 8 + 20
	c = substr($0, i, 1)
	$0 = substr($0, 1, i - 1) (c == "A" ? "B" : "A") substr($0, i + 1)
} { print }' "$TPL/records/$DAY.log" > "$rec"
check_eq "record: one byte changed" 1 "$(cmp -l "$TPL/records/$DAY.log" "$rec" | wc -l)"
expect "record: a byte of $ID_R's data changed" "$C" \
    want record "$ID_R" allow record "records/$DAY.log" allow index "$ID_R"

case_dir recorddel
rec=$C/records/$DAY.log
grep -v "\"id\":\"$ID_R2\"" "$TPL/records/$DAY.log" > "$rec"
check_eq "record: one line deleted" "$(( N - 1 ))" "$(wc -l < "$rec")"
expect "record: $ID_R2's record line deleted" "$C" \
    want record "$ID_R2" allow index "$ID_R2"

# ---------------------------------------------------------------------
# 9. A forged checkpoint: its root edited, the signature fails.

case_dir checkpoint
cps=$C/ledger/checkpoints.log
# the first hex digit of its root: 0 becomes 1, anything else 0
awk -v l="$N_CP" 'NR == l {
	i = index($0, "\"root\":\"") + 8
	c = substr($0, i, 1)
	$0 = substr($0, 1, i - 1) (c == "0" ? "1" : "0") substr($0, i + 1)
} { print }' "$TPL/ledger/checkpoints.log" > "$cps"
check_eq "checkpoint: one byte of the root changed" 1 \
    "$(cmp -l "$TPL/ledger/checkpoints.log" "$cps" | wc -l)"
expect "checkpoint: root of checkpoint $N_CP forged" "$C" \
    want checkpoint "$LAST_CP" allow ledger "$LAST_CP"
case $(jq -r --arg o "$LAST_CP" '.problems[] | select(.kind == "checkpoint" and .object == $o) | .detail' "$VERIFY_JSON") in
*signature*) pass "forged checkpoint: its signature is named";;
*) fail "forged checkpoint: no signature problem: $(jq -c .problems "$VERIFY_JSON" | head -c 300)";;
esac

# ---------------------------------------------------------------------
# rebuild-index: the index anew from the records.

# search_sorted DIR - search --json, normalised (jq -S)
search_sorted() { mk "$1" search --json | jq -S .; }

case_dir rebuild
search_sorted "$C" > "$T/before.json" || bail "search --json"
rm -f "$C"/index.sqlite*
out=$(mk "$C" rebuild-index --json 2>&1); rc=$?
check_eq "rebuild-index (index deleted) exits 0" 0 "$rc"
check_eq "rebuild-index: every message" "$N" "$(echo "$out" | jq -r .messages 2>/dev/null)"
search_sorted "$C" > "$T/after.json"
if cmp -s "$T/before.json" "$T/after.json"; then
	pass "rebuild-index: search --json identical to before"
else
	fail "rebuild-index: search --json differs: $(diff "$T/before.json" "$T/after.json" | head -n 6 | tr '\n' ';')"
fi
it_verify "$C"
check_eq "rebuild-index: verify clean afterwards" "0 true 0" \
    "$VERIFY_RC $(vj .ok) $(vj '.problems | length')"

if command -v sqlite3 > /dev/null; then
	sqlite3 -bail "$C/index.sqlite" \
	    "UPDATE messages SET mail_from = 'x@evil.test' WHERE id = '$ID_A';
	     DELETE FROM recipients WHERE message = '$ID_B';
	     INSERT INTO messages SELECT 'feedfacefeedfacefeedface', received_at, sha256, size, queue_id, client_addr, client_name, helo, auth_user, tls_version, mail_from, mail_from_lc, mail_from_domain, message_id, 'forged', date_hdr, ledger_seq, content, retain_until, direction, policy_json, record_sha256, content_file, content_off, content_len, origin FROM messages WHERE id = '$ID_C'" \
	    || bail "sqlite3 on the rebuilt index"
	it_verify "$C"
	check_eq "tampered index: verify names 3 messages" 3 \
	    "$(vj '[.problems[] | select(.kind == "index") | .object] | unique | length')"
	out=$(mk "$C" rebuild-index 2>&1); rc=$?
	check_eq "rebuild-index over a tampered index exits 0" 0 "$rc"
	search_sorted "$C" > "$T/after.json"
	if cmp -s "$T/before.json" "$T/after.json"; then
		pass "rebuild-index over a tampered index: search --json as before"
	else
		fail "rebuild-index over a tampered index: search --json differs: $(diff "$T/before.json" "$T/after.json" | head -n 6 | tr '\n' ';')"
	fi
	it_verify "$C"
	check_eq "rebuild-index over a tampered index: verify clean" "0 true 0" \
	    "$VERIFY_RC $(vj .ok) $(vj '.problems | length')"
fi

if command -v flock > /dev/null; then
	cp "$C/index.sqlite" "$T/index.before"
	out=$(flock -n "$C/writer.lock" "$MAILKEEP" -c "$(mk_conf "$C")" rebuild-index 2>&1); rc=$?
	check_eq "rebuild-index while another writer holds the lock exits 1" 1 "$rc"
	case $out in
	*"in use by another writer"*) pass "rebuild-index refuses: '$out'";;
	*) fail "rebuild-index under the lock printed: $out";;
	esac
	check "rebuild-index refused: the index is untouched" cmp -s "$T/index.before" "$C/index.sqlite"
	check "rebuild-index refused: no index.sqlite.rebuild left" test ! -e "$C/index.sqlite.rebuild"
	it_verify "$C"
	check_eq "rebuild-index refused: verify clean" "0 true" "$VERIFY_RC $(vj .ok)"
else
	note "SKIP rebuild-index under a writer's lock: flock not installed"
fi
rm -rf "$C"

it_finish
