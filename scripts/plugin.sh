#!/usr/bin/env bash
# Builds the mcpwatch Grafana datasource plugin as Grafana expects it:
#   dashboards/plugin/dist/    plugin.json, module.js (frontend), img/, README.md,
#                              gpx_mcpwatch_linux_amd64, gpx_mcpwatch_linux_arm64
#   dashboards/plugin/build/mcpwatch-mcpwatch-datasource-<version>.zip
#                              the same files in a folder named after the plugin id
#
#   scripts/plugin.sh          # build dist/ and the zip
#   scripts/plugin.sh test     # install the npm packages and run the frontend unit tests
#
# npm packages come from the lock file (npm ci, preferring npm's cache). The
# installed tree (about 700 MB, minutes to write) is kept outside the work
# tree in $MCPWATCH_NODE_CACHE (default ~/.cache/mcpwatch/node_modules), one
# per lock file, and linked as node_modules: a fresh clone on a machine that
# installed once reuses it at once, offline.
set -euo pipefail
cd "$(dirname "$0")/../dashboards/plugin"

id=mcpwatch-mcpwatch-datasource
version=$(node -p 'require("./package.json").version')

install() {
	local lock cache
	lock=$(sha256sum package-lock.json | cut -c1-16)
	cache=${MCPWATCH_NODE_CACHE:-$HOME/.cache/mcpwatch/node_modules}/$lock
	if [ ! -f "$cache/.complete" ]; then
		rm -rf "$cache" && mkdir -p "$cache"
		cp package.json package-lock.json "$cache/"
		(cd "$cache" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
		touch "$cache/.complete"
	fi
	if [ "$(readlink node_modules 2>/dev/null)" != "$cache/node_modules" ]; then
		rm -rf node_modules
		ln -s "$cache/node_modules" node_modules
	fi
}

case "${1:-build}" in
test)
	install
	npx jest --ci
	;;
build)
	install
	npx webpack -c ./.config/webpack.config.js --env production
	for arch in amd64 arm64; do
		CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags "-s -w" \
			-o "dist/gpx_mcpwatch_linux_$arch" ./cmd/gpx_mcpwatch
	done
	rm -rf build && mkdir -p "build/$id"
	cp -r dist/. "build/$id/"
	(cd build && zip -qr "$id-$version.zip" "$id" && rm -rf "$id")
	echo "dashboards/plugin/build/$id-$version.zip"
	;;
*)
	echo "usage: $0 [build|test]" >&2
	exit 2
	;;
esac
