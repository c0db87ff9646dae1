#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Real-KSM test: memballoond against this machine's /sys/kernel/mm/ksm.
#
# A workload maps identical and unique pages with MADV_MERGEABLE; with KSM
# stopped at start (a cold start) and memory plentiful, the policy must
# switch KSM on (a probe), merge the identical pages to within 10% of a
# full merge, keep ksmd under ksm.max_cpu_percent over the run, and switch
# KSM off again once the workload is gone.  Every KSM setting is saved
# first and restored on exit, whatever happens.  Prints TAP; skips when
# not root or when /sys/kernel/mm/ksm is not writable.
#
# It runs twice: with the defaults (the kernel's scan-time advisor sets
# the rate where the kernel has one) and with our own rate loop.
# Environment: KSM_REAL_IDENTICAL_MIB (default 200), KSM_REAL_UNIQUE_MIB
# (100), KSM_REAL_INTERVAL (2 s).
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
D=$top_builddir/memballoond
C=$top_builddir/memballoonctl
W=$top_builddir/tests/ksm-workload
K=/sys/kernel/mm/ksm
IDENT_MIB=${KSM_REAL_IDENTICAL_MIB:-200}
UNIQ_MIB=${KSM_REAL_UNIQUE_MIB:-100}
INTERVAL=${KSM_REAL_INTERVAL:-2}
CEILING=10
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }

# tests/run-all runs this once, in its main build; the sanitizer and
# distcheck passes repeat make check and would only run it again.
if [ -n "${MEMBALLOON_SKIP_REAL_KSM:-}" ]; then
        echo "1..0 # SKIP real KSM test already run in this suite (MEMBALLOON_SKIP_REAL_KSM)"
        exit 0
fi
if [ "$(id -u)" != 0 ]; then
        echo "1..0 # SKIP needs root to write $K"
        exit 0
fi
if [ ! -w "$K/run" ] || ! v=$(cat "$K/run") || ! echo "$v" > "$K/run" 2>/dev/null; then
        echo "1..0 # SKIP $K is missing or not writable (kernel without KSM, or /sys read-only)"
        exit 0
fi
if ! command -v python3 >/dev/null || [ ! -x "$W" ]; then
        echo "1..0 # SKIP needs python3 and $W (make check builds it)"
        exit 0
fi

# One real-KSM user at a time on this machine: another test run or
# bench/ksm-compare would save our settings as its own and restore them.
LOCK=/run/lock/memballoond-real-ksm.lock
[ -d /run/lock ] || LOCK=/tmp/memballoond-real-ksm.lock
exec 9>"$LOCK"
if ! flock -w 900 9; then
        echo "1..0 # SKIP another real-KSM test or benchmark holds $LOCK"
        exit 0
fi

# ---------------------------------------------------------------- save and restore
# Every writable knob, advisor_mode first: switching the advisor resets
# pages_to_scan, so it must be restored before pages_to_scan.
KNOBS="advisor_mode advisor_max_cpu advisor_min_pages_to_scan advisor_max_pages_to_scan advisor_target_scan_time
       pages_to_scan sleep_millisecs max_page_sharing merge_across_nodes use_zero_pages smart_scan
       stable_node_chains_prune_millisecs run"
declare -A saved
for f in $KNOBS; do
        [ -e "$K/$f" ] || continue
        v=$(cat "$K/$f")
        [ "$f" = advisor_mode ] && v=$(sed -E 's/.*\[([^]]*)\].*/\1/' <<<"$v")
        # run=2 is "stopped after an unmerge": restore it as stopped.
        [ "$f" = run ] && [ "$v" = 2 ] && v=0
        saved[$f]=$v
done

T=$(mktemp -d /tmp/memballoond-ksm-real.XXXXXX)
S=$T/control
LOG=$T/daemon.log
dpid=
wpid=

restore() {
        [ -n "$wpid" ] && kill "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null
        [ -n "$dpid" ] && kill -TERM "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
        for f in $KNOBS; do
                [ -n "${saved[$f]+x}" ] || continue
                # The advisor owns pages_to_scan while it runs (writes fail).
                [ "$f" = pages_to_scan ] && [ "${saved[advisor_mode]:-none}" = scan-time ] && continue
                [ "$(sed -E 's/.*\[([^]]*)\].*/\1/' "$K/$f")" = "${saved[$f]}" ] && [ "$f" != pages_to_scan ] && continue
                echo "${saved[$f]}" > "$K/$f" 2>/dev/null || echo "# could not restore $f=${saved[$f]}" >&2
        done
        rm -rf "$T"
}
trap restore EXIT
trap 'exit 1' INT TERM

ksmd_pid() {
        for p in /proc/[0-9]*; do
                [ "$(cat "$p/comm" 2>/dev/null)" = ksmd ] && { echo "${p#/proc/}"; return; }
        done
}
KP=$(ksmd_pid)
# utime + stime of ksmd, in clock ticks (fields 14 and 15, after the comm)
ksmd_ticks() { sed 's/.*) //' "/proc/$KP/stat" | awk '{ print $12 + $13 }'; }
HZ=$(getconf CLK_TCK)
now() { date +%s.%N; }
json() { "$C" --socket "$S" ksm --json 2>/dev/null; }
jget() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

run_case() { # run_case "EXTRA KSM SETTINGS" LABEL
        local label=$2 mine= sharing= st= rc= bad= want= got=
        # ---------------------------------------------------------------- cold start
        echo 0 > "$K/run"
        printf 'ksm = { enabled = true; interval_s = %s; max_cpu_percent = %s; %s };\ncontrol = { socket = "%s"; };\n' \
                "$INTERVAL" "$CEILING" "$1" "$S" > "$T/c.conf"
        : > "$LOG"

        "$W" "$IDENT_MIB" "$UNIQ_MIB" > "$T/workload.out" 9>&- &
        wpid=$!
        for _ in $(seq 100); do grep -q ready "$T/workload.out" 2>/dev/null && break; sleep 0.1; done
        read -r _ _ IDENT_PAGES _ < "$T/workload.out"
        if [ -z "${IDENT_PAGES:-}" ]; then
                notok "$label: workload maps its pages" "$(cat "$T/workload.out")"
                return
        fi
        MAXSHARE=$(cat "$K/max_page_sharing")
        # A full merge: every identical page maps a KSM page, one KSM page per
        # max_page_sharing of them (stable node chains), the rest count as sharing.
        # pages_sharing is system-wide (a VM on this machine adds its own), so the
        # workload's own /proc/PID/ksm_stat is checked too.
        EXPECT=$((IDENT_PAGES - (IDENT_PAGES + MAXSHARE - 1) / MAXSHARE))
        SHARING0=$(cat "$K/pages_sharing")
        echo "# workload: $IDENT_MIB MiB identical ($IDENT_PAGES pages), $UNIQ_MIB MiB unique; full merge adds $EXPECT to pages_sharing"

        t0=$(now)
        c0=$(ksmd_ticks)
        "$D" --config "$T/c.conf" --log-target=console --root / > "$LOG" 2>&1 9>&- &
        dpid=$!

        on=0
        for _ in $(seq 100); do
                [ "$(cat "$K/run")" = 1 ] && { on=1; break; }
                sleep 0.1
        done
        [ $on = 1 ] && ok "$label: the policy switches KSM on (cold start, memory plentiful: a probe)" \
                || notok "$label: the policy switches KSM on (cold start, memory plentiful: a probe)" "$(cat "$LOG")"
        mode=$(json | jget mode)
        echo "# mode: $mode"

        # ---------------------------------------------------------------- merge
        merged=0
        for _ in $(seq 90); do
                mine=$(awk '/^ksm_merging_pages/ { print $2 }' "/proc/$wpid/ksm_stat" 2>/dev/null)
                sharing=$(cat "$K/pages_sharing")
                if [ "${mine:-0}" -ge $((IDENT_PAGES * 9 / 10)) ] && [ "$sharing" -ge $((EXPECT * 9 / 10)) ]; then
                        merged=1
                        break
                fi
                sleep 1
        done
        t_merge=$(python3 -c "import sys; print('%.0f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(now)")
        if [ $merged = 1 ]; then
                ok "$label: pages_sharing within 10% of a full merge ($sharing >= 90% of $EXPECT; $mine of the workload's $IDENT_PAGES pages merged; after $t_merge s)"
        else
                notok "$label: pages_sharing within 10% of a full merge" "pages_sharing $sharing (was $SHARING0), expected at least 90% of $EXPECT" \
                        "workload ksm_merging_pages ${mine:-?} of $IDENT_PAGES" "$(json)"
        fi

        # Let the policy see that nothing more merges, with the workload still there.
        sleep $((INTERVAL * 3))
        c1=$(ksmd_ticks)
        t1=$(now)
        cpu=$(python3 -c "import sys; print('%.1f' % ((int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[5]) * 100 / (float(sys.argv[4]) - float(sys.argv[3]))))" \
                "$c0" "$c1" "$t0" "$t1" "$HZ")
        if python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)" "$cpu" "$CEILING"; then
                ok "$label: ksmd CPU over the run ${cpu}% <= ceiling ${CEILING}% ($((c1 - c0)) ticks in $(python3 -c "print('%.0f' % ($t1 - $t0))") s)"
        else
                notok "$label: ksmd CPU over the run ${cpu}% <= ceiling ${CEILING}%" "$(grep 'KSM' "$LOG" | tail -20)"
        fi

        # ---------------------------------------------------------------- workload gone
        kill "$wpid"; wait "$wpid" 2>/dev/null; wpid=
        off=0
        for _ in $(seq $((INTERVAL * 15))); do
                st=$(json | jget state)
                [ "$(cat "$K/run")" = 0 ] && [ "$st" = off ] && { off=1; break; }
                sleep 1
        done
        if [ $off = 1 ]; then
                ok "$label: workload gone, memory plentiful: KSM switched off ($(json | jget reason))"
        else
                notok "$label: workload gone, memory plentiful: KSM switched off" "$(json)"
        fi
        grep "KSM" "$LOG" | grep -v "^$" | sed 's/ MEMBALLOON_.*//; s/^/# /' | tail -12

        # ---------------------------------------------------------------- restore at stop
        kill -TERM "$dpid"; wait "$dpid"; rc=$?; dpid=
        [ $rc -eq 0 ] && ok "$label: daemon stops cleanly" || notok "$label: daemon stops cleanly" "rc=$rc" "$(tail "$LOG")"
        # memballoond found run=0 (we stopped it) and the saved rest: it must put
        # those back itself, before our trap does.
        bad=
        for f in advisor_mode advisor_max_cpu advisor_min_pages_to_scan advisor_max_pages_to_scan advisor_target_scan_time \
                 pages_to_scan sleep_millisecs run; do
                [ -n "${saved[$f]+x}" ] || continue
                want=${saved[$f]}
                [ "$f" = run ] && want=0
                got=$(sed -E 's/.*\[([^]]*)\].*/\1/' "$K/$f")
                [ "$got" = "$want" ] || bad="$bad $f=$got(want $want)"
        done
        [ -z "$bad" ] && ok "$label: memballoond restored every KSM setting it found" || notok "$label: memballoond restored every KSM setting it found" "$bad"


}

# The default (the kernel's scan-time advisor where the kernel has it),
# then our own rate loop.
run_case "" "default"
run_case "kernel_advisor = false;" "own rate loop"

echo "1..$n"
[ $failed -eq 0 ]
