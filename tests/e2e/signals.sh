#!/bin/bash
# tests/e2e/signals.sh - mailkeep-milter's start-up checks and signals, with
# a real Postfix: a broken config refuses to start naming file and line;
# -p overrides the socket; SIGHUP reloads without dropping a connection in
# the middle of a transaction, and keeps the running config when the new
# one is broken; SIGTERM exits 0 and removes the pidfile.
. "$top_srcdir/tests/e2e/lib.sh"
e2e_init signals

# A broken configuration: no start, and the error names file and line.
printf 'socket = inet:1@127.0.0.1\narchive = %s\nsockt = typo\n' "$T/a" > "$T/bad.conf"
if err=$("$MAILKEEP_MILTER" -c "$T/bad.conf" -f 2>&1); then
	fail "milter started with a broken config"
else
	check "start-up error names file:line:problem" \
		grep -q "$T/bad.conf:3: unknown key \"sockt\"" <<<"$err"
fi
# A missing archive: no start, and the error says how to make one.
printf 'socket = inet:1@127.0.0.1\narchive = %s\n' "$T/none" > "$T/noarchive.conf"
err=$("$MAILKEEP_MILTER" -c "$T/noarchive.conf" -f 2>&1)
check "missing archive refuses to start" grep -q "not a mailkeep archive" <<<"$err"

e2e_conf
mk_init
# -p overrides the configured socket: configure a socket nobody uses.
sed -i "s|^socket = .*|socket = unix:$T/unused.sock|" "$CONF"
echo "----- milter start $(date +%T)" >> "$T/milter.log"
"$MAILKEEP_MILTER" -c "$CONF" -f -p "$MILTER_SOCKET" >> "$T/milter.log" 2>&1 &
MILTER_PID=$!
wait_for 30 milter_ready || bail "milter with -p not ready"
check "-p overrides socket" test ! -e "$T/unused.sock"
check "pidfile written" grep -qx "$MILTER_PID" "$T/milter.pid"
e2e_postfix

# One SMTP transaction held open across a SIGHUP: MAIL and RCPT before,
# DATA after the reload.  The reply must be 250 and the message archived.
cat > "$T/held.py" <<'PY'
import smtplib, sys, os, time
port, pid, flag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = smtplib.SMTP("127.0.0.1", port, timeout=60)
s.ehlo("held.test")
s.mail("held@sender.test")
s.rcpt("someone@rcpt.test")
os.kill(pid, 1)                     # SIGHUP
for _ in range(100):                # until the milter logged the reload
    if os.path.exists(flag) and b"reloaded" in open(flag, "rb").read():
        break
    time.sleep(0.1)
code, _ = s.data(b"Message-ID: <held@sender.test>\r\nSubject: held\r\n\r\nacross a reload\r\n")
s.quit()
print(code)
PY
code=$("$PYTHON3" "$T/held.py" "$PF_PORT" "$MILTER_PID" "$T/milter.log")
check_eq "transaction across SIGHUP gets 250" 250 "$code"
check "SIGHUP logged a reload" grep -q "reloaded $CONF" "$T/milter.log"
check "milter alive after SIGHUP" kill -0 "$MILTER_PID"
check_eq "message sent across SIGHUP archived" 1 \
	"$(mk_search_mid '<held@sender.test>' | jq length)"

# A broken file at reload: logged, the running configuration stays.
cp "$CONF" "$T/good.conf"
echo "on_error = sometimes" >> "$CONF"
kill -HUP "$MILTER_PID"
wait_for 10 grep -q "keeping the running configuration: $CONF:[0-9]*: on_error" "$T/milter.log"
check "broken reload logged with file:line" \
	grep -q "keeping the running configuration: $CONF:[0-9]*: on_error" "$T/milter.log"
check "milter alive after broken reload" kill -0 "$MILTER_PID"
printf 'Message-ID: <after@sender.test>\nSubject: after\n\nstill archiving\n' > "$T/after.eml"
check "mail still accepted after broken reload" \
	smtp_send --from a@sender.test --to b@rcpt.test "$T/after.eml"
cp "$T/good.conf" "$CONF"	# the CLI reads it too
check_eq "and archived" 1 "$(mk_search_mid '<after@sender.test>' | jq length)"
check "no restart warning: -p still applies after reload" \
	bash -c "! grep -q 'only after a restart' '$T/milter.log'"

# SIGTERM: clean exit, status 0, pidfile gone.
milter_stop
check_eq "SIGTERM exit status" 0 "$MILTER_STATUS"
check "pidfile removed" test ! -e "$T/milter.pid"
check "stop logged" grep -q "stopped" "$T/milter.log"
e2e_finish
