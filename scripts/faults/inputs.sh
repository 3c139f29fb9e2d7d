#!/usr/bin/env bash
# Fault injection on the inputs of `mcpwatch run`: damaged capture files
# made from the checked-in real captures, each run through the binary,
# with the figures that matter printed per case — the exit status, the
# events delivered against a clean run of the same capture (lost events
# must be only those of the damaged packet's connection), and what the
# summary says was skipped. The same cases run as Go tests in CI:
#   capture:      TestPcapDamagedRecordHeader, TestPcapNGDamagedBlocks,
#                 TestUnsupportedLinkType, TestPcapTruncatedStaysTruncated,
#                 FuzzPcapFile
#   pipeline:     TestRunDamagedPcap, TestRunGoodBadGood
#   cmd/mcpwatch: TestRunGoodBadGoodExitStatus, TestRunUnsupportedLinkTypeWarns
# Usage: scripts/faults/inputs.sh   (needs go; no services)
set -euo pipefail
cd "$(dirname "$0")/../.."

work=$(mktemp -d -t mcpwatch-faults-XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/mcpwatch" ./cmd/mcpwatch
go build -o "$work/mkpcapng" ./scripts/faults/mkpcapng
export MCPWATCH_TOKEN_KEY_FILE="$work/token.key"

demo=testdata/demo.pcap
other=testdata/decode/ts-streamable.pcap

# u32 FILE OFFSET: the little-endian 32-bit word at OFFSET.
u32() { od -An -t u4 -j "$2" -N 4 "$1" | tr -d ' '; }
# record_offset FILE K: the offset of record K (from 1) of a classic pcap.
record_offset() {
	local off=24 i
	for ((i = 1; i < $2; i++)); do off=$((off + 16 + $(u32 "$1" $((off + 8))))); done
	echo "$off"
}
# overwrite FILE OFFSET HEXBYTES: write bytes over the file in place.
overwrite() { printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
# events FILE SOURCE: how many events of SOURCE a JSONL file holds.
events() { grep -c "\"source\":\"pcap:$2\"" "$1" || true; }

# run NAME PCAP...: runs mcpwatch; sets rc, and out to the events file.
run() {
	local name=$1
	shift
	local args=()
	for p in "$@"; do args+=(--pcap "$p"); done
	out="$work/$name.events.jsonl"
	set +e
	"$work/mcpwatch" run "${args[@]}" --events-out "$out" --alerts-out "" --log-level error 2>"$work/$name.stderr"
	rc=$?
	set -e
}

printf '%-28s %4s  %s\n' case rc figures
report() { printf '%-28s %4s  %s\n' "$1" "$rc" "$2"; }
summary_line() { grep -E "^(damaged input|warning|failed input):" "$work/$1.stderr" | sed "s|$work/||g" | head -3 | tr '\n' ' '; }

mkdir -p "$work/clean" "$work/bad"
cp "$demo" "$work/clean/demo.pcap"
run clean "$work/clean/demo.pcap"
clean=$(events "$out" demo.pcap)
report "clean demo.pcap" "events $clean"

# 1. A record header in the middle overwritten with junk.
k=13
cp "$demo" "$work/bad/demo.pcap"
off=$(record_offset "$demo" $k)
size=$((16 + $(u32 "$demo" $((off + 8)))))
overwrite "$work/bad/demo.pcap" "$off" '\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee'
run header "$work/bad/demo.pcap"
n=$(events "$out" demo.pcap)
report "pcap record $k header junk" "events $n of $clean (lost $((clean - n)): record $k, $size bytes at byte $off) | $(summary_line header)"
[ "$rc" -eq 3 ] || { echo "FAIL: want exit 3"; exit 1; }

# 2. good, bad, good.
cp "$demo" "$work/good1.pcap"
cp "$other" "$work/good2.pcap"
cp "$work/bad/demo.pcap" "$work/bad.pcap"
run good2 "$work/good2.pcap"
g2clean=$(events "$out" good2.pcap)
run mixed "$work/good1.pcap" "$work/bad.pcap" "$work/good2.pcap"
g1=$(events "$out" good1.pcap) b=$(events "$out" bad.pcap) g2=$(events "$out" good2.pcap)
report "good, bad, good" "events good1 $g1/$clean, bad $b/$clean, good2 $g2/$g2clean | $(summary_line mixed)"
[ "$rc" -eq 3 ] && [ "$g1" -eq "$clean" ] && [ "$g2" -eq "$g2clean" ] || { echo "FAIL: want exit 3 and both good files whole"; exit 1; }

# 3. pcapng: an Enhanced Packet Block's length set to 0xFFFFFF00.
"$work/mkpcapng" "$demo" "$work/clean/demo.pcapng"
read -r boff blen < <("$work/mkpcapng" "$demo" "$work/bad/demo.pcapng" 15)
run ngclean "$work/clean/demo.pcapng"
ngclean=$(events "$out" demo.pcapng)
run ng "$work/bad/demo.pcapng"
n=$(events "$out" demo.pcapng)
report "pcapng EPB length 0xFFFFFF00" "events $n of $ngclean (lost $((ngclean - n)): block 15, $blen bytes at byte $boff) | $(summary_line ng)"
[ "$rc" -eq 3 ] || { echo "FAIL: want exit 3"; exit 1; }

# 4. A bogus link type: every frame skipped, warned once.
cp "$demo" "$work/bad/bogus.pcap"
overwrite "$work/bad/bogus.pcap" 20 '\x34\x12\x00\x00'
run bogus "$work/bad/bogus.pcap"
report "link type 4660" "events $(events "$out" bogus.pcap) | $(summary_line bogus)"
[ "$rc" -eq 0 ] || { echo "FAIL: want exit 0"; exit 1; }

# 5. Cut inside the last record: a warning, everything before delivered.
head -c $(($(stat -c %s "$demo") - 10)) "$demo" >"$work/bad/cut.pcap"
run cut "$work/bad/cut.pcap"
report "cut inside the last record" "events $(events "$out" cut.pcap) of $clean | $(summary_line cut)"
[ "$rc" -eq 0 ] || { echo "FAIL: want exit 0"; exit 1; }
echo "all input fault cases behaved"
