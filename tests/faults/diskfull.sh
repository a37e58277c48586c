#!/bin/bash
# tests/faults/diskfull.sh - the archive on a real, small file system that
# fills up, under a real Postfix and mailkeep-milter: every message Postfix
# accepted is archived exactly once after the space is freed and Postfix
# flushed its queue.
#
# DESCRIPTION
#	The test mounts a tmpfs of 3 MB (as root; skipped when mount is not
#	permitted) and makes the archive there.  One Postfix instance plays
#	the sending MTA and the archiving one: its smtpd on $PF_PORT (no
#	milter) accepts the client's messages and relays them (relayhost) to
#	its second smtpd on $BACK_PORT, which has mailkeep-milter and drops
#	what it accepted (content_filter=discard).  A filler file leaves
#	about 700 KB free; 14 messages of ~110 KB (random, so they do not
#	compress away) are sent, and the archive runs out of space: the
#	milter tempfails, the second smtpd answers 4xx, and Postfix keeps
#	those messages in its deferred queue.  Meanwhile `verify` must stay
#	clean.  Then the filler is removed and `postqueue -f` flushes the
#	queue; once it is empty: every message is in the archive exactly
#	once by Message-ID ("once"; and in an index rebuilt from the ledger,
#	"once-rebuilt"), byte-exact with the one Received: header Postfix
#	added ("exact"), `verify` clean, spool/ empty, and the milter logged
#	why it tempfailed (No space left on device).  Known failures:
#	tests/faults/known-failures (MK_FAULTS_STRICT=1: they fail).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/faults/lib.sh"
. "$top_srcdir/tests/e2e/lib.sh"
FT_NAME=diskfull
ft_load_known
e2e_init diskfull postfix
MNT=$T/mnt
mkdir -p "$MNT"
mount -t tmpfs -o size=3m,mode=0755 mk-diskfull "$MNT" 2> "$T/mount.err" \
    || skip "diskfull: cannot mount a tmpfs (not permitted here?): $(cat "$T/mount.err")"

# df_cleanup - EXIT trap: stop the milter, unmount, then e2e_cleanup
# shellcheck disable=SC2317  # called by the trap
df_cleanup() {
	local rc=$?
	milter_stop
	umount "$MNT" 2> /dev/null || umount -l "$MNT" 2> /dev/null
	(exit "$rc")
	e2e_cleanup
}
trap df_cleanup EXIT

ARCHIVE=$MNT/archive
e2e_conf
mk_init
milter_start

# One Postfix: smtpd on PF_PORT relays to the milter's smtpd on BACK_PORT.
PF=$(e2e_pf_dir) || bail "no directory for Postfix"
PF_PORT=$(pf_free_port) || bail "no free port"
BACK_PORT=$(pf_free_port 5) || bail "no free port"
pf_create "$PF" "$PF_PORT" "" || bail "pf_create"
back=127.0.0.1:$BACK_PORT/inet
"$PF_POSTCONF" -c "$PF/etc" -M "$back = 127.0.0.1:$BACK_PORT inet n - n - - smtpd" \
    || bail "postconf -M $back"
"$PF_POSTCONF" -c "$PF/etc" -P "$back/smtpd_milters=$MILTER_PF" \
    "$back/content_filter=discard:archived" "$back/myhostname=back.localdomain" \
    || bail "postconf -P $back"
pf_postconf "$PF" "default_transport = smtp" "relay_transport = smtp" \
    "relayhost = [127.0.0.1]:$BACK_PORT" "smtp_tls_security_level = none" \
    "minimal_backoff_time = 300s" "maximal_backoff_time = 600s" \
    "queue_run_delay = 300s" || bail "postconf relay"
pf_start "$PF" || bail "postfix start"
SMTP_PORT=$PF_PORT
MTA_LOG=$(pf_maillog "$PF")
note "postfix: smtpd on $PF_PORT relays to the milter's smtpd on $BACK_PORT"

# Leave about 700 KB free.
free_kb() { df -k --output=avail "$MNT" | tail -n 1 | tr -d ' '; }
dd if=/dev/zero of="$MNT/filler" bs=1k count=$(( $(free_kb) - 700 )) 2> /dev/null
note "archive on a $(df -h --output=size "$MNT" | tail -n 1 | tr -d ' ') tmpfs, $(free_kb) KB free"

N=14
: > "$T/sent"
for (( k = 0; k < N; k++ )); do
	f=$T/m$k.eml
	{
		printf 'From: df@sender.test\nTo: df@rcpt.test\nSubject: diskfull %d\n' "$k"
		printf 'Date: Mon, 24 Nov 2025 12:00:00 +0100\nMessage-ID: <diskfull.%d.%d@faults.test>\n\n' "$k" "$$"
		head -c 80000 /dev/urandom | base64 -w 76
	} > "$f"
	reply=$(smtp_send --from df@sender.test --to df@rcpt.test "$f")
	echo "$k $reply" >> "$T/sent"
	[ "${reply%% *}" = 250 ] || fail "message $k: the first Postfix did not accept it: $reply"
done
# Wait until Postfix tried each one: sent, or deferred by the milter's 4xx.
tried() { [ "$(grep -c 'relay=127.0.0.1\[127.0.0.1\]:'"$BACK_PORT"'.*status=\(sent\|deferred\)' "$MTA_LOG")" -ge "$N" ]; }
wait_for 60 tried || note "not every message tried after 60s: $(pf_queue_count "$PF") queued"
deferred=$(pf_queue_count "$PF")
note "$(free_kb) KB free; $deferred of $N messages deferred (archive full): $(grep -o 'status=deferred.*' "$MTA_LOG" | head -n 1 | cut -c1-200)"
ft_check diskfull filled "$( [ "$deferred" -gt 0 ] && echo ok || echo "no message was deferred: the archive never filled up")"
if mk verify --json > "$T/verify.full.json" 2> "$T/verify.full.err"; then
	ft_check "diskfull full" verify ok
else
	ft_check "diskfull full" verify "$(jq -r '[.problems[:3][] | "\(.kind) \(.object): \(.detail)"] | join("; ")' "$T/verify.full.json" 2>/dev/null) $(head -c 200 "$T/verify.full.err")"
fi

# Space again; Postfix flushes its queue.
rm -f "$MNT/filler"
"$PF_SBIN/postqueue" -c "$PF/etc" -f || fail "postqueue -f"
pf_wait_drained "$PF" 60 || fail "the queue did not drain after postqueue -f ($(pf_queue_count "$PF") left)"

once=ok rebuilt=ok exact=ok
rm -rf "$T/rebuilt"
cp -a "$ARCHIVE" "$T/rebuilt" && echo "archive = $T/rebuilt" > "$T/rebuilt.conf" \
    && "$MAILKEEP" -c "$T/rebuilt.conf" --offline rebuild-index > "$T/rebuild.out" 2>&1 \
    || rebuilt="rebuild-index on a copy failed: $(head -c 200 "$T/rebuild.out")"
"$MAILKEEP" -c "$T/rebuilt.conf" --offline search --json 2> /dev/null | jq -r '.[].message_id' > "$T/rebuilt.mids"
for (( k = 0; k < N; k++ )); do
	mid="<diskfull.$k.$$@faults.test>"
	ids=$(mk search --json --message-id "$mid" | jq -r '.[].id')
	n=$(printf '%s' "$ids" | grep -c .)
	[ "$n" -eq 1 ] || [ "$once" != ok ] || once="message $k ($mid) found $n times: $(echo $ids)"
	r=$(grep -cxF "$mid" "$T/rebuilt.mids")
	[ "$r" -eq 1 ] || [ "$rebuilt" != ok ] || rebuilt="message $k ($mid) $r times in the index rebuilt from the ledger and records/"
	[ "$n" -ge 1 ] || continue
	id=$(echo "$ids" | head -n 1)
	if ! mk get "$id" > "$T/got" 2> "$T/get.err"; then
		[ "$exact" != ok ] || exact="get $id failed: $(head -c 200 "$T/get.err")"
	elif ! out=$("$PYTHON3" "$E2E_DIR/compare.py" --trace 1 "$T/got" "$T/m$k.eml"); then
		[ "$exact" != ok ] || exact="message $k ($id): $out"
	fi
done
ft_check diskfull once "$once"
ft_check diskfull once-rebuilt "$rebuilt"
ft_check diskfull exact "$exact"
if mk verify --json > "$T/verify.json" 2> "$T/verify.err"; then
	ft_check diskfull verify ok
else
	ft_check diskfull verify "$(jq -r '[.problems[:3][] | "\(.kind) \(.object): \(.detail)"] | join("; ")' "$T/verify.json" 2>/dev/null) ($(jq '.problems | length' "$T/verify.json" 2>/dev/null) problems) $(head -c 200 "$T/verify.err")"
fi
left=$(find "$ARCHIVE/spool" -type f | wc -l)
ft_check diskfull spool "$( [ "$left" -eq 0 ] && echo ok || echo "$left file(s) left in spool/")"
why=$(grep -m1 "No space left" "$T/milter.log")
ft_check diskfull logged "$( [ -n "$why" ] && echo ok || echo "the milter logged no 'No space left on device'")"
[ -z "$why" ] || note "the milter: ${why#*]: }"
ft_obsolete
note "known failures (TODO): $FT_KNOWN"
e2e_finish
