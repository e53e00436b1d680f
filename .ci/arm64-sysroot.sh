#!/bin/sh
# .ci/arm64-sysroot.sh — makes the arm64 sysroot that `make test-arm64` links
# against: the arm64 builds of Concurrency Kit and cmocka, unpacked from
# Debian packages into a git-ignored folder (default .arm64-sysroot/).
#
# Why not `apt-get install libck-dev:arm64`: the multiarch -dev packages
# cannot be installed beside the amd64 ones, so we download the .debs and
# unpack them with `dpkg -x`. glibc for arm64 is not in here: it comes with
# the cross toolchain in /usr/aarch64-linux-gnu (gcc-aarch64-linux-gnu).
#
# Usage: sh .ci/arm64-sysroot.sh [DIR]      (idempotent; fast when done)
# Needs Debian with apt; adds the arm64 architecture (root) when missing.
set -eu

dir=${1:-.arm64-sysroot}
pkgs="libck-dev:arm64 libck0:arm64 libcmocka-dev:arm64 libcmocka0:arm64"
stamp="$dir/.complete"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$pkgs" ]; then
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
	echo "arm64-sysroot: needs Debian's apt-get and dpkg (this is not a Debian system)" >&2
	exit 1
fi

sudo=
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo="sudo"
	fi
fi

# apt-get download resolves names against the package lists, so arm64 must
# be a known architecture and its lists fetched once.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	echo "arm64-sysroot: adding the arm64 architecture to dpkg (dpkg --add-architecture arm64)" >&2
	$sudo dpkg --add-architecture arm64
	$sudo apt-get update -qq
elif ! apt-cache show libck0:arm64 >/dev/null 2>&1; then
	$sudo apt-get update -qq
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/coronet-arm64.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
# apt drops privileges to _apt for downloads; a folder it can write to keeps
# it from warning about an unsandboxed download.
chmod 777 "$tmp"
(cd "$tmp" && apt-get download $pkgs)

rm -rf "$dir"
mkdir -p "$dir"
for deb in "$tmp"/*.deb; do
	dpkg -x "$deb" "$dir"
done
echo "$pkgs" > "$stamp"
echo "arm64-sysroot: unpacked $(ls "$tmp" | tr '\n' ' ')into $dir" >&2
