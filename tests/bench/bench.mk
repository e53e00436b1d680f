# tests/bench/bench.mk — `make bench`: builds the benchmarks in release mode
# and runs them through tests/bench/run.sh, which prints tables and writes
# CSV (one file per section) under bench-out/. Included by the Makefile.
#
#   make bench                  every section, full length
#   make bench QUICK=1          the short variant (under 2 minutes)
#   make bench SECTIONS="switch mem"
#                               only these sections, in this order
#   make bench-build            build the benchmark binaries, run nothing
#
# Knobs: BENCH_BUILD (release output folder, default $(BUILD)-release so a
# debug or sanitizer build in $(BUILD) is never mixed in), BENCH_OPT
# (default -O2 -DNDEBUG), BENCH_OUT (default bench-out), BENCH_CPU (the CPU
# the switch benchmarks are pinned to; default the idlest one just before),
# BENCH_SERVER_CPU / BENCH_CLIENT_CPU (the echo sections' pinned placement,
# default 0 and 1), and the ECHO_* / SCALE_* variables described at the top
# of tests/bench/section_echo.sh and section_scale.sh.
#
# Every tests/bench/bench_*.c is a standalone main linked with libcoronet.a;
# bench_switch also links Boost.Context when it is installed. The echo
# sections (issue 5) also need examples/echo_server and the load generator
# tests/bench/echo_client
# (release build, same flags) and the two baseline servers, which do not use
# coronet at all: raw_epoll_echo (plain C, Linux only) and uv_echo (libuv,
# built only when pkg-config finds libuv; otherwise bench-build says so and
# the sections print "libuv: skipped").

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

# bench_threads compares cn_blocking with libuv's uv_queue_work where
# pkg-config finds libuv (CN_UV_* below are recursive, asked only here).
$(BUILD)/bench/bench_threads: tests/bench/bench_threads.c $(LIB_A) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(if $(CN_UV_OK),-DCN_BENCH_UV $(CN_UV_CFLAGS)) $(LDFLAGS) -o $@ $< $(LIB_A) \
	  $(if $(CN_UV_OK),$(CN_UV_LIBS)) $(LDLIBS) -lm

$(BUILD)/bench/%: tests/bench/%.c $(LIB_A) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(LDLIBS) -lm

# The baselines get the library's own compiler flags (release: -O2), so the
# comparison is between code, not between optimisation options.
$(BUILD)/bench/raw_epoll_echo: tests/bench/raw_epoll_echo.c $(FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

# Recursive (=): pkg-config is only asked when bench-build runs.
CN_UV_OK     = $(shell $(PKG_CONFIG) --exists libuv 2>/dev/null && echo yes)
CN_UV_CFLAGS = $(shell $(PKG_CONFIG) --cflags libuv 2>/dev/null)
CN_UV_LIBS   = $(shell $(PKG_CONFIG) --libs libuv 2>/dev/null)

$(BUILD)/bench/uv_echo: tests/bench/uv_echo.c $(FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CN_UV_CFLAGS) $(LDFLAGS) -o $@ $< $(CN_UV_LIBS)

CN_ECHO_BIN := $(BUILD)/examples/echo_server $(BUILD)/bench/echo_client \
	$(BUILD)/examples/http_server
ifeq ($(OS),linux)
  CN_ECHO_BIN += $(BUILD)/bench/raw_epoll_echo
endif

bench-build: $(BENCH_BIN) $(CN_ECHO_BIN) bench-build-uv

.PHONY: bench-build-uv
bench-build-uv:
	@if [ "$(CN_UV_OK)" = yes ]; then \
	  $(MAKE) --no-print-directory $(BUILD)/bench/uv_echo; \
	else \
	  rm -f $(BUILD)/bench/uv_echo; \
	  echo "bench: uv_echo not built: libuv not found by pkg-config (Debian: apt-get install libuv1-dev); the echo sections will say libuv: skipped"; \
	fi

# The release build is a separate make run: BUILD and OPT decide object paths
# and flags when the Makefile is read, so they cannot change per target.
bench:
	@$(MAKE) --no-print-directory BUILD='$(BENCH_BUILD)' OPT='$(BENCH_OPT)' \
	  SAN= RUNNER= bench-build
	@BENCH_BIN_DIR='$(BENCH_BUILD)/bench' BENCH_EX_DIR='$(BENCH_BUILD)/examples' \
	  BENCH_OUT='$(BENCH_OUT)' \
	  BENCH_CPU='$(BENCH_CPU)' QUICK='$(QUICK)' SECTIONS='$(SECTIONS)' \
	  CC='$(CC)' sh tests/bench/run.sh

endif
