# tests/e2e/sendmail-mta.sh - a throwaway Sendmail 8.17 for mailkeep's tests.
#
# SYNOPSIS
#	. tests/e2e/sendmail-mta.sh	(lib.sh sources it)
#
#	sm_fetch			# unpack Sendmail's packages (cached); sets
#					# SM_BIN, SM_CF, SM_LIBS, SM_SASLPASSWD
#	sm_setup DIR PORT MILTERSPEC	# write DIR/sendmail.mc, build DIR/sendmail.cf
#	sm_start DIR [TIMEOUT]		# start the daemon, wait until it listens
#	sm_stop DIR [TIMEOUT]		# stop it, wait until it has exited
#	sm_maillog DIR			# print the path of the instance's log
#	sm_queue_count DIR		# print the number of queued messages
#
# DESCRIPTION
#	Debian's sendmail-bin conflicts with postfix (both provide
#	mail-transport-agent), so it is never installed: sm_fetch runs
#	`apt-get download sendmail-bin sendmail-cf libwrap0 sasl2-bin` and
#	unpacks them with `dpkg-deb -x` into a cache directory: $SM_CACHE if
#	set, else the source tree's tests/e2e/sendmail-cache when
#	scripts/install-deps.sh filled it, else the build tree's.  libwrap0
#	is the one library sendmail links that Debian 12 does not have with
#	postfix installed; LD_LIBRARY_PATH points at the unpacked copy (the
#	copy of the binary has its set-gid bit removed so the loader honours
#	it).
#
#	Everything an instance owns lives under DIR:
#	  DIR/sendmail.mc, DIR/sendmail.cf  the configuration (m4 + sendmail-cf)
#	  DIR/queue/	the queue (root-owned, 0700, as sendmail demands)
#	  DIR/maillog	what sendmail sent to syslog (see below)
#	  DIR/hosts, DIR/service.switch	no DNS: host names come from DIR/hosts
#	The daemon listens on 127.0.0.1:PORT only.  It is started in its own
#	UTS and mount namespaces (unshare -u -m):
#	  - the host name there is mk-test.example: sendmail sleeps 60 s at
#	    start when it cannot qualify its host name;
#	  - /dev is a private tmpfs holding null, zero, random, urandom and a
#	    /dev/log symlink to DIR/log.sock, where a small Python reader
#	    appends each syslog datagram to DIR/maillog (no syslogd runs on
#	    the test machines).
#	Delivery mode is "queue": accepted messages stay in DIR/queue and no
#	delivery is ever tried (no queue runner is started), so nothing
#	leaves the machine.  No DNS (FEATURE(nocanonify),
#	accept_unresolvable_domains, hosts file only), relaying for 127.0.0.1
#	(DIR/relay-domains), no load-average throttling, large header and
#	message limits.
#	The milter is attached with the lines of contrib/sendmail/mailkeep.mc
#	(its socket path replaced by MILTERSPEC), so those lines are tested.
#	SM_MC_EXTRA, when set, is appended to the .mc.  SM_FLAGS, when set,
#	is added to the daemon's command line (e.g. "-D FILE -d64.10": the
#	milter debug output, which shows every macro sent to each filter).
#
#	SMTP AUTH: when SM_AUTH_USERS is set ("user:password ..."), sm_setup
#	makes a Cyrus SASL sasldb (DIR/sasl2/sasldb2, with saslpasswd2 from
#	the unpacked sasl2-bin; realm = the host name) and DIR/sasl2/
#	Sendmail.conf (pwcheck_method auxprop, sasldb), and offers PLAIN and
#	LOGIN over the plain connection (confAUTH_MECHANISMS, TRUST_AUTH_MECH,
#	confAUTH_OPTIONS `A').  libsasl2 looks for Sendmail.conf in fixed
#	directories only, so sm_start bind-mounts DIR/sasl2 on /usr/lib/sasl2
#	inside the daemon's mount namespace.  The PLAIN and LOGIN mechanisms
#	are Debian's libsasl2-modules (installed, not unpacked).
#
#	SM_TRACE is the number of trace (Received:) headers Sendmail hands
#	the milter before the client's headers, for compare.py --trace: 0
#	(verified with 8.17.1: its Received: stays in its queue file).
#
#	Functions need root (sendmail's daemon starts as root and checks
#	file ownership and modes).
#
# DIAGNOSTICS
#	Functions return non-zero and print a line on stderr on failure.

SM_HOSTNAME=mk-test.example
SM_TRACE=${SM_TRACE:-0}

# sm_err - print a diagnostic on stderr
sm_err() { echo "sendmail-mta.sh: $*" >&2; }

# sm_fetch - make sure an unpacked sendmail is available; sets SM_ROOT,
#	SM_BIN, SM_CF, SM_LIBS
sm_fetch() {
	local c d
	for c in "${SM_CACHE:-}" "$top_srcdir/tests/e2e/sendmail-cache" \
	    "$top_builddir/tests/e2e/sendmail-cache"; do
		[ -n "$c" ] && [ -f "$c/root/.complete.v2" ] && break
	done
	if [ ! -f "$c/root/.complete.v2" ]; then
		c=${SM_CACHE:-$top_builddir/tests/e2e/sendmail-cache}
		mkdir -p "$c" || return 1
		(
			# One fetch at a time when tests run in parallel.
			flock 9
			[ -f "$c/root/.complete.v2" ] && exit 0
			rm -rf "$c/deb" "$c/root"
			mkdir -p "$c/deb" && chmod 777 "$c/deb"	# apt's _apt user
			( cd "$c/deb" && timeout 120 apt-get download \
			    sendmail-bin sendmail-cf libwrap0 sasl2-bin ) > "$c/fetch.log" 2>&1 ||
			    { sm_err "apt-get download failed: $(tail -n 3 "$c/fetch.log")"; exit 1; }
			for d in "$c"/deb/*.deb; do
				dpkg-deb -x "$d" "$c/root" || exit 1
			done
			chmod g-s "$c/root/usr/libexec/sendmail/sendmail"
			rm -rf "$c/deb"
			touch "$c/root/.complete.v2"
		) 9> "$c/.lock" || return 1
	fi
	SM_ROOT=$(cd "$c/root" && pwd -P)
	SM_BIN=$SM_ROOT/usr/libexec/sendmail/sendmail
	SM_CF=$SM_ROOT/usr/share/sendmail/cf
	SM_LIBS=$SM_ROOT/usr/lib/x86_64-linux-gnu:$SM_ROOT/lib/x86_64-linux-gnu
	SM_SASLPASSWD=$SM_ROOT/usr/sbin/saslpasswd2
	[ -x "$SM_BIN" ] && [ -f "$SM_CF/m4/cf.m4" ] ||
	    { sm_err "incomplete sendmail cache in $c"; return 1; }
}

# sm_run - run the unpacked sendmail binary with ARGS
sm_run() { LD_LIBRARY_PATH=$SM_LIBS "$SM_BIN" "$@"; }

# sm_setup - write the configuration of an instance under DIR
sm_setup() {
	local dir=$1 port=$2 milter=$3
	[ -n "$dir" ] && [ -n "$port" ] && [ -n "$milter" ] ||
	    { sm_err "usage: sm_setup DIR PORT MILTERSPEC"; return 1; }
	sm_fetch || return 1
	command -v m4 > /dev/null || { sm_err "m4 not installed"; return 1; }
	mkdir -p "$dir" || return 1
	dir=$(cd "$dir" && pwd -P)
	mkdir -p "$dir/queue" || return 1
	chown root:root "$dir" "$dir/queue"
	chmod 755 "$dir"
	chmod 700 "$dir/queue"
	echo "$port" > "$dir/port"
	: > "$dir/maillog"
	printf '127.0.0.1\tlocalhost %s\n' "$SM_HOSTNAME" > "$dir/hosts"
	printf 'hosts\tfiles\naliases\tfiles\n' > "$dir/service.switch"
	: > "$dir/aliases"
	: > "$dir/local-host-names"
	echo 127.0.0.1 > "$dir/relay-domains"	# relaying for the test client
	: > "$dir/statistics"
	chmod 644 "$dir/hosts" "$dir/service.switch" "$dir/aliases" \
	    "$dir/local-host-names" "$dir/relay-domains"
	chmod 600 "$dir/statistics"
	local auth_mc= up
	if [ -n "${SM_AUTH_USERS:-}" ]; then
		mkdir -p "$dir/sasl2" && chmod 755 "$dir/sasl2" || return 1
		printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: %s\nmech_list: PLAIN LOGIN\n' \
		    "$dir/sasl2/sasldb2" > "$dir/sasl2/Sendmail.conf"
		chmod 644 "$dir/sasl2/Sendmail.conf"
		for up in $SM_AUTH_USERS; do
			printf '%s' "${up#*:}" | LD_LIBRARY_PATH=$SM_LIBS "$SM_SASLPASSWD" \
			    -f "$dir/sasl2/sasldb2" -u "$SM_HOSTNAME" -p -c "${up%%:*}" ||
			    { sm_err "saslpasswd2 failed for ${up%%:*}"; return 1; }
		done
		chmod 600 "$dir/sasl2/sasldb2"
		auth_mc="define(\`confAUTH_MECHANISMS', \`PLAIN LOGIN')dnl
TRUST_AUTH_MECH(\`PLAIN LOGIN')dnl
define(\`confAUTH_OPTIONS', \`A')dnl"
	fi
	cat > "$dir/sendmail.mc" <<EOF
divert(-1)
dnl Generated by tests/e2e/sendmail-mta.sh for a mailkeep test.
divert(0)dnl
VERSIONID(\`mailkeep e2e')dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`$SM_HOSTNAME')dnl
define(\`QUEUE_DIR', \`$dir/queue')dnl
define(\`STATUS_FILE', \`$dir/statistics')dnl
define(\`ALIAS_FILE', \`$dir/aliases')dnl
define(\`confPID_FILE', \`$dir/sendmail.pid')dnl
define(\`HELP_FILE', \`$SM_ROOT/etc/mail/helpfile')dnl
define(\`confCW_FILE', \`-o $dir/local-host-names')dnl
define(\`confCR_FILE', \`-o $dir/relay-domains')dnl
define(\`confSERVICE_SWITCH_FILE', \`$dir/service.switch')dnl
define(\`confHOSTS_FILE', \`$dir/hosts')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confDELIVERY_MODE', \`queue')dnl
define(\`confTO_IDENT', \`0s')dnl
define(\`confLOG_LEVEL', \`13')dnl
define(\`confQUEUE_LA', \`1000')dnl
define(\`confREFUSE_LA', \`1000')dnl
define(\`confDELAY_LA', \`0')dnl
define(\`confMAX_DAEMON_CHILDREN', \`0')dnl
define(\`confCONNECTION_RATE_THROTTLE', \`0')dnl
define(\`confBAD_RCPT_THROTTLE', \`0')dnl
define(\`confMAX_HEADERS_LENGTH', \`1048576')dnl
define(\`confMAX_MESSAGE_SIZE', \`0')dnl
define(\`confMIN_FREE_BLOCKS', \`10')dnl
define(\`confPRIVACY_FLAGS', \`authwarnings')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`accept_unqualified_senders')dnl
DAEMON_OPTIONS(\`Family=inet, Addr=127.0.0.1, Port=$port, Name=MTA-test')dnl
${auth_mc}
${SM_MC_EXTRA:-}
MAILER(\`local')dnl
MAILER(\`smtp')dnl
EOF
	# The lines an administrator adds (contrib/), pointed at this milter.
	local snippet=$top_srcdir/contrib/sendmail/mailkeep.mc
	sed "s|S=[a-z]*:[^,]*,|S=$milter,|" "$snippet" >> "$dir/sendmail.mc" || return 1
	grep -q "S=$milter," "$dir/sendmail.mc" ||
	    { sm_err "could not set the socket in $snippet's INPUT_MAIL_FILTER line"; return 1; }
	if ! m4 -D_CF_DIR_="$SM_CF/" "$SM_CF/m4/cf.m4" "$dir/sendmail.mc" \
	    > "$dir/sendmail.cf" 2> "$dir/m4.err" || [ -s "$dir/m4.err" ]; then
		sm_err "m4 failed on $dir/sendmail.mc:"; cat "$dir/m4.err" >&2
		return 1
	fi
	chmod 644 "$dir/sendmail.cf"
}

# sm_syslog_reader - append syslog datagrams arriving on SOCKET to LOG
sm_syslog_reader() {
	"${PYTHON3:-python3}" -c '
import os, socket, sys
path, log = sys.argv[1], os.path.abspath(sys.argv[2])
os.chdir(os.path.dirname(path))    # bind a short relative name: sun_path
path = os.path.basename(path)      # is short; /dev/log links here
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
with open(log, "ab", buffering=0) as f:
    while True:
        d = s.recv(65536)
        f.write(d.rstrip(b"\0\n") + b"\n")
' "$1" "$2" &
}

# sm_start - start the daemon of the instance in DIR, wait until it listens
sm_start() {
	local dir=$1 timeout=${2:-30} port t=0
	port=$(cat "$dir/port") || return 1
	sm_syslog_reader "$dir/log.sock" "$dir/maillog"
	echo $! > "$dir/syslog.pid"
	while [ ! -S "$dir/log.sock" ]; do
		t=$(( t + 1 )); [ "$t" -le 50 ] || { sm_err "syslog reader did not start"; return 1; }
		sleep 0.1
	done
	# In new UTS + mount namespaces: a fully-qualified host name, and a
	# private /dev with /dev/log -> DIR/log.sock.  sendmail -bd forks the
	# daemon and returns.
	if ! LD_LIBRARY_PATH=$SM_LIBS unshare -u -m sh -c '
		set -e
		dir=$1 host=$2; shift 2
		hostname "$host"
		mount --make-rprivate /
		mkdir -p "$dir/.dev"
		mount --rbind /dev "$dir/.dev"
		mount -t tmpfs -o mode=755 mk-dev /dev
		for n in null zero random urandom; do
			touch "/dev/$n"; mount --bind "$dir/.dev/$n" "/dev/$n"
		done
		umount -l "$dir/.dev"
		[ ! -d "$dir/sasl2" ] || mount --bind "$dir/sasl2" /usr/lib/sasl2
		ln -s "$dir/log.sock" /dev/log
		exec "$@"' sm-start "$dir" "$SM_HOSTNAME" "$SM_BIN" -C "$dir/sendmail.cf" -bd ${SM_FLAGS:-} \
		    >> "$dir/start.log" 2>&1; then
		sm_err "sendmail -bd failed:"; cat "$dir/start.log" >&2
		return 1
	fi
	t=0
	while pf_port_free "$port"; do
		t=$(( t + 1 ))
		if [ "$t" -gt $(( timeout * 10 )) ]; then
			sm_err "sendmail not listening on $port after ${timeout}s"
			tail -n 20 "$dir/start.log" "$dir/maillog" >&2
			return 1
		fi
		sleep 0.1
	done
}

# sm_pid - print the pid of a running daemon, or fail
sm_pid() {
	local pid
	pid=$(head -n 1 "$1/sendmail.pid" 2>/dev/null | tr -dc 0-9) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# sm_stop - stop the daemon (and its children) and the syslog reader
sm_stop() {
	local dir=$1 timeout=${2:-20} pid t=0 rpid
	if pid=$(sm_pid "$dir"); then
		kill -TERM "$pid" 2>/dev/null
		while kill -0 "$pid" 2>/dev/null; do
			t=$(( t + 1 ))
			if [ "$t" -gt $(( timeout * 10 )) ]; then
				sm_err "sendmail $pid did not exit; killing it"
				kill -KILL "$pid" 2>/dev/null
				break
			fi
			sleep 0.1
		done
	fi
	# Give the last log lines a moment, then stop the reader.
	if rpid=$(cat "$dir/syslog.pid" 2>/dev/null) && [ -n "$rpid" ]; then
		sleep 0.1
		kill "$rpid" 2>/dev/null
		wait "$rpid" 2>/dev/null
		rm -f "$dir/syslog.pid"
	fi
	return 0
}

# sm_maillog - print the path of the instance's log file
sm_maillog() { echo "$1/maillog"; }

# sm_queue_count - print how many messages are in the instance's queue
sm_queue_count() { find "$1/queue" -name 'qf*' -type f | wc -l; }
