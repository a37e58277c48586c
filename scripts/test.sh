#!/bin/bash
# scripts/test.sh - the README's second command: install what is missing,
# build mailkeep and run the whole test suite twice, as root:
#   1. in the source tree: autoreconf -fi, configure, make, make check;
#   2. out of tree in build-san/ with --enable-sanitizers (ASan + UBSan):
#      configure, make, make check.  (An out-of-tree build needs an
#      unconfigured source tree, so the in-tree build is "make distclean"ed
#      once its results are read.)
#   3. make distcheck (set MAILKEEP_SKIP_DISTCHECK=1 to leave it out).
# Step 1 also runs "make fuzz" (every libFuzzer target, 60 s each;
# MAILKEEP_FUZZ_SECONDS changes that).
# Prints "N passed, N failed" summed over both runs' automake results (the
# "# PASS:" and "# FAIL:"/"# ERROR:" lines of each test-suite.log) and exits
# non-zero if anything failed or a step could not run.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd -P)
jobs=$(nproc 2>/dev/null || echo 2)

passed=0
failed=0
status=0

# step - run a command, note a broken step
step() {
	echo "=== $*"
	if ! "$@"; then
		echo "=== FAILED: $*" >&2
		status=1
		return 1
	fi
}

# tally DIR - add DIR/test-suite.log's PASS and FAIL+ERROR+XPASS counts
tally() {
	local log=$1/test-suite.log p f
	if [ ! -f "$log" ]; then
		echo "=== no $log: the test suite did not run" >&2
		failed=$(( failed + 1 ))
		return
	fi
	p=$(sed -n 's/^# PASS: *\([0-9]*\).*/\1/p' "$log" | head -n 1)
	f=$(sed -n 's/^# \(FAIL\|ERROR\|XPASS\): *\([0-9]*\).*/\2/p' "$log" | awk '{s+=$1} END {print s+0}')
	passed=$(( passed + ${p:-0} ))
	failed=$(( failed + ${f:-0} ))
	echo "=== $log: ${p:-0} passed, ${f:-0} failed"
	if [ "${f:-0}" -ne 0 ]; then
		# The logs of what failed, for CI.
		sed -n '/^\(FAIL\|ERROR\|XPASS\): /p' "$log"
	fi
}

step bash scripts/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }
# The Sendmail install-deps.sh unpacked, for every run below (make
# distcheck's copy of the tree would fetch it again otherwise).
[ ! -f tests/e2e/sendmail-cache/root/.complete.v2 ] ||
    export SM_CACHE=${SM_CACHE:-$top/tests/e2e/sendmail-cache}

# 1. In the source tree.
rm -f test-suite.log
if step autoreconf -fi && step ./configure && step make -j"$jobs"; then
	step make -j"$jobs" check
	# The parsers of untrusted input, each fuzzed for a bounded time.
	if step make fuzz FUZZ_SECONDS="${MAILKEEP_FUZZ_SECONDS:-60}" > fuzz.log 2>&1; then
		grep '^fuzz:' fuzz.log
	else
		tail -n 40 fuzz.log
		failed=$(( failed + 1 ))
	fi
fi
tally "$top"

# 2. Out of tree, with ASan + UBSan.
[ ! -f config.status ] || step make distclean > /dev/null
rm -rf build-san
mkdir -p build-san
if (cd build-san && step ../configure --enable-sanitizers && step make -j"$jobs"); then
	(cd build-san && ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
	    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	    step make -j"$jobs" check) || status=1
else
	status=1
fi
tally "$top/build-san"

# 3. The release tarball builds and passes its tests (make distcheck), from
#    the sanitizer tree, which is configured.
if [ -f build-san/Makefile ] && [ "${MAILKEEP_SKIP_DISTCHECK:-0}" != 1 ]; then
	if (cd build-san && step make -j"$jobs" distcheck > distcheck.log 2>&1); then
		echo "=== make distcheck: passed"
	else
		tail -n 40 build-san/distcheck.log
		failed=$(( failed + 1 ))
	fi
fi

echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
