#!/usr/bin/env bash
# scripts/release.sh - ferry's release builds: static, stripped, -trimpath,
# reproducible binaries for every target people run it on, and SHA256SUMS.
#
#   scripts/release.sh [OUTDIR]        build every target into OUTDIR (default dist)
#   scripts/release.sh --check         build linux/arm (GOARM=6) twice, once with
#                                      the usual build cache and once with an
#                                      empty one, and fail unless the two files
#                                      are identical or if the file is over the
#                                      6 MiB budget
#
# VERSION (default: git describe) is stamped into the binary; `ferry version`
# prints it with the commit and the target. Nothing about the machine that
# builds (paths, time, build ID) ends up in the files, so the same commit and
# Go version give the same bytes anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

# name GOOS GOARCH GOARM: the boards and systems ferry is built for.
TARGETS=(
	"linux-armv6 linux arm 6"   # Raspberry Pi Zero, Zero W, 1
	"linux-armv7 linux arm 7"   # Raspberry Pi 2, 3 (32-bit OS)
	"linux-arm64 linux arm64 -" # Raspberry Pi 3, 4, 5, Zero 2 W (64-bit OS)
	"linux-amd64 linux amd64 -"
	"darwin-arm64 darwin arm64 -"
	"darwin-amd64 darwin amd64 -"
	"windows-amd64 windows amd64 -"
)
SIZE_BUDGET=$((6 << 20)) # bytes, for linux-armv6

VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}

# build OUTDIR NAME GOOS GOARCH GOARM
build() {
	local out=$1 name=$2 goos=$3 goarch=$4 goarm=$5 exe=''
	[[ $goos == windows ]] && exe=.exe
	local -a env=(CGO_ENABLED=0 GOOS="$goos" GOARCH="$goarch")
	[[ $goarm != - ]] && env+=(GOARM="$goarm")
	env "${env[@]}" go build -trimpath -buildvcs=true \
		-ldflags "-s -w -buildid= -X main.version=$VERSION" \
		-o "$out/ferry-$VERSION-$name$exe" .
}

sums() {
	(cd "$1" && sha256sum ferry-* >SHA256SUMS)
}

if [[ ${1:-} == --check ]]; then
	work=$(mktemp -d)
	trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
	mkdir -p "$work/a" "$work/b"
	# shellcheck disable=SC2086 # the target's fields split on purpose
	build "$work/a" ${TARGETS[0]}
	# shellcheck disable=SC2086
	GOCACHE=$work/cache build "$work/b" ${TARGETS[0]}
	sums "$work/a"
	sums "$work/b"
	if ! cmp -s "$work/a/SHA256SUMS" "$work/b/SHA256SUMS"; then
		echo "release builds differ between two clean builds:" >&2
		diff "$work/a/SHA256SUMS" "$work/b/SHA256SUMS" >&2 || true
		exit 1
	fi
	echo "reproducible: a build from the cache and one from an empty cache are identical"
	cat "$work/a/SHA256SUMS"
	size=$(stat -c %s "$work/a/ferry-$VERSION-linux-armv6")
	echo "linux-armv6: $size bytes (budget $SIZE_BUDGET)"
	if ((size > SIZE_BUDGET)); then
		echo "linux-armv6 binary is over the 6 MiB budget" >&2
		exit 1
	fi
	exit 0
fi

out=${1:-dist}
case $out in
-h | --help)
	sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
	exit 0
	;;
-*)
	echo "release.sh: unknown option $out (use --check, or give an output directory)" >&2
	exit 2
	;;
esac
rm -rf -- "$out"
mkdir -p -- "$out"
for t in "${TARGETS[@]}"; do
	# shellcheck disable=SC2086 # the target's fields split on purpose
	build "$out" $t
done
sums "$out"
echo "built $VERSION into $out/:"
for f in "$out"/ferry-*; do
	printf '  %-40s %9d bytes (%.1f MiB)\n' "$(basename "$f")" "$(stat -c %s "$f")" "$(echo "$(stat -c %s "$f") / 1048576" | bc -l)"
done
