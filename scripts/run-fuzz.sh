#!/bin/sh
# Runs each libFuzzer target for a bounded time: run-fuzz.sh SECONDS BIN...
# Corpora live in build/fuzz-corpus/NAME, seeded from tests/fuzz/corpus/NAME when present.
seconds=$1; shift
status=0
for f in "$@"; do
    name=$(basename "$f")
    corpus=build/fuzz-corpus/$name
    mkdir -p "$corpus"
    [ -d "tests/fuzz/corpus/$name" ] && cp -n tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
    echo "fuzz $name for ${seconds}s"
    if ! "$f" -max_total_time="$seconds" -max_len=4096 -print_final_stats=0 "$corpus" \
            > "build/fuzz-$name.log" 2>&1; then
        echo "FUZZ FAILURE in $name:"; tail -40 "build/fuzz-$name.log"; status=1
    fi
done
exit $status
