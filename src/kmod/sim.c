// SPDX-License-Identifier: GPL-2.0
/*
 * memballoon: the simulate transport, used while no device is bound.
 *
 * There is no host: pages still leave the page allocator, but nobody is
 * told about them, nothing can break, and the daemon sets the target
 * (SIM_SET_TARGET).  Nothing stops the guest from taking pages back, on
 * OOM or otherwise.  This is cmm.c's "simulate" mode.
 */
#include <linux/memballoon.h>
#include <linux/virtio_balloon.h>

#include "shim.h"

static bool mb_sim_broken(struct mb_transport *tp)
{
	return false;
}

static void mb_sim_queue_page(struct mb_transport *tp, struct page *page)
{
}

static bool mb_sim_tell(struct mb_transport *tp, struct list_head *pages)
{
	return true;
}

static void mb_sim_set_actual(struct mb_transport *tp, unsigned long nr_pages)
{
}

static bool mb_sim_deflate_on_oom(struct mb_transport *tp)
{
	return true;
}

static u64 mb_sim_features(struct mb_transport *tp)
{
	return 0;
}

static void mb_sim_stats_changed(struct mb_transport *tp)
{
}

static const struct mb_transport_ops mb_sim_ops = {
	.transport	= MEMBALLOON_TRANSPORT_SIMULATE,
	.name		= "simulate",
	.host_target	= false,
	/* As virtio's, so that a device binding mid-call changes nothing. */
	.max_step_pages	= MB_VIRTIO_STEP_PAGES,
	.first_step_pages = MB_VIRTIO_FIRST_STEP_PAGES,
	.broken		= mb_sim_broken,
	.queue_page	= mb_sim_queue_page,
	.tell_inflate	= mb_sim_tell,
	.tell_deflate	= mb_sim_tell,
	.set_actual	= mb_sim_set_actual,
	.deflate_on_oom	= mb_sim_deflate_on_oom,
	.features	= mb_sim_features,
	.stats_changed	= mb_sim_stats_changed,
};

struct mb_transport mb_sim_transport = {
	.ops = &mb_sim_ops,
};
