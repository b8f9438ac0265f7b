#!/bin/sh
# make bench: every benchmark, each measuring polis beside its peer in the same run.
# BENCH_ARGS is passed to each (e.g. BENCH_ARGS=--quick make bench).
set -e
cd "$(dirname "$0")/.."
mkdir -p build/bench
echo "== data node vs redis-server =="
/usr/bin/python3 bench/server_bench.py --json build/bench/server.json $BENCH_ARGS
if [ -x bench/lb.sh ]; then
    echo "== polis lb vs HAProxy and nginx =="
    bench/lb.sh --json build/bench/lb.json
fi
echo "== 3-replica group vs single durable node; failover =="
/usr/bin/python3 bench/repl_bench.py --json build/bench/repl.json $BENCH_ARGS
