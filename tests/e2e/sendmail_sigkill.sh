#!/bin/bash
# tests/e2e/sendmail_sigkill.sh - tests/e2e/sigkill.sh through a real
# Sendmail 8.17: 300 messages of 20 KB over 10 parallel SMTP sessions, the
# milter killed with SIGKILL twice mid-burst (once a quarter, then half
# of them are archived) and restarted each time.  While the milter is
# gone, or dies in the middle of a transaction, Sendmail tempfails (F=T in
# INPUT_MAIL_FILTER); the client retries what was refused on a new
# connection and records each message that got 250.  Afterwards every one
# of them is in the archive under the queue id Sendmail gave it (and each
# has one), and the spool holds no partial message.
E2E_MTA=sendmail
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/sigkill.sh"
