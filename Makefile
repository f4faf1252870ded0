# mvla build. `make` builds the library, the `mvla` command and the tests.
#   make test        installs missing Debian packages, runs the tests, then again under ASan+UBSan
#   make check       runs the tests once (SAN=1: under ASan+UBSan, in build-san/)
#   make demo        the main job on built-in data
#   make bench       benchmarks
#   make bench-peers mvla vs PyTorch on the default student (needs scripts/install-deps.sh dev)
#   make fuzz        builds the safetensors fuzz target (clang + libFuzzer)
#   make install     library, include/mvla.h and mvla.pc under PREFIX (default /usr/local)
CC ?= cc
SAN ?= 0
ifeq ($(SAN),1)
BUILD := build-san
OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD := build
OPT := -O3 -g -march=native
endif
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
HDF5_CFLAGS := $(shell pkg-config --cflags hdf5 2>/dev/null)
HDF5_LIBS := $(shell pkg-config --libs hdf5 2>/dev/null || echo -lhdf5)
STB_CFLAGS := $(shell pkg-config --cflags stb 2>/dev/null || echo -I/usr/include/stb)
CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -fopenmp $(OPT) -Isrc -Iinclude $(BLAS_CFLAGS) $(HDF5_CFLAGS) \
  $(STB_CFLAGS) -MMD -MP
V4L2_LIBS := $(shell pkg-config --libs libv4l2 2>/dev/null || echo -lv4l2)
LDLIBS := $(BLAS_LIBS) $(HDF5_LIBS) $(V4L2_LIBS) -lstb -ljansson -lpthread -lm
LDFLAGS := -fopenmp $(OPT)

LIB_SRC := $(shell find src -name '*.c' -not -path 'src/cli/*' | sort)
CLI_SRC := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/*.c)
BENCH_SRC := $(wildcard bench/*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps test check demo bench fuzz fuzz-episode install clean
all: $(BUILD)/libmvla.a $(BUILD)/mvla $(BUILD)/mvla_tests

deps:
	@scripts/install-deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libmvla.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/mvla: $(CLI_OBJ) $(BUILD)/libmvla.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/mvla_tests: $(TEST_OBJ) $(BUILD)/libmvla.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libmvla.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Passive OpenMP waiting: idle team threads sleep instead of spinning, which matters when tests
# run beside background threads (batch prefetch) or other jobs on few cores.
check: $(BUILD)/mvla_tests $(BUILD)/mvla
	OMP_WAIT_POLICY=passive MVLA_BIN=$(BUILD)/mvla $(BUILD)/mvla_tests

test: deps
	$(MAKE) check
	$(MAKE) check SAN=1

demo: deps
	$(MAKE) $(BUILD)/mvla
	scripts/demo.sh $(BUILD)/mvla

bench: deps $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

# mvla vs its PyTorch peer on the default student (bench/peers/run_student_peer.sh): outputs checked
# equal, then steps/s ratios at 1 and 2 threads.
.PHONY: bench-peers
bench-peers: $(BUILD)/mvla
	@scripts/install-deps.sh dev
	BUILD=$(BUILD) bench/peers/run_student_peer.sh

FUZZ_SRC := src/io/safetensors.c src/base/error.c src/base/file.c src/base/arena.c src/base/rng.c src/tensor/tensor.c
fuzz: $(FUZZ_SRC) tests/fuzz/fuzz_safetensors.c
	@mkdir -p build-fuzz
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  -Isrc -Iinclude -o build-fuzz/fuzz_safetensors tests/fuzz/fuzz_safetensors.c $(FUZZ_SRC) -ljansson -lm

install: $(BUILD)/libmvla.a
	BUILD=$(BUILD) scripts/install.sh $(or $(PREFIX),/usr/local)

fuzz-episode:
	scripts/fuzz-episode.sh

clean:
	rm -rf build build-san build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
