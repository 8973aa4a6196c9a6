#!/usr/bin/env bash
# Regenerates the README's screenshots: runs the real app in a real window
# under Xvfb with screenshots/demo.ron open, clicks through a few views with
# xdotool, and captures the screen after each.
# Needs: xvfb, xdotool, imagemagick (apt-get install xvfb xdotool imagemagick).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
display=:$((90 + RANDOM % 100))
Xvfb "$display" -screen 0 1280x800x24 >/dev/null 2>&1 &
xvfb=$!
app=
trap 'kill $app $xvfb 2>/dev/null || true' EXIT
sleep 1
export DISPLAY=$display
./target/release/sockscope --open screenshots/demo.ron &
app=$!
sleep 4
# No window manager under Xvfb: give the window the keyboard explicitly.
xdotool search --sync --pid "$app" | head -1 | xargs -r xdotool windowfocus --sync
shot() { import -window root "screenshots/$1.png"; echo "wrote screenshots/$1.png"; }
click() { xdotool mousemove "$1" "$2" click 1; sleep 0.5; }
# 1. The session list (a server with two connections), the selected
#    client's log (data and lifecycle rows) with Chinese text, the
#    inspector with read-back options.
shot main-window
# 2. The log as hex, with a data row's full dump.
click 750 43      # "Hex view"
click 347 224     # the first data row's time
shot log-hex
# 3. The form refusing a port out of range: the field framed in red, the
#    reason beside Open.
click 750 43      # back to text
click 215 156     # "Remote host:port"
xdotool key ctrl+a type "127.0.0.1:70000"
sleep 0.5
shot form-error
kill $app
# 4. Step mode: the api-tour script, every call and the kernel's answer.
./target/release/sockscope --open api-tour &
app=$!
sleep 3
xdotool search --sync --pid "$app" | head -1 | xargs -r xdotool windowfocus --sync
shot step-mode
kill $app
# 5. TLS: a client that accepts a self-signed server, flagged in red in the
#    inspector with what verification would have said; the server answers
#    from canned template replies.
./target/release/sockscope --open screenshots/tls.ron &
app=$!
sleep 4
xdotool search --sync --pid "$app" | head -1 | xargs -r xdotool windowfocus --sync
shot tls-inspector
# 6. The form building a TLS server with canned replies.
click 185 60      # "Kind"
click 182 110     # "TCP server"
click 34 271      # "Use TLS"
click 130 225     # "Canned replies" (the responder row wraps once TLS is on)
shot form-responder-tls
kill $app
kill $xvfb
wait $xvfb 2>/dev/null || true
sleep 1
# 7. At 1024x700, in the light theme (read from a workspace's layout).
Xvfb "$display" -screen 0 1024x700x24 >/dev/null 2>&1 &
xvfb=$!
sleep 1
light=$(mktemp -d)
printf '(version: 1, sessions: [(name: "x", kind: SocketPair)], layout: (theme: Light))' >"$light/workspace.ron"
SOCKSCOPE_CONFIG_DIR=$light ./target/release/sockscope --open screenshots/demo.ron &
app=$!
sleep 5
shot main-window-1024-light
kill $app
rm -rf "$light"
