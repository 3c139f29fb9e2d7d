#!/usr/bin/env bash
# Cross-compiled release archives of mcpwatch: one static (CGO_ENABLED=0)
# binary per target, stamped with the version and commit, packed with the
# README and the deploy files as dist/mcpwatch-VERSION-OS-ARCH.tar.gz, and
# dist/SHA256SUMS.
#
#   scripts/release.sh [OS/ARCH…]     # default: linux/amd64 linux/arm64 darwin/arm64
#
# VERSION overrides the version (default: git describe --tags --always --dirty);
# DIST the output directory (default: dist). The libpcap build (-tags libpcap,
# BPF expressions) needs cgo and the target's libpcap, so it is not built here.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(linux/amd64 linux/arm64 darwin/arm64)
commit=$(git rev-parse HEAD)
[ -z "$(git status --porcelain --untracked-files=no)" ] || commit="$commit-dirty"
version=${VERSION:-$(git describe --tags --always --dirty)}
dist=${DIST:-dist}
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)

stage=$(mktemp -d -t mcpwatch-release-XXXXXX)
trap 'rm -rf "$stage"' EXIT

for target in "${targets[@]}"; do
	os=${target%/*}
	arch=${target#*/}
	name=mcpwatch-$version-$os-$arch
	echo "== $name" >&2
	mkdir -p "$stage/$name"
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=false \
		-ldflags "-s -w -X main.version=$version -X main.commit=$commit" \
		-o "$stage/$name/mcpwatch" ./cmd/mcpwatch
	cp README.md "$stage/$name/"
	cp -r deploy "$stage/$name/deploy"
	rm -f "$stage/$name/deploy/"*_test.go
	tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$dist/$name.tar.gz" "$name"
done
(cd "$dist" && sha256sum mcpwatch-"$version"-*.tar.gz >SHA256SUMS)
ls "$dist"/mcpwatch-"$version"-*.tar.gz
