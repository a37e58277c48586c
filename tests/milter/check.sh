#!/bin/bash
# tests/milter/check.sh - every bad setting refused with its line and
# why, and the check mode (mailkeep-milter -n, mailkeep-access -n,
# mailkeep config check), no MTA.
#
# For each bad value of issue 13 and each key, a config whose line 3 is
# that value (two good lines before it): "mailkeep-milter -n" must exit 1
# and name FILE:3 and the part that is wrong; the same config given to a
# real start (mailkeep-milter -f) must refuse to start and say the same.
# A good config: -n exits 0, prints OK, and leaves nothing listening (ss)
# and no socket file.  A config with three mistakes: all three named.
# -p with a bad spec is named as -p.  mailkeep config check --json lists
# the same problems.  The archive check runs as the configured user
# (nobody), who cannot write a root-owned archive.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/checks.sh"
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
MILTER=$top_builddir/milter/mailkeep-milter
ACCESS=$top_builddir/access/mailkeep-access
MK=$top_builddir/cli/mailkeep
T=$(mktemp -d "${TMPDIR:-/tmp}/mk-check.XXXXXX") || exit 99
trap 'rm -rf "$T"' EXIT
PORT=$(( 20000 + RANDOM % 20000 ))

printf 'archive = %s\n' "$T/ar" > "$T/init.conf"
"$MK" -c "$T/init.conf" init > /dev/null || bail "mailkeep init"
mkdir -p "$T/run"

# conf NAME LINE3 - a config whose third line is LINE3 (and a good
#	socket on line 4 unless LINE3 sets one)
conf() {
	printf 'archive = %s\naccess_socket = %s\n%s\n' "$T/ar" "$T/run/access.sock" \
	    "$2" > "$T/$1.conf"
	case $2 in socket*) ;; *) echo "socket = inet:$PORT@127.0.0.1" >> "$T/$1.conf";; esac
	echo "$T/$1.conf"
}

# nosuch NAME LINE3 WANT - -n refuses, naming :3 and WANT
nosuch() {
	local name=$1 line=$2 want=$3 c out rc
	c=$(conf "$name" "$line")
	out=$("$MILTER" -n -c "$c" 2>&1); rc=$?
	check_eq "$name: -n exits 1" 1 "$rc"
	case $out in
	*"$c:3: "*"$want"*) pass "$name: -n names line 3 and '$want'";;
	*) fail "$name: -n: wanted '$c:3: ...$want' in: $out";;
	esac
}

# bad NAME LINE3 WANT - -n and a start both refuse, naming :3 and WANT
bad() {
	local name=$1 line=$2 want=$3 out rc
	nosuch "$@"
	out=$(timeout 20 "$MILTER" -f -c "$T/$name.conf" 2>&1); rc=$?
	check_eq "$name: a start refuses (exit 1)" 1 "$rc"
	case $out in
	*":3: "*"$want"*) pass "$name: the start names line 3 and '$want'";;
	*) fail "$name: start: wanted ':3: ...$want' in: $out";;
	esac
}

bad port-99999 "socket = inet:99999@127.0.0.1" "the port 99999 is out of range (1 to 65535)"
bad port-65536 "socket = inet:65536@127.0.0.1" "the port 65536 is out of range"
bad port-0 "socket = inet:0@127.0.0.1" "the port 0 is out of range"
bad port-negative "socket = inet:-5@127.0.0.1" "the port \"-5\" is not a decimal number"
bad port-hex "socket = inet:0x22@127.0.0.1" "the port \"0x22\" is not a decimal number"
bad host-999 "socket = inet:$PORT@999.1.1.1" "the host \"999.1.1.1\" is not an IPv4 address, and as a name it does not resolve"
bad host-invalid "socket = inet:$PORT@nonexistent.invalid" "the host \"nonexistent.invalid\" is not an IPv4 address"
bad host-empty "socket = inet:$PORT@" "the host after '@' is empty"
bad no-at "socket = inet:$PORT" "no '@' between port and host"
bad scheme-tcp "socket = tcp:$PORT" "unknown scheme \"tcp\""
bad no-scheme "socket = /run/x.sock" "no scheme"
long=/tmp/$(head -c 120 /dev/zero | tr '\0' a)
bad unix-long "socket = unix:$long" "the path is 125 bytes long; a Unix socket's path must be shorter than 108"
bad unix-relative "socket = unix:x.sock" "the path \"x.sock\" is not absolute"
bad unix-nodir "socket = unix:/nonexistent-dir/x.sock" "the directory /nonexistent-dir of the path does not exist"
bad inet6-v4 "socket = inet6:$PORT@127.0.0.1" "the host \"127.0.0.1\" is not an IPv6 address"
bad user "user = nosuchuser" "user = nosuchuser: no such user"
bad unknown-key "colour = blue" "unknown key \"colour\""
bad compression "compression = 12" "compression must be zstd, zstd:LEVEL (-5 to 19, not 0), zlib, zlib:LEVEL (1 to 9), none, or 0 to 9"
bad on-error "on_error = maybe" "on_error must be tempfail or accept"
bad checkpoint "checkpoint_entries = 0" "checkpoint_entries must be a number"
bad socket-mode "socket_mode = 999" "socket_mode must be octal"
bad section "[other]" "unknown section [other]"
bad syntax "this is not a setting" "syntax error"

# Keys whose problem a start finds only when it uses them: -n names them.
nosuch pidfile "pidfile = /nonexistent-dir/m.pid" "pidfile = /nonexistent-dir/m.pid: the directory /nonexistent-dir does not exist"
c=$(conf pidfile-start "pidfile = /nonexistent-dir/m.pid")
out=$(timeout 20 "$MILTER" -f -c "$c" 2>&1)
case $out in *"$c:3: pidfile = /nonexistent-dir/m.pid: cannot write /nonexistent-dir/m.pid"*)
	pass "pidfile: a start names line 3";;
*) fail "pidfile: a start should name line 3: $out";; esac
c=$(conf archive-start "archive = $T/none")
out=$(timeout 20 "$MILTER" -f -c "$c" 2>&1)
case $out in *"$c:3: archive = $T/none: "*)
	pass "archive: a start names line 3";;
*) fail "archive: a start should name line 3: $out";; esac
nosuch archive "archive = $T/none" "archive = $T/none: $T/none: is not a directory this account can write"
nosuch policy "policy = $T/none.ini" "policy = $T/none.ini: cannot read: No such file or directory"
c=$(conf archive-user "user = nobody")
out=$("$MILTER" -n -c "$c" 2>&1)
case $out in *"$c:1: archive = $T/ar: $T/ar: is not a directory this account can write (as user nobody)"*)
	pass "archive-user: -n checks the archive as user nobody (line 1 names the archive)";;
*) fail "archive-user: wanted the archive refused to nobody in: $out";; esac

# A good config: OK, exit 0, nothing left listening, no socket file.
good=$T/good.conf
printf 'socket = inet:%s@127.0.0.1\narchive = %s\naccess_socket = %s\n' "$PORT" \
    "$T/ar" "$T/run/access.sock" > "$good"
out=$("$MILTER" -n -c "$good" 2>&1); rc=$?
check_eq "good config: -n exits 0" 0 "$rc"
check_eq "good config: -n prints OK" OK "$out"
check "good config: nothing listens on $PORT afterwards" sh -c "! ss -ltn | grep -q ':$PORT '"
out=$("$ACCESS" -n -c "$good" 2>&1); rc=$?
check_eq "good config: mailkeep-access -n exits 0 and says OK" "0 OK" "$rc $out"
check "good config: no access socket file left" test ! -e "$T/run/access.sock"
check_eq "good config: mailkeep config check says OK" OK "$("$MK" config check "$good" 2>&1)"
printf 'socket = unix:%s\narchive = %s\naccess_socket = %s\n' "$T/run/m.sock" \
    "$T/ar" "$T/run/access.sock" > "$T/unix.conf"
out=$("$MILTER" -n -c "$T/unix.conf" 2>&1); rc=$?
check_eq "unix socket: -n exits 0" "0 OK" "$rc $out"
check "unix socket: no socket file left" test ! -e "$T/run/m.sock"

# Three mistakes: all three named, in one run.
three=$T/three.conf
printf 'socket = inet:99999@127.0.0.1\narchive = %s\ncompression = 12\nuser = nosuchuser\naccess_socket = %s\n' \
    "$T/ar" "$T/run/access.sock" > "$three"
out=$("$MILTER" -n -c "$three" 2>&1); rc=$?
check_eq "three mistakes: -n exits 1" 1 "$rc"
for want in "$three:1: socket = inet:99999@127.0.0.1: the port 99999" \
	    "$three:3: compression must be" "$three:4: user = nosuchuser: no such user"; do
	case $out in *"$want"*) pass "three mistakes: named: $want";;
	*) fail "three mistakes: wanted '$want' in: $out";; esac
done
check_eq "three mistakes: counted" "mailkeep-milter: 3 problems" "$(tail -n 1 <<<"$out")"
json=$("$MK" config check "$three" --json 2>/dev/null)
check_eq "config check --json: three problems" 3 "$(jq '.problems | length' <<<"$json")"
check_eq "config check --json: ok false" false "$(jq .ok <<<"$json")"

# -p is checked like the file's socket, and named as -p.
out=$("$MILTER" -n -c "$good" -p inet:70000@127.0.0.1 2>&1)
case $out in *"-p: socket = inet:70000@127.0.0.1: the port 70000 is out of range"*)
	pass "-p: a bad spec is named as -p";;
*) fail "-p: wanted the port named in: $out";; esac
out=$(timeout 20 "$MILTER" -f -c "$good" -p tcp:1 2>&1); rc=$?
check_eq "-p tcp:1: a start refuses" 1 "$rc"
case $out in *"-p tcp:1: unknown scheme \"tcp\""*) pass "-p tcp:1: the start names the scheme";;
*) fail "-p tcp:1: wanted the scheme named in: $out";; esac

# Something already listening: -n says so.
python3 -c "
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $PORT)); s.listen(1); time.sleep(5)" &
LISTENER=$!
for i in $(seq 100); do ss -ltn | grep -q "127.0.0.1:$PORT " && break; sleep 0.1; done
out=$("$MILTER" -n -c "$good" 2>&1); rc=$?
kill "$LISTENER" 2>/dev/null; wait "$LISTENER" 2>/dev/null
check_eq "port in use: -n exits 1" 1 "$rc"
case $out in *"$good:1: socket = inet:$PORT@127.0.0.1: cannot be bound: Address already in use"*)
	pass "port in use: named with its line";;
*) fail "port in use: wanted 'cannot be bound' in: $out";; esac

note "check: $CHECKS_PASS passed, $CHECKS_FAIL failed"
[ "$CHECKS_FAIL" -eq 0 ]
