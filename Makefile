# polis build. `make` builds bin/polis; `make test` runs every test; `make bench` the benchmarks;
# `make up` installs what is missing, builds and starts a local 3-replica group.
#
# Sources are found by folder, so adding a file never needs an edit here:
#   src/**/*.c            -> bin/polis (src/cli/main.c holds main)
#   tests/unit/test_*.c   -> one cmocka binary each, run plain and under ASan+UBSan
#   tests/fuzz/fuzz_*.c   -> one libFuzzer binary each (clang), run briefly
#   tests/sim/*.c         -> build/polis-sim (the deterministic Raft simulator)
#   tests/integration/    -> pytest against real bin/polis processes
# Extra rules of one area live in mk/*.mk.

CC      ?= cc
CLANG   ?= clang
PYTHON  ?= /usr/bin/python3
PKGS    := libuv libcjson hiredis openssl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) $(WARN) -g -MMD -MP
OPT     ?= -O2
CFLAGS  ?=
ALL_CFLAGS := $(CFLAGS_BASE) $(OPT) $(CFLAGS)
LIBS    := $(PKG_LIBS) -lm -lpthread

SRC_ALL  := $(shell find src -name '*.c' | sort)
SRC_MAIN := src/cli/main.c
SRC_LIB  := $(filter-out $(SRC_MAIN),$(SRC_ALL))

OBJ_LIB  := $(SRC_LIB:%.c=build/obj/%.o)
ASAN_LIB := $(SRC_LIB:%.c=build/asan/%.o)
FUZZ_LIB := $(SRC_LIB:%.c=build/fuzzobj/%.o)

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/tests/%)
UNIT_ASAN:= $(UNIT_SRC:tests/unit/%.c=build/tests-asan/%)
UNIT_HELPERS := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
SIM_SRC  := $(sort $(wildcard tests/sim/*.c))

ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_SECONDS ?= 20
SEEDS ?= 3000
# Seeds that once found a bug, replayed by every `make sim` beside the range above.
SIM_REGRESSION_SEEDS := 7446 7989 8718 24168 38919

.PHONY: all deps test unit unit-asan fuzz fuzz-build sim integration bench up clean format

all: bin/polis

deps:
	@sh scripts/install-deps.sh

bin/polis: build/obj/src/cli/main.o build/libpolis.a
	@mkdir -p bin
	$(CC) -o $@ $^ $(LIBS)

build/libpolis.a: $(OBJ_LIB)
	@rm -f $@
	ar rcs $@ $^

build/libpolis-asan.a: $(ASAN_LIB)
	@rm -f $@
	ar rcs $@ $^

build/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O1 $(ASAN_FLAGS) -c $< -o $@

build/fuzzobj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CLANG) $(CFLAGS_BASE) -O1 -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

build/tests/%: tests/unit/%.c $(UNIT_HELPERS) build/libpolis.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(UNIT_HELPERS) build/libpolis.a $(LIBS) -lcmocka

build/tests-asan/%: tests/unit/%.c $(UNIT_HELPERS) build/libpolis-asan.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O1 $(ASAN_FLAGS) -Itests/unit -o $@ $< $(UNIT_HELPERS) build/libpolis-asan.a $(LIBS) -lcmocka

build/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	$(CLANG) $(CFLAGS_BASE) -O1 -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_LIB) $(LIBS)

build/polis-sim: $(SIM_SRC) build/libpolis.a
	@mkdir -p build
	$(CC) $(ALL_CFLAGS) -Itests/sim -o $@ $(SIM_SRC) build/libpolis.a $(LIBS)

unit: $(UNIT_BIN)
	@sh scripts/run-unit.sh $(UNIT_BIN)

unit-asan: $(UNIT_ASAN)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 sh scripts/run-unit.sh $(UNIT_ASAN)

fuzz-build: $(FUZZ_BIN)

fuzz: $(FUZZ_BIN)
	@sh scripts/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

sim:
ifneq ($(SIM_SRC),)
	@$(MAKE) --no-print-directory build/polis-sim
	build/polis-sim --seeds $(SEEDS)
	@for s in $(SIM_REGRESSION_SEEDS); do \
	    build/polis-sim --seed $$s > build/sim-regression.txt 2>&1 || \
	    { cat build/sim-regression.txt; exit 1; }; done; \
	echo "regression seeds $(SIM_REGRESSION_SEEDS): passed"
endif

integration: bin/polis
	@sh scripts/run-pytest.sh tests/integration

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory unit-asan
	@$(MAKE) --no-print-directory fuzz
	@$(MAKE) --no-print-directory sim
	@$(MAKE) --no-print-directory integration

bench: deps
	@$(MAKE) --no-print-directory all
	@sh bench/run-all.sh

up: deps
	@$(MAKE) --no-print-directory all
	@exec bin/polis up --replicas 3

format:
	clang-format -i $(SRC_ALL) $(wildcard src/*/*.h tests/*/*.c tests/*/*.h)

clean:
	rm -rf build bin

-include mk/*.mk
-include $(shell find build -name '*.d' 2>/dev/null)
