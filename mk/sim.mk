# The Raft simulator's and the linearizability checker's extra rules (see docs/ARCHITECTURE.md,
# "Raft core"). The Makefile builds tests/sim/*.c into build/polis-sim; the checker's command
# line tool has its own main in tests/sim/lincheck/, which that wildcard does not reach.

LINCHECK_SRC := tests/sim/lincheck.c

build/polis-lincheck: tests/sim/lincheck/main.c $(LINCHECK_SRC) build/libpolis.a
	@mkdir -p build
	$(CC) $(ALL_CFLAGS) -Itests/sim -o $@ $< $(LINCHECK_SRC) build/libpolis.a $(LIBS)

# The checker's unit tests (tests/unit/test_lincheck*.c) link the checker itself.
LINCHECK_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_lincheck*.c))

$(LINCHECK_TESTS:%=build/tests/%): build/tests/%: tests/unit/%.c $(LINCHECK_SRC) $(UNIT_HELPERS) build/libpolis.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -Itests/sim -o $@ $< $(LINCHECK_SRC) $(UNIT_HELPERS) \
		build/libpolis.a $(LIBS) -lcmocka

$(LINCHECK_TESTS:%=build/tests-asan/%): build/tests-asan/%: tests/unit/%.c $(LINCHECK_SRC) $(UNIT_HELPERS) build/libpolis-asan.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O1 $(ASAN_FLAGS) -Itests/unit -Itests/sim -o $@ $< $(LINCHECK_SRC) \
		$(UNIT_HELPERS) build/libpolis-asan.a $(LIBS) -lcmocka

# `make sim` builds the checker too: the fault tests of later issues call it.
sim: build/polis-lincheck

# The simulator under ASan and UBSan (slower, about a fifth of the speed): make sim-asan SEEDS=N
build/polis-sim-asan: $(SIM_SRC) build/libpolis-asan.a
	@mkdir -p build
	$(CC) $(CFLAGS_BASE) -O1 $(ASAN_FLAGS) -Itests/sim -o $@ $(SIM_SRC) build/libpolis-asan.a $(LIBS)

.PHONY: lincheck sim-asan
lincheck: build/polis-lincheck

sim-asan: build/polis-sim-asan
	ASAN_OPTIONS=detect_leaks=1 build/polis-sim-asan --seeds $(SEEDS)

# The Raft fuzz targets link only the core and what it stands on (src/raft, src/core): the
# pure core must not need anything else, and this keeps that true.
RAFT_FUZZ_OBJ := $(filter build/fuzzobj/src/raft/% build/fuzzobj/src/core/%,$(FUZZ_LIB))

build/fuzz/fuzz_raft%: tests/fuzz/fuzz_raft%.c $(RAFT_FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(CLANG) $(CFLAGS_BASE) -O1 -fsanitize=fuzzer,address,undefined -o $@ $< $(RAFT_FUZZ_OBJ) $(LIBS)
