#!/bin/bash
# tests/e2e/fixtures.sh - mailkeep's own hard cases (tests/corpus/*.eml: 8-bit
# headers, NUL bytes, bare CR, folded headers, over-long lines, no final line
# end, a message to 500 envelope recipients) over SMTP; each archived
# byte-exact, and the 500 recipients all in the envelope record.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
e2e_init fixtures
e2e_conf
mk_init
milter_start
e2e_postfix

files=()
for f in "$CORPUS"/*.eml; do
	case "$f" in */500-recipients.eml) continue;; esac
	files+=("$f")
done
smtp_send --from fixtures@sender.test --to fixtures@rcpt.test "${files[@]}" > "$T/replies" || true

# 500 envelope recipients in one transaction.
for k in $(seq -f %03g 0 499); do echo "r$k@rcpt.test"; done > "$T/rcpts"
smtp_send --from many@sender.test --to-file "$T/rcpts" "$CORPUS/500-recipients.eml" >> "$T/replies" || true
files+=("$CORPUS/500-recipients.eml")

check_replies "$T/replies" "${files[@]}"
json=$ARCHIVE_JSON

id=${ARCHIVED_ID[500-recipients.eml]:-}
check_eq "500 recipients in the envelope record" \
    "$(sort "$T/rcpts" | tr '\n' ' ')" \
    "$(echo "$json" | jq -r --arg id "$id" '.[] | select(.id == $id) | .to[]' | tr -d '<>' | sort | tr '\n' ' ')"
check_eq "search --to the 500th recipient" 1 \
    "$(mk search --json --to r499@rcpt.test | jq --arg id "$id" '[.[] | select(.id == $id)] | length')"

id=${ARCHIVED_ID[8bit-headers.eml]:-}
want=$(sed -n 's/^Subject: //p' "$CORPUS/8bit-headers.eml")
check_eq "8-bit Subject comes back in search --json" "$want" \
    "$(echo "$json" | jq -r --arg id "$id" '.[] | select(.id == $id) | .subject')"
e2e_finish
