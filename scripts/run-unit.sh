#!/bin/sh
# Runs each cmocka unit-test binary given; prints one closing tally; fails when any binary fails.
passed=0; failed=0
for t in "$@"; do
    if "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $t"; fi
done
echo "unit binaries: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
