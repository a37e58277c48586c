#!/bin/bash
# tests/e2e/import.sh - mail that predates the milter, imported through a
# real mailkeep-access, then the same mail through a real Postfix.
#
# The third-party corpus (Debian's Python e-mail test messages and
# SpamAssassin's samples) and this tree's hard cases (bare CR, NUL, no
# final newline, 8-bit headers, a 5000-character line) are written as an
# mbox (docs/FORMAT.md 9.1), a Maildir and a directory of message files.
#   1. Before any milter ran: the mbox is imported - every message
#      byte-exact (its SHA-256 is the file's), its envelope derived from
#      its headers and marked so; the Maildir and the files then add
#      nothing (duplicates), nor does the mbox a second time; the policy
#      applies as at the message's time (a domain with a 30-day
#      retention keeps nothing of a message from 2020; mode none nothing
#      at all); only admin may import; one audit entry a run; verify is
#      clean.
#   2. The milter and Postfix start and the same files arrive over SMTP:
#      the archive then holds each content twice, once imported and once
#      from Postfix, with the same SHA-256 - the same messages, but for
#      the envelope.
#   3. With the milter running (it holds the writer lock), an import
#      still stores: through the milter's archive.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
e2e_init "$(basename "$0" .sh)"
: "${MAILKEEP_ACCESS:=$top_builddir/access/mailkeep-access}"
PYDATA=${PYTHON_EMAIL_DATA:-/usr/lib/python3.11/test/test_email/data}

files=()
ls "$PYDATA"/msg_*.txt > /dev/null 2>&1 && files+=("$PYDATA"/msg_*.txt)
if sa=$(sa_samples); then
	files+=("$sa/sample-spam.txt" "$sa/sample-nonspam.txt")
fi
[ ${#files[@]} -gt 10 ] || fail "the third-party corpus is missing (scripts/install-deps.sh)"
third=${#files[@]}
for f in bare-cr crlf nul-body no-trailing-newline 8bit-headers long-line folded-header latin1-subject; do
	files+=("$CORPUS/$f.eml")
done
note "$third third-party messages and $(( ${#files[@]} - third )) of tests/corpus"

# 1. The sources.
SRC=$T/src
mkdir -p "$SRC/maildir/cur" "$SRC/maildir/new" "$SRC/maildir/tmp" "$SRC/eml"
"$PYTHON3" - "$SRC/all.mbox" "${files[@]}" <<'EOF'
import re, sys
with open(sys.argv[1], 'wb') as out:
    for i, name in enumerate(sys.argv[2:]):
        data = open(name, 'rb').read()
        data = re.sub(rb'(^|\n)(>*From )', lambda m: m.group(1) + b'>' + m.group(2), data)
        out.write(b'From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n' + data + b'\n')
EOF
i=0
for f in "${files[@]}"; do
	i=$(( i + 1 ))
	cp "$f" "$SRC/maildir/cur/$(( 1700000000 + i )).M$i.host:2,S"
	cp "$f" "$SRC/eml/$(printf '%03d' "$i").eml"
done
# What import makes of each file: the message as an MTA hands it to a
# milter (CRLF line ends, a last line end added), when the file is a
# message at all (a header field or an mbox From line first); the
# third-party ones apart, to compare with what Postfix hands over (but
# for those Postfix's cleanup repairs: compare.py).
E2E_DIR=$E2E_DIR "$PYTHON3" - "$T" "$third" "${files[@]}" <<'EOF'
import hashlib, os, re, sys
sys.path.insert(0, os.environ['E2E_DIR'])
from compare import postfix_rewrites
t, third, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
header = re.compile(rb'^[\x21-\x39\x3b-\x7e]+[ \t]*:')
want, tp, skip = set(), set(), 0
for i, name in enumerate(names):
    data = open(name, 'rb').read()
    if not header.match(data) and not data.startswith(b'From '):
        skip += 1
        continue
    wire = re.sub(rb'(?<!\r)\n', b'\r\n', data)
    if not wire.endswith(b'\n'):
        wire += b'\r\n'
    sha = hashlib.sha256(wire).hexdigest()
    want.add(sha)
    if i < third and not postfix_rewrites(wire)[1]:
        tp.add(sha)
open(t + '/want.sha', 'w').write(''.join(x + '\n' for x in sorted(want)))
open(t + '/third.sha', 'w').write(''.join(x + '\n' for x in sorted(tp)))
open(t + '/skip.n', 'w').write('%d\n' % skip)
EOF
n_unique=$(wc -l < "$T/want.sha")
n_skip=$(cat "$T/skip.n")
check "most third-party messages go through Postfix unchanged, to compare" \
    test "$(wc -l < "$T/third.sha")" -ge 30

svc_sock
POL=$T/policy.ini
cat > "$POL" <<EOF
[defaults]
local_domains = example.com, shortlived.example.com, unkept.example.com
mode = full
roles = readers
[domain shortlived.example.com]
retention = 30d
[domain unkept.example.com]
mode = none
$(e2e_root_roles)
EOF
e2e_conf "policy = $POL" "access_socket = $SVC_SOCK"
mk_init
svc_start

# shas - the SHA-256 of the archived messages whose origin is $1
#	("import", or "mta" for the milter's)
shas() {
	mk search --json | jq -r --arg o "$1" \
	    '.[] | select((.origin // "mta") == $o) | .sha256' | sort -u
}

# 2. Import, before any milter.
if out=$(runuser -u nobody -- "$MAILKEEP" -c "$CONF" import mbox "$SRC/all.mbox" 2>&1); then
	fail "import as nobody was granted: $out"
else
	check "import: refused without the role admin" grep -q "role admin" <<<"$out"
fi
out=$(through import mbox "$SRC/all.mbox" --json)	# exit 1: skips
check_eq "import mbox: every message imported" "$n_unique" "$(jq -r .summary.imported <<<"$out")"
check_eq "import mbox: what has no header is skipped, and said so" "$n_skip" \
    "$(jq -r '[.messages[] | select(.outcome == "skipped" and .why == "not a message: no header block")] | length' <<<"$out")"
check_eq "import mbox: none refused" 0 "$(jq -r '.summary.refused + .summary.cancelled' <<<"$out")"
shas import > "$T/imported.sha"
check "import mbox: each message byte-exact, in the MTA's form (its SHA-256)" cmp -s "$T/want.sha" "$T/imported.sha"
id=$(mk search --json --message-id "$(sed -n 's/^Message-I[Dd]: *//p' "$CORPUS/nul-body.eml" | tr -d '\r' | head -n 1)" | jq -r '.[0].id')
check_archived "$id" "$CORPUS/nul-body.eml"
show=$(through show --json "$id") || fail "show: $show"
check_eq "import: the envelope is marked derived" import "$(jq -r .origin <<<"$show")"
check_eq "import: the sender from the headers" nul@sender.test "$(jq -r .from <<<"$show")"
for kind in maildir eml; do
	out=$(through import "$kind" "$SRC/$kind" --json)
	check_eq "import $kind: the same messages (all duplicates)" "$n_unique" \
	    "$(jq -r .summary.duplicate <<<"$out")"
	check_eq "import $kind: nothing new" 0 "$(jq -r .summary.imported <<<"$out")"
done
out=$(through import mbox "$SRC/all.mbox")
check "import mbox again: adds nothing" grep -q "^imported 0, duplicates $n_unique," <<<"$out"
check_eq "the archive holds each message once" "$n_unique" "$(mk search --json | jq length)"

# The policy, as at the message's time.
printf 'From: a@sender.test\r\nTo: b@shortlived.example.com\r\nSubject: old\r\nMessage-ID: <old@sender.test>\r\nDate: Wed, 01 Jan 2020 10:00:00 +0000\r\n\r\nold\r\n' > "$T/old.eml"
printf 'From: a@sender.test\r\nTo: b@unkept.example.com\r\nSubject: none\r\nMessage-ID: <none@sender.test>\r\n\r\nnone\r\n' > "$T/none.eml"
printf 'From: a@sender.test\r\nTo: b@example.com\r\nSubject: dated\r\nMessage-ID: <dated@sender.test>\r\n\r\ndated\r\n' > "$T/dated.eml"
out=$(through import eml "$T/old.eml" "$T/none.eml" --json) || fail "import policy: $out"
check "a 30-day retention over since 2020: not kept, and why" jq -e \
    '.messages[0].outcome == "not_kept" and (.messages[0].why | test("retention"))' <<<"$out"
check "mode none: not kept, and why" jq -e \
    '.messages[1].outcome == "not_kept" and (.messages[1].why | test("mode none"))' <<<"$out"
out=$(through import eml "$T/dated.eml" --as-received-at 2024-06-01T12:00:00Z --json) || fail "import --as-received-at: $out"
check_eq "--as-received-at: the time given" 2024-06-01T12:00:00.000000Z \
    "$(mk search --json --message-id dated@sender.test | jq -r '.[0].received_at')"
printf 'not a message at all\n' > "$T/junk.eml"
if out=$(through import eml "$T/junk.eml" 2>&1); then
	fail "a file that is no message was taken: $out"
else
	check "import: what is no message is skipped, with why" grep -q "^skipped .*junk.eml: " <<<"$out"
fi
aj=$(through audit --json --action import) || fail "audit: $aj"
check "audit: one entry a run, with what was named" jq -e \
    '([.[] | select(.outcome == "granted")] | length) == 7 and any(.[]; .query.kind == "maildir")' <<<"$aj"
check "audit: the refused import" jq -e 'any(.[]; .outcome == "refused" and .user == "nobody")' <<<"$aj"
v=$(through verify --json) || fail "verify: $v"
check_eq "verify after the imports: no problem" 0 "$(jq -r '.problems | length' <<<"$v")"

# 3. The same files through Postfix.
milter_start
e2e_mta
smtp_send --from corpus@sender.test --to corpus@example.com "${files[@]}" > "$T/replies" || true
pf_wait_drained "$PF" 60 || fail "postfix queue did not drain"
shas mta > "$T/mta.sha"
check_eq "through Postfix: every third-party message is one imported (but for the envelope)" "" \
    "$(comm -23 "$T/third.sha" "$T/mta.sha")"
check_eq "... and every one imported" "" "$(comm -23 "$T/third.sha" "$T/imported.sha")"

# 4. With the milter holding the writer lock, import still stores.
printf 'From: late@sender.test\r\nTo: b@example.com\r\nSubject: late\r\nMessage-ID: <late-import@sender.test>\r\nDate: Mon, 01 Dec 2025 10:00:00 +0000\r\n\r\nlate\r\n' > "$T/late.eml"
out=$(through import eml "$T/late.eml" --json) || fail "import beside the milter: $out"
check_eq "import beside the running milter: stored" 1 "$(jq -r .summary.imported <<<"$out")"
check_eq "... and found" 1 "$(mk search --json --message-id late-import@sender.test | jq length)"
v=$(through verify --json) || fail "verify: $v"
check_eq "verify at the end: no problem" 0 "$(jq -r '.problems | length' <<<"$v")"
svc_stop
e2e_finish
