#!/bin/bash
# tests/e2e/corpus.sh - third-party messages over SMTP, each archived
# byte-exact: Debian's Python test-suite e-mail messages
# (/usr/lib/python3.11/test/test_email/data/msg_*.txt, package
# libpython3.11-testsuite) and SpamAssassin's sample-spam.txt and
# sample-nonspam.txt (package spamassassin, unpacked into
# tests/corpus/third-party/ by scripts/install-deps.sh, or fetched here).
# Then the archive they filled is verified, its index deleted and rebuilt
# (rebuild-index), and search must return what it returned before.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
e2e_init corpus

PYDATA=${PYTHON_EMAIL_DATA:-/usr/lib/python3.11/test/test_email/data}

files=()
if ls "$PYDATA"/msg_*.txt > /dev/null 2>&1; then
	files+=("$PYDATA"/msg_*.txt)
else
	fail "Python's e-mail test messages not found in $PYDATA (apt-get install libpython3.11-testsuite)"
fi
if sa=$(sa_samples); then
	files+=("$sa/sample-spam.txt" "$sa/sample-nonspam.txt")
else
	fail "SpamAssassin's samples unavailable: run scripts/install-deps.sh (or apt-get download spamassassin)"
fi
[ ${#files[@]} -gt 0 ] || e2e_finish
note "${#files[@]} messages"

e2e_conf
mk_init
milter_start
e2e_postfix

# One SMTP session; one reply line per file, in order.
smtp_send --from corpus@sender.test --to corpus@rcpt.test "${files[@]}" > "$T/replies" || true
check_replies "$T/replies" "${files[@]}"

# The index is derived data: with the milter stopped, delete it and make
# it anew from records/ and the ledger; search must return what it did,
# and verify must find the archive whole (docs/FORMAT.md).
pf_wait_drained "$PF" 30 || fail "postfix queue did not drain"
milter_stop
mk search --json > "$T/before.json" || fail "search before rebuild-index"
if mk verify > "$T/verify0.out" 2>&1; then
	pass "verify: the archive Postfix filled is whole ($(tail -n 1 "$T/verify0.out"))"
else
	fail "verify before rebuild-index: $(head -n 5 "$T/verify0.out")"
fi
rm -f "$ARCHIVE"/index.sqlite "$ARCHIVE"/index.sqlite-wal "$ARCHIVE"/index.sqlite-shm
if out=$(mk rebuild-index 2>&1); then
	pass "rebuild-index: $out"
else
	fail "rebuild-index: $out"
fi
mk search --json > "$T/after.json" || fail "search after rebuild-index"
check_eq "search --json after rebuild-index is what it was" \
    "$(jq -S . "$T/before.json" | sha256sum)" "$(jq -S . "$T/after.json" | sha256sum)"
check_eq "every message is in the rebuilt index" "$(jq length "$T/before.json")" \
    "$(jq length "$T/after.json")"
if mk verify --json > "$T/verify.json" 2>/dev/null; then
	pass "verify after rebuild-index: clean"
else
	fail "verify after rebuild-index: $(jq -c '.problems[:3]' "$T/verify.json")"
fi
e2e_finish
