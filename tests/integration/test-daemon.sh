#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Integration test: start the real memballoond with a temporary config,
# socket and fake root, and drive it with the real memballoonctl and with
# raw socket clients.  Prints TAP.  Needs python3 (for JSON checks and raw
# clients); the unprivileged checks need root (to switch to nobody).
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
D=$top_builddir/memballoond
C=$top_builddir/memballoonctl
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { # check NAME CMD...: passes if CMD succeeds
        local name=$1; shift
        if "$@"; then ok "$name"; else notok "$name" "command failed: $*"; fi
}

T=$(mktemp -d /tmp/memballoond-it.XXXXXX)
chmod 755 "$T"
mkdir -p "$T/root/dev" "$T/root/proc" "$T/root/sys"
S=$T/run/control
LOG=$T/daemon.log
pid=

cleanup() {
        [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
        rm -rf "$T"
}
trap cleanup EXIT

write_conf() { # write_conf FILE MIN_MEM_MB [extra lines]
        cat > "$1" <<CONF
# test config
balloon: {
  source = "simulate";
  min_mem_mb = $2;
};
control: {
  socket = "$S";
  mode = "0666";
  max_clients = 8;
};
log: {
  level = "debug";
};
${3:-}
CONF
}

json_get() { # json_get KEY.PATH < json
        python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[k]
print(json.dumps(v) if not isinstance(v, str) else v)' "$1"
}

status_json() { "$C" --socket "$S" status --json; }

# until CMD...: poll an outcome (an event the daemon handles, never a
# timer of its own) for up to 20 s, so a loaded machine only makes it slower.
until_ok() {
        for _ in $(seq 200); do "$@" && return 0; sleep 0.1; done
        return 1
}

wait_socket() {
        for _ in $(seq 100); do
                [ -S "$S" ] && "$C" --socket "$S" status >/dev/null 2>&1 && return 0
                sleep 0.1
        done
        return 1
}

# raw CLIENT: send bytes (python literal) to the socket, print the reply line
raw() {
        python3 - "$S" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(eval(sys.argv[2]))
s.shutdown(socket.SHUT_WR)
data = b""
while not data.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.decode(errors="replace").strip())
PY
}

# ---------------------------------------------------------------- options
"$D" --version | grep -q '^memballoond [0-9]' && ok "--version" || notok "--version"
"$D" --help | grep -q -- '--check-config' && ok "--help" || notok "--help"
"$D" --bogus >/dev/null 2>&1; [ $? -eq 2 ] && ok "unknown option exits 2" || notok "unknown option exits 2"
"$D" --log-target=syslog >/dev/null 2>&1; [ $? -eq 2 ] && ok "bad --log-target exits 2" || notok "bad --log-target exits 2"

# ---------------------------------------------------------------- config checks
write_conf "$T/good.conf" 256
out=$("$D" --config "$T/good.conf" --check-config 2>&1)
if [ $? -eq 0 ] && grep -q 'min_mem_mb = 256' <<<"$out" && grep -q 'source = "simulate"' <<<"$out"; then
        ok "--check-config accepts a good file and prints the effective config"
else
        notok "--check-config accepts a good file and prints the effective config" "$out"
fi

printf 'balloon: {\n  source = "simulate";\n  min_mem_mb = 99999999999;\n};\n' > "$T/range.conf"
out=$("$D" --config "$T/range.conf" --check-config 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "^$T/range.conf:3: .*balloon.min_mem_mb" <<<"$out"; then
        ok "--check-config rejects out of range with FILE:LINE naming the key"
else
        notok "--check-config rejects out of range with FILE:LINE naming the key" "rc=$rc" "$out"
fi

printf 'balloon: {\n  source = "simulate";\n  min_mem_mb = ;\n};\n' > "$T/syntax.conf"
out=$("$D" --config "$T/syntax.conf" --check-config 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "^$T/syntax.conf:[0-9]*: " <<<"$out" && ok "syntax error rejected with FILE:LINE" \
        || notok "syntax error rejected with FILE:LINE" "rc=$rc" "$out"

printf 'balloon: {\n  sauce = "virtio";\n};\n' > "$T/unknown.conf"
out=$("$D" --config "$T/unknown.conf" --check-config 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "^$T/unknown.conf:2: .*sauce" <<<"$out" && ok "unknown key rejected with FILE:LINE" \
        || notok "unknown key rejected with FILE:LINE" "rc=$rc" "$out"

out=$("$D" --config "$T/range.conf" --log-target=console 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "^$T/range.conf:3: " <<<"$out" && [ ! -e "$S" ] \
        && ok "daemon refuses to start on a bad config" || notok "daemon refuses to start on a bad config" "rc=$rc" "$out"

out=$("$D" --config "$T/missing.conf" --check-config 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "missing.conf: No such file" <<<"$out" && ok "missing explicit config is an error" \
        || notok "missing explicit config is an error" "$out"

# ---------------------------------------------------------------- memballoonctl without daemon
out=$("$C" --socket "$S" status 2>&1); rc=$?
[ $rc -eq 3 ] && grep -q "not running" <<<"$out" && ok "memballoonctl exits 3 when the daemon is not running" \
        || notok "memballoonctl exits 3 when the daemon is not running" "rc=$rc" "$out"
"$C" frobnicate >/dev/null 2>&1; [ $? -eq 2 ] && ok "memballoonctl unknown verb exits 2" || notok "memballoonctl unknown verb exits 2"
"$C" status extra >/dev/null 2>&1; [ $? -eq 2 ] && ok "memballoonctl extra argument exits 2" || notok "memballoonctl extra argument exits 2"

# ---------------------------------------------------------------- start
"$D" --config "$T/good.conf" --log-target=console --root "$T/root" >"$LOG" 2>&1 &
pid=$!
if wait_socket; then ok "daemon starts and creates its socket (and runtime directory)"; else
        notok "daemon starts and creates its socket (and runtime directory)" "$(cat "$LOG")"; fi
[ "$(stat -c %a "$S")" = 666 ] && ok "socket mode follows control.mode" || notok "socket mode follows control.mode" "$(stat -c %a "$S")"

out=$("$C" --socket "$S" status 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q "degraded" <<<"$out" && grep -q "Fix: *load the kernel shim: modprobe memballoon" <<<"$out"; then
        ok "status: degraded without the device, names the fix"
else
        notok "status: degraded without the device, names the fix" "rc=$rc" "$out"
fi

js=$(status_json)
keys_ok=1
for k in version balloon.available balloon.transport balloon.host_target_kib balloon.target_kib \
         balloon.actual_kib balloon.min_mem_kib balloon.oom_freed_kib balloon.state balloon.reason \
         ksm.enabled config.path uptime_sec; do
        json_get "$k" <<<"$js" >/dev/null 2>&1 || { keys_ok=0; echo "# missing key $k"; }
done
[ $keys_ok = 1 ] && ok "status --json has every required key" || notok "status --json has every required key" "$js"
[ "$(json_get balloon.available <<<"$js")" = false ] && [ "$(json_get balloon.transport <<<"$js")" = none ] \
        && [ "$(json_get balloon.state <<<"$js")" = unavailable ] \
        && [ "$(json_get balloon.min_mem_kib <<<"$js")" = 262144 ] \
        && [ "$(json_get config.path <<<"$js")" = "$T/good.conf" ] \
        && ok "status --json values: unavailable, transport none, floor 256 MiB, config path" \
        || notok "status --json values: unavailable, transport none, floor 256 MiB, config path" "$js"

# ---------------------------------------------------------------- privileges
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
        asnobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
        out=$(asnobody "$C" --socket "$S" status 2>&1); rc=$?
        [ $rc -eq 0 ] && grep -q "Balloon:" <<<"$out" && ok "unprivileged status works when the socket mode allows" \
                || notok "unprivileged status works when the socket mode allows" "rc=$rc" "$out"
        write_conf "$T/good.conf" 300
        out=$(asnobody "$C" --socket "$S" reload 2>&1); rc=$?
        [ $rc -eq 1 ] && grep -q "only root" <<<"$out" && ok "unprivileged reload refused" \
                || notok "unprivileged reload refused" "rc=$rc" "$out"
        [ "$(status_json | json_get balloon.min_mem_kib)" = 262144 ] && ok "refused reload changed nothing" \
                || notok "refused reload changed nothing"
        grep -q 'Refused "reload" from uid 65534' "$LOG" && ok "refusal is logged with the uid" \
                || notok "refusal is logged with the uid"
else
        for t in "unprivileged status" "unprivileged reload refused" "refused reload changed nothing" "refusal logged"; do
                skip "$t" "needs root and setpriv to act as another user"
        done
fi

# ---------------------------------------------------------------- reload
write_conf "$T/good.conf" 300
out=$("$C" --socket "$S" reload 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$(status_json | json_get balloon.min_mem_kib)" = 307200 ] \
        && ok "reload with a good config takes effect" || notok "reload with a good config takes effect" "rc=$rc" "$out"

cp "$T/range.conf" "$T/good.conf.new"; cp "$T/good.conf" "$T/good.conf.bak"; mv "$T/good.conf.new" "$T/good.conf"
out=$("$C" --socket "$S" reload 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "$T/good.conf:3: .*balloon.min_mem_mb" <<<"$out" \
        && ok "reload with a bad config fails with FILE:LINE" || notok "reload with a bad config fails with FILE:LINE" "rc=$rc" "$out"
[ "$(status_json | json_get balloon.min_mem_kib)" = 307200 ] && ok "failed reload keeps the running config" \
        || notok "failed reload keeps the running config"

kill -HUP "$pid"
until_ok grep -q "Reload failed, keeping the running configuration: $T/good.conf:3" "$LOG"
kill -0 "$pid" 2>/dev/null && grep -q "Reload failed, keeping the running configuration: $T/good.conf:3" "$LOG" \
        && [ "$(status_json | json_get balloon.min_mem_kib)" = 307200 ] \
        && ok "SIGHUP with a bad config: logged, running config kept" \
        || notok "SIGHUP with a bad config: logged, running config kept" "$(tail -5 "$LOG")"
write_conf "$T/good.conf" 400
kill -HUP "$pid"
min_mem_is() { [ "$(status_json | json_get balloon.min_mem_kib)" = "$1" ]; }
until_ok min_mem_is 409600 && ok "SIGHUP with a good config takes effect" \
        || notok "SIGHUP with a good config takes effect" "$(tail -5 "$LOG")"

# ---------------------------------------------------------------- malformed requests
expect_err() { # expect_err NAME PYBYTES ERRORNAME
        local out
        out=$(raw "$2" 2>&1)
        if grep -q "\"error\":\"$3\"" <<<"$out" && kill -0 "$pid" 2>/dev/null; then ok "$1"; else notok "$1" "$out"; fi
}
expect_err "garbage gets InvalidRequest" 'b"hello world\n"' memballoon.InvalidRequest
expect_err "non-object JSON gets InvalidRequest" 'b"[1,2]\n"' memballoon.InvalidRequest
expect_err "NUL byte gets InvalidRequest" 'b"{\"method\":\"status\"}\x00\n"' memballoon.InvalidRequest
expect_err "invalid UTF-8 gets InvalidRequest" 'b"{\"method\":\"st\xffus\"}\n"' memballoon.InvalidRequest
expect_err "unknown method gets MethodNotFound" 'b"{\"method\":\"explode\"}\n"' memballoon.MethodNotFound
expect_err "unexpected parameters get InvalidParameter" 'b"{\"method\":\"status\",\"parameters\":{\"x\":1}}\n"' memballoon.InvalidParameter
expect_err "advance-clock on the real clock is refused" 'b"{\"method\":\"advance-clock\",\"parameters\":{\"usec\":1000}}\n"' memballoon.InvalidParameter
expect_err "oversized request gets RequestTooLarge" 'b"{" + b" " * 70000' memballoon.RequestTooLarge
expect_err "deep nesting gets InvalidRequest" 'b"{\"method\":\"status\",\"parameters\":{\"a\":" + b"[" * 5000 + b"\n"' memballoon.InvalidRequest
out=$(raw 'b"{\"method\":\"status\"}"')
grep -q '"parameters":{"version"' <<<"$out" && ok "request ended by EOF without newline is answered" \
        || notok "request ended by EOF without newline is answered" "$out"
out=$(raw 'b"\n\n{\"method\":\"status\"}\n"')
grep -q '"balloon"' <<<"$out" && ok "blank lines are ignored" || notok "blank lines are ignored" "$out"
"$C" --socket "$S" status >/dev/null && ok "daemon still serves after malformed requests" \
        || notok "daemon still serves after malformed requests"

# ---------------------------------------------------------------- many clients
out=$(python3 - "$S" "$C" <<'PY'
import socket, subprocess, sys, time
path, ctl = sys.argv[1], sys.argv[2]
idle = []
for _ in range(7):                 # max_clients is 8: leave one slot
    s = socket.socket(socket.AF_UNIX); s.connect(path); idle.append(s)
# The 8th slot still answers while 7 clients sit idle (no starvation).
r1 = subprocess.run([ctl, "--socket", path, "status"], capture_output=True, timeout=10).returncode
extra = []
for _ in range(5):
    s = socket.socket(socket.AF_UNIX); s.connect(path); extra.append(s)
time.sleep(0.3)
refused = 0
for s in extra[1:]:
    s.settimeout(3)
    try:
        if b"TooManyClients" in s.recv(4096):
            refused += 1
    except OSError:
        pass
for s in idle + extra:
    s.close()
# The daemon frees the slots when it sees the closes: retry, do not guess.
for _ in range(100):
    r2 = subprocess.run([ctl, "--socket", path, "status"], capture_output=True, timeout=10).returncode
    if r2 == 0:
        break
    time.sleep(0.1)
print(r1, refused, r2)
PY
)
[ "$out" = "0 4 0" ] && ok "idle clients do not starve others; clients beyond max_clients are refused; service recovers" \
        || notok "idle clients do not starve others; clients beyond max_clients are refused; service recovers" "$out"

out=$(python3 - "$S" <<'PY'
import socket, sys, threading
path = sys.argv[1]
res = []
def worker():
    try:
        s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(path)
        s.sendall(b'{"method":"status"}\n' * 20)
        data = b""
        while data.count(b"\n") < 20:
            c = s.recv(65536)
            if not c: break
            data += c
        res.append(data.count(b'"balloon"'))
    except Exception as e:
        res.append(str(e))
ts = [threading.Thread(target=worker) for _ in range(6)]
[t.start() for t in ts]; [t.join() for t in ts]
print(sum(x for x in res if isinstance(x, int)))
PY
)
[ "$out" = 120 ] && ok "6 concurrent clients pipelining 20 requests each all get answers" \
        || notok "6 concurrent clients pipelining 20 requests each all get answers" "$out"

# ---------------------------------------------------------------- device appears
: > "$T/root/dev/memballoon"
problem_has_get_api() { grep -q "MEMBALLOON_GET_API" <<<"$(status_json | json_get balloon.problem)"; }
until_ok problem_has_get_api
js=$(status_json)
grep -q "MEMBALLOON_GET_API" <<<"$(json_get balloon.problem <<<"$js")" \
        && ok "a device node appearing is picked up without restart (fake node: rejected by GET_API)" \
        || notok "a device node appearing is picked up without restart (fake node: rejected by GET_API)" "$js"
rm -f "$T/root/dev/memballoon"

# ---------------------------------------------------------------- stop
kill -TERM "$pid"
wait "$pid"; rc=$?
pid=
[ $rc -eq 0 ] && ok "SIGTERM exits 0" || notok "SIGTERM exits 0" "rc=$rc" "$(tail -5 "$LOG")"
[ ! -e "$S" ] && ok "socket removed on exit" || notok "socket removed on exit"
grep -q "memballoond stopped" "$LOG" && ok "stop is logged" || notok "stop is logged"

# SIGINT too
"$D" --config "$T/good.conf" --log-target=console --root "$T/root" >"$LOG" 2>&1 &
pid=$!
wait_socket
# A second daemon on the same socket must refuse, not steal it.
out=$("$D" --config "$T/good.conf" --log-target=console --root "$T/root" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "already listening" <<<"$out" && "$C" --socket "$S" status >/dev/null \
        && ok "a second daemon refuses to steal a live socket" || notok "a second daemon refuses to steal a live socket" "$out"
kill -INT "$pid"; wait "$pid"; rc=$?; pid=
[ $rc -eq 0 ] && ok "SIGINT exits 0" || notok "SIGINT exits 0" "rc=$rc"

# A stale socket left by a crash is replaced.
"$D" --config "$T/good.conf" --log-target=console --root "$T/root" >"$LOG" 2>&1 &
pid=$!; wait_socket; kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=
out=$("$C" --socket "$S" status 2>&1); rc=$?
[ $rc -eq 3 ] && grep -q "stale socket" <<<"$out" && ok "memballoonctl explains a stale socket" \
        || notok "memballoonctl explains a stale socket" "$out"
"$D" --config "$T/good.conf" --log-target=console --root "$T/root" >"$LOG" 2>&1 &
pid=$!
wait_socket && ok "daemon replaces a stale socket after a crash" || notok "daemon replaces a stale socket after a crash" "$(cat "$LOG")"
kill -TERM "$pid"; wait "$pid"; pid=


# ---------------------------------------------------------------- sd_notify
# Listen where systemd would, and check what the daemon tells it.
N=$T/notify.sock
python3 - "$N" > "$T/notify.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(8)
end = time.time() + 30         # generous: the checks wait for messages, not time
while time.time() < end:
    try:
        print(s.recv(4096).decode().replace("\n", "|"), flush=True)
    except socket.timeout:
        break
PY
npid=$!
for _ in $(seq 50); do [ -S "$N" ] && break; sleep 0.1; done
NOTIFY_SOCKET=$N WATCHDOG_USEC=1000000 "$D" --config "$T/good.conf" --log-target=console --root "$T/root" >"$LOG" 2>&1 &
pid=$!
export WATCHDOG_PID=$pid
wait_socket
# Two watchdog periods of 0.5 s at least, and the reload's READY=1: wait
# for them to arrive rather than for time to pass.
two_watchdogs() { [ "$(grep -c '^WATCHDOG=1' "$T/notify.out")" -ge 2 ]; }
until_ok two_watchdogs
kill -HUP "$pid"
reloaded() { grep -A1 '^RELOADING=1' "$T/notify.out" | grep -q 'READY=1'; }
until_ok reloaded
kill -TERM "$pid"; wait "$pid"; pid=
wait "$npid" 2>/dev/null
grep -q '^READY=1' "$T/notify.out" && ok "sd_notify: READY=1" || notok "sd_notify: READY=1" "$(cat "$T/notify.out")"
grep -q '^STATUS=Degraded: balloon unavailable' "$T/notify.out" && ok "sd_notify: STATUS= one-line summary" \
        || notok "sd_notify: STATUS= one-line summary" "$(cat "$T/notify.out")"
[ "$(grep -c '^WATCHDOG=1' "$T/notify.out")" -ge 2 ] && ok "sd_notify: WATCHDOG=1 when WATCHDOG_USEC is set" \
        || notok "sd_notify: WATCHDOG=1 when WATCHDOG_USEC is set" "$(cat "$T/notify.out")"
grep -q '^RELOADING=1|MONOTONIC_USEC=' "$T/notify.out" && grep -A1 '^RELOADING=1' "$T/notify.out" | grep -q 'READY=1' \
        && ok "sd_notify: RELOADING=1 then READY=1 around a reload" \
        || notok "sd_notify: RELOADING=1 then READY=1 around a reload" "$(cat "$T/notify.out")"
grep -q '^STOPPING=1' "$T/notify.out" && ok "sd_notify: STOPPING=1" || notok "sd_notify: STOPPING=1"

# ---------------------------------------------------------------- socket activation
if command -v systemd-socket-activate >/dev/null; then
        S2=$T/activated.sock
        systemd-socket-activate -l "$S2" "$D" --config "$T/good.conf" --log-target=console --root "$T/root" \
                >"$LOG" 2>&1 &
        apid=$!
        out=
        for _ in $(seq 50); do out=$("$C" --socket "$S2" status --json 2>/dev/null) && break; sleep 0.1; done
        # The daemon serves the passed socket, not the configured path.
        if grep -q '"version"' <<<"$out" && [ ! -e "$S" ] && grep -q "socket passed by systemd" "$LOG"; then
                ok "socket activation: serves the socket systemd passes"
        else
                notok "socket activation: serves the socket systemd passes" "$out" "$(cat "$LOG")"
        fi
        kill -TERM "$apid" 2>/dev/null; wait "$apid" 2>/dev/null
        [ -S "$S2" ] && ok "socket activation: the passed socket is left to systemd" \
                || notok "socket activation: the passed socket is left to systemd"
else
        skip "socket activation" "systemd-socket-activate not installed"
        skip "socket activation: passed socket kept" "systemd-socket-activate not installed"
fi

echo "1..$n"
[ $failed -eq 0 ]
