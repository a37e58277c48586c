# tests/e2e/postfix.sh - a throwaway Postfix instance for tests and benchmarks.
#
# SYNOPSIS
#	. tests/e2e/postfix.sh
#
#	port=$(pf_free_port)
#	pf_create DIR PORT [MILTER]	# write config + queue under DIR (absolute)
#	pf_set_milter DIR MILTER	# smtpd_milters + non_smtpd_milters ("" = none)
#	pf_postconf DIR name=value...	# any other main.cf change
#	pf_start DIR [TIMEOUT]		# start, wait until smtpd listens
#	pf_stop DIR [TIMEOUT]		# stop, wait until master has exited
#	pf_restart DIR			# stop + start (a reload does not reach
#					# running smtpd processes' milter list)
#	pf_keep_deliveries DIR OUTDIR	# deliver to files in OUTDIR, not discard
#	pf_wait_drained DIR [TIMEOUT]	# wait until the queue is empty
#	pf_queue_count DIR		# print the number of queued messages
#	pf_sendmail DIR [ARGS...] <msg	# Postfix sendmail(1) for this instance
#	pf_maillog DIR			# print the path of the instance's maillog
#	pf_queue_id_of DIR MESSAGE-ID	# print the queue id cleanup logged for it
#	pf_dir_fits DIR			# true when DIR is short enough (see below)
#	pf_milter_spec SOCKETSPEC	# libmilter "inet:PORT@HOST"/"unix:PATH"
#					# -> Postfix "inet:HOST:PORT"/"unix:PATH"
#	pf_port_free PORT		# true when nothing listens on 127.0.0.1:PORT
#	pf_wait_port PORT [TIMEOUT]	# wait until 127.0.0.1:PORT accepts
#
# DESCRIPTION
#	Everything an instance owns lives under DIR:
#	  DIR/etc/	config_directory (main.cf, master.cf)
#	  DIR/queue/	queue_directory (root-owned, as Postfix requires)
#	  DIR/data/	data_directory (owned by the mail_owner)
#	  DIR/maillog	maillog_file (no syslog is assumed)
#	The smtpd listens on 127.0.0.1:PORT only, IPv4 only; mynetworks is
#	127.0.0.0/8; nothing is local (mydestination is empty) and every
#	transport is discard(8), so no mail ever leaves the machine.  Headers
#	are never rewritten for SMTP clients (local_header_rewrite_clients is
#	empty) and no header is dropped (message_drop_headers is empty; by
#	default Postfix drops Bcc:, Content-Length:, Resent-Bcc: and
#	Return-Path:), so a milter sees what the client sent plus Postfix's
#	Received: header.  message_size_limit is 512 MB.  Milters:
#	milter_protocol = 6, milter_default_action = tempfail.  The instance
#	is tuned for tests: no in_flow_delay, no error sleeps.
#
#	pf_keep_deliveries (call after pf_create, before pf_start) replaces
#	discard(8) by a pipe(8) transport "keep" that writes each delivered
#	copy, as Postfix delivers it (milter-added headers included), to
#	OUTDIR/QUEUEID.RECIPIENT.N, one file per recipient.  It runs as
#	nobody; OUTDIR is made world-writable (mode 1777).
#
#	DIR must be short: Postfix's commands (postfix check, postfix start,
#	sendmail) log through maillog_file's postlog socket, which they reach
#	by its absolute path DIR/queue/public/postlog, and that must fit in
#	sun_path (107 bytes and a NUL); with a longer DIR "postfix check"
#	dies with "unix-domain name too long" (said on a tty only).  pf_create
#	refuses such a DIR; pf_dir_fits tells beforehand.
#
#	Functions take DIR as an absolute path (postfix -c silently fails
#	otherwise; pf_create makes DIR absolute itself).  They need root
#	(Postfix's master must start as root).  The function names above are
#	a stable interface: bench/run.sh sources this file too.
#
# DIAGNOSTICS
#	Functions return non-zero and print a line on stderr on failure.

PF_POSTFIX=${POSTFIX:-$(command -v postfix 2>/dev/null || echo /usr/sbin/postfix)}
PF_SBIN=$(dirname "$PF_POSTFIX")
PF_POSTCONF="$PF_SBIN/postconf"
PF_SENDMAIL="$PF_SBIN/sendmail"

# pf_err - print a diagnostic on stderr
pf_err() { echo "postfix.sh: $*" >&2; }

# pf_abs - print a directory's absolute path
pf_abs() { (cd "$1" && pwd -P); }

# pf_port_free - true when nothing listens on 127.0.0.1:PORT
pf_port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pf_free_port - print a TCP port on 127.0.0.1 that nothing uses now
#	Starts from a point derived from the PID (and an optional offset
#	argument) so parallel tests rarely collide, then probes.
pf_free_port() {
	local off=${1:-0} p i
	p=$(( 20000 + ( ($$ * 7 + off * 131 + RANDOM) % 30000 ) ))
	for i in $(seq 1 200); do
		if pf_port_free "$p"; then
			if [ -n "${PYTHON3:-}" ] || command -v python3 >/dev/null; then
				# also make sure we can bind it (TIME_WAIT etc.)
				if "${PYTHON3:-python3}" -c '
import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$p" 2>/dev/null; then
					echo "$p"; return 0
				fi
			else
				echo "$p"; return 0
			fi
		fi
		p=$(( p + 1 )); [ "$p" -lt 50000 ] || p=20000
	done
	pf_err "no free port found"; return 1
}

# pf_wait_port - wait until 127.0.0.1:PORT accepts connections
pf_wait_port() {
	local port=$1 timeout=${2:-20} t=0
	while pf_port_free "$port"; do
		t=$(( t + 1 ))
		[ "$t" -le $(( timeout * 10 )) ] || { pf_err "port $port not listening after ${timeout}s"; return 1; }
		sleep 0.1
	done
}

# pf_milter_spec - convert a libmilter socket spec into Postfix's syntax
pf_milter_spec() {
	case "$1" in
	"") echo "";;
	inet:*@*) local s=${1#inet:}; echo "inet:${s#*@}:${s%@*}";;
	local:*) echo "unix:${1#local:}";;
	*) echo "$1";;
	esac
}

# pf_dir_fits - true when DIR/queue/public/postlog fits in sun_path
pf_dir_fits() {
	local sock=$1/queue/public/postlog
	[ ${#sock} -le 107 ]
}

# pf_postconf - change main.cf parameters of the instance in DIR
pf_postconf() {
	local dir=$1; shift
	"$PF_POSTCONF" -c "$dir/etc" -e "$@"
}

# pf_set_milter - point smtpd_milters and non_smtpd_milters at MILTER
#	MILTER is in Postfix syntax (inet:127.0.0.1:PORT or unix:/path) or
#	in libmilter syntax (converted); "" removes the milter.
pf_set_milter() {
	local dir=$1 m
	m=$(pf_milter_spec "${2:-}")
	pf_postconf "$dir" "smtpd_milters = $m" "non_smtpd_milters = $m"
}

# pf_create - write a fresh instance under DIR listening on PORT
pf_create() {
	local dir=$1 port=$2 milter=${3:-} owner
	[ -n "$dir" ] && [ -n "$port" ] || { pf_err "usage: pf_create DIR PORT [MILTER]"; return 1; }
	mkdir -p "$dir" || return 1
	dir=$(pf_abs "$dir")
	pf_dir_fits "$dir" || {
		pf_err "$dir is too deep: $dir/queue/public/postlog, Postfix's log socket, is longer than sun_path allows (107 bytes)"
		return 1
	}
	owner=$("$PF_POSTCONF" -dh mail_owner 2>/dev/null || echo postfix)
	mkdir -p "$dir/etc" "$dir/queue" "$dir/data" || return 1
	chmod 755 "$dir" "$dir/etc" "$dir/queue"
	chown root:root "$dir/queue" "$dir/etc"
	chown "$owner" "$dir/data"; chmod 700 "$dir/data"
	: > "$dir/maillog"
	# master.cf: the system's (or the packaged default), chroot off,
	# smtpd only on 127.0.0.1:PORT.
	local mcf
	for mcf in /etc/postfix/master.cf /etc/postfix/master.cf.proto \
	    /usr/share/postfix/master.cf.dist; do
		[ -f "$mcf" ] && break
	done
	[ -f "$mcf" ] || { pf_err "no master.cf template found"; return 1; }
	cp "$mcf" "$dir/etc/master.cf"
	# main.cf: Postfix's built-in defaults plus what a sandbox needs.
	: > "$dir/etc/main.cf"
	"$PF_POSTCONF" -c "$dir/etc" -MX smtp/inet 2>/dev/null
	"$PF_POSTCONF" -c "$dir/etc" -MX submission/inet smtps/inet 2>/dev/null
	"$PF_POSTCONF" -c "$dir/etc" -M \
	    "127.0.0.1:$port/inet = 127.0.0.1:$port inet n - n - - smtpd" || return 1
	"$PF_POSTCONF" -c "$dir/etc" -F '*/*/chroot = n' || return 1
	pf_postconf "$dir" \
	    "compatibility_level = 3.7" \
	    "config_directory = $dir/etc" \
	    "queue_directory = $dir/queue" \
	    "data_directory = $dir/data" \
	    "maillog_file = $dir/maillog" \
	    "maillog_file_prefixes = $dir" \
	    "myhostname = mailkeep-test.localdomain" \
	    "mydomain = localdomain" \
	    "myorigin = \$myhostname" \
	    "inet_interfaces = 127.0.0.1" \
	    "inet_protocols = ipv4" \
	    "mynetworks = 127.0.0.0/8" \
	    "mydestination =" \
	    "relay_domains =" \
	    "local_recipient_maps =" \
	    "alias_maps =" \
	    "alias_database =" \
	    "default_transport = discard" \
	    "local_transport = discard" \
	    "relay_transport = discard" \
	    "virtual_transport = discard" \
	    "smtpd_relay_restrictions = permit_mynetworks, reject" \
	    "smtpd_recipient_restrictions = permit_mynetworks, reject" \
	    "local_header_rewrite_clients =" \
	    "message_drop_headers =" \
	    "message_size_limit = 536870912" \
	    "mailbox_size_limit = 0" \
	    "virtual_mailbox_limit = 0" \
	    "smtpd_recipient_limit = 2000" \
	    "in_flow_delay = 0" \
	    "smtpd_error_sleep_time = 0" \
	    "smtpd_soft_error_limit = 1000" \
	    "smtpd_hard_error_limit = 1000" \
	    "smtpd_client_connection_count_limit = 0" \
	    "default_process_limit = 100" \
	    "biff = no" \
	    "milter_protocol = 6" \
	    "milter_default_action = tempfail" \
	    "milter_connect_timeout = 10s" \
	    "milter_command_timeout = 30s" \
	    "milter_content_timeout = 300s" \
	    "smtpd_milters =" \
	    "non_smtpd_milters =" || return 1
	[ -z "$milter" ] || pf_set_milter "$dir" "$milter" || return 1
	echo "$port" > "$dir/port"
	# Check once (this also creates the queue's subdirectories), so that
	# pf_start can skip postfix-script's slow integrity checks.
	if ! "$PF_POSTFIX" -c "$dir/etc" check >>"$dir/start.log" 2>&1; then
		pf_err "postfix check failed:"; cat "$dir/start.log" >&2
		return 1
	fi
}

# pf_master_pid - print the pid of a running master, or fail
pf_master_pid() {
	local pid
	pid=$(tr -dc 0-9 < "$1/queue/pid/master.pid" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# pf_start - start the instance in DIR; wait until its smtpd port accepts
pf_start() {
	local dir=$1 timeout=${2:-30} port
	port=$(cat "$dir/port") || return 1
	# postfix-script skips its integrity checks (seconds) once when this
	# file exists; pf_create has run "postfix check" already.
	touch "$dir/queue/quick-start"
	if ! "$PF_POSTFIX" -c "$dir/etc" start >>"$dir/start.log" 2>&1; then
		pf_err "postfix -c $dir/etc start failed:"; cat "$dir/start.log" >&2
		tail -n 20 "$dir/maillog" >&2
		return 1
	fi
	pf_wait_port "$port" "$timeout" || { tail -n 20 "$dir/maillog" >&2; return 1; }
}

# pf_stop - stop the instance in DIR (if running); wait for master to exit
pf_stop() {
	local dir=$1 timeout=${2:-20} pid t=0
	pid=$(pf_master_pid "$dir") || return 0
	"$PF_POSTFIX" -c "$dir/etc" stop >>"$dir/start.log" 2>&1 || kill "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null; do
		t=$(( t + 1 ))
		if [ "$t" -gt $(( timeout * 10 )) ]; then
			pf_err "master $pid did not exit; aborting it"
			"$PF_POSTFIX" -c "$dir/etc" abort >/dev/null 2>&1 || kill -9 "$pid"
			sleep 0.5
			return 1
		fi
		sleep 0.1
	done
}

# pf_restart - stop then start (needed after changing milter settings)
pf_restart() { pf_stop "$1" && pf_start "$1"; }

# pf_keep_deliveries - deliver every message to files in OUTDIR
pf_keep_deliveries() {
	local dir=$1 out=$2
	[ -n "$dir" ] && [ -n "$out" ] || { pf_err "usage: pf_keep_deliveries DIR OUTDIR"; return 1; }
	mkdir -p "$out" && chmod 1777 "$out" || return 1
	out=$(pf_abs "$out")
	cat > "$dir/keep.sh" <<'SH' || return 1
#!/bin/sh
# keep.sh OUTDIR QUEUEID RECIPIENT - one delivered copy (stdin) to a file
umask 022
f="$1/$2.$(printf '%s' "$3" | tr -c 'A-Za-z0-9@._-' _)"
n=0; while [ -e "$f.$n" ]; do n=$((n + 1)); done
cat > "$f.$n.tmp" && mv "$f.$n.tmp" "$f.$n"
SH
	chmod 755 "$dir/keep.sh"
	"$PF_POSTCONF" -c "$dir/etc" -M \
	    "keep/unix = keep unix - n n - - pipe user=nobody argv=$dir/keep.sh $out \${queue_id} \${recipient}" || return 1
	pf_postconf "$dir" "keep_destination_recipient_limit = 1" \
	    "default_transport = keep" "relay_transport = keep" \
	    "local_transport = keep" "virtual_transport = keep"
}

# pf_queue_count - print how many messages are in the instance's queue
pf_queue_count() {
	local q=$1/queue d n=0
	for d in maildrop incoming active deferred hold; do
		[ -d "$q/$d" ] || continue
		n=$(( n + $(find "$q/$d" -type f | wc -l) ))
	done
	echo "$n"
}

# pf_wait_drained - wait until the queue is empty (TIMEOUT seconds)
pf_wait_drained() {
	local dir=$1 timeout=${2:-60} t=0
	while [ "$(pf_queue_count "$dir")" -ne 0 ]; do
		t=$(( t + 1 ))
		if [ "$t" -gt $(( timeout * 10 )) ]; then
			pf_err "queue not empty after ${timeout}s"
			return 1
		fi
		sleep 0.1
	done
}

# pf_sendmail - submit a message (stdin) with the instance's sendmail(1)
pf_sendmail() {
	local dir=$1; shift
	MAIL_CONFIG="$dir/etc" "$PF_SENDMAIL" -C "$dir/etc" "$@"
}

# pf_maillog - print the path of the instance's log file
pf_maillog() { echo "$1/maillog"; }

# pf_queue_id_of - print the queue id that cleanup logged for a Message-ID
#	MESSAGE-ID with or without angle brackets.
pf_queue_id_of() {
	local dir=$1 mid=${2#<}
	mid=${mid%>}
	grep -F "message-id=<$mid>" "$dir/maillog" |
	    sed -n 's/.*postfix[^:]*\/cleanup\[[0-9]*\]: \([0-9A-Za-z]*\): message-id=.*/\1/p' |
	    tail -n 1
}
