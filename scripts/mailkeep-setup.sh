#!/bin/bash
# mailkeep-setup - make a host ready for mailkeep-milter and mailkeep-access,
# as root.  Installed as sbin/mailkeep-setup; scripts/quickstart.sh runs it
# from the checkout.
#
# SYNOPSIS
#	mailkeep-setup [-c CONF] [--user NAME] [--archive DIR]
#
# DESCRIPTION
#	Idempotent: every step is skipped when its result is already there.
#	An existing CONF must name the same user and archive as the options.
#	1. the system account and group NAME (default: the "user" of CONF,
#	   else mailkeep), made with adduser --system when missing;
#	2. CONF (default /etc/mailkeep/mailkeep.conf), copied from
#	   contrib/mailkeep.conf when missing, with "user", "archive" and
#	   "access_socket" filled in;
#	3. the archive ("archive" of CONF), made with "mailkeep -c CONF init"
#	   when it has no FORMAT file;
#	4. the archive given to NAME: every directory 0700, every file 0600;
#	5. checks, one line each: ownership and modes of everything under the
#	   archive, the account can reach it and read CONF and the policy, the
#	   policy is valid.
#	mailkeep is looked for next to this script (sbin/../bin, the checkout's
#	cli/) and then on PATH.
#
# DIAGNOSTICS
#	One line per step on standard output; problems as one line
#	"mailkeep-setup: ..." on standard error.  Exit status 0 when the
#	checks pass, 1 when something is wrong, 2 on a usage error.
set -euo pipefail
umask 022

prog="mailkeep-setup"
conf=/etc/mailkeep/mailkeep.conf
user=
archive=
errors=0

usage() {
	cat <<EOF
usage: $prog [-c CONF] [--user NAME] [--archive DIR]
  -c, --config CONF  the configuration (default /etc/mailkeep/mailkeep.conf);
                     made from contrib/mailkeep.conf when missing
  --user NAME        the archive's account (default: "user" of CONF, else mailkeep)
  --archive DIR      the archive directory (default: "archive" of CONF,
                     else /var/lib/mailkeep)
Creates the account, CONF and the archive when missing, gives the archive
to the account (directories 0700, files 0600) and checks the result.
EOF
}

die() { echo "$prog: $*" >&2; exit 1; }
usage_error() { echo "$prog: $*" >&2; echo "try: $prog --help" >&2; exit 2; }
problem() { echo "$prog: $*" >&2; errors=$((errors + 1)); }
warn() { echo "$prog: warning: $*" >&2; }
say() { echo "$prog: $*"; }

while [ $# -gt 0 ]; do
	case $1 in
	-c|--config) [ $# -ge 2 ] || usage_error "$1 needs a file"; conf=$2; shift 2 ;;
	--config=*) conf=${1#*=}; shift ;;
	--user) [ $# -ge 2 ] || usage_error "$1 needs a name"; user=$2; shift 2 ;;
	--user=*) user=${1#*=}; shift ;;
	--archive) [ $# -ge 2 ] || usage_error "$1 needs a directory"; archive=$2; shift 2 ;;
	--archive=*) archive=${1#*=}; shift ;;
	-h|--help) usage; exit 0 ;;
	*) usage_error "unknown argument \"$1\"" ;;
	esac
done
[ -n "$conf" ] || usage_error "-c needs a file"
case $conf in /*) ;; *) conf=$PWD/$conf ;; esac
case $archive in ''|/*) ;; *) usage_error "--archive must be an absolute path, not \"$archive\"" ;; esac
case $user in
'') ;;
*[!a-z0-9_.-]*|-*) usage_error "--user: \"$user\" is not a usable account name" ;;
esac
[ "$(id -u)" -eq 0 ] || die "run me as root (I create an account and change owners)"

# conf_value KEY - the value of KEY in $conf (the last one given, before
# any section or under [mailkeep]; ";" and "#" comments), empty if absent
conf_value() {
	awk -v key="$1" '
	/^[ \t]*[;#]/ { next }
	/^[ \t]*\[/ { sec = $0; gsub(/^[ \t]*\[[ \t]*|[ \t]*\][ \t]*$/, "", sec); next }
	sec != "" && sec != "mailkeep" { next }
	{
		eq = index($0, "=")
		if (eq == 0) next
		k = substr($0, 1, eq - 1); gsub(/^[ \t]+|[ \t]+$/, "", k)
		if (k != key) next
		v = substr($0, eq + 1); sub(/[ \t];.*$/, "", v)
		gsub(/^[ \t]+|[ \t]+$/, "", v); val = v
	}
	END { print val }' "$conf"
}

# find_mailkeep - the mailkeep command: beside this script, else on PATH
find_mailkeep() {
	local here c
	here=$(cd "$(dirname "$0")" && pwd -P)
	for c in "$here/mailkeep" "$here/../bin/mailkeep" "$here/../cli/mailkeep"; do
		if [ -x "$c" ] && [ -f "$c" ]; then
			(cd "$(dirname "$c")" && echo "$(pwd -P)/mailkeep")
			return 0
		fi
	done
	command -v mailkeep || return 1
}

# conf_template - the example configuration: the checkout's contrib/, or
# the installed copy in share/mailkeep; empty when neither is there
conf_template() {
	local here c
	here=$(cd "$(dirname "$0")" && pwd -P)
	for c in "$here/../contrib/mailkeep.conf" "$here/../share/mailkeep/mailkeep.conf"; do
		if [ -f "$c" ]; then
			echo "$c"
			return 0
		fi
	done
}

# as_user CMD... - run CMD as the account (no shell, no environment)
as_user() {
	runuser -u "$user" -- "$@"
}

# blocking_dir PATH - the first directory on the way to PATH that the
# account cannot search, with its mode; empty when none
blocking_dir() {
	local d=/ rest=${1#/}
	while [ -e "$d" ]; do
		if ! as_user test -x "$d"; then
			echo "$d (mode $(stat -c %a "$d"), owner $(stat -c %U "$d"))"
			return
		fi
		[ -n "$rest" ] || return
		d=${d%/}/${rest%%/*}
		case $rest in */*) rest=${rest#*/} ;; *) rest= ;; esac
	done
}

# list_some - the first five lines of standard input, comma-separated
list_some() {
	head -n 5 | paste -sd, - | sed 's/,/, /g'
}

mailkeep=$(find_mailkeep) ||
	die "cannot find the mailkeep command next to $0 or on PATH; install mailkeep first"

# 1. An existing configuration must agree with the options.
if [ -e "$conf" ]; then
	[ -f "$conf" ] || die "$conf is not a file"
	cuser=$(conf_value user)
	[ -n "$cuser" ] ||
		die "$conf has no \"user\" key: add \"user = ${user:-mailkeep}\" (both daemons run as it)"
	[ -z "$user" ] || [ "$cuser" = "$user" ] ||
		die "$conf says user = $cuser, not $user: change one of them"
	user=$cuser
	carchive=$(conf_value archive)
	carchive=${carchive:-/var/lib/mailkeep}
	if [ -n "$archive" ] && [ "${carchive%/}" != "${archive%/}" ]; then
		die "$conf says archive = $carchive, not $archive: change one of them"
	fi
	archive=$carchive
fi
user=${user:-mailkeep}

# 2. The account.
if getent passwd "$user" >/dev/null; then
	say "account $user: exists (uid $(id -u "$user"))"
else
	if command -v adduser >/dev/null; then
		if getent group "$user" >/dev/null; then
			adduser --quiet --system --ingroup "$user" --home /var/lib/mailkeep \
				--no-create-home "$user" >/dev/null ||
				die "adduser $user failed"
		else
			adduser --quiet --system --group --home /var/lib/mailkeep \
				--no-create-home "$user" >/dev/null ||
				die "adduser $user failed"
		fi
	else
		useradd --system --user-group --home-dir /var/lib/mailkeep \
			--no-create-home --shell /usr/sbin/nologin "$user" ||
			die "useradd $user failed"
	fi
	say "account $user: created (uid $(id -u "$user"), group $(id -gn "$user"))"
fi
[ "$(id -u "$user")" -ne 0 ] || die "account $user is root: the archive needs an account of its own"
group=$(id -gn "$user")

# 3. The configuration.
if [ -e "$conf" ]; then
	[ -n "$(conf_value access_socket)" ] ||
		warn "$conf has no access_socket key: mailkeep-access uses /run/mailkeep/access.sock"
	say "configuration $conf: exists"
else
	archive=${archive:-/var/lib/mailkeep}
	mkdir -p "$(dirname "$conf")"
	template=$(conf_template)
	tmp=$(mktemp "$conf.XXXXXX")
	trap 'rm -f "$tmp"' EXIT
	if [ -n "$template" ]; then
		awk -v user="$user" -v archive="$archive" '
		/^user[ \t]*=/ { print "user = " user; u = 1; next }
		/^archive[ \t]*=/ { print "archive = " archive; a = 1; next }
		/^access_socket[ \t]*=/ { s = 1 }
		{ print }
		END {
			if (!u) print "user = " user
			if (!a) print "archive = " archive
			if (!s) print "access_socket = /run/mailkeep/access.sock"
		}' "$template" > "$tmp"
		from="from $template"
	else
		cat > "$tmp" <<EOF
# $conf - made by $prog; see mailkeep.conf(5).
socket = unix:/run/mailkeep/mailkeep.sock
socket_mode = 0660
archive = $archive
user = $user
pidfile = /run/mailkeep/mailkeep-milter.pid
access_socket = /run/mailkeep/access.sock
on_error = tempfail
EOF
		from="(no example configuration found; a minimal one)"
	fi
	chmod 0644 "$tmp"
	mv "$tmp" "$conf"
	trap - EXIT
	say "configuration $conf: created $from"
fi
case $archive in /*) ;; *) die "$conf: archive = $archive: give an absolute path" ;; esac
archive=${archive%/}

# 4. The archive.
if [ -f "$archive/FORMAT" ]; then
	say "archive $archive: exists ($(head -n 1 "$archive/FORMAT"))"
else
	mkdir -p "$(dirname "$archive")"
	if ! out=$("$mailkeep" -c "$conf" init 2>&1); then
		printf '%s\n' "$out" >&2
		die "$mailkeep -c $conf init failed"
	fi
	say "archive $archive: created ($mailkeep -c $conf init)"
fi

# 5. The layout: the account's alone.
chown -R -h "$user:$group" "$archive"
find "$archive" -type d -exec chmod 0700 {} +
find "$archive" -type f -exec chmod 0600 {} +
say "archive $archive: owner $user:$group, directories 0700, files 0600"

# 6. Checks.
bad=$(find "$archive" \( ! -user "$user" -o ! -group "$group" \) -print | list_some)
[ -z "$bad" ] || problem "not owned by $user:$group: $bad"
bad=$(find "$archive" ! -type l -perm /077 -print | list_some)
[ -z "$bad" ] || problem "open to other users (should be 0700/0600): $bad"
bad=$(find "$archive" ! -type f ! -type d -print | list_some)
[ -z "$bad" ] || problem "neither file nor directory under the archive: $bad"
for d in keys ledger records blobs; do
	[ -d "$archive/$d" ] || problem "$archive/$d is missing: not a whole archive"
done

if command -v runuser >/dev/null; then
	if ! as_user test -r "$archive/FORMAT" || ! as_user test -w "$archive/ledger"; then
		where=$(blocking_dir "$archive")
		problem "account $user cannot reach $archive${where:+: $where is not searchable by it}"
	fi
	as_user test -r "$conf" ||
		problem "account $user cannot read $conf (needed to reload on SIGHUP)"
else
	warn "runuser not found: cannot check that $user reaches $archive"
fi

# A directory on the way that others may write lets them replace the archive.
d=$(dirname "$archive")
while :; do
	if [ -n "$(find "$d" -maxdepth 0 -perm /022 ! -perm -1000)" ]; then
		warn "$d is writable by others (mode $(stat -c %a "$d")): they can rename or replace the archive"
	fi
	[ "$d" != / ] || break
	d=$(dirname "$d")
done
if [ -n "$(find "$conf" -maxdepth 0 -perm /022)" ] || [ "$(stat -c %u "$conf")" -ne 0 ]; then
	warn "$conf can be changed by someone other than root (owner $(stat -c %U "$conf"), mode $(stat -c %a "$conf"))"
fi

policy=$(conf_value policy)
if [ -z "$policy" ]; then
	warn "no policy in $conf: messages get no roles, so no user can read them through mailkeep-access (only root and $user, with --offline); see mailkeep.conf(5)"
elif ! out=$("$mailkeep" policy check "$policy" 2>&1); then
	out=${out##*$'\n'}
	problem "policy: ${out#mailkeep: }"
else
	out=${out%%$'\n'*}
	say "policy ${out#; }"
	if command -v runuser >/dev/null && ! as_user test -r "$policy"; then
		problem "account $user cannot read $policy (mailkeep-access re-reads it on SIGHUP)"
	fi
fi

sockdir=$(dirname "$(conf_value access_socket | sed 's#^$#/run/mailkeep/access.sock#')")
if [ ! -d "$sockdir" ]; then
	say "note: $sockdir does not exist yet: the systemd units make it (RuntimeDirectory=); to start mailkeep-access by hand, mkdir -m 0755 $sockdir first"
fi

if [ "$errors" -gt 0 ]; then
	echo "$prog: $errors problem(s); fix them and run me again" >&2
	exit 1
fi
say "ok: $(find "$archive" -type f | wc -l) files and $(find "$archive" -type d | wc -l) directories under $archive, all $user's alone"
