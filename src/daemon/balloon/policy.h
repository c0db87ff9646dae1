/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The balloon policy as pure functions: inputs in, decision out, "now"
 * passed in.  No I/O, no logging; the manager applies the decisions.
 *
 * DESIGN section 3:
 *   target_raw = host target (virtio) | configured target (simulate),
 *                or more if auto loan offers more
 *   target_eff = clamp(target_raw - oom_debt, 0, total - floor),
 *                held where it is while paused
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct PolicyInput {
        uint64_t host_target_pages;     /* what the host (or config) asks for */
        bool auto_enabled;
        uint64_t auto_target_pages;     /* balloon size auto loan would reach */
        uint64_t total_pages;           /* guest RAM: managed + loaned */
        uint64_t actual_pages;          /* balloon now */
        uint64_t floor_pages;           /* never below this much RAM for the guest */
        uint64_t oom_debt_pages;        /* released on OOM, not taken back yet */
        bool paused;                    /* hotplug or pressure pause */
        /* virtio spec 5.5.6.1: without VIRTIO_BALLOON_F_DEFLATE_ON_OOM the
         * guest may not take back pages the host still asks for; only what
         * it loaned beyond the host's target.  Always true in simulate mode. */
        bool may_deflate_below_host;
        /* MemAvailable now, and the level inflation must not take it below
         * (oom.min_available_mb plus one relief step): the balloon never
         * causes the pressure its own relief would answer. */
        bool has_avail;
        uint64_t avail_pages;
        uint64_t avail_floor_pages;
} PolicyInput;

/* Reasons, as shown in status (balloon.reason). */
#define POLICY_REASON_FLOOR     "host target would leave less than balloon.min_mem_mb; stopped at the floor"
#define POLICY_REASON_AUTO      "auto loan: the guest does not need this memory, so more is loaned than the host asks (auto.headroom_mb stays free)"
#define POLICY_REASON_RAM       "host target exceeds guest RAM; clamped"
#define POLICY_REASON_DEBT      "memory released on OOM is not taken back until the OOM debt decays (memballoonctl reset-oom clears it)"
#define POLICY_REASON_PAUSED    "loaning is paused"
#define POLICY_REASON_AVAIL     "inflating further would take MemAvailable below oom.min_available_mb plus one oom.relief_step_mb; holding here"
#define POLICY_REASON_HOST_HOLD "the host's target holds the balloon: it did not offer deflate-on-oom, so the guest may not take these pages back (QEMU: -device virtio-balloon-pci,deflate-on-oom=on; libvirt: <memballoon model='virtio' autodeflate='on'>)"

typedef struct PolicyTarget {
        uint64_t target_pages;          /* effective target */
        uint64_t raw_pages;             /* before clamps and debt */
        bool by_floor;                  /* floor lowered it */
        bool by_ram;                    /* raw exceeded RAM */
        bool by_debt;                   /* OOM debt lowered it */
        bool by_auto;                   /* auto loan raised it above the host's */
        bool by_host_hold;              /* the virtio rule kept it up */
        bool by_avail;                  /* MemAvailable's floor stopped inflation */
        const char *reason;             /* first of the above that applies, or NULL */
} PolicyTarget;

void policy_target(const PolicyInput *in, PolicyTarget *ret);

/*
 * Auto loan: the balloon size at which MemAvailable would sit at the
 * headroom.  avail and headroom in pages.  Never negative.
 */
uint64_t policy_auto_target(uint64_t actual_pages, uint64_t avail_pages, uint64_t headroom_pages);

/* OOM debt after @elapsed_usec of decay at @decay_pages_per_min. */
uint64_t policy_debt_decay(uint64_t debt_pages, uint64_t decay_pages_per_min, uint64_t elapsed_usec);

typedef enum StepKind {
        STEP_NONE,
        STEP_INFLATE,
        STEP_DEFLATE,
} StepKind;

/* Inflate rate control, after vmw_balloon's adaptive rate: a failed
 * allocation backs off (doubling, capped) and restarts slowly. */
typedef struct Stepper {
        uint64_t rate_pages;            /* current inflate step; 0 = not started */
        uint32_t failures;              /* consecutive allocation failures */
        uint64_t retry_at_usec;         /* no inflate before this */
        bool moving;                    /* a change is in progress */
} Stepper;

typedef struct StepLimits {
        uint64_t inflate_max_pages;     /* balloon.inflate_step_mb */
        uint64_t deflate_max_pages;     /* balloon.deflate_step_mb */
        uint64_t batch_max_pages;       /* shim's max_batch_pages */
        uint64_t hysteresis_pages;      /* balloon.hysteresis_mb */
        uint64_t slow_start_pages;      /* first step after a failure */
        uint64_t backoff_usec;          /* balloon.backoff_ms */
        uint64_t backoff_max_usec;
} StepLimits;

typedef struct StepDecision {
        StepKind kind;
        uint64_t nr_pages;
        uint64_t delay_usec;            /* wait this long before the step */
} StepDecision;

/*
 * What to do next to move @actual towards @target.  A change starts only
 * when the distance reaches the hysteresis; once started it runs to the
 * exact target (and follows a new target at once).
 */
void policy_next_step(Stepper *st, const StepLimits *lim, uint64_t target_pages,
                      uint64_t actual_pages, uint64_t now_usec, StepDecision *ret);

/*
 * Pressure relief (PSI trigger or MemAvailable below oom.min_available_mb).
 *
 * Give back only what is needed: enough to bring MemAvailable back to its
 * floor plus one step (a PSI stall with MemAvailable above that gets one
 * step), never more than the balloon holds or the virtio rule allows.
 * Inflation is then held off for the back-off; pressure that comes back
 * soon after the hold ended (re-inflation was too early) doubles the next
 * hold, up to 8x.  Events during a hold extend it but do not double it:
 * one wave of pressure is one episode, however many signals it raises.
 */
typedef struct ReliefState {
        uint32_t streak;                /* episodes in a row, 0 = none yet */
        uint64_t hold_until_usec;       /* no inflating before this */
        uint64_t hold_usec;             /* length of the current hold */
} ReliefState;

typedef struct ReliefInput {
        uint64_t now_usec;
        bool psi;                       /* a PSI stall, not (only) MemAvailable */
        bool has_avail;
        uint64_t avail_pages;           /* MemAvailable now */
        uint64_t avail_floor_pages;     /* oom.min_available_mb */
        uint64_t step_pages;            /* oom.relief_step_mb */
        uint64_t backoff_usec;          /* oom.backoff_s */
        uint64_t actual_pages;
        uint64_t host_target_pages;
        bool may_deflate_below_host;
} ReliefInput;

typedef struct ReliefDecision {
        uint64_t need_pages;            /* what would relieve the pressure */
        uint64_t release_pages;         /* take this much out of the balloon now */
        uint64_t hold_until_usec;
        bool limited_by_host;           /* the virtio rule allowed less */
} ReliefDecision;

void policy_relief(ReliefState *st, const ReliefInput *in, ReliefDecision *ret);

/* Feed back the result of an INFLATE (@nomem: stopped by allocation failure). */
void policy_inflate_result(Stepper *st, const StepLimits *lim, uint64_t requested,
                           uint64_t done, bool nomem, uint64_t now_usec);
