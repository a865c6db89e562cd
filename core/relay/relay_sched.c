// SPDX-License-Identifier: MIT
/* tinescale-relay's CPU scheduling policy (relay_sched.h). */
#include "relay_sched.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

bool relay_sched_parse(const char *s, enum relay_sched *out)
{
	if (strcmp(s, "batch") == 0)
		*out = RELAY_SCHED_BATCH;
	else if (strcmp(s, "inherit") == 0)
		*out = RELAY_SCHED_INHERIT;
	else
		return false;
	return true;
}

static const char *policy_name(int policy)
{
	switch (policy) {
	case SCHED_OTHER:
		return "SCHED_OTHER";
	case SCHED_BATCH:
		return "SCHED_BATCH";
	case SCHED_IDLE:
		return "SCHED_IDLE";
	case SCHED_FIFO:
		return "SCHED_FIFO";
	case SCHED_RR:
		return "SCHED_RR";
	default:
		return "another policy";
	}
}

int relay_sched_apply(enum relay_sched want, char *msg, size_t len)
{
	const struct sched_param none = {.sched_priority = 0};
	int cur = sched_getscheduler(0);

	if (cur < 0) {
		snprintf(msg, len, "scheduling policy unknown: %s", strerror(errno));
		return -1;
	}
	cur &= ~SCHED_RESET_ON_FORK; /* a flag the starter may have set, not a policy */
	if (want == RELAY_SCHED_INHERIT || cur != SCHED_OTHER) {
		snprintf(msg, len, "scheduling: %s, as started%s", policy_name(cur),
			 want == RELAY_SCHED_BATCH ? " (an explicit policy is kept)" : "");
		return 0;
	}
	if (sched_setscheduler(0, SCHED_BATCH, &none) < 0) {
		int err = errno;

		snprintf(msg, len, "scheduling: cannot switch to SCHED_BATCH (%s); staying %s",
			 strerror(err), policy_name(cur));
		errno = err;
		return -1;
	}
	snprintf(msg, len, "scheduling: SCHED_BATCH (forwards in bursts; --sched inherit keeps %s)",
		 policy_name(cur));
	return 0;
}
