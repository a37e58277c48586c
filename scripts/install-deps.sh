#!/bin/bash
# scripts/install-deps.sh - install every Debian 12 package mailkeep's build,
# tests and benchmark need (as root), and unpack SpamAssassin's sample
# messages for the end-to-end tests into tests/corpus/third-party/.
#
# Runs apt-get update + install only when a package is missing, so a second
# run (or an offline machine that has everything) costs nothing.  Postfix is
# installed without its configuration dialog ("No configuration"): the tests
# and the benchmark run their own throwaway instances.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
	# build
	build-essential autoconf automake libtool pkg-config
	libmilter-dev libsqlite3-dev zlib1g-dev libzstd-dev libssl-dev libgmime-3.0-dev
	libinih-dev libjansson-dev libarchive-dev check
	# tests and benchmark (smtp-source comes with postfix)
	postfix miltertest swaks python3 libpython3.11-testsuite jq
	# expiry tests move the clock of mailkeep-access forward
	faketime
	# tests/integrity: sqlite3 edits an index, openssl checks signatures,
	# zstd decompresses blobs (codecs.sh)
	sqlite3 openssl zstd
	# tests/fuzz: libFuzzer (make fuzz); tests/e2e/access.sh: real users
	clang passwd e2fsprogs
	# tests/e2e/sendmail_*.sh: m4 builds the .cf, libsasl2-modules has
	# SMTP AUTH PLAIN; Sendmail itself is only unpacked (below), as it
	# conflicts with postfix
	m4 libsasl2-modules
)

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps.sh: missing packages: ${missing[*]}; run me as root" >&2
		exit 1
	fi
	echo "install-deps.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
else
	echo "install-deps.sh: all ${#PACKAGES[@]} packages present"
fi

# Sendmail 8.17 for tests/e2e/sendmail_*.sh: sendmail-bin, sendmail-cf,
# libwrap0 and sasl2-bin (saslpasswd2) unpacked (never installed:
# sendmail-bin conflicts with postfix)
# into tests/e2e/sendmail-cache/; the tests fetch it themselves otherwise.
if top_srcdir=$PWD top_builddir=$PWD SM_CACHE=$PWD/tests/e2e/sendmail-cache \
    bash -c '. tests/e2e/sendmail-mta.sh && sm_fetch'; then
	echo "install-deps.sh: Sendmail unpacked in tests/e2e/sendmail-cache"
else
	echo "install-deps.sh: warning: could not fetch Sendmail;" \
	     "tests/e2e/sendmail_*.sh will try again" >&2
fi

# SpamAssassin's sample-spam.txt and sample-nonspam.txt, for
# tests/e2e/corpus.sh: unpacked from the package, which is not installed.
sa=tests/corpus/third-party/spamassassin
if [ ! -f "$sa/sample-spam.txt" ] || [ ! -f "$sa/sample-nonspam.txt" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	chmod 755 "$tmp"	# apt's _apt user writes the download here
	if (cd "$tmp" && apt-get download spamassassin >/dev/null 2>&1) &&
	    dpkg-deb -x "$tmp"/spamassassin_*.deb "$tmp/x"; then
		mkdir -p "$sa"
		cp "$tmp/x/usr/share/doc/spamassassin/examples/sample-spam.txt" \
		   "$tmp/x/usr/share/doc/spamassassin/examples/sample-nonspam.txt" "$sa/"
		echo "install-deps.sh: SpamAssassin samples in $sa"
	else
		echo "install-deps.sh: warning: could not fetch the spamassassin package;" \
		     "tests/e2e/corpus.sh will try again" >&2
	fi
fi
