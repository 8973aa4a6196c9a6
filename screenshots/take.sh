#!/usr/bin/env bash
# Regenerates the README's screenshots: runs the real app in a real window
# under Xvfb with screenshots/demo.ron open, clicks through a few views with
# xdotool, and captures the screen after each.
# Needs: xvfb, xdotool, imagemagick and socat (apt-get install xvfb xdotool
# imagemagick socat).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
display=:$((90 + RANDOM % 100))
app=
xvfb=
export DISPLAY=$display
# Starts the app with the given arguments, sized to the screen (there is
# no window manager under Xvfb), with the keyboard.
start() {
    ./target/release/sockscope "$@" &
    app=$!
    sleep 4
    local win
    win=$(xdotool search --sync --pid "$app" | head -1)
    xdotool windowsize "$win" "$W" "$H"
    xdotool windowmove "$win" 0 0
    sleep 1.5
    xdotool windowfocus --sync "$win"
}
stop() { kill "$app"; wait "$app" 2>/dev/null || true; }
shot() { import -window root "screenshots/$1.png"; echo "wrote screenshots/$1.png"; }
click() { xdotool mousemove "$1" "$2" click 1; sleep 0.7; }
screen() {
    if [ -n "$xvfb" ]; then kill "$xvfb"; wait "$xvfb" 2>/dev/null || true; sleep 1; fi
    W=$1 H=$2
    Xvfb "$display" -screen 0 "${W}x${H}x24" >/dev/null 2>&1 &
    xvfb=$!
    sleep 1
}
# A config directory of our own, with a workspace that sets the theme;
# removed at the end (it is ours, made by mktemp).
conf=$(mktemp -d)
trap 'kill $app $xvfb 2>/dev/null || true; rm -rf "$conf"' EXIT
theme() {
    printf '(version: 1, sessions: [], layout: (theme: %s, language: %s))' "$1" "${2:-English}" \
        >"$conf/workspace.ron"
}
export SOCKSCOPE_CONFIG_DIR=$conf

screen 1280 800
theme Dark
# 1. The session list (a server with two connections), the selected
#    client's log (data and lifecycle rows) with Chinese text, quick-send
#    buttons, the inspector with read-back options.
start --open screenshots/demo.ron
shot main-window
# 2. The log as hex, with a data row's full dump.
click 750 43      # "Hex view"
click 347 206     # a received row's time
shot log-hex
# 3. The form refusing a port out of range: the field framed in red, the
#    reason beside Open.
click 750 43      # back to text
click 215 174     # "Remote host:port"
xdotool key ctrl+a type "127.0.0.1:70000"
sleep 0.5
shot form-error
stop
# 4. Quick send running every second, and a capture of every session to
#    a file, shown on the log's header.
start --open screenshots/demo.ron
click 543 655     # "modbus read": Start sending
click 375 89      # "Export and capture"
capture=$(mktemp -u /tmp/sockscope-capture.XXXXXX.bin)
click 500 152     # the capture file's name
xdotool key ctrl+a type "$capture"
click 405 199     # "Start capture (tcp-client)"
sleep 2.5
shot quick-send-capture
stop
rm -f "$capture"*
# 5. Step mode: the api-tour script, every call and the kernel's answer.
start --open api-tour
shot step-mode
stop
# 6. TLS: a client that accepts a self-signed server, flagged in red in the
#    inspector with what verification would have said; the server answers
#    from canned template replies.
start --open screenshots/tls.ron
shot tls-inspector
# 7. The form building a TLS server with canned replies.
click 185 60      # "Kind"
click 182 110     # "TCP server"
click 34 289      # "Use TLS"
click 130 243     # "Canned replies" (the second line of the responder row)
shot form-responder-tls
stop
# 7b. WebSocket over TLS: the handshake rows, text messages, a ping and
#     the server's automatic pong, and a binary message typed as hex, each
#     row tagged with its opcode.
start --open screenshots/ws.ron
click 538 719     # "ping"
click 330 742     # "Send"
click 430 557     # payload as "Hex"
click 640 612     # the payload
xdotool type --delay 40 "00 ff 10 20"
click 484 719     # "binary"
click 330 742     # "Send"
sleep 1
shot websocket
stop
# 7c. A relay with rules between a client and an echo server: both legs
#     in one log (C→S, S→C), a rule's delay and drop, and the throttle
#     switched on from the inspector.
start --open screenshots/relay.ron
click 130 562     # the relay in the session list
click 1016 447    # rule 2, the throttle
shot relay
stop
# 8. The light theme at 1280x800.
theme Light
start --open screenshots/demo.ron
shot main-window-1280-light
stop
# 9. 1024x700, light and dark.
screen 1024 700
start --open screenshots/demo.ron
shot main-window-1024-light
stop
theme Dark
start --open screenshots/demo.ron
shot main-window-1024-dark
stop
# 10. 1920x1080 with the presets open: they take the height the sessions
#     do not need.
screen 1920 1080
start --open screenshots/demo.ron
click 35 334      # "Presets"
shot main-window-1920
stop
# 11. A serial port on a pseudo-terminal pair from socat: the echo, the
#     modem lines a pty does not have, the settings read back (the pty
#     keeps 8N1). Needs socat (apt-get install socat).
screen 1024 700
socat pty,raw,echo=0,link=/tmp/sockscope-tty pty,raw,echo=0,link=/tmp/sockscope-tty-peer &
socat_pid=$!
sleep 1
start --open serial-echo
printf 'AT+GMR\r\n' >/tmp/sockscope-tty-peer
sleep 1.5
shot serial
stop
kill "$socat_pid"
# 12. The app in Chinese (View -> Language), at 1280x800 and 1024x700.
screen 1280 800
theme Dark Chinese
start --open screenshots/demo.ron
shot zh-main-window
stop
screen 1024 700
theme Light Chinese
start --open screenshots/demo.ron
shot zh-main-window-1024
stop
# 13. The System sockets view at 1280x800: demo.ron's echo server and its
#     connections among the machine's other sockets, its listener selected
#     (accept queue, memory, process, TCP_INFO).
screen 1280 800
theme Dark
start --open screenshots/demo.ron
click 214 12      # "System sockets"
sleep 1.5
click 500 43      # the filter
xdotool type --delay 20 "tcp or udp or unix"
sleep 1.5
click 400 143     # the second row
sleep 2
shot system-sockets
stop
