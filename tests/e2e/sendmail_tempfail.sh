#!/bin/bash
# tests/e2e/sendmail_tempfail.sh - tests/e2e/tempfail.sh with a real
# Sendmail 8.17: when the archive cannot store, Sendmail answers 4xx at the
# end of DATA (the milter's TEMPFAIL with its 451 4.3.0 reply, logged as
# "Milter: data, reject=451 4.3.0") and nothing is half-archived; once the
# archive is writable again the same message gets 250 and is archived.
E2E_MTA=sendmail
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/tempfail.sh"
