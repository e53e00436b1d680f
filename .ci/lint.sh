#!/bin/sh
# .ci/lint.sh — static checks on the library's sources (src/, netpoll/):
# cppcheck, then clang-tidy. Any finding fails the script.
#
# False positives are suppressed where they are, with a reason:
# "// NOLINT(check)" for clang-tidy, "// cppcheck-suppress id" for cppcheck;
# whole checks that do not fit this code base are turned off, each with its
# reason, in .ci/clang-tidy.yaml and .ci/cppcheck.supp.
#
# Usage: sh .ci/lint.sh        (from anywhere; run by .ci/run)
# Environment: CPPCHECK, CLANG_TIDY (the commands), LINT_SKIP_MISSING=1 (a
# checker that is not installed is skipped instead of failing).
set -u
cd "$(dirname "$0")/.." || exit 1

CPPCHECK=${CPPCHECK:-cppcheck}
if [ -z "${CLANG_TIDY:-}" ]; then
	CLANG_TIDY=clang-tidy
	for v in clang-tidy-14 clang-tidy-15 clang-tidy-16; do
		if command -v "$v" >/dev/null 2>&1; then
			CLANG_TIDY=$v
			break
		fi
	done
fi
# The kqueue backend needs <sys/event.h>: clang-tidy reads it only where the
# header exists (macOS, or Linux with libkqueue); cppcheck always reads it.
SRC_TIDY="src/*.c netpoll/epoll.c"
if [ -e /usr/include/sys/event.h ] || [ -e /usr/include/kqueue/sys/event.h ]; then
	SRC_TIDY="$SRC_TIDY netpoll/kqueue.c"
fi
DEFS="-D_GNU_SOURCE -DCN_NETPOLL_EPOLL"
INCS="-Iinclude -Isrc -Inetpoll"
st=0

missing() {
	if [ "${LINT_SKIP_MISSING:-0}" = 1 ]; then
		echo "lint: $1: skipped: not installed"
	else
		echo "lint: $1: not installed (LINT_SKIP_MISSING=1 to skip)"
		st=1
	fi
}

echo "== cppcheck"
if command -v "$CPPCHECK" >/dev/null 2>&1; then
	"$CPPCHECK" --version
	# epoll and kqueue each in their own configuration; __linux__ and
	# __x86_64__ because cppcheck does not define the compiler's macros.
	# shellcheck disable=SC2086
	if "$CPPCHECK" --std=c11 --enable=warning,style,performance,portability \
		--inline-suppr --suppressions-list=.ci/cppcheck.supp --quiet \
		--error-exitcode=1 -D__linux__ -D__x86_64__ $DEFS $INCS \
		src/*.c netpoll/epoll.c &&
		"$CPPCHECK" --std=c11 --enable=warning,style,performance,portability \
		--inline-suppr --suppressions-list=.ci/cppcheck.supp --quiet \
		--error-exitcode=1 -D_GNU_SOURCE -DCN_NETPOLL_KQUEUE $INCS netpoll/kqueue.c; then
		echo "cppcheck: clean"
	else
		echo "cppcheck: FINDINGS (above)"
		st=1
	fi
else
	missing "$CPPCHECK"
fi

echo "== clang-tidy"
if command -v "$CLANG_TIDY" >/dev/null 2>&1; then
	"$CLANG_TIDY" --version | grep -i version
	out=$(mktemp)
	# shellcheck disable=SC2086
	"$CLANG_TIDY" --quiet --config-file=.ci/clang-tidy.yaml $SRC_TIDY -- \
		-std=c11 $DEFS -Iinclude -iquote src -Inetpoll \
		$(pkg-config --cflags ck 2>/dev/null) > "$out" 2>&1
	rc=$?
	# Its "N warnings generated" counts the ones in system headers and
	# NOLINT lines too: only real findings are worth showing.
	grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated' "$out"
	if [ "$rc" -eq 0 ] && ! grep -q -E ': (warning|error):' "$out"; then
		echo "clang-tidy: clean"
	else
		echo "clang-tidy: FINDINGS (above)"
		st=1
	fi
	rm -f "$out"
else
	missing "$CLANG_TIDY"
fi
exit $st
