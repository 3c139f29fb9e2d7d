#!/usr/bin/env bash
# Runs the bus/pipeline fault-injection tests (cmd/mcpwatch/faults_test.go)
# in their long form: a 60 MB capture and a 25 s NATS outage. Each test logs
# a FAULT line with its figures (events lost, duplicated, exit status, time
# to recover); this prints them. Needs root for the tmpfs of the full-disk
# case. The short form runs in `go test ./...`.
set -euo pipefail
cd "$(dirname "$0")/../.."
MCPWATCH_FAULTS_LONG=1 go test -count=1 -timeout 30m -run 'TestFault' -v ./cmd/mcpwatch/ 2>&1 | tee /dev/stderr | grep -E 'FAULT|^(ok|FAIL|--- )'
