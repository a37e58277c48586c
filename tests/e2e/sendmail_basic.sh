#!/bin/bash
# tests/e2e/sendmail_basic.sh - tests/e2e/smtp_basic.sh with a real Sendmail
# 8.17, mailkeep attached through INPUT_MAIL_FILTER
# (contrib/sendmail/mailkeep.mc): one message to several recipients, two of
# them BCC-only, is archived with its whole envelope (Sendmail's queue id,
# client address, HELO, sender, every recipient) and its exact bytes; then
# a few files of tests/corpus/ in one session, each archived byte-exact
# under the queue id Sendmail gave it; then what Sendmail changes before
# the milter sees a message (headers it adds or drops, a missing empty
# line, an mbox "From " line, a bare CR).
E2E_MTA=sendmail
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/smtp_basic.sh"
