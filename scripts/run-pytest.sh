#!/bin/sh
# Runs pytest with Debian's python; "collected no tests" (exit 5) is a failure, as any other.
/usr/bin/python3 -m pytest -q -p no:cacheprovider "$@"
rc=$?
[ $rc -eq 5 ] && echo "pytest collected no tests: failing" >&2
exit $rc
