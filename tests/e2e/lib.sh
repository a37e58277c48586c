# tests/e2e/lib.sh - helpers shared by mailkeep's end-to-end tests.
#
# SYNOPSIS
#	. "$top_srcdir/tests/e2e/lib.sh"
#	e2e_init NAME [MTA]		# skip unless root + MTA (postfix or
#					# sendmail) is usable; make $T
#	e2e_conf [key=value...]		# write $CONF (socket, archive, pidfile...)
#	mk_init				# mailkeep -c $CONF init
#	milter_start / milter_stop / milter_kill
#	e2e_postfix			# a throwaway Postfix at $PF, smtpd on $PF_PORT
#	e2e_sendmail			# a throwaway Sendmail at $SM on $SM_PORT
#	e2e_mta [name=value...]		# e2e_postfix or e2e_sendmail, by $E2E_MTA;
#					# sets MTA_NAME MTA_LOG MTA_TEMPFAIL_RE...
#	mta_log_grep LINE PATTERN	# the MTA's log from LINE on matches
#	smtp_send ARGS...		# smtpclient.py send --port $SMTP_PORT ARGS
#	mk ARGS...			# mailkeep -c $CONF ARGS (as $MK_USER)
#	svc_sock / svc_start / svc_stop	# mailkeep-access: its socket path,
#					# start (ready when whoami answers), stop
#	through ARGS...			# mailkeep -c $CONF ARGS via the service
#	e2e_reader_archive [D=MODE...]	# fulltext.sh's and export.sh's set-up
#	pass MSG / fail MSG / check MSG CMD... / check_eq MSG WANT GOT
#	check_archived ID FILE [compare.py options]
#	check_replies REPLIES FILES...	# each sent file accepted + archived exact
#	e2e_finish			# exit 0 if nothing failed, else 1
#
# DESCRIPTION
#	Each test gets its own directory $T (under the build directory,
#	removed at exit unless E2E_KEEP=1 or the test failed and
#	E2E_KEEP_FAILED=1), its own archive $T/archive, its own mailkeep-milter
#	and its own Postfix instance (tests/e2e/postfix.sh) or Sendmail
#	instance (tests/e2e/sendmail-mta.sh).  An EXIT trap stops the MTA and
#	the milter whatever happens; when anything failed it prints the tail
#	of the maillog and of the milter's log first.
#
#	What is compared.  mailkeep archives the message as the MTA handed it
#	to the milter.  Between what the client sends and that, the MTA changes
#	exactly this (tests/e2e/compare.py implements it):
#	  - line ends: the milter gets every line, headers and body, ending in
#	    CRLF, so the expected bytes are the original file with each LF (or
#	    CRLF) made CRLF; a last line without a line end gets CRLF;
#	  - trace: none.  Postfix 3.7 does not hand milters the Received:
#	    header it prepends (neither smtpd_milters nor non_smtpd_milters;
#	    verified), and the test Postfix adds or drops no other header
#	    (local_header_rewrite_clients and message_drop_headers are empty);
#	  - malformed header sections are repaired by cleanup(8) before any
#	    milter sees them: a leading mbox "From " line becomes
#	    "X-Mailbox-Line: From ...", and a header section that ends in a
#	    non-header line gets the missing empty line; and a bare CR (one
#	    not followed by LF) reaches the queue file as a space.  compare.py
#	    applies and reports these.
#	So: archived bytes = the original with LF->CRLF (and a final CRLF).
#
#	One scenario, two MTAs.  A scenario that means the same with either
#	MTA is written once, for $E2E_MTA (postfix, the default, or
#	sendmail): it passes "$E2E_MTA" to e2e_init, starts the MTA with
#	e2e_mta, and takes what differs between the MTAs from the variables
#	e2e_mta sets; what only one MTA does is checked under a test of
#	$E2E_MTA.  The Postfix test is the scenario itself (e.g.
#	tests/e2e/tempfail.sh); the Sendmail test (tests/e2e/sendmail_*.sh)
#	sets E2E_MTA=sendmail and sources it.  The test's name is its file's
#	(basename "$0" .sh).
#
#	Environment (set by `make check`): top_srcdir top_builddir
#	MAILKEEP_MILTER MAILKEEP POSTFIX PYTHON3.  E2E_SOCKET=unix|inet chooses
#	the milter socket (default unix).  E2E_MTA, see above.

set -u

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${MAILKEEP_MILTER:=$top_builddir/milter/mailkeep-milter}"
: "${MAILKEEP:=$top_builddir/cli/mailkeep}"
: "${PYTHON3:=$(command -v python3 || echo python3)}"
[ -n "${POSTFIX:-}" ] || POSTFIX=$(command -v postfix 2>/dev/null || echo /usr/sbin/postfix)
E2E_DIR=$top_srcdir/tests/e2e
: "${E2E_MTA:=postfix}"
CORPUS=$top_srcdir/tests/corpus

# shellcheck source=tests/checks.sh
. "$top_srcdir/tests/checks.sh"
. "$E2E_DIR/postfix.sh"
. "$E2E_DIR/sendmail-mta.sh"

MILTER_PID=
MK_USER=
PF=
SM=
SMTP_PORT=
T=
E2E_SHORT_DIR=/tmp/mk-e2e.$$
[ -d /run ] && [ -w /run ] && [ ! -k /run ] && E2E_SHORT_DIR=/run/mk-e2e.$$

# e2e_cleanup - EXIT trap: diagnostics on failure, stop everything
e2e_cleanup() {
	local rc=$?
	set +e
	if [ "${CHECKS_SKIPPED:-0}" != 1 ] && { [ "$rc" -ne 0 ] || [ "$CHECKS_FAIL" -ne 0 ]; }; then
		if [ -n "$PF" ] && [ -f "$PF/maillog" ]; then
			echo "----- tail of $PF/maillog"
			tail -n 40 "$PF/maillog"
		fi
		if [ -n "$SM" ] && [ -f "$SM/maillog" ]; then
			echo "----- tail of $SM/maillog"
			tail -n 40 "$SM/maillog"
		fi
		if [ -n "$T" ] && [ -f "$T/milter.log" ]; then
			echo "----- tail of $T/milter.log"
			tail -n 40 "$T/milter.log"
		fi
	fi
	[ -z "$PF" ] || pf_stop "$PF" 5
	[ -z "$SM" ] || sm_stop "$SM" 5
	milter_stop
	svc_stop
	local keep_short=0
	if [ -n "$T" ] && [ -d "$T" ]; then
		if [ "${E2E_KEEP:-0}" = 1 ] || { [ "${E2E_KEEP_FAILED:-0}" = 1 ] && [ "$CHECKS_FAIL" -ne 0 ]; }; then
			echo "# kept $T"
			# the Postfix instance, when e2e_pf_dir put it there
			[ ! -d "$E2E_SHORT_DIR/pf" ] || { keep_short=1; echo "# kept $E2E_SHORT_DIR"; }
		else
			rm -rf "$T"
		fi
	fi
	[ "$keep_short" = 1 ] || rm -rf "$E2E_SHORT_DIR"
	exit "$rc"
}

# e2e_init - common start: skip when impossible, make $T, set the trap
e2e_init() {
	local name=$1 mta=${2:-postfix}
	E2E_NAME=$name
	E2E_T0=$(date +%s)
	case $mta in
	postfix)
		[ "$(id -u)" -eq 0 ] || skip "$name: needs root (Postfix's master starts as root)"
		[ -x "$POSTFIX" ] || skip "$name: postfix not installed (apt-get install postfix)";;
	sendmail)
		[ "$(id -u)" -eq 0 ] || skip "$name: needs root (Sendmail's daemon starts as root)"
		command -v m4 > /dev/null || skip "$name: m4 not installed (apt-get install m4)"
		unshare -u -m true 2>/dev/null || skip "$name: unshare -u -m does not work here"
		sm_fetch > /dev/null || skip "$name: no unpacked Sendmail (apt-get download sendmail-bin sendmail-cf libwrap0 failed)";;
	*)
		echo "$name: unknown MTA '$mta' (postfix or sendmail)"; exit 99;;
	esac
	command -v jq >/dev/null || skip "$name: jq not installed (apt-get install jq)"
	"$PYTHON3" -c 'import smtplib' 2>/dev/null || skip "$name: python3 not usable"
	[ -x "$MAILKEEP_MILTER" ] || { echo "missing $MAILKEEP_MILTER"; exit 99; }
	[ -x "$MAILKEEP" ] || { echo "missing $MAILKEEP"; exit 99; }
	mkdir -p "$top_builddir/tests/e2e"
	T=$(mktemp -d "$top_builddir/tests/e2e/tmp.$name.XXXXXX") || exit 99
	chmod 755 "$T"
	trap e2e_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	CONF=$T/mailkeep.conf
	ARCHIVE=$T/archive
	note "$name: working in $T"
}

# sanitizer_check - fail if the milter's log holds an ASan/UBSan report
sanitizer_check() {
	[ -n "$T" ] && [ -f "$T/milter.log" ] || return 0
	if grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$T/milter.log"; then
		fail "sanitizer report in the milter's log: $(grep -m1 "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$T/milter.log")"
	fi
}

# e2e_finish - stop the milter, report and exit with the automake status
e2e_finish() {
	milter_stop
	sanitizer_check
	note "$E2E_NAME: $CHECKS_PASS passed, $CHECKS_FAIL failed in $(( $(date +%s) - E2E_T0 ))s"
	[ "$CHECKS_FAIL" -eq 0 ] && exit 0
	exit 1
}

# dir_path_safe - true when no directory from DIR up to / is group- or
#	world-writable (Sendmail refuses a milter socket below one, /tmp
#	included)
dir_path_safe() {
	local d=$1
	while [ "$d" != / ] && [ -n "$d" ]; do
		[ -z "$(find "$d" -maxdepth 0 -perm /022)" ] || return 1
		d=$(dirname "$d")
	done
}

# milter_socket_path - a unix socket path short enough for sun_path, and
#	in a safe directory path (in /run rather than /tmp when possible)
milter_socket_path() {
	local p=$T/milter.sock
	if [ ${#p} -gt 100 ] || ! dir_path_safe "$T"; then
		mkdir -p "$E2E_SHORT_DIR" && chmod 755 "$E2E_SHORT_DIR"
		p=$E2E_SHORT_DIR/milter.sock
	fi
	echo "$p"
}

# e2e_conf - write $CONF; extra key=value lines are appended
#	Sets MILTER_SOCKET (libmilter syntax) and MILTER_PF (Postfix syntax).
e2e_conf() {
	if [ "${E2E_SOCKET:-unix}" = inet ]; then
		MILTER_PORT=$(pf_free_port 7)
		MILTER_SOCKET="inet:$MILTER_PORT@127.0.0.1"
	else
		MILTER_SOCKET="unix:$(milter_socket_path)"
	fi
	MILTER_PF=$(pf_milter_spec "$MILTER_SOCKET")
	{
		echo "socket = $MILTER_SOCKET"
		echo "archive = $ARCHIVE"
		echo "pidfile = $T/milter.pid"
		echo "on_error = tempfail"
		echo "socket_mode = 0666"
		local kv
		for kv in "$@"; do echo "$kv"; done
	} > "$CONF"
	MK_USER=$(sed -n 's/^[[:space:]]*user[[:space:]]*=[[:space:]]*//p' "$CONF" | tail -n 1)
}

# mk - run the mailkeep CLI on this test's config (as the milter's user,
#	so that SQLite files it creates stay writable for the milter)
mk() {
	if [ -n "$MK_USER" ]; then
		runuser -u "$MK_USER" -- "$MAILKEEP" -c "$CONF" --offline "$@"
	else
		"$MAILKEEP" -c "$CONF" --offline "$@"
	fi
}

# mk_init - create the archive (owned by the milter's user if any)
mk_init() {
	local out
	if ! out=$("$MAILKEEP" -c "$CONF" init 2>&1); then
		echo "$out"; bail "mailkeep init"
	fi
	if [ -n "$MK_USER" ]; then
		chown -R "$MK_USER" "$ARCHIVE" || bail "chown archive to $MK_USER"
	fi
}

# milter_ready - true when the milter's socket accepts connections
milter_ready() {
	case "$MILTER_SOCKET" in
	unix:*|local:*)
		local p=${MILTER_SOCKET#*:}
		[ -S "$p" ] && "$PYTHON3" -c '
import socket,sys
s=socket.socket(socket.AF_UNIX); s.settimeout(1); s.connect(sys.argv[1])' "$p" 2>/dev/null;;
	inet:*)
		! pf_port_free "$MILTER_PORT";;
	esac
}

# milter_start - start mailkeep-milter in the foreground (background job),
#	wait until it accepts connections
milter_start() {
	local t=0
	echo "----- milter start $(date +%T)" >> "$T/milter.log"
	"$MAILKEEP_MILTER" -c "$CONF" -f >> "$T/milter.log" 2>&1 &
	MILTER_PID=$!
	until milter_ready; do
		if ! kill -0 "$MILTER_PID" 2>/dev/null; then
			wait "$MILTER_PID"; local rc=$?
			MILTER_PID=
			tail -n 20 "$T/milter.log"
			bail "mailkeep-milter exited at start (status $rc)"
		fi
		t=$(( t + 1 ))
		[ "$t" -le 300 ] || bail "mailkeep-milter not ready after 30s"
		sleep 0.1
	done
}

# milter_stop - SIGTERM the milter, wait for it (at most 15 s), then SIGKILL
milter_stop() {
	[ -n "$MILTER_PID" ] || return 0
	local t=0
	kill -TERM "$MILTER_PID" 2>/dev/null
	while kill -0 "$MILTER_PID" 2>/dev/null; do
		t=$(( t + 1 ))
		if [ "$t" -gt 150 ]; then
			echo "# mailkeep-milter ignored SIGTERM for 15s; killing it"
			kill -KILL "$MILTER_PID" 2>/dev/null
			break
		fi
		sleep 0.1
	done
	wait "$MILTER_PID" 2>/dev/null
	MILTER_STATUS=$?
	MILTER_PID=
}

# milter_kill - SIGKILL the milter and reap it
milter_kill() {
	[ -n "$MILTER_PID" ] || return 0
	kill -KILL "$MILTER_PID" 2>/dev/null
	wait "$MILTER_PID" 2>/dev/null
	MILTER_PID=
}

# e2e_pf_dir - print where this test's Postfix instance goes: $T/pf, or
#	$E2E_SHORT_DIR/pf when $T is too deep for Postfix's log socket
#	(pf_dir_fits; a make distcheck build directory can be), with a
#	symbolic link $T/pf to it
e2e_pf_dir() {
	local d=$T/pf
	if ! pf_dir_fits "$d"; then
		mkdir -p "$E2E_SHORT_DIR" && chmod 755 "$E2E_SHORT_DIR" || return 1
		d=$E2E_SHORT_DIR/pf
		ln -sfn "$d" "$T/pf" || return 1
	fi
	echo "$d"
}

# e2e_postfix - create and start this test's Postfix, milter = $MILTER_PF
e2e_postfix() {
	PF=$(e2e_pf_dir) || bail "no directory for Postfix"
	PF_PORT=$(pf_free_port) || bail "no free port"
	pf_create "$PF" "$PF_PORT" "${MILTER_PF:-}" || bail "pf_create"
	[ $# -eq 0 ] || pf_postconf "$PF" "$@" || bail "postconf $*"
	pf_start "$PF" || bail "postfix start"
	SMTP_PORT=$PF_PORT
	note "postfix on 127.0.0.1:$PF_PORT, milter $MILTER_PF"
}

# e2e_sendmail - create and start this test's Sendmail, milter = $MILTER_SOCKET
e2e_sendmail() {
	SM=$T/sm
	SM_PORT=$(pf_free_port 3) || bail "no free port"
	sm_setup "$SM" "$SM_PORT" "$MILTER_SOCKET" || bail "sm_setup"
	sm_start "$SM" || bail "sendmail start"
	SMTP_PORT=$SM_PORT
	note "sendmail on 127.0.0.1:$SM_PORT, milter $MILTER_SOCKET"
}

# e2e_mta - create and start this test's MTA, $E2E_MTA, with e2e_postfix
#	(ARGS: main.cf settings) or e2e_sendmail, and set what differs
#	between the MTAs for a scenario written once for both:
#	  MTA_NAME		Postfix or Sendmail, for the test's messages
#	  MTA_LOG		its log file
#	  MTA_TEMPFAIL_RE	grep pattern of its log line for a milter
#				TEMPFAIL at the end of the message
#	  MTA_TEMPFAIL_LOG	that log line, as the test's messages name it
#	  MTA_EOM		what that stage is called in the messages
#	  E2E_TRACE		trace headers it hands the milter before the
#				client's, for check_archived (0 for both)
e2e_mta() {
	case $E2E_MTA in
	postfix)
		e2e_postfix "$@"
		MTA_NAME=Postfix
		MTA_LOG=$(pf_maillog "$PF")
		MTA_TEMPFAIL_RE='milter-reject: END-OF-MESSAGE.*: 4\.[0-9]*\.[0-9]* '
		MTA_TEMPFAIL_LOG="milter-reject at END-OF-MESSAGE"
		MTA_EOM=END-OF-MESSAGE
		E2E_TRACE=${E2E_TRACE:-0};;
	sendmail)
		[ $# -eq 0 ] || bail "e2e_mta: main.cf settings for Sendmail: $*"
		e2e_sendmail
		MTA_NAME=Sendmail
		MTA_LOG=$(sm_maillog "$SM")
		MTA_TEMPFAIL_RE='Milter: data, reject=451 4\.3\.0'
		MTA_TEMPFAIL_LOG="'Milter: data, reject=451'"
		MTA_EOM="end of DATA"
		E2E_TRACE=$SM_TRACE;;
	*)
		bail "e2e_mta: unknown MTA '$E2E_MTA'";;
	esac
}

# mta_log_grep - true when the MTA's log, from line LINE on, has a line
#	matching PATTERN (grep); for wait_for: Sendmail's log is written by
#	a reader of its syslog socket, a moment after the event
mta_log_grep() {
	tail -n +"$1" "$MTA_LOG" | grep -q "$2"
}

# smtp_send - send messages over SMTP to this test's MTA
smtp_send() {
	"$PYTHON3" "$E2E_DIR/smtpclient.py" send --port "$SMTP_PORT" "$@"
}

# mk_search_mid - `mailkeep search --json --message-id` for a Message-ID
#	given with angle brackets; tries the bare form when that finds nothing
mk_search_mid() {
	local mid=$1 out
	out=$(mk search --json --message-id "$mid") || return 1
	if [ "$(echo "$out" | jq length)" = 0 ]; then
		local bare=${mid#<}; bare=${bare%>}
		out=$(mk search --json --message-id "$bare") || return 1
	fi
	echo "$out"
}

# mk_id_by_qid - print the archive id of the message with queue id QID
mk_id_by_qid() {
	mk search --json | jq -r --arg q "$1" '.[] | select(.queue_id == $q) | .id' | head -n 1
}

# check_archived - fetch ID with `mailkeep get`, compare with FILE
check_archived() {
	local id=$1 file=$2 name=${3:-$(basename "$2")}; shift 3 2>/dev/null || shift $#
	local out
	if ! mk get "$id" > "$T/got.$$" 2>"$T/get.err"; then
		fail "$name: mailkeep get $id failed: $(head -c 300 "$T/get.err")"
		return 1
	fi
	if out=$("$PYTHON3" "$E2E_DIR/compare.py" --trace "${E2E_TRACE:-0}" "$@" "$T/got.$$" "$file"); then
		pass "$name: archived byte-exact ($out)"
		rm -f "$T/got.$$"
	else
		fail "$name: archived bytes differ: $out"
		cp "$T/got.$$" "$T/got.$name" 2>/dev/null
		rm -f "$T/got.$$"
		return 1
	fi
}

# check_replies - REPLIES holds one "CODE QUEUE-ID TEXT" line per file sent
#	(smtp_send's output, in the order of FILES): check that each file was
#	accepted, is in the archive under its queue id, and comes back
#	byte-exact.  Leaves the search JSON in $ARCHIVE_JSON and each archived
#	file's id in ARCHIVED_ID[name], name being the file's base name
#	("sa-" first for SpamAssassin's samples).
check_replies() {
	local replies=$1; shift
	local files=("$@") i=0 code qid rest f name id q
	local -A id_of=()
	declare -gA ARCHIVED_ID=()
	ARCHIVE_JSON=$(mk search --json) || bail "mailkeep search --json failed"
	echo "$ARCHIVE_JSON" | jq empty 2>/dev/null || bail "mailkeep search --json printed invalid JSON"
	while read -r q id; do id_of[$q]=$id; done < <(echo "$ARCHIVE_JSON" | jq -r '.[] | "\(.queue_id) \(.id)"')
	while read -r code qid rest; do
		f=${files[$i]}; i=$(( i + 1 ))
		name=$(basename "$f")
		case "$f" in */spamassassin/*) name=sa-$name;; esac
		if [ "$code" != 250 ]; then fail "$name: not accepted: $code $qid $rest"; continue; fi
		id=${id_of[$qid]:-}
		if [ -z "$id" ]; then fail "$name: accepted as $qid but not in the archive"; continue; fi
		check_archived "$id" "$f" "$name" && ARCHIVED_ID[$name]=$id
	done < "$replies"
	check_eq "every message got a reply" "${#files[@]}" "$i"
}

# wait_for - poll CMD every 0.1 s until it succeeds or TIMEOUT seconds pass
wait_for() {
	local timeout=$1 t=0; shift
	until "$@"; do
		t=$(( t + 1 ))
		[ "$t" -le $(( timeout * 10 )) ] || return 1
		sleep 0.1
	done
}

# svc_sock - SVC_SOCK: mailkeep-access's socket, in $T when sun_path
#	allows, else in the short directory
svc_sock() {
	SVC_SOCK=$T/access.sock
	if [ ${#SVC_SOCK} -gt 100 ]; then
		{ mkdir -p "$E2E_SHORT_DIR" && chmod 755 "$E2E_SHORT_DIR"; } \
		    || bail "mkdir $E2E_SHORT_DIR"
		SVC_SOCK=$E2E_SHORT_DIR/access.sock
	fi
}

# through ARGS... - the mailkeep CLI through mailkeep-access, as the caller
through() { "$MAILKEEP" -c "$CONF" "$@"; }

# svc_start - mailkeep-access in the foreground as a background job
#	(e2e_cleanup stops it), ready when whoami answers; bails with its
#	log when it exits at start or is not ready in 20 s
svc_start() {
	local t=0 rc
	: "${MAILKEEP_ACCESS:=$top_builddir/access/mailkeep-access}"
	echo "----- access start $(date +%T)" >> "$T/access.log"
	"$MAILKEEP_ACCESS" -c "$CONF" -f >> "$T/access.log" 2>&1 &
	SVC_PID=$!
	until through whoami > /dev/null 2>&1; do
		if ! kill -0 "$SVC_PID" 2>/dev/null; then
			wait "$SVC_PID"; rc=$?
			SVC_PID=
			tail -n 20 "$T/access.log"
			bail "mailkeep-access exited at start (status $rc)"
		fi
		t=$(( t + 1 ))
		[ "$t" -le 200 ] || bail "mailkeep-access not ready after 20s"
		sleep 0.1
	done
}

# svc_stop - SIGTERM, wait (at most 15 s), then SIGKILL; SVC_STATUS is
#	its exit status
svc_stop() {
	local t=0
	[ -n "${SVC_PID:-}" ] || return 0
	kill -TERM "$SVC_PID" 2>/dev/null
	while kill -0 "$SVC_PID" 2>/dev/null; do
		t=$(( t + 1 ))
		if [ "$t" -gt 150 ]; then
			echo "# mailkeep-access ignored SIGTERM for 15s; killing it"
			kill -KILL "$SVC_PID" 2>/dev/null
			break
		fi
		sleep 0.1
	done
	wait "$SVC_PID" 2>/dev/null
	SVC_STATUS=$?
	SVC_PID=
}

# send_mime - the MIME test messages of gen_mime.py (in $T/mime) over
#	SMTP to reader@example.com; MIME_SENT: how many were accepted
send_mime() {
	local f reply
	"$PYTHON3" "$E2E_DIR/gen_mime.py" "$T/mime" || bail "gen_mime.py"
	MIME_SENT=0
	for f in "$T"/mime/*.eml; do
		reply=$(smtp_send --from sender@sender.test --to reader@example.com "$f")
		[ "${reply%% *}" = 250 ] || fail "$(basename "$f"): not accepted: $reply"
		MIME_SENT=$(( MIME_SENT + 1 ))
	done
}

# e2e_reader_archive [DOMAIN=MODE...] - the archive of the discovery
#	tests, through Postfix, with mailkeep-access running: example.com
#	(role readers, which root holds) and secret.example.com (role secret,
#	which nobody holds) kept in full, and each DOMAIN kept as MODE;
#	root is also auditor.  Writes $POL and $CONF; SVC_SOCK, SVC_PID set.
e2e_reader_archive() {
	local kv domains="example.com, secret.example.com"
	: "${MAILKEEP_ACCESS:=$top_builddir/access/mailkeep-access}"
	[ -x "$MAILKEEP_ACCESS" ] || { echo "missing $MAILKEEP_ACCESS"; exit 99; }
	for kv in "$@"; do domains="$domains, ${kv%%=*}"; done
	svc_sock
	POL=$T/policy.ini
	{
		printf '[defaults]\nlocal_domains = %s\nmode = full\nroles = readers\n' "$domains"
		printf '[domain secret.example.com]\nroles = secret\n'
		for kv in "$@"; do printf '[domain %s]\nmode = %s\n' "${kv%%=*}" "${kv#*=}"; done
		printf '[role readers]\nusers = root\n[role secret]\nusers = nobody-at-all\n'
		printf '[role auditor]\nusers = root\n'
	} > "$POL"
	e2e_conf "policy = $POL" "access_socket = $SVC_SOCK"
	mk_init
	milter_start
	e2e_mta
	svc_start	# through: the CLI through it, as root (role readers)
}

SA_EX=usr/share/doc/spamassassin/examples

# sa_samples - print the directory holding SpamAssassin's samples, fetching
#	and unpacking the package into the build tree when not there yet
sa_samples() {
	local d
	for d in "$CORPUS/third-party/spamassassin" "$top_builddir/tests/corpus/third-party/spamassassin"; do
		[ -f "$d/sample-spam.txt" ] && { echo "$d"; return 0; }
	done
	d=$top_builddir/tests/corpus/third-party/spamassassin
	mkdir -p "$d/deb" || return 1
	( cd "$d/deb" && timeout 120 apt-get download spamassassin >/dev/null 2>&1 ) || return 1
	dpkg-deb -x "$d"/deb/spamassassin_*.deb "$d/deb/x" || return 1
	cp "$d/deb/x/$SA_EX/sample-spam.txt" "$d/deb/x/$SA_EX/sample-nonspam.txt" "$d/" || return 1
	rm -rf "$d/deb"
	echo "$d"
}

# e2e_root_roles - policy sections that make root a reader of what the
#	defaults keep (role readers), the admin and an auditor
e2e_root_roles() {
	printf '[role readers]\nusers = root\n[role admin]\nusers = root\n'
	printf '[role auditor]\nusers = root'
}

# in_archive TEXT - does any file under the archive hold TEXT?
in_archive() { grep -rqaF -- "$1" "$ARCHIVE"; }

# indexed N - wait until mailkeep-access has indexed N messages
indexed() {
	local i st
	for i in $(seq 100); do
		st=$(through status --json 2>/dev/null) || st='{}'
		[ "$(jq -r '.indexed // 0' <<<"$st")" -ge "$1" ] \
		    && [ "$(jq -r '.lag_messages // 1' <<<"$st")" = 0 ] && return 0
		sleep 0.2
	done
	fail "the full-text index did not reach $1 messages: $st"
}
