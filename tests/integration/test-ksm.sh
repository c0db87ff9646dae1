#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Integration test of KSM tuning against a fake /proc and /sys tree
# (memballoond --root DIR): the daemon reads meminfo, PSI, ksmd's stat
# and the KSM counters from the tree, writes run, pages_to_scan,
# sleep_millisecs and the advisor knobs into it, reports all of it under
# "ksm." in status, pauses on "ksm unmerge", and restores what it found
# on reload with ksm.enabled off and at stop.  The script plays the
# kernel: it advances the counters between policy runs.  Prints TAP.
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
D=$top_builddir/memballoond
C=$top_builddir/memballoonctl
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

if ! command -v python3 >/dev/null; then
        echo "1..0 # SKIP needs python3"
        exit 0
fi

T=$(mktemp -d /tmp/memballoond-ksm.XXXXXX)
chmod 755 "$T"
R=$T/root
K=$R/sys/kernel/mm/ksm
S=$T/control
LOG=$T/daemon.log
pid=

cleanup() {
        [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
        rm -rf "$T"
}
trap cleanup EXIT

# ---------------------------------------------------------------- the fake tree
mkdir -p "$R/dev" "$R/proc/pressure" "$R/proc/1" "$R/proc/37" "$R/proc/500" "$R/proc/600" "$K"
meminfo() { # meminfo TOTAL_KIB FREE_KIB AVAILABLE_KIB
        printf 'MemTotal:       %s kB\nMemFree:        %s kB\nMemAvailable:   %s kB\nBuffers:        0 kB\nCached:         0 kB\n' \
                "$1" "$2" "$3" > "$R/proc/meminfo"
}
meminfo 4194304 3145728 3145728
echo "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" > "$R/proc/pressure/memory"
echo "full avg10=0.00 avg60=0.00 avg300=0.00 total=0" >> "$R/proc/pressure/memory"
# ksmd: a kernel thread (PF_KTHREAD 0x200000 in flags, field 9)
ksmd_ticks=0
ksmd_stat() { echo "37 (ksmd) S 2 0 0 0 -1 2097216 0 0 0 0 $ksmd_ticks 0 0 0 25 5 1 0 25 0 0" > "$R/proc/37/stat"; }
ksmd_stat
echo "1 (systemd) S 0 1 1 0 -1 4194560 0 0 0 0 100 100 0 0 20 0 1 0 1 0 0" > "$R/proc/1/stat"
# a user process that calls itself ksmd and burns CPU: must be ignored
echo "500 (ksmd) R 1 500 500 0 -1 4194304 0 0 0 0 99999999 99999999 0 0 20 0 1 0 1 0 0" > "$R/proc/500/stat"
# a ksmtuned-style qemu: 262144 pages (1 GiB) resident
printf 'qemu-system-x86_64\0-m\0001024\0-enable-kvm\0' > "$R/proc/600/cmdline"
echo "600 (qemu-system-x86) S 1 600 600 0 -1 4194304 0 0 0 0 1 1 0 0 20 0 1 0 1 0 0" > "$R/proc/600/stat"
echo "300000 262144 1000 1 0 20000 0" > "$R/proc/600/statm"

for f in pages_shared pages_sharing pages_unshared pages_volatile full_scans pages_scanned general_profit ksm_zero_pages; do
        echo 0 > "$K/$f"
done
echo 0 > "$K/run"
echo 100 > "$K/pages_to_scan"
echo 20 > "$K/sleep_millisecs"
echo "[none] scan-time" > "$K/advisor_mode"
echo 70 > "$K/advisor_max_cpu"
echo 500 > "$K/advisor_min_pages_to_scan"
echo 30000 > "$K/advisor_max_pages_to_scan"
echo 200 > "$K/advisor_target_scan_time"
# The knobs; advisor_mode as its selected word ("[none] scan-time" is
# what the kernel shows, "none" what a plain file holds after a write).
knobs() {
        for f in run pages_to_scan sleep_millisecs advisor_mode advisor_max_cpu advisor_min_pages_to_scan \
                 advisor_max_pages_to_scan advisor_target_scan_time; do
                printf '%s=%s ' "$f" "$(sed -E 's/.*\[([^]]*)\].*/\1/' "$K/$f")"
        done
}
found=$(knobs)

write_conf() { # write_conf KSM-SETTINGS
        cat > "$T/c.conf" <<CONF
ksm = { enabled = true; interval_s = 1; $1 };
control = { socket = "$S"; mode = "0666"; };
log = { level = "debug"; };
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
ksm_get() { status_json | json_get "ksm.$1"; }

# wait_for DESC CMD...: poll CMD for up to 10 s
wait_for() {
        local desc=$1; shift
        for _ in $(seq 100); do "$@" && return 0; sleep 0.1; done
        return 1
}
file_is() { [ "$(cat "$K/$1")" = "$2" ]; }
# advisor_mode's selected word: the kernel brackets it, a written file does not
advisor_is() { [ "$(sed -E 's/.*\[([^]]*)\].*/\1/' "$K/advisor_mode")" = "$1" ]; }
state_is() { [ "$(ksm_get state 2>/dev/null)" = "$1" ]; }
# --manual-clock: the daemon's time stands still until "advance-clock"
# moves it, so the policy runs exactly when the script says (next_run).
start_daemon() {
        "$D" --config "$T/c.conf" --log-target=console --root "$R" --manual-clock >>"$LOG" 2>&1 &
        pid=$!
        wait_for "socket" "$C" --socket "$S" status >/dev/null 2>&1
}
stop_daemon() { kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=; }
reload() { "$C" --socket "$S" reload >/dev/null; }

# Move the daemon's clock by one policy interval (1 s): exactly one policy
# run happens (ksm.policy_runs counts them), so each change the script
# makes is seen by exactly one run, measured over exactly 1 s.  Meanwhile
# the fake ksmd scans a little: a ksmd that scans nothing has no work, and
# the policy would stop it.
scanned=0
runs_wrong=0
next_run() {
        local before after
        scanned=$((scanned + 1000)); [ -d "$K" ] && echo "$scanned" > "$K/pages_scanned"
        before=$(ksm_get policy_runs)
        after=$("$C" --socket "$S" advance-clock 1000000 | json_get ksm.policy_runs)
        if [ "$after" != $((before + 1)) ]; then
                runs_wrong=$((runs_wrong + 1))
                echo "# advance-clock 1 s: policy_runs $before -> $after, expected one run"
        fi
}

# ---------------------------------------------------------------- adaptive, our own loop
write_conf 'kernel_advisor = false;'
if start_daemon; then ok "daemon starts with ksm.enabled"; else notok "daemon starts with ksm.enabled" "$(cat "$LOG")"; fi

file_is run 0 && ok "no policy run before the clock moves" || notok "no policy run before the clock moves" "$(knobs)"
next_run
if file_is run 1; then
        ok "plentiful memory: the first run probes (run=1 written)"
else
        notok "plentiful memory: the first run probes (run=1 written)" "$(knobs)" "$(tail -5 "$LOG")"
fi
# Play ksmd merging: 50000 pages more sharing per second, 20 ticks of CPU.
for i in 1 2 3 4; do
        ksmd_ticks=$((ksmd_ticks + 20)); ksmd_stat
        echo $((i * 50000)) > "$K/pages_sharing"
        echo $((i * 200)) > "$K/pages_shared"
        echo "$i" > "$K/full_scans"
        scanned=$((scanned + 400000))
        echo $((i * 50000 * 4096)) > "$K/general_profit"
        next_run
done
js=$(status_json)
keys_ok=1
for k in enabled available mode state run pages_to_scan sleep_millisecs pages_sharing pages_shared saved_kib \
         ksmd_cpu_percent reason max_cpu_percent; do
        json_get "ksm.$k" <<<"$js" >/dev/null 2>&1 || { keys_ok=0; echo "# missing key ksm.$k"; }
done
[ $keys_ok = 1 ] && ok "status --json has every ksm. key" || notok "status --json has every ksm. key" "$js"
if [ "$(json_get ksm.enabled <<<"$js")" = true ] && [ "$(json_get ksm.available <<<"$js")" = true ] &&
   [ "$(json_get ksm.mode <<<"$js")" = adaptive ] && [ "$(json_get ksm.run <<<"$js")" = 1 ]; then
        ok "status: enabled, available, adaptive, run 1"
else
        notok "status: enabled, available, adaptive, run 1" "$js"
fi
# The fake ksmd used 20 ticks a second: 20% of a CPU, twice the ceiling.
if [ "$(json_get ksm.pages_to_scan <<<"$js")" = 64 ] && [ "$(cat "$K/pages_to_scan")" = 64 ] &&
   [ "$(json_get ksm.sleep_millisecs <<<"$js")" -gt 10 ] && [ "$(cat "$K/sleep_millisecs")" -gt 10 ] &&
   grep -q "over the 10% ceiling: cut" <<<"$(json_get ksm.reason <<<"$js")"; then
        ok "ksmd over the CPU ceiling: pages_to_scan cut to the minimum, sleep raised, in the tree and in status"
else
        notok "ksmd over the CPU ceiling: pages_to_scan cut to the minimum, sleep raised, in the tree and in status" \
                "$(knobs)" "$js"
fi

if [ "$(json_get ksm.state <<<"$js")" = merging ] && [ "$(json_get ksm.saved_kib <<<"$js")" = 800000 ] &&
   [ "$(json_get ksm.pages_sharing <<<"$js")" = 200000 ] && [ "$(json_get ksm.pages_shared <<<"$js")" = 800 ] &&
   [ "$(json_get ksm.profit_kib <<<"$js")" = 800000 ] && grep -q "merging pays" <<<"$(json_get ksm.reason <<<"$js")"; then
        ok "merging: state merging, saved_kib = pages_sharing * 4 KiB, reason says it pays"
else
        notok "merging: state merging, saved_kib = pages_sharing * 4 KiB, reason says it pays" "$js"
fi
cpu=$(json_get ksm.ksmd_cpu_percent <<<"$js")
if python3 -c "import sys; c=float(sys.argv[1]); sys.exit(0 if abs(c - 20) < 0.01 else 1)" "$cpu"; then
        ok "ksmd CPU% comes from the kernel thread, not the impostor ($cpu%)"
else
        notok "ksmd CPU% comes from the kernel thread, not the impostor ($cpu%)" "$js"
fi
"$C" --socket "$S" status | grep -q "^KSM: enabled, [a-z]* (adaptive)" && ok "human status has a KSM line" \
        || notok "human status has a KSM line" "$("$C" --socket "$S" status)"
out=$("$C" --socket "$S" ksm)
grep -q "pages_sharing 200000" <<<"$out" && grep -q "full_scans:" <<<"$out" && grep -q "Yield:" <<<"$out" \
        && ok "memballoonctl ksm shows the detail" || notok "memballoonctl ksm shows the detail" "$out"
[ "$("$C" --socket "$S" ksm --json | json_get pages_sharing)" = 200000 ] && ok "memballoonctl ksm --json prints the ksm object" \
        || notok "memballoonctl ksm --json prints the ksm object"

# No more yield: ksmd scans on (CPU, full scans) but sharing stays.
stopped=0
for i in $(seq 12); do
        ksmd_ticks=$((ksmd_ticks + 5)); ksmd_stat
        echo $((4 + i)) > "$K/full_scans"
        scanned=$((scanned + 100000))
        next_run
        if file_is run 0; then stopped=1; break; fi
done
js=$(status_json)
if [ $stopped = 1 ] && [ "$(json_get ksm.state <<<"$js")" = off ] &&
   grep -q "nothing worth merging" <<<"$(json_get ksm.reason <<<"$js")" && [ "$(json_get ksm.next_probe_sec <<<"$js")" -gt 0 ]; then
        ok "no yield and memory plentiful: run=0, reason says so, a probe is scheduled"
else
        notok "no yield and memory plentiful: run=0, reason says so, a probe is scheduled" "$js" "$(knobs)"
fi
grep -q "KSM off (adaptive, run=0)" "$LOG" && grep -q "MEMBALLOON_KSM_REASON=" "$LOG" \
        && ok "the change of state is logged with its reason" || notok "the change of state is logged with its reason"

# Memory gets tight: KSM starts again before any probe is due.
meminfo 4194304 262144 262144
next_run
if file_is run 1 && grep -q "memory tight" <<<"$(ksm_get reason)"; then
        ok "tight memory starts KSM"
else
        notok "tight memory starts KSM" "$(status_json)"
fi

# ---------------------------------------------------------------- kernel advisor
# Memory is tight: the reload restarts the policy, which probes; our loop
# runs the first full scan, then the kernel advisor takes over from there.
write_conf ''
reload
next_run
state_is probing || notok "reload restarts the policy: it probes" "$(status_json)"
next_run
advisor_is none && [ "$(ksm_get mode)" = adaptive ] && ok "reload: the first pass is scanned by our own loop" \
        || notok "reload: the first pass is scanned by our own loop" "$(knobs)" "$(status_json)"
ours=$(cat "$K/pages_to_scan")
echo $(($(cat "$K/full_scans") + 1)) > "$K/full_scans"
next_run
# The advisor's floor is our loop's last rate: exactly one run happened
# since $ours was read.
amin=$(cat "$K/advisor_min_pages_to_scan")
if advisor_is scan-time && file_is advisor_max_cpu 10 && [ "$amin" = "$ours" ] &&
   file_is advisor_max_pages_to_scan 1250 && file_is advisor_target_scan_time 30 &&
   [ "$(ksm_get mode)" = kernel-advisor ]; then
        ok "then the kernel advisor takes the rate (scan-time from $ours pages, max_cpu = ceiling), status says kernel-advisor"
else
        notok "then the kernel advisor takes the rate (scan-time, max_cpu = ceiling), status says kernel-advisor" \
                "ours=$ours" "$(knobs)" "$(status_json)"
fi

# ---------------------------------------------------------------- unmerge, resume
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
        out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$C" --socket "$S" ksm unmerge 2>&1); rc=$?
        [ $rc -eq 1 ] && grep -q "only root" <<<"$out" && ! file_is run 2 \
                && ok "ksm unmerge refused for non-root" || notok "ksm unmerge refused for non-root" "rc=$rc" "$out"
else
        skip "ksm unmerge refused for non-root" "needs root and setpriv"
fi
"$C" --socket "$S" ksm frob >/dev/null 2>&1; [ $? -eq 2 ] && ok "ksm with an unknown action exits 2" \
        || notok "ksm with an unknown action exits 2"
out=$("$C" --socket "$S" ksm unmerge 2>&1); rc=$?
if [ $rc -eq 0 ] && wait_for "run=2" file_is run 2 && [ "$(ksm_get paused)" = true ] && [ "$(ksm_get state)" = paused ]; then
        ok "ksm unmerge writes run=2 and pauses the policy"
else
        notok "ksm unmerge writes run=2 and pauses the policy" "rc=$rc" "$out" "$(knobs)"
fi
next_run; next_run
file_is run 2 && ok "paused: the policy does not touch run" || notok "paused: the policy does not touch run" "$(knobs)"
out=$("$C" --socket "$S" ksm resume 2>&1); rc=$?
next_run
if [ $rc -eq 0 ] && file_is run 1 && [ "$(ksm_get paused)" = false ]; then
        ok "ksm resume lets the policy run again"
else
        notok "ksm resume lets the policy run again" "rc=$rc" "$out" "$(knobs)"
fi
out=$("$C" --socket "$S" ksm resume 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "not paused" <<<"$out" && ok "ksm resume when not paused is an error" \
        || notok "ksm resume when not paused is an error" "rc=$rc" "$out"

# ---------------------------------------------------------------- ksmtuned
# 4 GiB: thres = 838860, sleep = 10 * 16 GiB / 4 GiB = 40.  free 262144 < thres: boost to 300.
write_conf 'policy = "ksmtuned";'
reload
next_run
if file_is pages_to_scan 300 && file_is sleep_millisecs 40 && file_is run 1 &&
   advisor_is none && [ "$(ksm_get mode)" = ksmtuned ]; then
        ok "ksmtuned mode: advisor off, boost to 300 pages, sleep 40 ms"
else
        notok "ksmtuned mode: advisor off, boost to 300 pages, sleep 40 ms" "$(knobs)" "$(status_json)"
fi
grep -q "committed 1048576 " <<<"$(ksm_get reason)" && ok "ksmtuned mode counts the qemu -enable-kvm RSS as committed" \
        || notok "ksmtuned mode counts the qemu -enable-kvm RSS as committed" "$(ksm_get reason)"
# Plenty of free memory, but committed (1 GiB) + thres > total - ... no: 1048576 + 838860 < 4194304: stop.
meminfo 4194304 3145728 3145728
next_run
if file_is run 0 && file_is pages_to_scan 300; then
        ok "ksmtuned mode: free above the threshold stops KSM (run only)"
else
        notok "ksmtuned mode: free above the threshold stops KSM (run only)" "$(knobs)"
fi

# ---------------------------------------------------------------- give back
write_conf 'enabled = false;'
sed -i 's/enabled = true; //' "$T/c.conf"
reload
if [ "$(knobs)" = "$found" ] && [ "$(ksm_get state)" = disabled ]; then
        ok "ksm.enabled off on reload: every knob back as found"
else
        notok "ksm.enabled off on reload: every knob back as found" "found: $found" "now:   $(knobs)"
fi
grep -q "ksm.enabled is off; restored run=0" "$LOG" && ok "the restore is logged" || notok "the restore is logged"

write_conf ''
reload
next_run
stop_daemon
if [ "$(knobs)" = "$found" ]; then
        ok "daemon stop: every knob back as found"
else
        notok "daemon stop: every knob back as found" "found: $found" "now:   $(knobs)"
fi

# ---------------------------------------------------------------- no KSM
rm -rf "$R/sys/kernel/mm/ksm"
if start_daemon && next_run && state_is unavailable && [ "$(ksm_get available)" = false ]; then
        ok "without /sys/kernel/mm/ksm: available false, state unavailable, daemon runs"
else
        notok "without /sys/kernel/mm/ksm: available false, state unavailable, daemon runs" "$(status_json 2>&1)"
fi
out=$("$C" --socket "$S" ksm unmerge 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "no KSM" <<<"$out" && ok "ksm unmerge without KSM is refused" \
        || notok "ksm unmerge without KSM is refused" "rc=$rc" "$out"
stop_daemon

# Bad advance-clock requests: a precise error, and the clock does not move.
bad_advance() { # bad_advance JSON-PARAMS: prints the reply's error name
        python3 - "$S" "$1" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b'{"method":"advance-clock","parameters":' + sys.argv[2].encode() + b'}\n')
data = b""
while not data.endswith(b"\n"):
    c = s.recv(65536)
    if not c:
        break
    data += c
print(json.loads(data).get("error", "none"))
PY
}
start_daemon
runs0=$(ksm_get policy_runs)
bad=0
for p in '{"usec":"1000"}' '{"usec":-1}' '{"usec":86400000001}' '{}' '{"usec":1,"x":2}'; do
        e=$(bad_advance "$p")
        [ "$e" = memballoon.InvalidParameter ] || { bad=1; echo "# advance-clock $p: $e"; }
done
[ $bad = 0 ] && [ "$(ksm_get policy_runs)" = "$runs0" ] \
        && ok "bad advance-clock parameters get InvalidParameter and move nothing" \
        || notok "bad advance-clock parameters get InvalidParameter and move nothing" "runs $runs0 -> $(ksm_get policy_runs)"
stop_daemon

[ $runs_wrong = 0 ] && ok "every advance-clock of one interval ran the policy exactly once" \
        || notok "every advance-clock of one interval ran the policy exactly once" "$runs_wrong wrong"
"$C" --socket "$S" advance-clock 1s >/dev/null 2>&1; [ $? -eq 2 ] && ok "advance-clock with a bad duration exits 2" \
        || notok "advance-clock with a bad duration exits 2"

grep -q "ERROR\|AddressSanitizer\|runtime error" "$LOG" && notok "no sanitizer reports" "$(grep -m3 'ERROR\|runtime error' "$LOG")" \
        || ok "no sanitizer reports"

echo "1..$n"
[ $failed -eq 0 ]
