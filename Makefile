# coronet — build, test, check, bench, install.
#
#   make            static + shared library in $(BUILD)/
#   make demo       build and run the threaded echo server demo
#   make test       build and run the cmocka suite
#   make check      the suite under ASan+UBSan, TSan, then Valgrind (if installed)
#   make test-arm64 cross-build for arm64 and run the suite under qemu-aarch64
#   make check-macho  assemble the Mach-O arm64 context switch with clang
#   make bench      benchmarks (release build), tables + CSV under bench-out/
#   make examples   build examples/
#   make install    PREFIX=/usr/local DESTDIR=
#
# Knobs: CC, BUILD (output folder, so several builds can share a tree),
# NETPOLL=epoll|kqueue (default by platform), KQUEUE_CFLAGS/KQUEUE_LIBS (to
# build the kqueue backend on Linux against libkqueue), SAN=address|thread,
# RUNNER (prefix for running test binaries, e.g. valgrind or qemu).

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
SAN     ?=
RUNNER  ?=
OPT     ?= -O2 -g

# The target triple decides the context switch file and the poller, so a
# cross compiler (CC=aarch64-linux-gnu-gcc) picks the right ones by itself.
TRIPLE := $(shell $(CC) -dumpmachine 2>/dev/null)
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
  $(error coronet: unsupported target '$(TRIPLE)': the context switch exists for x86_64 and arm64)
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
  SOFLAGS  = -dynamiclib -install_name $(PREFIX)/lib/libcoronet.dylib
else
  NETPOLL ?= epoll
  SOEXT   := so
  SOFLAGS  = -shared -Wl,-soname,libcoronet.so.0
endif

# Dependencies come from pkg-config where they ship a .pc; PKG_CONFIG_SYSROOT
# style cross builds pass CK_CFLAGS/CK_LIBS/CMOCKA_* directly.
PKG_CONFIG ?= pkg-config
CK_CFLAGS     ?= $(shell $(PKG_CONFIG) --cflags ck 2>/dev/null)
CK_LIBS       ?= $(shell $(PKG_CONFIG) --libs ck 2>/dev/null || echo -lck)
CMOCKA_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   ?= $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)
KQUEUE_CFLAGS ?=
KQUEUE_LIBS   ?=

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE -fPIC $(OPT) $(WARN) -Iinclude -Isrc -Inetpoll $(CK_CFLAGS)
LDLIBS  += $(CK_LIBS) -lpthread
ifeq ($(NETPOLL),kqueue)
  CFLAGS += $(KQUEUE_CFLAGS) -DCN_NETPOLL_KQUEUE
  LDLIBS += $(KQUEUE_LIBS)
else
  CFLAGS += -DCN_NETPOLL_EPOLL
endif

ifeq ($(SAN),address)
  CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SAN),thread)
  CFLAGS  += -fsanitize=thread -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=thread
endif

LIB_SRC := $(wildcard src/*.c) netpoll/$(NETPOLL).c
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/src/arch/$(SWITCH:.S=.o)
LIB_A   := $(BUILD)/libcoronet.a
LIB_SO  := $(BUILD)/libcoronet.$(SOEXT)

TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_HELP := $(wildcard tests/helpers/*.c)
EX_SRC    := $(wildcard examples/*.c)
EX_BIN    := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)

.PHONY: all lib test check examples bench demo install clean check-macho test-arm64 deps
all: lib
lib: $(LIB_A) $(LIB_SO)

$(BUILD)/obj/%.o: %.c $(wildcard include/*.h include/coronet/*.h src/*.h netpoll/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(LIB_SO): $(LIB_OBJ)
	$(CC) $(SOFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(TEST_HELP) $(LIB_A) $(wildcard tests/helpers/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CMOCKA_CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(TEST_HELP) $(LIB_A) $(CMOCKA_LIBS) $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)

examples: $(EX_BIN)

# Each test binary is its own process (a crash in one cannot hide another's
# result); the summary line counts binaries.
test: $(TEST_BIN)
	@pass=0; fail=0; for t in $(TEST_BIN); do \
	  echo "== $$t"; \
	  if $(RUNNER) $$t; then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; \
	done; echo "$$pass passed, $$fail failed"; test $$fail -eq 0

clean:
	rm -rf build build-* bench-out
