# mlic build. Optional parts are detected and can be switched off: make ONEDNN=0 CUDA=0 MPI=0 ONNX=0
# Targets: all (default), deps, test, check-asan, check-tsan, demo, bench, bench-train, bench-quality, bench-onednn, bench-dist,
#          bench-quant,
# install PREFIX=..., clean, soak, fuzz FUZZ_SECONDS=N (docs/robustness.md).

CC      ?= gcc
PREFIX  ?= /usr/local
BUILD   ?= build
# Instruction set: a portable baseline by default, so that one build (say on a cluster's shared
# file system) runs on every node, its own kernels computing the same on each: x86-64-v3 (AVX2,
# FMA, BMI2: Intel Haswell, AMD Zen and later; README "Which CPUs a build runs on"). oneDNN
# picks its kernels at run time whatever this says. make NATIVE=1: -march=native, for CPUs like
# the build machine's only; make MARCH=x86-64-v2 for x86-64 CPUs without AVX2. Other
# architectures get the compiler's default.
ifeq ($(NATIVE),1)
MARCH   := native
endif
ifeq ($(origin MARCH), undefined)
MARCH   := $(if $(filter x86_64-%,$(shell $(CC) -dumpmachine)),x86-64-v3)
endif
OPT     ?= -O2 $(if $(MARCH),-march=$(MARCH))
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -fPIC -pthread -Iinclude -Isrc
LDLIBS  := -pthread -lm
# Sanitizer builds (check-asan, check-tsan below) set SAN: it goes to every compile and every link.
SAN     ?=
CFLAGS  += $(SAN)
LDLIBS  += $(SAN)

PKGS := libturbojpeg libpng libwebp libwebpdemux libcurl libcjson libexif libcrypto
CFLAGS += $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lgif

# ---- optional backends, detected at build time
ifeq ($(origin ONEDNN), undefined)
ONEDNN := $(if $(wildcard /usr/include/dnnl.h),1,0)
endif
ifeq ($(origin CUDA), undefined)
CUDA := $(if $(wildcard /usr/local/cuda/include/cudnn.h /usr/include/cudnn.h),1,0)
endif
ifeq ($(origin MPI), undefined)
MPI := $(if $(shell pkg-config --exists ompi-c 2>/dev/null && echo y),1,0)
endif
# ONNX import: the reader is generated from libonnx-dev's onnx.proto by protoc-c at build time.
ONNX_PROTO_DIR := /usr/include
ONNX_PROTO := $(ONNX_PROTO_DIR)/onnx/onnx.proto
ifeq ($(origin ONNX), undefined)
ONNX := $(if $(and $(wildcard $(ONNX_PROTO)),$(wildcard /usr/include/protobuf-c/protobuf-c.h),$(shell command -v protoc-c)),1,0)
endif

# The release (mlic.h's MLIC_VERSION_*) and the shared library's names (below).
version_part = $(shell sed -n 's/^\#define MLIC_VERSION_$(1) \([0-9]*\)$$/\1/p' include/mlic.h)
MLIC_MAJOR := $(call version_part,MAJOR)
MLIC_MINOR := $(call version_part,MINOR)
MLIC_VERSION := $(MLIC_MAJOR).$(MLIC_MINOR).$(call version_part,PATCH)
LIB_SONAME := libmlic.so.$(if $(filter 0,$(MLIC_MAJOR)),0.$(MLIC_MINOR),$(MLIC_MAJOR))
LIB_REAL := libmlic.so.$(MLIC_VERSION)

LIB_SRC := $(sort $(wildcard src/*/*.c))
LIB_SRC := $(filter-out src/cli/%,$(LIB_SRC))
ifeq ($(ONEDNN),1)
CFLAGS += -DMLIC_HAVE_ONEDNN=1
LDLIBS += -ldnnl -fopenmp
else
CFLAGS += -DMLIC_HAVE_ONEDNN=0
LIB_SRC := $(filter-out src/backend/onednn%,$(LIB_SRC))
endif
CFLAGS += -fopenmp
ifeq ($(MPI),1)
CFLAGS += -DMLIC_HAVE_MPI=1 $(shell pkg-config --cflags ompi-c)
LDLIBS += $(shell pkg-config --libs ompi-c)
else
CFLAGS += -DMLIC_HAVE_MPI=0
LIB_SRC := $(filter-out src/dist/mpi%,$(LIB_SRC))
endif
CLI_SRC := $(sort $(wildcard src/cli/*.c))

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
GEN := $(BUILD)/gen
ifeq ($(ONNX),1)
CFLAGS += -DMLIC_HAVE_ONNX=1 -I$(GEN)
LDLIBS += -lprotobuf-c
LIB_OBJ += $(GEN)/onnx/onnx.pb-c.o
else
CFLAGS += -DMLIC_HAVE_ONNX=0
endif
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(wildcard tests/c/test_*.c))
TEST_BIN := $(TEST_SRC:tests/c/%.c=$(BUILD)/tests/%)
# tool_*: small programs the Python tests drive (run a forward pass, preprocess one image...).
TOOL_SRC := $(sort $(wildcard tests/c/tool_*.c))
TEST_BIN += $(TOOL_SRC:tests/c/%.c=$(BUILD)/tests/%)

.PHONY: all deps test test-c test-py demo bench install clean config
BENCH_BIN := $(BUILD)/bench/bench_forward $(BUILD)/bench/bench_train_step
DEMO_BIN := $(BUILD)/demo/gen_shapes

all: config $(BUILD)/libmlic.a $(BUILD)/libmlic.so $(BUILD)/mlic $(TEST_BIN) $(BENCH_BIN) $(DEMO_BIN)

config:
	@echo "mlic build: oneDNN=$(ONEDNN) CUDA=$(CUDA) MPI=$(MPI) ONNX=$(ONNX) (override: make ONEDNN=0 CUDA=0 MPI=0 ONNX=0)"
	@echo "mlic build: CPU baseline $(or $(MARCH),the compiler default) (make NATIVE=1: this machine's)"

deps:
	scripts/deps.sh test

# Objects depend on the configuration, so that `make ONEDNN=0` after `make` rebuilds what changed.
CONFIG_STAMP := $(BUILD)/config.stamp
$(shell mkdir -p $(BUILD); echo '$(CC) $(CFLAGS)' | cmp -s - $(CONFIG_STAMP) || echo '$(CC) $(CFLAGS)' > $(CONFIG_STAMP))

$(BUILD)/%.o: %.c $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The generated ONNX reader (not committed): onnx/onnx.pb-c.{c,h} under $(GEN).
$(GEN)/onnx/onnx.pb-c.c $(GEN)/onnx/onnx.pb-c.h: $(ONNX_PROTO)
	@mkdir -p $(GEN)
	protoc-c --proto_path=$(ONNX_PROTO_DIR) --c_out=$(GEN) $(ONNX_PROTO)

$(GEN)/onnx/onnx.pb-c.o: $(GEN)/onnx/onnx.pb-c.c $(CONFIG_STAMP)
	$(CC) $(CFLAGS) -w -c $< -o $@

$(BUILD)/src/model/onnx_import.o: $(if $(filter 1,$(ONNX)),$(GEN)/onnx/onnx.pb-c.h)
$(BUILD)/src/model/onnx_export.o: $(if $(filter 1,$(ONNX)),$(GEN)/onnx/onnx.pb-c.h)

$(BUILD)/libmlic.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The shared library is named for its ABI (the rules at the top of mlic.h): the file
# libmlic.so.MAJOR.MINOR.PATCH carries the SONAME libmlic.so.MAJOR, or libmlic.so.0.MINOR while
# MAJOR is 0 (each 0.y may break the ABI), which programs record and ld.so looks for;
# libmlic.so, which the linker's -lmlic finds, points at it.
$(BUILD)/$(LIB_REAL): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) -o $@ $^ $(LDLIBS)

$(BUILD)/$(LIB_SONAME): $(BUILD)/$(LIB_REAL)
	ln -sfn $(LIB_REAL) $@

$(BUILD)/libmlic.so: $(BUILD)/$(LIB_SONAME)
	ln -sfn $(LIB_SONAME) $@

$(BUILD)/mlic: $(CLI_OBJ) $(BUILD)/libmlic.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libmlic.a $(LDLIBS)

$(BUILD)/tests/%: tests/c/%.c $(BUILD)/libmlic.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/c -o $@ $< $(BUILD)/libmlic.a $(LDLIBS)

# tool_io parses the storage options as the commands do (src/cli/storage_args.c).
$(BUILD)/tests/tool_io: tests/c/tool_io.c $(BUILD)/libmlic-cli.a $(BUILD)/libmlic.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/c -o $@ $< $(BUILD)/libmlic-cli.a $(BUILD)/libmlic.a $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libmlic.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libmlic.a $(LDLIBS)

$(BUILD)/demo/gen_shapes: $(wildcard demo/*.c) $(BUILD)/libmlic.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(wildcard demo/*.c) $(BUILD)/libmlic.a $(LDLIBS)

# `make test` is the README's one command: installs what is missing, builds, runs every test.
test:
	scripts/deps.sh test
	scripts/test_venv.sh
	$(MAKE) all
	tests/run.sh

# `make check-asan` / `make check-tsan`: the tests on sanitized builds, each in its own folder
# (docs/robustness.md, "Sanitizers").
ASAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
.PHONY: check-asan check-tsan
check-asan:
	scripts/deps.sh test
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="$(ASAN)" all
	tests/check_asan.sh

check-tsan:
	scripts/deps.sh test
	$(MAKE) BUILD=build-tsan OPT=-O1 SAN=-fsanitize=thread build-tsan/mlic \
	    build-tsan/tests/test_util build-tsan/tests/test_loader build-tsan/tests/test_cache
	tests/check_tsan.sh

# `make demo`: installs build deps, builds, generates shapes, trains, evaluates, predicts.
demo:
	demo/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BUILD)/mlic $(DESTDIR)$(PREFIX)/bin/mlic
	install -m 644 $(BUILD)/libmlic.a $(DESTDIR)$(PREFIX)/lib/libmlic.a
	install -m 755 $(BUILD)/$(LIB_REAL) $(DESTDIR)$(PREFIX)/lib/$(LIB_REAL)
	ln -sfn $(LIB_REAL) $(DESTDIR)$(PREFIX)/lib/$(LIB_SONAME)
	ln -sfn $(LIB_SONAME) $(DESTDIR)$(PREFIX)/lib/libmlic.so
	install -m 644 include/mlic.h $(DESTDIR)$(PREFIX)/include/mlic.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(MLIC_VERSION)|' \
	    -e 's|@LIBS@|$(LDLIBS)|' mlic.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/mlic.pc

bench: all
	scripts/deps.sh bench
	bench/run.sh

# `make bench-train`: training speed and quality against PyTorch; writes bench/RESULTS-train.md.
.PHONY: bench-train
bench-train: all
	scripts/deps.sh bench
	bench/run_train.sh

# `make bench-quality` (opt-in, hours): mlic train vs the PyTorch recipe on a fixed Corel-5k
# validation split, 3 seeds each; per-seed logs in bench/logs, a section of bench/RESULTS-train.md.
.PHONY: bench-quality
bench-quality: all
	scripts/deps.sh bench
	nice -n 10 /usr/bin/python3 bench/bench_quality.py

# `make bench-onednn`: Debian's oneDNN 2.6 against PyPI's 3.2 on ResNet convolutions (fp32, bf16,
# int8; native and AVX2); writes bench/RESULTS-onednn.md.
.PHONY: bench-onednn
bench-onednn:
	scripts/deps.sh bench
	/usr/bin/python3 bench/onednn_compare/compare.py

# `make bench-quant` (opt-in): mAP and speed of fp32, bf16 and int8 (docs/quantization.md);
# writes bench/RESULTS-quant.md.
.PHONY: bench-quant
bench-quant: all
	scripts/deps.sh bench
	nice -n 10 /usr/bin/python3 bench/bench_quant.py

# `make bench-dist`: 1 vs 2 processes (--workers, mpirun); writes bench/RESULTS-dist.md.
.PHONY: bench-dist
bench-dist: all
	/usr/bin/python3 bench/bench_dist.py

# `make soak` (opt-in, not in `make test`): 1,000,000 lines of good, missing and broken inputs
# through mlic predict and a multi-epoch training run, RSS sampled; writes bench/RESULTS-soak.md.
.PHONY: soak
soak: all
	/usr/bin/python3 bench/soak.py

# `make fuzz FUZZ_SECONDS=N`: the libFuzzer harnesses (fuzz/fuzz_*.c, one per parser) built by
# clang with AddressSanitizer and UBSan into build-fuzz/ (without oneDNN or MPI: no parser needs
# them), each run N seconds from its seed corpus (fuzz/run.sh; docs/robustness.md).
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
            -fno-sanitize-recover=undefined
.PHONY: fuzz fuzz-build
fuzz:
	scripts/deps.sh fuzz
	$(MAKE) fuzz-build BUILD=build-fuzz CC=clang ONEDNN=0 MPI=0 CUDA=0 OPT="$(FUZZ_OPT)"
	fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

fuzz-build: $(FUZZ_BIN)

# The CLI's objects but main, for the option-parsing harness.
$(BUILD)/libmlic-cli.a: $(filter-out $(BUILD)/src/cli/main.o,$(CLI_OBJ))
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/%: fuzz/%.c fuzz/fuzz.h fuzz/fuzz_text_dataset.h $(BUILD)/libmlic-cli.a $(BUILD)/libmlic.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libmlic-cli.a $(BUILD)/libmlic.a $(LDLIBS)

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
