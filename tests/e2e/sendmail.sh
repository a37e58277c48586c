#!/bin/bash
# tests/e2e/sendmail.sh - a message submitted with Postfix's sendmail(1)
# goes through pickup -> cleanup -> non_smtpd_milters: it is archived with
# its envelope and its exact bytes.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
e2e_init sendmail
e2e_conf
mk_init
milter_start
e2e_postfix

mid="<sendmail.$$.$(date +%s%N)@local.test>"
msg=$T/local.eml
# Every header the local submission path would otherwise add (From, Date,
# Message-ID) is present, and addresses are fully qualified, so cleanup
# changes nothing but prepending its Received: header.
cat > "$msg" <<EOF
From: Root <root@local.test>
To: someone@rcpt.test
Subject: submitted with sendmail(1)
Date: Mon, 24 Nov 2025 10:00:00 +0100
Message-ID: $mid

Local submission, non_smtpd_milters.
A line with trailing spaces   
	and one starting with a tab.
EOF

if pf_sendmail "$PF" -i -f root@local.test someone@rcpt.test other@bcc.test < "$msg"; then
	pass "sendmail -i accepted the message"
else
	bail "sendmail -i failed"
fi
pf_wait_drained "$PF" 30 || fail "queue did not drain"
qid=$(pf_queue_id_of "$PF" "$mid")
[ -n "$qid" ] || bail "cleanup did not log $mid"
note "queue id $qid"
if grep -q "$qid: milter-reject" "$PF/maillog"; then
	fail "the milter rejected the local submission"
fi

json=$(mk_search_mid "$mid") || bail "search failed"
check_eq "search --message-id: one result" 1 "$(echo "$json" | jq length)"
r=$(echo "$json" | jq '.[0]')
note "archived: $(echo "$r" | jq -c .)"
id=$(echo "$r" | jq -r .id)
check_eq "queue_id" "$qid" "$(echo "$r" | jq -r .queue_id)"
check_eq "from" root@local.test "$(echo "$r" | jq -r .from | tr -d '<>')"
check_eq "to" "other@bcc.test someone@rcpt.test " \
    "$(echo "$r" | jq -r '.to[]' | tr -d '<>' | sort | tr '\n' ' ')"
check_archived "$id" "$msg" local.eml
e2e_finish
