/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * KSM tuning on the event loop: every ksm.interval_s read a snapshot
 * (/proc/meminfo, the files in /sys/kernel/mm/ksm, ksmd's /proc/<pid>/stat,
 * /proc/pressure/memory) through the root seam, run the pure policy of
 * ksm-policy.c, and write the knobs that changed.
 *
 * The knobs are memballoond's while ksm.enabled is true.  When it takes
 * them it records every value it may write (run, pages_to_scan,
 * sleep_millisecs and the advisor_* settings); when ksm.enabled goes false
 * or the daemon stops it writes those values back, so KSM is as the admin
 * left it.  Pages merged meanwhile stay merged (run=0 never unmerges).
 * run=2 (unmerge) is written only on request: ksm_unmerge().
 */
#pragma once

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "status-schema.h"

typedef struct Ksm Ksm;

/* Returns 0 or -ENOMEM. */
int ksm_new(sd_event *event, const Config *config, Ksm **ret);
/* Does not restore anything (call ksm_stop() first).  NULL-safe. */
Ksm *ksm_free(Ksm *k);

/* Apply the (new) configuration: take the knobs and start the timer when
 * ksm.enabled is true, give them back when it turned false, and restart
 * the policy when its settings changed.  Used at start and after reload. */
void ksm_reconfigure(Ksm *k, const Config *old);

/* The daemon stops: give the knobs back. */
void ksm_stop(Ksm *k);

/* Fill s->ksm (and nothing else). */
void ksm_status(Ksm *k, json_object *st);

/*
 * Unmerge every KSM page (write run=2) in a child process, since the
 * kernel does it in the writer's context and it can take longer than the
 * watchdog allows, then leave KSM stopped and the policy paused until
 * ksm_resume().  Returns 0 when started, -EALREADY while an unmerge runs,
 * -ENODEV without KSM, or -errno; *ret_msg gets a static explanation.
 */
int ksm_unmerge(Ksm *k, const char **ret_msg);

/* Let the policy run again after an unmerge.  -EALREADY if not paused. */
int ksm_resume(Ksm *k, const char **ret_msg);
