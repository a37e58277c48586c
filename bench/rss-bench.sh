#!/bin/bash
# rss-bench.sh - mailkeep-milter's memory: one 100 MiB message, 200 sessions.
#
# NAME
#	bench/rss-bench.sh - peak resident memory (VmHWM) of mailkeep-milter
#	in full mode while one large message, then many concurrent SMTP
#	sessions, pass through Postfix
#
# SYNOPSIS
#	bench/rss-bench.sh                (as root, from a built tree)
#	RSS_RUNS=3 RSS_CASES="big many" RSS_BIG_SIZE=104857600 \
#	RSS_SESSIONS=200 RSS_MESSAGES=2000 RSS_MSG_SIZE=102400 bench/rss-bench.sh
#
# DESCRIPTION
#	Starts a throwaway Postfix on 127.0.0.1 with tests/e2e/postfix.sh,
#	as bench/run.sh does (own config, queue and data directories under a
#	temporary directory, chroot off, every message delivered to the
#	discard transport, log in maillog_file), with bench/run.sh's limits
#	(no rate limits, no in_flow_delay, message_size_limit 1 GiB) and
#	default_process_limit = RSS_SESSIONS + 50.  Its smtpd passes every
#	message to mailkeep-milter on a Unix socket, in full-archive mode
#	with the defaults of mailkeep.conf(5) (compression = zstd:1,
#	encrypt = yes; records sealed and signed).
#
#	Two cases, each run RSS_RUNS times; every run starts a new milter
#	(VmHWM never goes down, so a run's peak is its own), waits a second,
#	takes its VmRSS as the baseline, then sends:
#
#	  big   one message of about RSS_BIG_SIZE bytes (default 100 MiB), a
#	        realistic mix: a text/plain part of English-like text
#	        (bench/gen-text.sh, 1/25 of the size) and a base64 attachment
#	        of pseudo-random bytes (AES-128-CTR keystream of a fixed key,
#	        `openssl enc`), the same bytes every time; sent with Python's
#	        smtplib (tests/e2e/smtpclient.py).  Afterwards the message is
#	        fetched with `mailkeep get` and compared with cmp(1) to the
#	        file sent with CRLF line ends: it must be archived byte-exact.
#	  many  RSS_SESSIONS concurrent SMTP sessions (smtp-source -s)
#	        sending RSS_MESSAGES messages in all, each an RSS_MSG_SIZE-
#	        byte text/plain message of English-like text (smtp-source -F;
#	        the copies are alike, so the archive keeps one blob, but each
#	        is still spooled, compressed and encrypted in full).
#
#	While a case runs, VmRSS, VmHWM and Threads of the milter are read
#	from /proc/PID/status every RSS_INTERVAL seconds (0.05) into
#	$RSS_DIR/samples-CASE-RUN.tsv.  A run's peak is VmHWM at the end
#	(the kernel's own maximum, which sampling cannot miss).  At the end
#	of each run /proc/PID/smaps_rollup is kept in RSS_DIR too.
#
#	The table gives, per case: messages accepted (qmgr "queue active"
#	lines in Postfix's log), the median peak VmHWM and each run's, the
#	median baseline VmRSS, the most threads and the most messages being
#	spooled at once (the milter's non-empty spool files, anonymous files
#	in the archive's spool/; in full mode each holds a compression
#	context) seen by the sampler, and the median
#	peak against issue 10's 64 MiB (PASS below it, FAIL otherwise: a
#	figure, not a verdict).  Sizes are MiB (KiB from /proc / 1024).  The
#	script's exit status does not depend on the figures.
#
# ENVIRONMENT
#	RSS_RUNS        runs of each case (3); the table gives medians
#	RSS_CASES       cases, in order ("big many")
#	RSS_BIG_SIZE    size of the big message in bytes (104857600)
#	RSS_SESSIONS    concurrent sessions of "many" (200)
#	RSS_MESSAGES    messages of "many" (2000)
#	RSS_MSG_SIZE    size of each message of "many" in bytes (102400)
#	RSS_INTERVAL    sampling interval in seconds (0.05)
#	RSS_PORT        smtpd port (the first free one of 27251-27259, else
#	                any free port)
#	RSS_CONF_EXTRA  lines added to mailkeep.conf, separated by ";"
#	                (e.g. "compression = 0; encrypt = no")
#	RSS_DIR         work directory (a new mktemp -d under $TMPDIR or /tmp);
#	                kept afterwards when RSS_KEEP=1 or when set by you
#	MAILKEEP_MILTER, MAILKEEP   programs (default: this tree)
#	SMTP_SOURCE     smtp-source program (/usr/sbin/smtp-source)
#	MALLOC_ARENA_MAX and other glibc tunables pass through to the milter.
#
# DIAGNOSTICS
#	Exit status 0 when every run completed (whatever the figures), 1
#	with a message on stderr when set-up failed or the big message was
#	not accepted or not archived byte-exact.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
RSS_RUNS=${RSS_RUNS:-3}
RSS_CASES=${RSS_CASES:-"big many"}
RSS_BIG_SIZE=${RSS_BIG_SIZE:-104857600}
RSS_SESSIONS=${RSS_SESSIONS:-200}
RSS_MESSAGES=${RSS_MESSAGES:-2000}
RSS_MSG_SIZE=${RSS_MSG_SIZE:-102400}
RSS_INTERVAL=${RSS_INTERVAL:-0.05}
RSS_CONF_EXTRA=${RSS_CONF_EXTRA:-}
MAILKEEP_MILTER=${MAILKEEP_MILTER:-$top/milter/mailkeep-milter}
MAILKEEP=${MAILKEEP:-$top/cli/mailkeep}
SMTP_SOURCE=${SMTP_SOURCE:-/usr/sbin/smtp-source}
PYTHON3=${PYTHON3:-python3}

die() { echo "rss-bench: $*" >&2; exit 1; }
note() { echo "rss-bench: $*" >&2; }

[ "$(id -u)" = 0 ] || die "run as root (Postfix needs it)"
[ -x "$SMTP_SOURCE" ] || die "$SMTP_SOURCE not found (apt-get install postfix)"
[ -x "$MAILKEEP_MILTER" ] || die "$MAILKEEP_MILTER not built (make)"
[ -x "$MAILKEEP" ] || die "$MAILKEEP not built (make)"
command -v jq > /dev/null || die "jq not found (apt-get install jq)"
command -v openssl > /dev/null || die "openssl not found"
for c in $RSS_CASES; do
	case $c in big|many) ;; *) die "unknown case $c (big many)";; esac
done

if [ -n "${RSS_DIR:-}" ]; then
	mkdir -p "$RSS_DIR"
	RSS_KEEP=1
else
	RSS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mk-rss.XXXXXX")
fi
RSS_DIR=$(cd "$RSS_DIR" && pwd)
chmod 755 "$RSS_DIR"		# smtpd (user postfix) reaches the socket
D=$RSS_DIR
mpid=			# the running milter
spid=			# the running sampler

# cleanup - stop the sampler, Postfix and the milter; remove the work dir
cleanup() {
	set +e
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	[ -f "$D/postfix/port" ] && pf_stop "$D/postfix"
	if [ -n "$mpid" ]; then
		kill "$mpid" 2>/dev/null
		wait "$mpid" 2>/dev/null
	fi
	if [ "${RSS_KEEP:-0}" = 1 ]; then
		note "work directory kept: $D"
	else
		rm -rf "$D"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- Postfix

PF_LIB=$top/tests/e2e/postfix.sh
[ -f "$PF_LIB" ] || die "$PF_LIB not found"
# shellcheck source=tests/e2e/postfix.sh
. "$PF_LIB"

if [ -z "${RSS_PORT:-}" ]; then
	for p in 27251 27252 27253 27254 27255 27256 27257 27258 27259; do
		pf_port_free "$p" && { RSS_PORT=$p; break; }
	done
	[ -n "${RSS_PORT:-}" ] || RSS_PORT=$(pf_free_port) || die "no free port"
fi
pf_port_free "$RSS_PORT" || die "port $RSS_PORT is in use"

mkdir -p "$D/sock"
chmod 777 "$D/sock"
LSPEC=unix:$D/sock/mk.sock
CONF=$D/mailkeep.conf

pf_create "$D/postfix" "$RSS_PORT" "$LSPEC" || die "pf_create failed"
pf_postconf "$D/postfix" \
    "default_process_limit = $((RSS_SESSIONS + 50))" \
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

# ---------------------------------------------------------------- milter

{
	echo "# written by bench/rss-bench.sh: full archive, default policy"
	echo "socket = $LSPEC"
	echo "archive = $D/archive"
	echo "socket_mode = 0666"
	IFS=';' read -ra extra <<< "$RSS_CONF_EXTRA"
	for line in "${extra[@]}"; do
		line=$(echo "$line" | sed 's/^ *//; s/ *$//')
		[ -z "$line" ] || echo "$line"
	done
} > "$CONF"
mkdir -p "$D/archive"
"$MAILKEEP" -c "$CONF" init > "$D/init.log" 2>&1 ||
	{ cat "$D/init.log" >&2; die "mailkeep init failed"; }

mk() { "$MAILKEEP" -c "$CONF" --offline "$@"; }

# start_milter - start mailkeep-milter; set mpid; wait until it listens
start_milter() {
	local i sock=${LSPEC#unix:}
	rm -f "$sock"
	(umask 0; exec "$MAILKEEP_MILTER" -c "$CONF" -f -p "$LSPEC") 2>>"$D/milter.log" &
	mpid=$!
	for i in $(seq 1 200); do
		kill -0 "$mpid" 2>/dev/null || { tail -n 5 "$D/milter.log" >&2; die "milter exited at start"; }
		[ -S "$sock" ] && { chmod 666 "$sock"; return 0; }
		sleep 0.05
	done
	die "milter not listening after 10 s"
}

# stop_milter - SIGTERM it and wait
stop_milter() {
	kill "$mpid" 2>/dev/null || true
	wait "$mpid" 2>/dev/null || true
	mpid=
}

# status_kib PID FIELD - a field of /proc/PID/status (kB for Vm*)
status_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# spooling PID - the milter's spool files that hold a message: its open
#	anonymous files in spool/ ("spool/#N (deleted)"), not empty (those
#	kept for the next message are emptied)
spooling() {
	local f t n=0
	for f in /proc/"$1"/fd/*; do
		t=$(readlink "$f" 2>/dev/null) || continue
		case $t in
		*/spool/'#'*) [ "$(stat -L -c %s "$f" 2>/dev/null || echo 0)" -gt 0 ] && n=$(( n + 1 ));;
		esac
	done
	echo "$n"
}

# sampler PID OUT - "seconds VmRSS VmHWM Threads spooling" every
#	RSS_INTERVAL s; spooling: messages being received in full mode
#	(spooling(): each holds a compression context until its content is
#	compressed)
sampler() {
	local pid=$1 out=$2 k v rss hwm thr sp
	while [ -r "/proc/$pid/status" ]; do
		rss='' hwm='' thr=''
		while read -r k v _; do
			case $k in
			VmRSS:) rss=$v;; VmHWM:) hwm=$v;; Threads:) thr=$v;;
			esac
		done < "/proc/$pid/status" 2>/dev/null || break
		sp=$(spooling "$pid")
		echo "$EPOCHREALTIME $rss $hwm $thr $sp"
		sleep "$RSS_INTERVAL"
	done > "$out"
}

sample_start() { sampler "$mpid" "$1" & spid=$!; }
sample_stop() { kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; spid=; }

# ---------------------------------------------------------------- messages

# big message: LF line ends, ~RSS_BIG_SIZE bytes, the same every time
gen_big() {
	local out=$1 size=$RSS_BIG_SIZE text_size raw
	text_size=$((size / 25))
	bash "$top/bench/gen-text.sh" "$text_size" "$D/big-text.eml" "$D"
	{
		printf 'From: big@sender.test\nTo: big@rcpt.test\n'
		printf 'Subject: quarterly figures, with the raw data attached\n'
		printf 'Date: Mon, 24 Nov 2025 13:00:00 +0100\n'
		printf 'Message-ID: <rss-bench-big@sender.test>\nMIME-Version: 1.0\n'
		printf 'Content-Type: multipart/mixed; boundary="=-=rss=-="\n\n'
		printf -- '--=-=rss=-=\nContent-Type: text/plain; charset=us-ascii\n\n'
		sed '1,/^$/d' "$D/big-text.eml"		# the body of gen-text.sh's message
		printf -- '\n--=-=rss=-=\nContent-Type: application/octet-stream\n'
		printf 'Content-Disposition: attachment; filename="data.bin"\n'
		printf 'Content-Transfer-Encoding: base64\n\n'
	} > "$out"
	# base64 makes 77 bytes (76 + LF) of each 57; fill up to the size
	raw=$(( (size - $(stat -c %s "$out") - 20) / 77 * 57 ))
	head -c "$raw" /dev/zero |
	    openssl enc -aes-128-ctr -nosalt -K 6d61696c6b656570727373626e636821 \
		-iv 00000000000000000000000000000000 |
	    base64 -w 76 >> "$out"
	printf -- '--=-=rss=-=--\n' >> "$out"
	rm -f "$D/big-text.eml"
}

# ---------------------------------------------------------------- runs

# accepted_since LINE - qmgr "queue active" lines after log line LINE
accepted_since() {
	tail -n +"$(($1 + 1))" "$(pf_maillog "$D/postfix")" | grep -c 'qmgr.*(queue active)' || true
}

# settle_accepted LINE - accepted_since, once postlogd has caught up
settle_accepted() {
	local acc prev=-1 i=0
	acc=$(accepted_since "$1")
	while [ "$acc" != "$prev" ] && [ $i -lt 50 ]; do
		prev=$acc; sleep 0.2; acc=$(accepted_since "$1"); i=$((i + 1))
	done
	echo "$acc"
}

# one_run CASE RUN - one run; append a line to results.tsv
one_run() {
	local c=$1 r=$2 base before hwm n rc=0 reply qid id thr spool t0 t1
	pf_wait_drained "$D/postfix" 600 || note "queue not empty before $c run $r"
	start_milter
	sleep 1
	base=$(status_kib "$mpid" VmRSS)
	before=$(wc -l < "$(pf_maillog "$D/postfix")")
	sample_start "$D/samples-$c-$r.tsv"
	t0=$EPOCHREALTIME
	case $c in
	big)
		reply=$("$PYTHON3" "$top/tests/e2e/smtpclient.py" send --port "$RSS_PORT" \
		    --from big@sender.test --to big@rcpt.test "$D/big.eml") || rc=$?
		;;
	many)
		"$SMTP_SOURCE" -s "$RSS_SESSIONS" -m "$RSS_MESSAGES" -F "$D/many.eml" \
		    -f bench@sender.test -t sink@rcpt.test \
		    "127.0.0.1:$RSS_PORT" > "$D/smtp-source.out" 2>&1 || rc=$?
		;;
	esac
	t1=$EPOCHREALTIME
	pf_wait_drained "$D/postfix" 600 || note "queue not empty after $c run $r"
	sleep 0.5
	sample_stop
	hwm=$(status_kib "$mpid" VmHWM)
	cp "/proc/$mpid/smaps_rollup" "$D/smaps-$c-$r.txt" 2>/dev/null || true
	thr=$(awk 'BEGIN { m = 0 } $4 > m { m = $4 } END { print m }' "$D/samples-$c-$r.tsv")
	spool=$(awk 'BEGIN { m = 0 } $5 > m { m = $5 } END { print m }' "$D/samples-$c-$r.tsv")
	stop_milter
	n=$(settle_accepted "$before")
	case $c in
	big)
		if [ "$rc" != 0 ] || [ "${reply%% *}" != 250 ]; then die "big message not accepted: $reply"; fi
		qid=$(echo "$reply" | awk '{ print $2 }')
		id=$(mk search --json | jq -r --arg q "$qid" '.[] | select(.queue_id == $q) | .id' | head -n 1)
		[ -n "$id" ] || die "queue id $qid not in the archive"
		mk get "$id" > "$D/got.eml" || die "mailkeep get $id failed"
		if cmp "$D/got.eml" "$D/big.crlf"; then
			note "big run $r: $id archived byte-exact ($(stat -c %s "$D/got.eml") bytes)"
		else
			die "big run $r: $id archived bytes differ from the message sent"
		fi
		rm -f "$D/got.eml"
		;;
	many)
		[ "$rc" = 0 ] || note "smtp-source exited $rc: $(tail -n 3 "$D/smtp-source.out" | tr '\n' ' ')"
		[ "$n" = "$RSS_MESSAGES" ] || note "many run $r: only $n of $RSS_MESSAGES messages accepted"
		;;
	esac
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$r" "$n" "$base" "$hwm" "$thr" "$spool" \
	    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" | tee -a "$D/results.tsv" |
	awk -F'\t' '{ printf "  %-5s run %s: %5d msgs accepted, %6.1f s, baseline %6.1f MiB, peak VmHWM %6.1f MiB, at most %d threads, %d messages spooling\n",
		$1, $2, $3, $8, $4 / 1024, $5 / 1024, $6, $7 }'
}

for c in $RSS_CASES; do
	case $c in
	big)
		gen_big "$D/big.eml"
		sed 's/$/\r/' "$D/big.eml" > "$D/big.crlf"
		note "big message: $(stat -c %s "$D/big.eml") bytes ($(stat -c %s "$D/big.crlf") with CRLF)"
		;;
	many)
		bash "$top/bench/gen-text.sh" "$RSS_MSG_SIZE" "$D/many.eml" "$D"
		;;
	esac
done

pf_start "$D/postfix" || die "Postfix did not start"

{
	echo "date:      $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine:   $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)),"\
	     "$(free -h | awk '/^Mem:/ { print $2 }') RAM, kernel $(uname -r), glibc $(getconf GNU_LIBC_VERSION | awk '{ print $2 }')"
	echo "postfix:   $("$PF_POSTCONF" -h -d mail_version 2>/dev/null), libmilter $(dpkg-query -W -f '${Version}' libmilter1.0.1 2>/dev/null || echo '?'), zstd $(dpkg-query -W -f '${Version}' libzstd1 2>/dev/null || echo '?')"
	echo "settings:  runs=$RSS_RUNS cases=\"$RSS_CASES\" big=$RSS_BIG_SIZE sessions=$RSS_SESSIONS messages=$RSS_MESSAGES msg_size=$RSS_MSG_SIZE conf_extra=\"$RSS_CONF_EXTRA\" MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-unset} port=$RSS_PORT"
	echo "load:      $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$D/machine.txt"

: > "$D/results.tsv"
for c in $RSS_CASES; do
	for r in $(seq 1 "$RSS_RUNS"); do
		one_run "$c" "$r"
	done
done

# ---------------------------------------------------------------- table

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -F'\t' -v c="$1" -v f="$2" '$1 == c { print $f }' "$D/results.tsv"; }

echo
echo "== mailkeep-milter peak RSS: medians of $RSS_RUNS runs (MiB) =="
printf "%-5s %-32s %8s %11s %9s %8s %9s %9s   %s\n" case what messages "peak VmHWM" baseline threads spooling "vs 64 MiB" "runs (peak VmHWM)"
for c in $RSS_CASES; do
	case $c in
	big)  what="1 x $(awk -v s="$RSS_BIG_SIZE" 'BEGIN { printf "%.0f", s / 1048576 }') MiB (text + base64)";;
	many) what="$RSS_SESSIONS sessions, $(awk -v s="$RSS_MSG_SIZE" 'BEGIN { printf "%.0f", s / 1024 }') KiB text";;
	esac
	peak=$(col "$c" 5 | median)
	awk -v c="$c" -v w="$what" -v n="$(col "$c" 3 | median)" -v p="$peak" \
	    -v b="$(col "$c" 4 | median)" -v t="$(col "$c" 6 | median)" -v sp="$(col "$c" 7 | median)" \
	    -v runs="$(col "$c" 5 | awk '{ printf "%.1f ", $1 / 1024 }')" 'BEGIN {
		printf "%-5s %-32s %8d %11.1f %9.1f %8d %9d %9s   %s\n", c, w, n, p / 1024, b / 1024, t, sp,
		    (p / 1024 < 64 ? "PASS" : "FAIL"), runs }'
done
echo
echo "raw figures (case run accepted baseline_kib vmhwm_kib max_threads max_spooling seconds):"
cat "$D/results.tsv"
