#!/bin/bash
# tests/e2e/sendmail_auth.sh - SMTP AUTH through a real Sendmail: a message
# sent after AUTH PLAIN as "alice" (Cyrus SASL sasldb, see
# tests/e2e/sendmail-mta.sh) is archived with auth_user = Sendmail's
# {auth_authen}; a message sent without AUTH on the same server has none;
# a wrong password is refused by Sendmail (535) before any transaction.
# Sendmail runs with its milter debug output (-d64.10), which shows that it
# sends mailkeep the macros mailkeep asked for with smfi_setsymlist, at the
# stages it asked for them ({i} already at MAIL, {auth_authen} at MAIL),
# except at end of message, where Sendmail uses its global list.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
e2e_init sendmail_auth sendmail
[ -x "$SM_SASLPASSWD" ] || skip "saslpasswd2 missing from the unpacked sasl2-bin"
ls /usr/lib/*/sasl2/libplain.so* > /dev/null 2>&1 ||
    skip "no SASL PLAIN mechanism (apt-get install libsasl2-modules)"
e2e_conf
mk_init
milter_start
SM_FLAGS="-D $T/sm-debug.log -d64.10" SM_AUTH_USERS="alice:s3cret-$$" e2e_sendmail

if grep -q "AUTH: available mech=.*PLAIN" "$SM/maillog" ||
    wait_for 5 grep -q "AUTH: available mech=.*PLAIN" "$SM/maillog"; then
	pass "sendmail loaded SASL with PLAIN"
fi

# mkmsg NAME - a message with a unique Message-ID in $T/NAME.eml
mkmsg() {
	printf 'From: alice@sender.test\nTo: bob@rcpt.test\nSubject: auth %s\nDate: Mon, 24 Nov 2025 12:00:00 +0100\nMessage-ID: <smauth.%s.%s@sender.test>\n\nbody of %s\n' \
	    "$1" "$1" "$$" "$1" > "$T/$1.eml"
	echo "<smauth.$1.$$@sender.test>"
}

mid=$(mkmsg authed)
reply=$(smtp_send --auth "alice:s3cret-$$" --from alice@sender.test \
    --to bob@rcpt.test "$T/authed.eml" 2>&1)
note "AUTH as alice: $reply"
check_eq "AUTH PLAIN as alice, message accepted" 250 "${reply%% *}"
if grep -q "AUTH=server, relay=localhost \[127.0.0.1\], authid=alice" "$SM/maillog"; then
	pass "sendmail logged the authentication of alice"
else
	fail "no 'AUTH=server ... authid=alice' line in the maillog"
fi
r=$(mk_search_mid "$mid" | jq '.[0]')
note "archived: $(echo "$r" | jq -c .)"
check_eq "auth_user is Sendmail's {auth_authen}" alice "$(echo "$r" | jq -r '.auth_user // ""')"
check_eq "queue_id is set" "$(echo "$reply" | awk '{print $2}')" "$(echo "$r" | jq -r .queue_id)"
id=$(echo "$r" | jq -r .id)
[ "$id" = null ] || E2E_TRACE=$SM_TRACE check_archived "$id" "$T/authed.eml" authed.eml

# The macros Sendmail sent, by stage (C connect, H HELO, M MAIL, R RCPT,
# E end of message), as its debug output shows them.
qid=$(echo "$reply" | awk '{print $2}')
dbg=$T/sm-debug.log
sed -n 's/^milter_send_macros(mailkeep, \(.\)): /\1 /p' "$dbg" | sort -u | sed 's/^/# sent: /'
if grep -q '^milter_getsymlist(mailkeep, macros.envfrom, "i {auth_authen}' "$dbg"; then
	pass "Sendmail took mailkeep's macro list for MAIL (smfi_setsymlist)"
else
	fail "no milter_getsymlist(mailkeep, macros.envfrom, ...) in Sendmail's debug output"
fi
check "MAIL: Sendmail sends the queue id {i}" grep -q "^milter_send_macros(mailkeep, M): i=$qid\$" "$dbg"
check "MAIL: Sendmail sends {auth_authen}" grep -q '^milter_send_macros(mailkeep, M): {auth_authen}=alice$' "$dbg"
check "connect: Sendmail sends {client_addr}" grep -q '^milter_send_macros(mailkeep, C): {client_addr}=127.0.0.1$' "$dbg"
# At end of message Sendmail 8.17.1 sends its global confMILTER_MACROS_EOM
# list (default {msg_id}), not the "i" mailkeep asked for; mailkeep has the
# queue id from MAIL by then (checked above: queue_id is set).
note "end of message: Sendmail sent $(sed -n 's/^milter_send_macros(mailkeep, E): //p' "$dbg" | sort -u | tr '\n' ' ')"
if grep -q '^milter_send_macros(mailkeep, M): {mail_mailer}' "$dbg"; then
	fail "MAIL: Sendmail sent its global list ({mail_mailer}) instead of mailkeep's"
else
	pass "MAIL: Sendmail's global macro list is not used for mailkeep"
fi

mid=$(mkmsg plain)
reply=$(smtp_send --from alice@sender.test --to bob@rcpt.test "$T/plain.eml")
check_eq "without AUTH: message accepted" 250 "${reply%% *}"
check_eq "without AUTH: auth_user is empty" "" \
    "$(mk_search_mid "$mid" | jq -r '.[0].auth_user // ""')"

mkmsg badpw > /dev/null
out=$(smtp_send --auth "alice:wrong" --from alice@sender.test --to bob@rcpt.test "$T/badpw.eml" 2>&1)
case "$out" in
*535*) pass "a wrong password is refused with 535";;
*) fail "wrong password: want 535, got: $out";;
esac
e2e_finish
