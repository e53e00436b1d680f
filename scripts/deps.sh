#!/bin/sh
# scripts/deps.sh — finds and installs what coronet's build needs, on Debian
# or Ubuntu (apt-get) and on macOS (Homebrew). The Makefile calls it by itself
# when a dependency is missing, so `make demo` and `make test` work on a fresh
# machine; `make deps` calls it to install everything any target uses.
#
#   sh scripts/deps.sh                    install what build + test need
#   sh scripts/deps.sh --all              ... and what check, test-arm64,
#                                         check-macho and bench use
#   sh scripts/deps.sh --missing C...     print which components are missing
#   sh scripts/deps.sh --check C...       exit 1 with a hint if any is missing
#   sh scripts/deps.sh --ensure C...      install the missing ones when we can
#                                         (root, sudo or brew), else --check
#
# Components: cc make pkg-config ck cmocka valgrind clang cross-arm64
# qemu-arm64 boost uv gnuplot http-clients gdb (test_gdb) go (make bench's
# Go baseline). Environment: CC, PKG_CONFIG.
#
# It installs only from the system's package manager and never builds or
# downloads anything else.
set -u

CORE="cc make pkg-config ck cmocka"
ALL="$CORE valgrind clang cross-arm64 qemu-arm64 boost uv gnuplot http-clients gdb go"

cc=${CC:-cc}
pkgconf=${PKG_CONFIG:-pkg-config}
os=$(uname -s)

have() { command -v "$1" >/dev/null 2>&1; }

# The name of a component as people know it, for messages.
label() {
	case $1 in
	cc) echo "a C compiler ($cc)" ;;
	make) echo "make" ;;
	pkg-config) echo "pkg-config" ;;
	ck) echo "Concurrency Kit" ;;
	cmocka) echo "cmocka" ;;
	valgrind) echo "Valgrind" ;;
	clang) echo "clang llvm" ;;
	cross-arm64) echo "the arm64 cross compiler (aarch64-linux-gnu-gcc)" ;;
	qemu-arm64) echo "qemu-aarch64" ;;
	boost) echo "Boost.Context" ;;
	uv) echo "libuv" ;;
	gnuplot) echo "gnuplot" ;;
	http-clients) echo "curl and wrk" ;;
	gdb) echo "gdb" ;;
	go) echo "Go (the bench baseline)" ;;
	*) echo "$1" ;;
	esac
}

# Debian packages for a component. libc6-dev comes with a compiler only as a
# recommendation, and we install without recommendations.
deb_pkgs() {
	case $1 in
	cc) echo "gcc libc6-dev" ;;
	make) echo "make" ;;
	pkg-config) echo "pkg-config" ;;
	ck) echo "libck-dev" ;;
	cmocka) echo "libcmocka-dev" ;;
	valgrind) echo "valgrind" ;;
	clang) echo "clang llvm" ;;
	cross-arm64) echo "gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;;
	qemu-arm64) echo "qemu-user" ;;
	boost) echo "libboost-context-dev" ;;
	uv) echo "libuv1-dev" ;;
	gnuplot) echo "gnuplot-nox" ;;
	http-clients) echo "curl wrk" ;;
	gdb) echo "gdb" ;;
	go) echo "golang-go" ;;
	esac
}

# Homebrew formulae; empty where Homebrew has none (the compiler and make
# come with the Xcode command line tools; Valgrind and the Linux cross tools
# do not exist on macOS).
brew_pkgs() {
	case $1 in
	pkg-config) echo "pkg-config" ;;
	ck) echo "concurrencykit" ;;
	cmocka) echo "cmocka" ;;
	boost) echo "boost" ;;
	uv) echo "libuv" ;;
	gnuplot) echo "gnuplot" ;;
	http-clients) echo "curl wrk" ;;
	gdb) echo "gdb" ;;
	go) echo "go" ;;
	esac
}

pc_exists() { have "$pkgconf" && "$pkgconf" --exists "$1" 2>/dev/null; }

present() {
	case $1 in
	cc) have "$cc" ;;
	make) have make ;;
	pkg-config) have "$pkgconf" ;;
	ck) pc_exists ck ;;
	cmocka) pc_exists cmocka ;;
	valgrind) have valgrind ;;
	clang) have clang ;;
	cross-arm64) have aarch64-linux-gnu-gcc ;;
	qemu-arm64) have qemu-aarch64 ;;
	uv) pc_exists libuv ;;
	gnuplot) have gnuplot ;;
	http-clients) have curl && have wrk ;;
	gdb) have gdb ;;
	go) have go ;;
	boost)
		for d in /usr/include /usr/local/include /opt/homebrew/include; do
			[ -f "$d/boost/context/detail/fcontext.hpp" ] && return 0
		done
		return 1
		;;
	*) return 1 ;;
	esac
}

missing_of() {
	out=
	for c in "$@"; do
		present "$c" || out="$out $c"
	done
	echo $out
}

# Prints what to run, for both platforms, naming the packages.
hint() {
	debs=
	brews=
	names=
	for c in "$@"; do
		debs="$debs $(deb_pkgs "$c")"
		brews="$brews $(brew_pkgs "$c")"
		names="$names, $(label "$c")"
	done
	{
		echo "coronet: missing ${names#, }."
		echo "  Debian/Ubuntu:    sudo apt-get install$debs"
		if [ -n "$(echo $brews)" ]; then
			echo "  macOS (Homebrew): brew install$brews"
		fi
		echo "  or: make deps  (installs them as root, with sudo, or with Homebrew)"
		echo "  then run make again."
	} >&2
}

install_debian() {
	pkgs=
	for c in "$@"; do
		pkgs="$pkgs $(deb_pkgs "$c")"
	done
	if [ "$(id -u)" -eq 0 ]; then
		sudo=
	elif have sudo; then
		sudo=sudo
	else
		echo "coronet: installing needs root or sudo" >&2
		return 1
	fi
	echo "coronet: installing Debian packages:$pkgs" >&2
	# A fresh machine has no package lists yet, and stale ones name versions
	# the mirror no longer has: update first.
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $pkgs >&2
}

install_brew() {
	pkgs=
	for c in "$@"; do
		case $c in
		cc | make | clang)
			echo "coronet: $(label "$c") comes with Apple's command line tools: xcode-select --install" >&2
			return 1
			;;
		valgrind | cross-arm64 | qemu-arm64)
			echo "coronet: skipping $(label "$c"): Linux only" >&2
			;;
		*) pkgs="$pkgs $(brew_pkgs "$c")" ;;
		esac
	done
	[ -z "$pkgs" ] && return 0
	echo "coronet: brew install$pkgs" >&2
	brew install $pkgs >&2
}

can_install() {
	if [ "$os" = Darwin ]; then
		have brew
	else
		have apt-get && { [ "$(id -u)" -eq 0 ] || have sudo; }
	fi
}

# Installs the missing ones among "$@"; 0 when none is left missing.
ensure() {
	miss=$(missing_of "$@")
	[ -z "$miss" ] && return 0
	if ! can_install; then
		hint $miss
		return 1
	fi
	if [ "$os" = Darwin ]; then
		install_brew $miss
	else
		install_debian $miss
	fi
	# On macOS the Linux-only tools stay missing, and that is fine.
	left=
	for c in $(missing_of $miss); do
		case $os-$c in
		Darwin-valgrind | Darwin-cross-arm64 | Darwin-qemu-arm64) ;;
		*) left="$left $c" ;;
		esac
	done
	if [ -n "$left" ]; then
		echo "coronet: still missing after the install:$left" >&2
		hint $left
		return 1
	fi
	return 0
}

mode=${1:-}
case $mode in
--missing)
	shift
	missing_of "$@"
	;;
--check)
	shift
	miss=$(missing_of "$@")
	[ -z "$miss" ] && exit 0
	hint $miss
	exit 1
	;;
--ensure)
	shift
	ensure "$@"
	;;
--all)
	ensure $ALL
	;;
"")
	ensure $CORE
	;;
-h | --help)
	sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
	;;
*)
	echo "usage: sh scripts/deps.sh [--all | --missing C... | --check C... | --ensure C...]" >&2
	exit 2
	;;
esac
