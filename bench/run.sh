#!/bin/bash
# run.sh - mailkeep throughput benchmark: Postfix + smtp-source, several ways.
#
# NAME
#	bench/run.sh - messages/second through Postfix without a milter, with
#	the no-op milter (bench/noop-milter) and with mailkeep-milter (content
#	compressed and encrypted, or stored plain)
#
# SYNOPSIS
#	bench/run.sh                      (as root, from a built tree)
#	BENCH_MESSAGES=5000 BENCH_SESSIONS=20 BENCH_SIZES="10240 102400" \
#	BENCH_SOCKET=unix|inet BENCH_RUNS=3 bench/run.sh
#
# DESCRIPTION
#	Starts a throwaway Postfix on 127.0.0.1 with tests/e2e/postfix.sh (own
#	config, queue and data directories under a temporary directory, chroot
#	off, every message delivered to the discard transport, log in
#	maillog_file).  Its master.cf gets one smtpd service, on its own port,
#	for each configuration measured, so the same running Postfix serves
#	all of them and no restart is needed between runs:
#
#	  none      no milter                                  (a)
#	  noop      bench/noop-milter                          (b)
#	  noop-nr   bench/noop-milter -n (SMFIP_NR_* no-reply flags negotiated)
#	  mailkeep  mailkeep-milter, full-archive mode, durable (c)
#	  mailkeep-plain
#	            a second mailkeep-milter with its own archive whose
#	            mailkeep.conf says "encrypt = no" and "compression = 0":
#	            content stored as it came; records are still sealed and
#	            signed (no key turns that off).  Against mailkeep it gives
#	            the end-to-end cost of compression + encryption.
#
#	mailkeep runs with the defaults of mailkeep.conf(5) (compression = zstd:1,
#	encrypt = yes).
#
#	All milters listen on the same socket type (BENCH_SOCKET: unix, the
#	default, or inet) and stay running for the whole benchmark.  For each
#	message size, the configurations are run BENCH_RUNS times interleaved
#	(a, b, c, a, b, c, ...); each run is one smtp-source invocation with
#	BENCH_SESSIONS parallel sessions sending BENCH_MESSAGES messages (one
#	message per SMTP connection, smtp-source's default).
#
#	The messages are smtp-source's own (BENCH_BODY=x, the default): a few
#	headers and lines of "X", which zlib shrinks 30- to 100-fold at
#	almost no cost, so they flatter compression.  BENCH_BODY=text sends
#	instead, with smtp-source -F, a text/plain message of each size made
#	of English-like text (the words of /usr/share/common-licenses, drawn
#	with a Zipf-like skew by a fixed-seed generator, 72-column lines, as
#	bench/store-bench.sh does; zlib level 1 keeps 0.44-0.51 of it).
#	The copies' bodies are alike, but not their content as the milter
#	sees it: Postfix gives the milter its own Received: header, which
#	names the message's queue id, so no message is deduplicated: each is
#	spooled, compressed, encrypted and copied into its content segment
#	in full.
#
#	Two rates are reported for each run:
#	  accept  messages accepted / time from smtp-source's first connection
#	          until it returns (after the last 250 from smtpd);
#	  drain   messages accepted / time until the Postfix queue is empty.
#	"Accepted" is counted from Postfix's log (qmgr "queue active" lines),
#	so a message the milter tempfailed does not count.
#
#	Finally each milter is restarted and one message of BENCH_BIG_SIZE
#	bytes (default 100 MiB) is sent through it; its peak RSS (VmHWM in
#	/proc/PID/status) is printed (the no-op milter's for reference).
#
#	Ratios of the medians close the table: mailkeep/noop and noop/none
#	(accept/s), and, with both mailkeep configurations, the time a message
#	takes with mailkeep over that with mailkeep-plain (accept, drain, and
#	the milter's CPU time).
#
#	Figures go to stdout (a table at the end) and to $BENCH_DIR/results.tsv.
#	This script prints figures; it never passes or fails on them.
#
# ENVIRONMENT
#	BENCH_MESSAGES   messages per run (5000)
#	BENCH_SESSIONS   parallel SMTP sessions (20)
#	BENCH_SIZES      message sizes in bytes ("10240 102400")
#	BENCH_RUNS       repetitions of each configuration (3)
#	BENCH_SOCKET     milter socket type: unix or inet (unix)
#	BENCH_CONFIGS    configurations, in run order ("none noop mailkeep");
#	                 any of none noop noop-nr mailkeep mailkeep-plain
#	BENCH_BODY       x (smtp-source's body) or text (English-like text) (x)
#	BENCH_BIG_SIZE   size of the RSS-test message, 0 to skip (104857600)
#	BENCH_DIR        work directory (a new mktemp -d under $TMPDIR or /tmp);
#	                 kept afterwards when BENCH_KEEP=1 or when set by you
#	NOOP_MILTER, MAILKEEP_MILTER, MAILKEEP   programs (default: this tree;
#	                 bench/noop-milter is compiled into BENCH_DIR if absent);
#	                 both mailkeep configurations use the same programs
#	SMTP_SOURCE      smtp-source program (/usr/sbin/smtp-source)
#
# DIAGNOSTICS
#	Exit status 0 when every run completed, non-zero with a message on
#	stderr when set-up failed (Postfix or a milter did not start).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
BENCH_MESSAGES=${BENCH_MESSAGES:-5000}
BENCH_SESSIONS=${BENCH_SESSIONS:-20}
BENCH_SIZES=${BENCH_SIZES:-"10240 102400"}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_SOCKET=${BENCH_SOCKET:-unix}
BENCH_CONFIGS=${BENCH_CONFIGS:-"none noop mailkeep"}
BENCH_BODY=${BENCH_BODY:-x}
BENCH_BIG_SIZE=${BENCH_BIG_SIZE:-104857600}
NOOP_MILTER=${NOOP_MILTER:-$top/bench/noop-milter}
MAILKEEP_MILTER=${MAILKEEP_MILTER:-$top/milter/mailkeep-milter}
MAILKEEP=${MAILKEEP:-$top/cli/mailkeep}
SMTP_SOURCE=${SMTP_SOURCE:-/usr/sbin/smtp-source}
POSTFIX=${POSTFIX:-/usr/sbin/postfix}

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

case $BENCH_SOCKET in unix|inet) ;; *) die "BENCH_SOCKET must be unix or inet";; esac
case $BENCH_BODY in x|text) ;; *) die "BENCH_BODY must be x or text";; esac
[ "$(id -u)" = 0 ] || die "run as root (Postfix needs it)"
[ -x "$SMTP_SOURCE" ] || die "$SMTP_SOURCE not found (apt-get install postfix)"
for c in $BENCH_CONFIGS; do
	case $c in
	none|noop|noop-nr) ;;
	mailkeep|mailkeep-plain)
		[ -x "$MAILKEEP_MILTER" ] || die "$MAILKEEP_MILTER not built (make), or set BENCH_CONFIGS without $c"
		[ -x "$MAILKEEP" ] || die "$MAILKEEP not built (make)";;
	*) die "unknown configuration $c (none noop noop-nr mailkeep mailkeep-plain)";;
	esac
done

if [ -n "${BENCH_DIR:-}" ]; then
	mkdir -p "$BENCH_DIR"
	BENCH_KEEP=1
else
	BENCH_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mailkeep-bench.XXXXXX")
fi
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
chmod 755 "$BENCH_DIR"		# smtpd (user postfix) reaches the sockets
D=$BENCH_DIR
pids=()				# milters we started

# cleanup - stop Postfix and our milters; remove the work directory
cleanup() {
	set +e
	[ -f "$D/postfix/port" ] && pf_stop "$D/postfix"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		note "work directory kept: $D"
	else
		rm -rf "$D"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# next_port - print a free TCP port on 127.0.0.1 not handed out before
next_port() {
	local p n=0
	while :; do
		p=$(pf_free_port "$n") || die "no free port"
		[[ " ${used_ports:-} " == *" $p "* ]] || break
		n=$((n + 1))
	done
	used_ports="${used_ports:-} $p"
	echo "$p"
}

# now - seconds since the epoch, with nanoseconds
now() { date +%s.%N; }

# ---------------------------------------------------------------- Postfix
#
# The throwaway Postfix comes from tests/e2e/postfix.sh (shared with the
# end-to-end tests): pf_create writes an instance whose smtpd listens on one
# port without a milter; bench_services below adds one smtpd service a
# milter configuration, each with its own smtpd_milters, so one running
# Postfix serves every configuration and no restart falls between runs.

PF_LIB=$top/tests/e2e/postfix.sh
[ -f "$PF_LIB" ] || die "$PF_LIB not found"
# shellcheck source=tests/e2e/postfix.sh
. "$PF_LIB"

# bench_postfix DIR - create the instance: port sport[none] plus a service
#	a milter configuration, with the benchmark's limits
bench_postfix() {
	local dir=$1 c
	pf_create "$dir" "${sport[none]}" || die "pf_create failed"
	pf_postconf "$dir" \
	    "default_process_limit = 200" \
	    "smtpd_client_connection_count_limit = 0" \
	    "smtpd_client_connection_rate_limit = 0" \
	    "smtpd_client_message_rate_limit = 0" \
	    "smtpd_client_recipient_rate_limit = 0" \
	    "smtpd_client_new_tls_session_rate_limit = 0" \
	    "smtpd_client_auth_rate_limit = 0" \
	    "in_flow_delay = 0" \
	    "message_size_limit = 1073741824" \
	    "milter_protocol = 6" \
	    "milter_default_action = tempfail" || die "postconf failed"
	for c in $BENCH_CONFIGS; do
		[ "$c" = none ] && continue
		"$PF_POSTCONF" -c "$dir/etc" -M "127.0.0.1:${sport[$c]}/inet = 127.0.0.1:${sport[$c]} inet n - n - - smtpd -o smtpd_milters=${pspec[$c]}" ||
			die "postconf -M failed"
	done
}

# queue_empty_wait - wait until the instance's queue is empty (600 s at most)
queue_empty_wait() {
	local i=0
	while [ "$(pf_queue_count "$D/postfix")" -gt 0 ]; do
		i=$((i + 1))
		[ $i -lt 12000 ] || { note "queue not empty after 600 s"; return 1; }
		sleep 0.05
	done
}

# ---------------------------------------------------------------- milters

# wait_listen SPEC PID - wait until a milter's socket accepts connections
wait_listen() {
	local spec=$1 pid=$2 i
	for i in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || die "milter for $spec exited at start"
		case $spec in
		unix:*) [ -S "${spec#unix:}" ] && return 0;;
		inet:*) local p=${spec#inet:}; p=${p%@*}
			ss -Htln "sport = :$p" | grep -q . && return 0;;
		esac
		sleep 0.05
	done
	die "milter for $spec not listening after 10 s"
}

# start_milter NAME - start the milter for configuration NAME; set mpid[NAME]
start_milter() {
	local name=$1 spec=${lspec[$1]} pid
	case $name in
	noop)    (umask 0; exec "$NOOP_MILTER" -p "$spec") 2>>"$D/$name.log" & pid=$!;;
	noop-nr) (umask 0; exec "$NOOP_MILTER" -n -p "$spec") 2>>"$D/$name.log" & pid=$!;;
	mailkeep|mailkeep-plain)
		(umask 0; exec "$MAILKEEP_MILTER" -c "$D/$name.conf" -f -p "$spec") \
		    2>>"$D/$name.log" & pid=$!;;
	esac
	pids+=("$pid")
	mpid[$name]=$pid
	wait_listen "$spec" "$pid"
	[ "$BENCH_SOCKET" = unix ] && chmod 666 "${spec#unix:}"
	return 0
}

# stop_milter NAME - SIGTERM it and wait (libmilter takes a few seconds)
stop_milter() {
	local pid=${mpid[$1]}
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# cputicks PID - user + system CPU time of a process (all threads), in ticks
cputicks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)

# vmhwm PID - peak resident set size in KiB
vmhwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# ---------------------------------------------------------------- set-up

if [ ! -x "$NOOP_MILTER" ]; then
	note "$NOOP_MILTER not built; compiling it into $D"
	${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -pthread \
	    "$top/bench/noop-milter.c" -lmilter -o "$D/noop-milter" ||
		die "cannot compile bench/noop-milter.c (libmilter-dev installed?)"
	NOOP_MILTER=$D/noop-milter
fi

# Ports and sockets: sport[C] is the smtpd port for configuration C,
# lspec[C]/pspec[C] its milter socket in libmilter/Postfix syntax.
mkdir -p "$D/sock"
chmod 777 "$D/sock"
declare -A mpid sport lspec pspec
sport[none]=$(next_port)
for c in $BENCH_CONFIGS; do
	[ "$c" = none ] && continue
	sport[$c]=$(next_port)
	if [ "$BENCH_SOCKET" = unix ]; then
		lspec[$c]=unix:$D/sock/$c.sock
	else
		lspec[$c]=inet:$(next_port)@127.0.0.1
	fi
	pspec[$c]=$(pf_milter_spec "${lspec[$c]}")
done

# mailkeep_setup NAME ARCHIVE [LINE ...] - write $D/NAME.conf for a mailkeep
#	configuration (full archive, default policy, plus the lines given)
#	and initialise its archive
mailkeep_setup() {
	local name=$1 archive=$2 line
	shift 2
	mkdir -p "$archive"
	{
		echo "# $name.conf written by bench/run.sh: full archive, default policy"
		echo "socket = ${lspec[$name]}"
		echo "archive = $archive"
		echo "socket_mode = 0666"
		for line in "$@"; do echo "$line"; done
	} > "$D/$name.conf"
	"$MAILKEEP" -c "$D/$name.conf" init > "$D/$name-init.log" 2>&1 ||
		{ cat "$D/$name-init.log" >&2; die "mailkeep init failed ($name)"; }
}

for c in $BENCH_CONFIGS; do
	case $c in
	mailkeep)       mailkeep_setup "$c" "$D/archive";;
	mailkeep-plain) mailkeep_setup "$c" "$D/archive-plain" "encrypt = no" "compression = 0";;
	esac
done

# gen_text SIZE FILE - a generated text message (bench/gen-text.sh)
gen_text() {
	bash "$top"/bench/gen-text.sh "$1" "$2" "$D"
}

if [ "$BENCH_BODY" = text ]; then
	for size in $BENCH_SIZES; do
		gen_text "$size" "$D/text-$size.eml"
	done
fi

bench_postfix "$D/postfix"
pf_start "$D/postfix" || die "Postfix did not start"
for c in $BENCH_CONFIGS; do
	[ "$c" = none ] || start_milter "$c"
done

# ---------------------------------------------------------------- machine

{
	echo "date:      $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine:   $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)),"\
	     "$(free -h | awk '/^Mem:/ { print $2 }') RAM, kernel $(uname -r)"
	echo "disk:      $(df -T "$D" | awk 'NR == 2 { print $2 " on " $1 }') (work dir $D)"
	echo "postfix:   $("$PF_POSTCONF" -h -d mail_version 2>/dev/null), libmilter $(dpkg-query -W -f '${Version}' libmilter1.0.1 2>/dev/null || echo '?')"
	echo "settings:  messages=$BENCH_MESSAGES sessions=$BENCH_SESSIONS sizes=\"$BENCH_SIZES\" runs=$BENCH_RUNS socket=$BENCH_SOCKET body=$BENCH_BODY configs=\"$BENCH_CONFIGS\""
} | tee "$D/machine.txt"

# ---------------------------------------------------------------- runs

# accepted_since LINE - qmgr "queue active" lines after log line LINE
accepted_since() {
	tail -n +"$(($1 + 1))" "$(pf_maillog "$D/postfix")" | grep -c 'qmgr.*(queue active)' || true
}

# one_run CONFIG SIZE REP - one smtp-source run; append a line to results.tsv
one_run() {
	local c=$1 size=$2 rep=$3 before t0 t1 t2 acc prev i rc=0 cpu0=0 cpu1=0 load
	local what=(-l "$size")		# smtp-source's message
	[ "$BENCH_BODY" = text ] && what=(-F "$D/text-$size.eml")
	queue_empty_wait
	sync
	before=$(wc -l < "$(pf_maillog "$D/postfix")")
	load=$(cut -d' ' -f1 /proc/loadavg)
	[ "$c" = none ] || cpu0=$(cputicks "${mpid[$c]}")
	t0=$(now)
	"$SMTP_SOURCE" -s "$BENCH_SESSIONS" -m "$BENCH_MESSAGES" "${what[@]}" \
	    -f bench@sender.test -t sink@rcpt.test \
	    "127.0.0.1:${sport[$c]}" > "$D/smtp-source.out" 2>&1 || rc=$?
	t1=$(now)
	queue_empty_wait
	t2=$(now)
	[ "$c" = none ] || cpu1=$(cputicks "${mpid[$c]}")
	# postlogd writes asynchronously: wait until the count settles.
	acc=$(accepted_since "$before"); prev=-1; i=0
	while [ "$acc" != "$prev" ] && [ $i -lt 50 ]; do
		prev=$acc; sleep 0.2; acc=$(accepted_since "$before"); i=$((i + 1))
	done
	[ "$rc" = 0 ] || note "smtp-source exited $rc: $(tail -n 3 "$D/smtp-source.out" | tr '\n' ' ')"
	[ "$acc" = "$BENCH_MESSAGES" ] || note "$c: only $acc of $BENCH_MESSAGES messages accepted"
	awk -v c="$c" -v s="$size" -v r="$rep" -v n="$acc" -v t0="$t0" -v t1="$t1" -v t2="$t2" \
	    -v cpu=$((cpu1 - cpu0)) -v hz="$HZ" -v load="$load" 'BEGIN {
		printf "%s\t%s\t%s\t%d\t%.3f\t%.3f\t%.1f\t%.1f\t%.3f\t%s\n", s, c, r, n,
		    t1 - t0, t2 - t0, n / (t1 - t0), n / (t2 - t0),
		    (n > 0 ? cpu * 1000 / hz / n : 0), load }' | tee -a "$D/results.tsv" |
	awk -F'\t' '{ printf "  size %-7s %-14s run %s: %5d msgs %7.2f s %7.1f msg/s (drained %7.2f s, %7.1f msg/s) milter CPU %.2f ms/msg, load %s\n",
		$1, $2, $3, $4, $5, $7, $6, $8, $9, $10 }'
}

: > "$D/results.tsv"
for size in $BENCH_SIZES; do
	for rep in $(seq 1 "$BENCH_RUNS"); do
		for c in $BENCH_CONFIGS; do
			one_run "$c" "$size" "$rep"
		done
	done
done

# Peak RSS during the throughput runs (VmHWM never goes down).
declare -A hwm_runs
for c in $BENCH_CONFIGS; do
	[ "$c" = none ] || hwm_runs[$c]=$(vmhwm "${mpid[$c]}")
done

# ---------------------------------------------------------------- big message

declare -A hwm_base hwm_big
if [ "$BENCH_BIG_SIZE" -gt 0 ]; then
	for c in $BENCH_CONFIGS; do
		[ "$c" = none ] && continue
		stop_milter "$c"
		[ "$BENCH_SOCKET" = inet ] && sleep 1	# libmilter re-binds the port
		start_milter "$c"
		hwm_base[$c]=$(vmhwm "${mpid[$c]}")
		queue_empty_wait
		before=$(wc -l < "$(pf_maillog "$D/postfix")")
		"$SMTP_SOURCE" -s 1 -m 1 -l "$BENCH_BIG_SIZE" -f bench@sender.test \
		    -t sink@rcpt.test "127.0.0.1:${sport[$c]}" > "$D/smtp-source.out" 2>&1 ||
			note "big message to $c: smtp-source failed: $(tail -n 2 "$D/smtp-source.out")"
		queue_empty_wait
		sleep 0.5
		hwm_big[$c]=$(vmhwm "${mpid[$c]}")
		[ "$(accepted_since "$before")" = 1 ] || note "big message to $c was not accepted"
	done
fi

# ---------------------------------------------------------------- table

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med() {	# med SIZE CONFIG FIELD
	awk -F'\t' -v s="$1" -v c="$2" -v f="$3" '$1 == s && $2 == c { print $f }' "$D/results.tsv" | median
}
has() { [[ " $BENCH_CONFIGS " == *" $1 "* ]]; }

echo
echo "== mailkeep benchmark: medians of $BENCH_RUNS runs, $BENCH_MESSAGES messages, $BENCH_SESSIONS sessions, $BENCH_SOCKET socket, body $BENCH_BODY =="
printf "%-8s %-14s %10s %10s %12s   %s\n" size config "accept/s" "drain/s" "CPU ms/msg" "runs (accept msg/s)"
for size in $BENCH_SIZES; do
	for c in $BENCH_CONFIGS; do
		runs=$(awk -F'\t' -v s="$size" -v c="$c" '$1 == s && $2 == c { printf "%s ", $7 }' "$D/results.tsv")
		printf "%-8s %-14s %10.1f %10.1f %12.2f   %s\n" "$size" "$c" "$(med "$size" "$c" 7)" "$(med "$size" "$c" 8)" "$(med "$size" "$c" 9)" "$runs"
	done
done
echo
for size in $BENCH_SIZES; do
	ratio() { awk -v a="$(med "$size" "$1" 7)" -v b="$(med "$size" "$2" 7)" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
	out="size $size:"
	has mailkeep && has noop && out+="  mailkeep/noop = $(ratio mailkeep noop) (target >= 0.85)"
	has noop && has none && out+="  noop/none = $(ratio noop none)"
	has noop-nr && has noop && out+="  noop-nr/noop = $(ratio noop-nr noop)"
	[ "$out" = "size $size:" ] || echo "$out"
	if has mailkeep && has mailkeep-plain; then
		# time a message = 1 / rate; the CPU figure is per message already
		awk -v s="$size" \
		    -v pa="$(med "$size" mailkeep-plain 7)" -v ka="$(med "$size" mailkeep 7)" \
		    -v pd="$(med "$size" mailkeep-plain 8)" -v kd="$(med "$size" mailkeep 8)" \
		    -v pc="$(med "$size" mailkeep-plain 9)" -v kc="$(med "$size" mailkeep 9)" '
		    function r(x, y) { return y > 0 ? x / y : 0 }
		    BEGIN { printf "size %s:  time a message, mailkeep / mailkeep-plain = %.2f accept, %.2f drain; milter CPU %.2f (target < 1.20)\n",
			s, r(pa, ka), r(pd, kd), r(kc, pc) }'
	fi
done
if [ "$BENCH_BIG_SIZE" -gt 0 ]; then
	echo
	for c in $BENCH_CONFIGS; do
		[ "$c" = none ] && continue
		awk -v c="$c" -v b="${hwm_base[$c]}" -v h="${hwm_big[$c]}" -v r="${hwm_runs[$c]}" -v s="$BENCH_BIG_SIZE" 'BEGIN {
			printf "peak RSS %-14s %.1f MiB after a %.0f MiB message (%.1f MiB at start; %.1f MiB peak during the runs)\n",
			    c, h / 1024, s / 1048576, b / 1024, r / 1024 }'
	done
	has mailkeep && echo "(target: mailkeep-milter < 64 MiB)"
fi
echo
echo "CPU ms/msg: user+system CPU time of the milter process per accepted message (0 without a milter)"
echo "raw figures (size config run accepted accept_s drain_s accept_rate drain_rate milter_cpu_ms_per_msg loadavg_before):"
cat "$D/results.tsv"
