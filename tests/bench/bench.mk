# tests/bench/bench.mk — `make bench`: builds the benchmarks in release mode
# and runs them through tests/bench/run.sh, which prints tables and writes
# CSV (one file per section) under bench-out/. Included by the Makefile.
#
#   make bench                  every section, full length
#   make bench QUICK=1          the short variant (well under 2 minutes)
#   make bench SECTIONS="switch mem"
#                               only these sections, in this order
#   make bench-build            build the benchmark binaries, run nothing
#
# Knobs: BENCH_BUILD (release output folder, default $(BUILD)-release so a
# debug or sanitizer build in $(BUILD) is never mixed in), BENCH_OPT
# (default -O2 -DNDEBUG), BENCH_OUT (default bench-out), BENCH_CPU (the CPU
# the switch benchmarks are pinned to; default the idlest one just before).
#
# Every tests/bench/bench_*.c is a standalone main linked with libcoronet.a;
# bench_switch also links Boost.Context when it is installed. Binaries that
# need more (the echo servers of issue 5) get their own rules below.

ifndef CN_BENCH_MK_INCLUDED
CN_BENCH_MK_INCLUDED := 1

BENCH_BUILD ?= $(BUILD)-release
BENCH_OPT   ?= -O2 -DNDEBUG
BENCH_OUT   ?= bench-out
BENCH_CPU   ?=
QUICK       ?=
SECTIONS    ?=

BENCH_SRC := $(wildcard tests/bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

# Boost.Context: the static library when there is one, so that both sides of
# the comparison are called without a PLT hop; else the shared one; else
# bench_switch is built without it and says "skipped". Recursive (=) so the
# probe only runs when bench_switch is actually linked.
CN_BOOST_PROBE = $(shell for l in -l:libboost_context.a -lboost_context; do \
	  if echo 'int main(void){return 0;}' | $(CC) -x c - $$l -o /dev/null \
	     >/dev/null 2>&1; then echo "$$l"; break; fi; done)
BOOST_CONTEXT_LIBS ?= $(CN_BOOST_PROBE)

.PHONY: bench bench-build

$(BUILD)/bench/bench_switch: tests/bench/bench_switch.c $(LIB_A) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(if $(strip $(BOOST_CONTEXT_LIBS)),-DCN_BENCH_BOOST) \
	  $(LDFLAGS) -o $@ $< $(LIB_A) $(BOOST_CONTEXT_LIBS) $(LDLIBS) -lm

$(BUILD)/bench/%: tests/bench/%.c $(LIB_A) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(LDLIBS) -lm

bench-build: $(BENCH_BIN)

# The release build is a separate make run: BUILD and OPT decide object paths
# and flags when the Makefile is read, so they cannot change per target.
bench:
	@$(MAKE) --no-print-directory BUILD='$(BENCH_BUILD)' OPT='$(BENCH_OPT)' \
	  SAN= RUNNER= bench-build
	@BENCH_BIN_DIR='$(BENCH_BUILD)/bench' BENCH_OUT='$(BENCH_OUT)' \
	  BENCH_CPU='$(BENCH_CPU)' QUICK='$(QUICK)' SECTIONS='$(SECTIONS)' \
	  CC='$(CC)' sh tests/bench/run.sh

endif
