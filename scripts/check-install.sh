#!/bin/sh
# scripts/check-install.sh — what a user of the installed library sees.
# Called by `make check-install` (and CI) with the make command and the
# build folder. Installs into a scratch prefix, then:
#   1. pkg-config --cflags --libs coronet answers without ck.pc anywhere on
#      its search path, and --cflags carries no -D flags of ck's;
#   2. a program including <coronet.h> compiles with -std=c99 -pedantic
#      -Wall -Wextra -Werror (and, where g++ is installed, as C++);
#   3. it links and runs against the shared library (pkg-config --libs);
#   4. it links and runs statically (pkg-config --static --libs, only
#      libcoronet.a in the prefix), which needs Libs.private's -lck.
# Prints "check-install: N passed, M failed" and exits non-zero on failure.
set -u
MAKE_CMD=${1:-make}
BUILD=${2:-build}
CC=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cn-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

ok() {
	echo "  ok      $1"
	pass=$((pass + 1))
}
bad() {
	echo "  FAILED  $1"
	fail=$((fail + 1))
}

if ! $MAKE_CMD --no-print-directory BUILD="$BUILD" PREFIX="$tmp/prefix" install >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log"
	bad "make install PREFIX=$tmp/prefix"
	echo "check-install: $pass passed, $fail failed"
	exit 1
fi
ok "make install PREFIX=<scratch>"
pcdir=$tmp/prefix/lib/pkgconfig

# Only our .pc on the search path: a Requires on ck would fail here.
pc() {
	PKG_CONFIG_LIBDIR="$pcdir" PKG_CONFIG_PATH= pkg-config "$@"
}
if cflags=$(pc --cflags coronet) && libs=$(pc --libs coronet) && slibs=$(pc --static --libs coronet); then
	ok "pkg-config --cflags --libs coronet, no ck.pc needed: $cflags $libs"
else
	bad "pkg-config coronet without ck.pc"
	cflags=; libs=; slibs=
fi
case " $cflags " in
*" -D"*) bad "--cflags leaks defines: $cflags" ;;
*) ok "--cflags carries no -D flags" ;;
esac
case " $slibs " in
*" -lck "*) ok "--static --libs names -lck: $slibs" ;;
*) bad "--static --libs lacks -lck: $slibs" ;;
esac

cat >"$tmp/user.c" <<'EOC'
#include <coronet.h>
#include <stdio.h>
#include <string.h>

static int steps;

static void body(void *arg)
{
	(void)arg;
	steps++;
	cn_yield_now();
	steps++;
}

int main(void)
{
	cn_runtime_opts o;
	cn_runtime *rt;

	memset(&o, 0, sizeof(o));
	o.mode = CN_NETPOLL_INLINE;
	rt = cn_runtime_create(&o);

	if (!rt || cn_spawn(rt, body, NULL, NULL) != 0 || cn_runtime_run(rt) != 0)
		return 1;
	cn_runtime_destroy(rt);
	printf("steps=%d\n", steps);
	return steps == 2 ? 0 : 2;
}
EOC
# shellcheck disable=SC2086
if $CC -std=c99 -pedantic -Wall -Wextra -Werror -c "$tmp/user.c" $cflags -o "$tmp/user.o" 2>"$tmp/cc.log"; then
	ok "headers: -std=c99 -pedantic -Wall -Wextra -Werror"
else
	cat "$tmp/cc.log"
	bad "headers under -std=c99 -pedantic"
fi
if command -v g++ >/dev/null 2>&1; then
	# shellcheck disable=SC2086
	if g++ -x c++ -std=c++11 -Wall -Wextra -Werror -fsyntax-only "$tmp/user.c" $cflags 2>"$tmp/cxx.log"; then
		ok "headers as C++11"
	else
		cat "$tmp/cxx.log"
		bad "headers as C++11"
	fi
else
	echo "  skipped headers as C++: g++ not installed"
fi
# shellcheck disable=SC2086
if $CC "$tmp/user.o" -o "$tmp/user-shared" $libs 2>"$tmp/ld.log" &&
	LD_LIBRARY_PATH="$tmp/prefix/lib" DYLD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/user-shared" >/dev/null; then
	ok "linked with pkg-config --libs, runs (shared library)"
else
	cat "$tmp/ld.log"
	bad "shared link or run"
fi
# Static: the shared library goes, so -lcoronet can only mean the .a.
rm -f "$tmp/prefix/lib/"libcoronet.so* "$tmp/prefix/lib/"libcoronet*.dylib
# shellcheck disable=SC2086
if $CC "$tmp/user.o" -o "$tmp/user-static" $slibs 2>"$tmp/lds.log" && "$tmp/user-static" >/dev/null; then
	ok "linked with pkg-config --static --libs, runs (static library)"
else
	cat "$tmp/lds.log"
	bad "static link or run"
fi
echo "check-install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
