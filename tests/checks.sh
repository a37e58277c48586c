# tests/checks.sh - the check helpers every shell test shares (sourced by
# tests/e2e/lib.sh and tests/integrity/lib.sh): one "ok - ..." or
# "not ok - ..." line a check, counted in CHECKS_PASS and CHECKS_FAIL;
# CHECKS_SKIPPED is 1 once the test has chosen to skip (exit 77).
# shellcheck shell=bash
CHECKS_PASS=0
CHECKS_FAIL=0
CHECKS_SKIPPED=0

# note - print a line to the test's log
note() { echo "# $*"; }

# pass / fail - count one check
pass() { CHECKS_PASS=$(( CHECKS_PASS + 1 )); echo "ok - $*"; }
fail() { CHECKS_FAIL=$(( CHECKS_FAIL + 1 )); echo "not ok - $*"; }

# bail - a hard error: fail and exit now (the caller's trap cleans up)
bail() { fail "$*"; exit 1; }

# skip - the whole test cannot run here: exit 77 with the reason
skip() { echo "SKIP: $*"; CHECKS_SKIPPED=1; exit 77; }

# check - run CMD; pass if it exits 0
check() {
	local msg=$1; shift
	if "$@"; then pass "$msg"; else fail "$msg (command failed: $*)"; fi
}

# check_eq - pass if WANT equals GOT
check_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: want '$2', got '$3'"; fi
}
