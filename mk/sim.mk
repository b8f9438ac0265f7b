# The Raft simulator's and the linearizability checker's extra rules (see docs/ARCHITECTURE.md,
# "Raft core"). The Makefile builds tests/sim/*.c into build/polis-sim; the checker's command
# line tool has its own main in tests/sim/lincheck/, which that wildcard does not reach.

LINCHECK_SRC := tests/sim/lincheck.c

build/polis-lincheck: tests/sim/lincheck/main.c $(LINCHECK_SRC) build/libpolis.a
	@mkdir -p build
	$(CC) $(ALL_CFLAGS) -Itests/sim -o $@ $< $(LINCHECK_SRC) build/libpolis.a $(LIBS)

# The checker's unit tests link the checker itself.
build/tests/test_lincheck%: tests/unit/test_lincheck%.c $(LINCHECK_SRC) $(UNIT_HELPERS) build/libpolis.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -Itests/sim -o $@ $< $(LINCHECK_SRC) $(UNIT_HELPERS) \
		build/libpolis.a $(LIBS) -lcmocka

build/tests-asan/test_lincheck%: tests/unit/test_lincheck%.c $(LINCHECK_SRC) $(UNIT_HELPERS) build/libpolis-asan.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O1 $(ASAN_FLAGS) -Itests/unit -Itests/sim -o $@ $< $(LINCHECK_SRC) \
		$(UNIT_HELPERS) build/libpolis-asan.a $(LIBS) -lcmocka

# `make sim` builds the checker too: the fault tests of later issues call it.
sim: build/polis-lincheck

.PHONY: lincheck
lincheck: build/polis-lincheck
