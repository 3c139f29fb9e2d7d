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
# npm packages come from the lock file (npm ci), preferring the local cache,
# so a machine that built once installs offline.
set -euo pipefail
cd "$(dirname "$0")/../dashboards/plugin"

id=mcpwatch-mcpwatch-datasource
version=$(node -p 'require("./package.json").version')

install() {
	# node_modules is reused while it was installed from this lock file.
	local stamp=node_modules/.installed-from-lock.sha256
	if ! sha256sum --quiet -c "$stamp" 2>/dev/null; then
		npm ci --prefer-offline --no-audit --no-fund --loglevel=error
		sha256sum package-lock.json >"$stamp"
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
