#!/usr/bin/env bash
# Runs every benchmark; installs the peers the echo comparison needs.
# The echo table in BENCHMARKS.md is rewritten by the run; the scale and UI
# figures are printed for copying in.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for p in socat ncat python3 packetsender; do command -v "$p" >/dev/null || need+=("$p"); done
# Packet Sender's GUI runs under Xvfb and checks the display with xrandr.
command -v Xvfb >/dev/null || need+=(xvfb)
command -v xrandr >/dev/null || need+=(x11-xserver-utils)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
cargo bench --bench peers
cargo bench --bench scale
cargo bench --bench ui_frames
