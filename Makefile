# coronet — build, test, check, bench, install.
#
#   make              static + shared library in $(BUILD)/
#   make demo         build and run the threaded echo server demo
#   make test         build and run the cmocka suite
#   make check        the suite under ASan+UBSan, TSan, then Valgrind (if installed)
#   make test-arm64   cross-build for arm64 and run the suite under qemu-aarch64
#   make check-macho  assemble the Mach-O arm64 context switch with clang
#   make bench        benchmarks (release build), tables + CSV under bench-out/
#   make examples     build examples/
#   make install      PREFIX=/usr/local DESTDIR=   (make uninstall undoes it)
#   make check-install  install into a scratch prefix, build programs with pkg-config
#   make deps         install every package any target uses
#   make clean        remove $(BUILD) and $(BUILD)-* (sanitizer, arm64 builds)
#
# Knobs: CC, BUILD (output folder, so several builds can share a tree),
# NETPOLL=epoll|kqueue (default by platform), KQUEUE_CFLAGS/KQUEUE_LIBS (to
# build the kqueue backend on Linux against libkqueue), SAN=address|thread,
# RUNNER (prefix for running test binaries, e.g. valgrind or qemu),
# TESTS (test names to build and run, e.g. TESTS="test_coro test_stack"),
# CASE (one case or a glob of them, e.g. CASE='test_pipe/thread'),
# TEST_TIMEOUT (seconds per test binary), AUTO_DEPS=0 (never install
# packages by itself; just say what is missing), WERROR=1 (warnings fail the
# build, as in CI).
#
# Written for GNU make 3.81 and later: macOS ships 3.81.

VERSION   := 0.1.0
SOVERSION := 0

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
PCDIR   ?= $(LIBDIR)/pkgconfig
DESTDIR ?=
SAN     ?=
RUNNER  ?=
OPT     ?= -O2 -g
TEST_TIMEOUT ?= 600
AUTO_DEPS    ?= 1
PKG_CONFIG   ?= pkg-config

# --- dependencies ---------------------------------------------------------
# Checked before anything else so that a fresh machine gets its compiler,
# pkg-config, Concurrency Kit and cmocka installed (scripts/deps.sh, as root,
# with sudo or with Homebrew) or a message naming them, instead of a compiler
# error. Flags passed by hand (CK_CFLAGS=... on the command line, as the
# arm64 cross build does) mean "don't look for it".
CN_GOALS       := $(if $(MAKECMDGOALS),$(MAKECMDGOALS),all)
CN_NODEP_GOALS := clean distclean deps check-macho help uninstall test-arm64
CN_TEST_GOALS  := test check
ifneq ($(filter-out $(CN_NODEP_GOALS),$(CN_GOALS)),)
  CN_NEED := cc
  ifeq ($(origin CK_CFLAGS)$(origin CK_LIBS),undefinedundefined)
    CN_NEED += pkg-config ck
  endif
  ifneq ($(filter $(CN_TEST_GOALS),$(CN_GOALS))$(findstring /tests/,$(CN_GOALS)),)
    ifeq ($(origin CMOCKA_CFLAGS)$(origin CMOCKA_LIBS),undefinedundefined)
      CN_NEED += pkg-config cmocka
    endif
  endif
  ifeq ($(AUTO_DEPS),1)
    CN_DEPS_MODE := --ensure
  else
    CN_DEPS_MODE := --check
  endif
  CN_DEPS_RC := $(shell CC='$(CC)' PKG_CONFIG='$(PKG_CONFIG)' sh scripts/deps.sh $(CN_DEPS_MODE) $(sort $(CN_NEED)) >&2; echo $$?)
  ifneq ($(CN_DEPS_RC),0)
    $(error coronet: missing dependencies, see above)
  endif
endif

# --- target ---------------------------------------------------------------
# The target triple decides the context switch file and the poller, so a
# cross compiler (CC=aarch64-linux-gnu-gcc) picks the right ones by itself.
TRIPLE := $(shell $(CC) -dumpmachine 2>/dev/null)
ifeq ($(TRIPLE)$(CN_NEED),)
  # No compiler, and a goal that needs none (clean, deps, check-macho, ...).
  TRIPLE := $(shell uname -m)-$(shell uname -s | tr A-Z a-z)
endif
ifneq ($(findstring darwin,$(TRIPLE))$(findstring apple,$(TRIPLE)),)
  OS := darwin
else
  OS := linux
endif
ifneq ($(filter x86_64%,$(TRIPLE)),)
  CPU := x86_64
else ifneq ($(filter aarch64% arm64%,$(TRIPLE)),)
  CPU := arm64
else
  $(error coronet: unsupported target '$(TRIPLE)' from '$(CC) -dumpmachine': the context switch exists for x86_64 and arm64)
endif

ifeq ($(OS)-$(CPU),linux-x86_64)
  SWITCH := switch_x86_64_sysv_elf_gas.S
else ifeq ($(OS)-$(CPU),linux-arm64)
  SWITCH := switch_arm64_aapcs_elf_gas.S
else ifeq ($(OS)-$(CPU),darwin-arm64)
  SWITCH := switch_arm64_aapcs_macho_gas.S
else
  $(error coronet: no context switch for $(OS)-$(CPU))
endif

ifeq ($(OS),darwin)
  NETPOLL ?= kqueue
  SOEXT   := dylib
  SO_REAL := libcoronet.$(VERSION).dylib
  SO_NAME := libcoronet.$(SOVERSION).dylib
  SO_LINK := libcoronet.dylib
  SOFLAGS  = -dynamiclib -install_name $(LIBDIR)/$(SO_NAME) \
             -compatibility_version 1 -current_version $(VERSION)
else
  NETPOLL ?= epoll
  SOEXT   := so
  SO_REAL := libcoronet.so.$(VERSION)
  SO_NAME := libcoronet.so.$(SOVERSION)
  SO_LINK := libcoronet.so
  # The shared library exports the public API (cn_*) only; the internal
  # cn__* names stay visible to the tests, which link the static library.
  SOFLAGS  = -shared -Wl,-soname,$(SO_NAME) -Wl,--version-script,$(BUILD)/coronet.map
endif

# Dependencies come from pkg-config where they ship a .pc; cross builds pass
# CK_CFLAGS/CK_LIBS/CMOCKA_* directly. Evaluated once here (not on every
# compile command).
ifeq ($(origin CK_CFLAGS),undefined)
  CK_CFLAGS := $(shell $(PKG_CONFIG) --cflags ck 2>/dev/null)
endif
ifeq ($(origin CK_LIBS),undefined)
  CK_LIBS := $(shell $(PKG_CONFIG) --libs ck 2>/dev/null || echo -lck)
endif
ifeq ($(origin CMOCKA_CFLAGS),undefined)
  CMOCKA_CFLAGS := $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)
endif
ifeq ($(origin CMOCKA_LIBS),undefined)
  CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)
endif
# On Linux the kqueue backend needs libkqueue (DEVELOPERS.md); its .pc, when
# installed, saves passing the flags by hand. macOS has kqueue in libc.
ifeq ($(OS)-$(NETPOLL),linux-kqueue)
  ifeq ($(origin KQUEUE_CFLAGS)$(origin KQUEUE_LIBS),undefinedundefined)
    KQUEUE_CFLAGS := $(shell $(PKG_CONFIG) --cflags libkqueue 2>/dev/null)
    KQUEUE_LIBS   := $(shell $(PKG_CONFIG) --libs libkqueue 2>/dev/null)
  endif
endif
KQUEUE_CFLAGS ?=
KQUEUE_LIBS   ?=
ifneq ($(CN_NEED),)
  ifeq ($(filter epoll kqueue,$(NETPOLL)),)
    $(error coronet: NETPOLL=$(NETPOLL): use NETPOLL=epoll or NETPOLL=kqueue)
  endif
  ifeq ($(OS)-$(NETPOLL)-$(strip $(KQUEUE_CFLAGS)$(KQUEUE_LIBS)),linux-kqueue-)
    $(error coronet: NETPOLL=kqueue on Linux needs libkqueue: no libkqueue.pc found and KQUEUE_CFLAGS/KQUEUE_LIBS not given (DEVELOPERS.md, "The kqueue backend on Linux"))
  endif
endif

# Stack-clash protection probes every page of a large frame, so a frame
# bigger than a coroutine's guard faults in the guard (reported by name)
# instead of writing into the neighbouring coroutine's stack. The library
# and its tests are built with it wherever the compiler takes it (asked
# once, with -Werror so a compiler that merely ignores it says no).
CN_STACK_CLASH := $(shell echo 'int cn_probe;' | $(CC) -Werror -fstack-clash-protection -x c -c - -o /dev/null 2>/dev/null && echo -fstack-clash-protection)

# "override" so that CFLAGS=... on the command line adds to these flags
# instead of replacing the include paths and the poller choice.
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
ifeq ($(WERROR),1)
  WARN  += -Werror
endif
CFLAGS  ?=
override CFLAGS  += -std=c11 -D_GNU_SOURCE -fPIC $(OPT) $(WARN) $(CN_STACK_CLASH) -Iinclude -iquote src -Inetpoll $(CK_CFLAGS)
override LDLIBS  += $(CK_LIBS) -lpthread
ifeq ($(NETPOLL),kqueue)
  override CFLAGS += $(KQUEUE_CFLAGS) -DCN_NETPOLL_KQUEUE
  override LDLIBS += $(KQUEUE_LIBS)
else
  override CFLAGS += -DCN_NETPOLL_EPOLL
endif

ifeq ($(SAN),address)
  override CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
  override LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SAN),thread)
  override CFLAGS  += -fsanitize=thread -fno-omit-frame-pointer
  override LDFLAGS += -fsanitize=thread
else ifneq ($(SAN),)
  $(error coronet: SAN=$(SAN): use SAN=address (ASan+UBSan) or SAN=thread (TSan))
endif

# --- sources and outputs --------------------------------------------------
HDRS    := $(wildcard include/*.h include/coronet/*.h src/*.h netpoll/*.h)
LIB_SRC := $(wildcard src/*.c) netpoll/$(NETPOLL).c
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/src/arch/$(SWITCH:.S=.o)
LIB_A   := $(BUILD)/libcoronet.a
LIB_SO  := $(BUILD)/libcoronet.$(SOEXT)
PC_FILE := $(BUILD)/coronet.pc

TEST_SRC  := $(wildcard tests/test_*.c)
TESTS     ?= $(TEST_SRC:tests/%.c=%)
TEST_BIN  := $(addprefix $(BUILD)/tests/,$(TESTS))
TEST_HELP := $(wildcard tests/helpers/*.c)
TEST_HDRS := $(wildcard tests/helpers/*.h)
EX_SRC    := $(wildcard examples/*.c)
EX_BIN    := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)

.PHONY: all lib test check examples bench demo install uninstall clean distclean \
	check-macho test-arm64 deps help cn-force check-install
all: lib
lib: $(LIB_A) $(LIB_SO)

# $(FLAGS) holds the compiler and flags of the last build in $(BUILD); it is
# rewritten only when they change (OPT=, WERROR=1, CFLAGS=...), which then
# rebuilds everything instead of mixing objects built two ways.
FLAGS := $(BUILD)/.flags
CN_FLAGS_NOW = $(CC) $(CFLAGS) $(CMOCKA_CFLAGS) $(LDFLAGS) $(LDLIBS) $(CMOCKA_LIBS)
$(FLAGS): cn-force
	@mkdir -p $(dir $@)
	@printf '%s\n' '$(subst ','\'',$(CN_FLAGS_NOW))' > $@.new; \
	if cmp -s $@.new $@; then rm -f $@.new; else mv -f $@.new $@; fi

$(BUILD)/obj/%.o: %.c $(HDRS) $(FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.S $(FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(LIB_SO): $(LIB_OBJ)
ifneq ($(OS),darwin)
	@echo '{ global: cn_[a-z]*; local: *; };' > $(BUILD)/coronet.map
endif
	$(CC) $(SOFLAGS) $(LDFLAGS) -o $@ $(LIB_OBJ) $(LDLIBS)
	@ln -sf libcoronet.$(SOEXT) $(BUILD)/$(SO_NAME)

$(BUILD)/tests/%: tests/%.c $(TEST_HELP) $(LIB_A) $(HDRS) $(TEST_HDRS) $(FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CMOCKA_CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(TEST_HELP) $(LIB_A) $(CMOCKA_LIBS) $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(wildcard examples/*.h) $(LIB_A) $(HDRS) $(FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)

examples: $(EX_BIN)

# --- running tests --------------------------------------------------------
# Each test binary is its own process (a crash in one cannot hide another's
# result). scripts/run-tests.sh prints every binary's output and closes with
# "N passed, M failed" counted in test cases; a binary that crashes, hangs
# past TEST_TIMEOUT or exits non-zero on its own (Valgrind, TSan) counts as a
# failure. CORONET_BUILD tells tests where their sibling binaries are.
# CASE (a cmocka glob) runs only the matching cases of each binary: every
# test binary reads it as CN_TEST_CASE (tests/helpers/cn_test.h).
CASE ?=
# test_examples runs the examples: they are built first.
test: $(TEST_BIN) $(EX_BIN)
	@RUNNER='$(RUNNER)' TEST_TIMEOUT='$(TEST_TIMEOUT)' CORONET_BUILD='$(BUILD)' \
	  $(if $(CASE),CN_TEST_CASE='$(CASE)') sh scripts/run-tests.sh $(TEST_BIN)

# Valgrind runs the plain build. Definite and indirect leaks are errors;
# "possibly lost" is not (pointers into the middle of coroutine stacks look
# like that). --fair-sched=yes: Valgrind runs one thread at a time, and its
# default lock lets a thread that never enters the kernel (a coroutine that
# loops on cn_yield_now) take it back at every time slice, so a pool worker
# waiting for it starved for minutes (test_regular_file_on_pool hung CI).
VALGRIND       ?= valgrind
VALGRIND_FLAGS ?= -q --error-exitcode=1 --fair-sched=yes --leak-check=full \
	--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
	$(if $(wildcard .ci/valgrind.supp),--suppressions=.ci/valgrind.supp)

# The three runs go on after a failure so one report shows all of them.
check:
	@st=0; sum=; \
	echo "==== check 1/3: ASan+UBSan ($(BUILD)-asan)"; \
	if $(MAKE) --no-print-directory BUILD=$(BUILD)-asan SAN=address RUNNER= test; \
	then sum="$$sum asan+ubsan:ok"; else st=1; sum="$$sum asan+ubsan:FAILED"; fi; \
	echo "==== check 2/3: TSan ($(BUILD)-tsan)"; \
	if $(MAKE) --no-print-directory BUILD=$(BUILD)-tsan SAN=thread RUNNER= test; \
	then sum="$$sum tsan:ok"; else st=1; sum="$$sum tsan:FAILED"; fi; \
	echo "==== check 3/3: Valgrind memcheck ($(BUILD))"; \
	if ! command -v $(VALGRIND) >/dev/null 2>&1; then \
	  echo "valgrind: skipped: valgrind not installed"; sum="$$sum valgrind:skipped"; \
	elif $(MAKE) --no-print-directory BUILD=$(BUILD) SAN= RUNNER="$(VALGRIND) $(VALGRIND_FLAGS)" test; \
	then sum="$$sum valgrind:ok"; else st=1; sum="$$sum valgrind:FAILED"; fi; \
	echo "check:$$sum"; exit $$st

# --- arm64 under qemu -----------------------------------------------------
# Cross-builds everything with aarch64-linux-gnu-gcc into $(BUILD)-arm64 and
# runs the suite under qemu-aarch64. Concurrency Kit and cmocka for arm64 come
# from Debian packages unpacked into ARM64_SYSROOT (.ci/arm64-sysroot.sh);
# glibc comes with the cross toolchain (ARM64_LIBC). The rpath lets the
# loader running under qemu find libck/libcmocka in the sysroot.
ARM64_CC      ?= aarch64-linux-gnu-gcc
ARM64_AR      ?= aarch64-linux-gnu-ar
ARM64_SYSROOT ?= $(CURDIR)/.arm64-sysroot
ARM64_LIBC    ?= /usr/aarch64-linux-gnu
QEMU_ARM64    ?= qemu-aarch64
ARM64_LIBS     = $(ARM64_SYSROOT)/usr/lib/aarch64-linux-gnu

test-arm64:
	@if [ "$$(uname -s)" = Darwin ]; then \
	  echo "test-arm64: skipped: it needs Linux (qemu-user, Debian packages); on a Mac, make test runs the suite natively"; \
	  exit 0; fi; \
	set -e; \
	CC='$(ARM64_CC)' sh scripts/deps.sh $(if $(filter 1,$(AUTO_DEPS)),--ensure,--check) cross-arm64 qemu-arm64; \
	sh .ci/arm64-sysroot.sh '$(ARM64_SYSROOT)'; \
	$(MAKE) --no-print-directory BUILD=$(BUILD)-arm64 CC='$(ARM64_CC)' AR='$(ARM64_AR)' SAN= \
	  CK_CFLAGS='-I$(ARM64_SYSROOT)/usr/include' \
	  CK_LIBS='-L$(ARM64_LIBS) -Wl,-rpath,$(ARM64_LIBS) -lck' \
	  CMOCKA_CFLAGS='-I$(ARM64_SYSROOT)/usr/include' \
	  CMOCKA_LIBS='-L$(ARM64_LIBS) -Wl,-rpath,$(ARM64_LIBS) -lcmocka' \
	  RUNNER='$(QEMU_ARM64) -L $(ARM64_LIBC)' test

# --- Mach-O ---------------------------------------------------------------
# The primary target's context switch, assembled here since we build on
# Linux. It must define every global symbol of the ELF arm64 file (with the
# Mach-O leading underscore) and call the same ones, which catches a symbol
# renamed in one file only.
CLANG      ?= clang
MACHO_SRC  := src/arch/switch_arm64_aapcs_macho_gas.S
ELF64_SRC  := src/arch/switch_arm64_aapcs_elf_gas.S
MACHO_OBJ  := $(BUILD)/macho/switch_arm64_aapcs_macho_gas.o
ELF64_OBJ  := $(BUILD)/macho/switch_arm64_aapcs_elf_gas.o

check-macho:
	@if ! command -v $(CLANG) >/dev/null 2>&1; then \
	  echo "check-macho: skipped: clang not installed"; exit 0; fi; \
	set -e; mkdir -p $(BUILD)/macho; \
	echo "$(CLANG) -target arm64-apple-macos11 -c $(MACHO_SRC) -o $(MACHO_OBJ)"; \
	$(CLANG) -target arm64-apple-macos11 -Iinclude -Isrc -c $(MACHO_SRC) -o $(MACHO_OBJ); \
	magic=$$(od -An -tx1 -N8 $(MACHO_OBJ) | tr -d ' \n'); \
	if [ "$$magic" != cffaedfe0c000001 ]; then \
	  echo "check-macho: FAILED: $(MACHO_OBJ) is not a 64-bit arm64 Mach-O object ($$magic)"; exit 1; fi; \
	nm=$$(command -v llvm-nm || { [ "$$(uname -s)" = Darwin ] && command -v nm; } || ls /usr/bin/llvm-nm-* 2>/dev/null | tail -1 || true); \
	if [ -z "$$nm" ]; then echo "check-macho: ok (assembled; llvm-nm missing, symbols not compared)"; exit 0; fi; \
	macho=$$($$nm -g --defined-only $(MACHO_OBJ) | awk '{print $$NF}' | sed 's/^_//' | sort); \
	echo "Mach-O globals: $$(echo $$macho)"; \
	if [ -z "$$macho" ]; then echo "check-macho: FAILED: no global symbol in $(MACHO_OBJ)"; exit 1; fi; \
	if [ -f $(ELF64_SRC) ]; then \
	  $(CLANG) -target aarch64-linux-gnu -Iinclude -Isrc -c $(ELF64_SRC) -o $(ELF64_OBJ); \
	  elf=$$($$nm -g --defined-only $(ELF64_OBJ) | awk '{print $$NF}' | sort); \
	  for sym in $$elf; do \
	    case " $$(echo $$macho) " in *" $$sym "*) ;; \
	    *) echo "check-macho: FAILED: $(ELF64_SRC) defines $$sym, the Mach-O file does not define _$$sym"; exit 1;; esac; \
	  done; \
	  u_elf=$$($$nm -u $(ELF64_OBJ) | awk '{print $$NF}' | sort | tr '\n' ' '); \
	  u_macho=$$($$nm -u $(MACHO_OBJ) | awk '{print $$NF}' | sed 's/^_//' | sort | tr '\n' ' '); \
	  if [ "$$u_elf" != "$$u_macho" ]; then \
	    echo "check-macho: FAILED: the two files call different symbols: ELF [$$u_elf], Mach-O [$$u_macho]"; exit 1; fi; \
	  echo "every global of $(ELF64_SRC) is defined, and the same symbols are called"; \
	fi; \
	echo "check-macho: ok"

# --- demo -----------------------------------------------------------------
# The main demo: the threaded echo server driven by the benchmarks' load
# generator (examples/demo.sh).
demo: lib examples $(BUILD)/bench/echo_client
	@sh examples/demo.sh $(BUILD)

# --- install --------------------------------------------------------------
# No installed header needs Concurrency Kit, so coronet.pc does not
# Require ck: that leaked ck's -D__x86_64__ into every user's --cflags and
# failed every query where ck.pc is missing. Static linking still needs
# -lck: it goes to Libs.private, with the other private libraries.
PC_LIBS_PRIV := $(CK_LIBS) -lpthread $(KQUEUE_LIBS)

# Written at install time, since PREFIX may differ from the last install.
install: lib
	@mkdir -p $(dir $(PC_FILE))
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCDIR@|$(INCDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    -e 's|@LIBS_PRIVATE@|$(strip $(PC_LIBS_PRIV))|g' coronet.pc.in > $(PC_FILE)
	install -d $(DESTDIR)$(INCDIR)/coronet $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PCDIR)
	install -m 644 include/coronet.h $(DESTDIR)$(INCDIR)/
	install -m 644 include/coronet/*.h $(DESTDIR)$(INCDIR)/coronet/
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/$(SO_REAL)
	ln -sf $(SO_REAL) $(DESTDIR)$(LIBDIR)/$(SO_NAME)
	ln -sf $(SO_NAME) $(DESTDIR)$(LIBDIR)/$(SO_LINK)
	install -m 644 $(PC_FILE) $(DESTDIR)$(PCDIR)/coronet.pc
	install -d $(DESTDIR)$(DATADIR)/coronet
	install -m 644 scripts/coronet-gdb.py $(DESTDIR)$(DATADIR)/coronet/

# Installs into a scratch prefix and builds programs against it the way a
# user would: pkg-config --cflags --libs (shared), --static (only the
# static library there), with no ck.pc in sight, headers under -std=c99
# -pedantic (scripts/check-install.sh).
check-install: lib
	@sh scripts/check-install.sh '$(MAKE)' '$(BUILD)'

uninstall:
	rm -f $(DESTDIR)$(INCDIR)/coronet.h $(DESTDIR)$(LIBDIR)/libcoronet.a \
	  $(DESTDIR)$(LIBDIR)/$(SO_REAL) $(DESTDIR)$(LIBDIR)/$(SO_NAME) \
	  $(DESTDIR)$(LIBDIR)/$(SO_LINK) $(DESTDIR)$(PCDIR)/coronet.pc
	rm -rf $(DESTDIR)$(INCDIR)/coronet

# --- the rest -------------------------------------------------------------
deps:
	sh scripts/deps.sh --all

help:
	@sed -n '2,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

clean:
	rm -rf $(BUILD) $(BUILD)-* bench-out

distclean: clean
	rm -rf .arm64-sysroot

# The benchmark engineer's file defines `bench` (release build, tables, CSV
# and plots under bench-out/).
-include tests/bench/bench.mk
-include tests/soak/soak.mk
ifeq ($(wildcard tests/bench/bench.mk),)
bench:
	@echo "bench: tests/bench/bench.mk is not written yet"
endif
