#!/bin/bash
# scripts/quickstart.sh - the README's first command: from a fresh Debian 12
# checkout to a running mailkeep-milter, as root.
#
# Installs the Debian packages mailkeep needs, bootstraps and builds it,
# creates the embedded default archive under ./var/ (SQLite index, local
# blob directory, fresh keys) and runs mailkeep-milter in the foreground on
# inet:8894@127.0.0.1, after printing the lines Postfix and Sendmail need.
# Stop it with Ctrl-C.  Run it again: it reuses the build and the archive.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd -P)

bash scripts/install-deps.sh
[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure
make -j"$(nproc)"

socket=inet:8894@127.0.0.1
mkdir -p var
conf=$top/var/mailkeep.conf
if [ ! -f "$conf" ]; then
	cat > "$conf" <<CONF
# mailkeep.conf made by scripts/quickstart.sh; see mailkeep.conf(5)
socket = $socket
archive = $top/var/archive
CONF
fi
[ -f var/archive/FORMAT ] || cli/mailkeep -c "$conf" init

cat <<MSG

mailkeep is built; its archive is $top/var/archive.

Postfix: add to /etc/postfix/main.cf, then restart Postfix ("postfix stop; postfix start":
    a running smtpd keeps its old milter list after "postfix reload"):
    smtpd_milters = inet:127.0.0.1:8894
    non_smtpd_milters = \$smtpd_milters
    milter_default_action = tempfail
    milter_protocol = 6

Sendmail: add to sendmail.mc, then rebuild sendmail.cf and restart:
    INPUT_MAIL_FILTER(\`mailkeep', \`S=inet:8894@127.0.0.1, F=T, T=C:10s;S:10s;R:10s;E:5m')

(Production: prefer a Unix socket, see contrib/ and mailkeep-milter(8).)
Look at what was archived:
    $top/cli/mailkeep -c $conf search
    $top/cli/mailkeep -c $conf get ID
Check that nothing in it was altered, and keep its public keys elsewhere:
    $top/cli/mailkeep -c $conf verify
    $top/cli/mailkeep -c $conf keys export-public > mailkeep-keys.pem

Starting mailkeep-milter on $socket (Ctrl-C stops it)...
MSG
exec milter/mailkeep-milter -c "$conf" -f
