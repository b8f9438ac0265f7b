#!/bin/sh
# polis lb vs HAProxy and nginx under wrk (see bench/lb_bench.py); arguments pass through,
# e.g. bench/lb.sh --json build/bench/lb.json --quick
cd "$(dirname "$0")/.." || exit 1
exec /usr/bin/python3 bench/lb_bench.py "$@"
