# The replication fault tests (tests/integration/test_repl_faults*.py) check their recorded
# histories with the linearizability checker, so `make integration` builds it first.
integration: build/polis-lincheck
