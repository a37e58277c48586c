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

json=$(mk search --json) || bail "mailkeep search --json failed (invalid UTF-8 in a header?)"
echo "$json" | jq empty 2>/dev/null || bail "mailkeep search --json printed invalid JSON"
declare -A id_of
while read -r q i; do id_of[$q]=$i; done < <(echo "$json" | jq -r '.[] | "\(.queue_id) \(.id)"')

i=0
while read -r code qid rest; do
	f=${files[$i]}; i=$(( i + 1 ))
	name=$(basename "$f")
	if [ "$code" != 250 ]; then fail "$name: not accepted: $code $qid $rest"; continue; fi
	id=${id_of[$qid]:-}
	if [ -z "$id" ]; then fail "$name: accepted as $qid but not in the archive"; continue; fi
	check_archived "$id" "$f" "$name"
	case "$name" in
	500-recipients.eml)
		check_eq "500 recipients in the envelope record" \
		    "$(sort "$T/rcpts" | tr '\n' ' ')" \
		    "$(echo "$json" | jq -r --arg id "$id" '.[] | select(.id == $id) | .to[]' | tr -d '<>' | sort | tr '\n' ' ')"
		check_eq "search --to the 500th recipient" 1 \
		    "$(mk search --json --to r499@rcpt.test | jq --arg id "$id" '[.[] | select(.id == $id)] | length')";;
	8bit-headers.eml)
		want=$(sed -n 's/^Subject: //p' "$f")
		check_eq "8-bit Subject comes back in search --json" "$want" \
		    "$(echo "$json" | jq -r --arg id "$id" '.[] | select(.id == $id) | .subject')";;
	esac
done < "$T/replies"
check_eq "every message got a reply" "${#files[@]}" "$i"
e2e_finish
