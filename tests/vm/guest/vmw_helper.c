// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmw_helper: the guest's hands in the VMware scenarios (tests/vm/vmware.py).
 *
 *   vmw_helper state
 *       GET_STATE (version 3) as one line of key=value.
 *   vmw_helper follow TIMEOUT_MS
 *       Move the balloon to the host's target with INFLATE/DEFLATE, as a
 *       daemon would, until actual == target; a call that moves nothing
 *       (the host refused or kept pages, a reset in progress) is retried
 *       after 50 ms.  Prints the calls' stop reasons and the end state;
 *       exit 1 if the target was not reached in time.
 *   vmw_helper events
 *       Read the queued events without waiting: "event TYPE VALUE" lines.
 *   vmw_helper inflate|deflate N
 *       One INFLATE or DEFLATE of N pages: "done=N actual=N stop=N".
 *
 * Exit status: 0 success, 1 failure, 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/memballoon.h>

static int open_dev(int flags)
{
	int fd = open("/dev/" MEMBALLOON_DEVICE_NAME, flags | O_CLOEXEC);

	if (fd < 0)
		fprintf(stderr, "vmw_helper: open: %s\n", strerror(errno));
	return fd;
}

static int get_state(int fd, struct memballoon_state *st)
{
	memset(st, 0, sizeof(*st));
	st->argsz = sizeof(*st);
	if (ioctl(fd, MEMBALLOON_GET_STATE, st) < 0) {
		fprintf(stderr, "vmw_helper: GET_STATE: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static void print_state(const struct memballoon_state *st)
{
	printf("transport=%u target=%" PRIu64 " actual=%" PRIu64 " total_ram=%" PRIu64
	       " state_flags=%#x declined_transport=%u declined_reason=%u declined_error=%d"
	       " host_page_size=%u transport_flags=%#" PRIx64 " host_resets=%" PRIu64
	       " refused_pages=%" PRIu64 " oom_freed=%" PRIu64 " migrations=%" PRIu64 "\n",
	       st->transport, (uint64_t)st->target_pages, (uint64_t)st->actual_pages,
	       (uint64_t)st->total_ram_pages, st->state_flags, st->declined_transport,
	       st->declined_reason, st->declined_error, st->host_page_size,
	       (uint64_t)st->transport_flags, (uint64_t)st->host_resets,
	       (uint64_t)st->refused_pages, (uint64_t)st->oom_freed_pages,
	       (uint64_t)st->migrations);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmd_follow(uint64_t timeout_ms)
{
	struct memballoon_api api = { .argsz = sizeof(api) };
	uint64_t end = now_ms() + timeout_ms;
	unsigned int stops[16] = { 0 };
	struct memballoon_state st;
	unsigned int calls = 0, i;
	int fd = open_dev(O_RDWR), rc = 1;

	if (fd < 0)
		return 1;
	if (ioctl(fd, MEMBALLOON_GET_API, &api) < 0)
		goto out;
	for (;;) {
		struct memballoon_batch b = { .argsz = sizeof(b) };
		unsigned long req;

		if (get_state(fd, &st))
			goto out;
		if (st.actual_pages == st.target_pages) {
			rc = 0;
			break;
		}
		if (now_ms() > end) {
			fprintf(stderr, "vmw_helper: follow: actual %" PRIu64 ", target %" PRIu64
				" after %" PRIu64 " ms\n", (uint64_t)st.actual_pages,
				(uint64_t)st.target_pages, timeout_ms);
			break;
		}
		if (st.actual_pages < st.target_pages) {
			b.nr_pages = st.target_pages - st.actual_pages;
			req = MEMBALLOON_INFLATE;
		} else {
			b.nr_pages = st.actual_pages - st.target_pages;
			req = MEMBALLOON_DEFLATE;
		}
		if (b.nr_pages > api.max_batch_pages)
			b.nr_pages = api.max_batch_pages;
		if (ioctl(fd, req, &b) < 0) {
			fprintf(stderr, "vmw_helper: %s: %s\n",
				req == MEMBALLOON_INFLATE ? "INFLATE" : "DEFLATE", strerror(errno));
			goto out;
		}
		calls++;
		stops[b.stop_reason & 15]++;
		if (!b.done_pages)
			usleep(50000);
	}
out:
	printf("follow: %u calls, stops", calls);
	for (i = 0; i < 16; i++)
		if (stops[i])
			printf(" %u:%u", i, stops[i]);
	printf("\n");
	if (!get_state(fd, &st))
		print_state(&st);
	close(fd);
	return rc;
}

static int cmd_events(void)
{
	struct memballoon_event ev[64];
	int fd = open_dev(O_RDWR | O_NONBLOCK);
	ssize_t n;

	if (fd < 0)
		return 1;
	while ((n = read(fd, ev, sizeof(ev))) > 0)
		for (ssize_t i = 0; i < n / (ssize_t)sizeof(ev[0]); i++)
			printf("event %u %" PRIu64 "\n", ev[i].type, (uint64_t)ev[i].value);
	close(fd);
	return n < 0 && errno != EAGAIN ? 1 : 0;
}

static int cmd_step(unsigned long req, uint64_t n)
{
	struct memballoon_batch b = { .argsz = sizeof(b), .nr_pages = n };
	int fd = open_dev(O_RDWR);

	if (fd < 0)
		return 1;
	if (ioctl(fd, req, &b) < 0) {
		fprintf(stderr, "vmw_helper: ioctl: %s\n", strerror(errno));
		close(fd);
		return 1;
	}
	close(fd);
	printf("done=%" PRIu64 " actual=%" PRIu64 " stop=%u\n", (uint64_t)b.done_pages,
	       (uint64_t)b.actual_pages, b.stop_reason);
	return 0;
}

int main(int argc, char **argv)
{
	struct memballoon_state st;
	int fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "state")) {
		fd = open_dev(O_RDONLY);
		if (fd < 0 || get_state(fd, &st))
			return 1;
		close(fd);
		print_state(&st);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "follow"))
		return cmd_follow(strtoull(argv[2], NULL, 0));
	if (argc == 2 && !strcmp(argv[1], "events"))
		return cmd_events();
	if (argc == 3 && !strcmp(argv[1], "inflate"))
		return cmd_step(MEMBALLOON_INFLATE, strtoull(argv[2], NULL, 0));
	if (argc == 3 && !strcmp(argv[1], "deflate"))
		return cmd_step(MEMBALLOON_DEFLATE, strtoull(argv[2], NULL, 0));
	fprintf(stderr, "usage: vmw_helper state | follow TIMEOUT_MS | events | inflate N | deflate N\n");
	return 2;
}
