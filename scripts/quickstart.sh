#!/bin/bash
# scripts/quickstart.sh - the README's first command: from a fresh Debian 12
# checkout to a running mailkeep that users other than root can search, as
# root.
#
# Installs the Debian packages mailkeep needs, bootstraps and builds it, and
# keeps everything else under ./var/:
#   var/mailkeep.conf  the configuration (milter on inet:8894@127.0.0.1,
#                      user mailkeep, access socket var/run/access.sock)
#   var/policy.conf    every message in full, role "reader" for the group
#                      mailkeep-readers (and for the user who ran sudo)
#   var/archive/       the archive, owned by the account mailkeep (0700/0600)
#   var/run/           the access socket (0755, so users reach it)
# The account mailkeep and the group mailkeep-readers are created when
# missing; scripts/mailkeep-setup.sh lays out the archive.  Then
# mailkeep-access runs in the background and mailkeep-milter in the
# foreground, after the lines Postfix and Sendmail need are printed.
# Ctrl-C stops both.  Run it again: it reuses the build, the account, the
# configuration, the policy and the archive.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd -P)

bash scripts/install-deps.sh
[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure
make -j"$(nproc)"

socket=inet:8894@127.0.0.1
user=mailkeep
readers=mailkeep-readers
conf=$top/var/mailkeep.conf
policy=$top/var/policy.conf
sock=$top/var/run/access.sock

# Users reach the access socket and read the configuration through ./var;
# the account mailkeep reaches the archive through it.  Every directory on
# the way must let others through.
d=$top
while [ "$d" != / ]; do
	if [ -z "$(find "$d" -maxdepth 0 -perm -o+x)" ]; then
		echo "quickstart: warning: $d (mode $(stat -c %a "$d")) does not let other" \
		     "users through: the account $user cannot reach $top/var/archive, nor" \
		     "users the access socket. Use a checkout under /opt or /srv, or" \
		     "chmod o+x $d." >&2
	fi
	d=$(dirname "$d")
done

mkdir -p var/run
chmod 0755 var var/run

# The configuration: made once; an older one from before the access
# service gets the keys it lacks.
if [ ! -f "$conf" ]; then
	cat > "$conf" <<CONF
# mailkeep.conf made by scripts/quickstart.sh; see mailkeep.conf(5)
socket = $socket
archive = $top/var/archive
# both daemons bind as root, then run as this account, which owns the archive
user = $user
# where mailkeep-access listens and mailkeep(1) connects (mode 0666)
access_socket = $sock
policy = $policy
CONF
else
	for kv in "user = $user" "access_socket = $sock" "policy = $policy"; do
		if ! grep -q "^${kv%% *}[[:space:]]*=" "$conf"; then
			printf '# added by scripts/quickstart.sh (access service)\n%s\n' \
				"$kv" >> "$conf"
		fi
	done
fi
chmod 0644 "$conf"

# Readers: the group mailkeep-readers (adduser alice mailkeep-readers takes
# effect at alice's next request), and the user who ran "sudo".
getent group "$readers" >/dev/null || groupadd "$readers"
sudo_user=
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ] &&
    getent passwd "$SUDO_USER" >/dev/null; then
	sudo_user=$SUDO_USER
fi

new_policy=no
if [ ! -f "$policy" ]; then
	new_policy=yes
	{
		cat <<POLICY
# policy.conf made by scripts/quickstart.sh; see mailkeep.conf(5), POLICY FILE.
# Every message is kept in full, indefinitely, and carries the role
# "reader": whoever holds that role may search, show and get it through
# mailkeep-access.  A message keeps the roles it was stored with.
[defaults]
mode = full
roles = reader
# To try four-eyes (a second reader must approve each get), add
#   four_eyes = yes
# here, then "kill -HUP" mailkeep-access: it applies to stored messages too.

# Members of the group mailkeep-readers, looked up at each request.
[role reader]
groups = $readers
POLICY
		if [ -n "$sudo_user" ]; then
			echo "users = $sudo_user"
		fi
		cat <<POLICY

# The audit trail (mailkeep audit) and verify, no content.  root can read
# everything with --offline anyway; naming it here lets root use the
# service as any user would.  In production, name the people who check
# the readers instead.
[role auditor]
users = root
POLICY
	} > "$policy"
fi
chmod 0644 "$policy"

# The account, the archive and its layout, in one place.
archive_existed=no
[ -f var/archive/FORMAT ] && archive_existed=yes
bash scripts/mailkeep-setup.sh -c "$conf" --user "$user" --archive "$top/var/archive"

if [ "$new_policy" = yes ] && [ "$archive_existed" = yes ]; then
	echo "quickstart: note: messages archived before $policy existed carry no" \
	     "role; only root sees them: cli/mailkeep -c $conf search --offline" >&2
fi

# Every problem of the configuration at once, before anything starts
# (mailkeep-milter -n and mailkeep-access -n check the same).
cli/mailkeep config check "$conf" || { echo "quickstart: fix $conf first" >&2; exit 1; }

# The access service, in the background for as long as this script runs.
if command -v ss >/dev/null && ss -xlnH 2>/dev/null | grep -qF " $sock "; then
	echo "quickstart: something already listens on $sock (another quickstart?)" >&2
	exit 1
fi
rm -f "$sock"
access/mailkeep-access -c "$conf" -f &
access_pid=$!
trap 'kill "$access_pid" 2>/dev/null || true; wait "$access_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	[ -S "$sock" ] && break
	if ! kill -0 "$access_pid" 2>/dev/null; then
		echo "quickstart: mailkeep-access did not start (its error is above)" >&2
		exit 1
	fi
	sleep 0.1
done
[ -S "$sock" ] || { echo "quickstart: mailkeep-access made no socket $sock in 10 s" >&2; exit 1; }

mk="$top/cli/mailkeep -c $conf"
cat <<MSG

mailkeep is built; its archive is $top/var/archive, owned by $user.
mailkeep-access is running on $sock (pid $access_pid).

Postfix: add to /etc/postfix/main.cf, then restart Postfix ("postfix stop; postfix start":
    a running smtpd keeps its old milter list after "postfix reload"):
    smtpd_milters = inet:127.0.0.1:8894
    non_smtpd_milters = \$smtpd_milters
    milter_default_action = tempfail
    milter_protocol = 6

Sendmail: add to sendmail.mc, then rebuild sendmail.cf and restart:
    INPUT_MAIL_FILTER(\`mailkeep', \`S=inet:8894@127.0.0.1, F=T, T=C:10s;S:10s;R:10s;E:5m')

(Production: prefer a Unix socket, see contrib/, mailkeep-milter(8) and
docs/SECURITY.md; any local user can connect to a TCP milter port.)

Search as a user who is not root (no access to the archive files needed):
    adduser alice $readers             # role "reader" at alice's next request
    then, as alice:
    $mk search
    $mk whoami
    $mk get ID > message.eml
    (or, from root: runuser -u alice -- $mk search)
MSG
if [ -n "$sudo_user" ]; then
	echo "    $sudo_user already has the role reader."
fi
cat <<MSG
Every such read is in the ledger; root has the role auditor here:
    $mk audit
Check that nothing in the archive was altered, and keep its public keys elsewhere:
    $mk verify
    $mk keys export-public > mailkeep-keys.pem

Starting mailkeep-milter on $socket (Ctrl-C stops it and mailkeep-access)...
MSG
milter/mailkeep-milter -c "$conf" -f
