#!/usr/bin/env bash
# Regenerates the README's screenshots: runs the real app in a real window
# under Xvfb with screenshots/demo.ron open, and captures the screen.
# Needs: xvfb, imagemagick (apt-get install xvfb imagemagick).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
display=:$((90 + RANDOM % 100))
Xvfb "$display" -screen 0 1280x800x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $app $xvfb 2>/dev/null || true' EXIT
sleep 1
DISPLAY=$display ./target/release/sockscope --open screenshots/demo.ron &
app=$!
sleep 4
DISPLAY=$display import -window root screenshots/main-window.png
echo "wrote screenshots/main-window.png"
