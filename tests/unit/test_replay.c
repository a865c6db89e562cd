/* SPDX-License-Identifier: MIT */
/*
 * Tests of core/engine/replay.c: the edges of the window one by one, then a random
 * differential test against a naive model (a set of every accepted counter
 * plus the greatest, applying the rule documented in replay.h) over a
 * million in-order, reordered, replayed and jumping counters.
 * The random seed is printed; TS_SEED=<n> replays a run.
 */
#include "replay.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);   \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, " (seed %" PRIu64 ")\n", seed);                            \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#define N	COUNTER_WINDOW_SIZE
#define NOLIMIT UINT64_MAX

static uint64_t seed = 0x7265706c6179ULL;
static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

/* Accepts c and checks that, and that a second try is a replay. */
static void accept_once(struct replay_window *w, uint64_t c, uint64_t limit, int line)
{
	CHECK(replay_check(w, c, limit), "line %d: counter %" PRIu64 " refused", line, c);
	CHECK(!replay_check(w, c, limit), "line %d: replay of %" PRIu64 " accepted", line, c);
}

/* Refused, and the window is left exactly as it was. */
static void refuse(struct replay_window *w, uint64_t c, uint64_t limit, int line)
{
	struct replay_window before = *w;

	CHECK(!replay_check(w, c, limit), "line %d: counter %" PRIu64 " accepted", line, c);
	CHECK(!memcmp(&before, w, sizeof(before)), "line %d: refusing %" PRIu64 " changed state",
	      line, c);
}

#define ACCEPT(w, c, l) accept_once(w, c, l, __LINE__)
#define REFUSE(w, c, l) refuse(w, c, l, __LINE__)

static void test_edges(void)
{
	struct replay_window w;
	uint64_t g, c, i;

	/* Counter 0 is a valid first packet, once. */
	replay_init(&w);
	ACCEPT(&w, 0, NOLIMIT);
	ACCEPT(&w, 1, NOLIMIT);
	REFUSE(&w, 0, NOLIMIT);

	/* A first packet out of order: earlier ones still fit the window. */
	replay_init(&w);
	ACCEPT(&w, 5, NOLIMIT);
	for (c = 0; c < 5; c++)
		ACCEPT(&w, c, NOLIMIT);
	ACCEPT(&w, 6, NOLIMIT);
	/* ... but not if they lie a whole window back. */
	replay_init(&w);
	ACCEPT(&w, N, NOLIMIT);
	REFUSE(&w, 0, NOLIMIT);
	ACCEPT(&w, 1, NOLIMIT);

	/* The edge: greatest - (N - 1) accepted once, greatest - N too old. */
	replay_init(&w);
	g = 100000;
	ACCEPT(&w, g, NOLIMIT);
	REFUSE(&w, g - N, NOLIMIT);
	REFUSE(&w, g - N - 1, NOLIMIT);
	REFUSE(&w, 0, NOLIMIT);
	ACCEPT(&w, g - (N - 1), NOLIMIT);
	ACCEPT(&w, g - 1, NOLIMIT);

	/* Fill the whole window in a scrambled order, then every one is a replay. */
	replay_init(&w);
	g = 3 * N + 17;
	ACCEPT(&w, g, NOLIMIT);
	for (i = 0; i < N - 1; i++) {
		c = g - 1 - (i * 4099 % (N - 1)); /* 4099 is coprime with N - 1 */
		CHECK(replay_check(&w, c, NOLIMIT), "fill: %" PRIu64 " refused", c);
	}
	for (c = g - (N - 1); c <= g; c++)
		REFUSE(&w, c, NOLIMIT);
	REFUSE(&w, g - N, NOLIMIT);
	ACCEPT(&w, g + 1, NOLIMIT);
	/* Sliding by one drops exactly one counter, g - (N - 1). */
	REFUSE(&w, g - (N - 1), NOLIMIT);
	for (c = g - (N - 2); c <= g + 1; c++)
		REFUSE(&w, c, NOLIMIT);

	/* Jumps: by N - 1, the old greatest stays remembered (no word rounding). */
	replay_init(&w);
	g = 64 * 1000 + 5;
	ACCEPT(&w, g, NOLIMIT);
	ACCEPT(&w, g - 70, NOLIMIT);
	ACCEPT(&w, g + N - 1, NOLIMIT);
	REFUSE(&w, g, NOLIMIT);	     /* seen, still in the window */
	REFUSE(&w, g - 1, NOLIMIT);  /* now too old */
	ACCEPT(&w, g + 1, NOLIMIT);  /* never seen */
	ACCEPT(&w, g + 63, NOLIMIT); /* shares a slot word with the new greatest */
	ACCEPT(&w, g + 64, NOLIMIT);
	/* By exactly N: the old greatest leaves the window. */
	replay_init(&w);
	ACCEPT(&w, g, NOLIMIT);
	ACCEPT(&w, g + N, NOLIMIT);
	REFUSE(&w, g, NOLIMIT);
	ACCEPT(&w, g + 1, NOLIMIT);
	/* Much larger than the window: everything before is too old, the
	 * counters right below the new greatest are fresh. */
	replay_init(&w);
	for (c = 0; c < 300; c++)
		ACCEPT(&w, c, NOLIMIT);
	g = 299 + 10 * N + 3;
	ACCEPT(&w, g, NOLIMIT);
	REFUSE(&w, 299, NOLIMIT);
	for (c = g - (N - 1); c < g; c += 61)
		ACCEPT(&w, c, NOLIMIT);
	/* A jump landing on the same ring slots as old counters. */
	ACCEPT(&w, g + 2 * N, NOLIMIT);
	ACCEPT(&w, g + N + 1, NOLIMIT);

	/* reject_limit: limit - 1 is the last counter accepted. */
	replay_init(&w);
	REFUSE(&w, 0, 0);
	REFUSE(&w, 10, 10);
	ACCEPT(&w, 9, 10);
	REFUSE(&w, 10, 10);
	REFUSE(&w, 11, 10);
	REFUSE(&w, NOLIMIT, 10);
	replay_init(&w);
	ACCEPT(&w, REJECT_AFTER_MESSAGES - 1, REJECT_AFTER_MESSAGES);
	REFUSE(&w, REJECT_AFTER_MESSAGES, REJECT_AFTER_MESSAGES);
	REFUSE(&w, REJECT_AFTER_MESSAGES + 1, REJECT_AFTER_MESSAGES);
	ACCEPT(&w, REJECT_AFTER_MESSAGES - N, REJECT_AFTER_MESSAGES);
	REFUSE(&w, REJECT_AFTER_MESSAGES - N - 1, REJECT_AFTER_MESSAGES);

	/* The top of the counter space: no wrap-around anywhere. */
	replay_init(&w);
	REFUSE(&w, UINT64_MAX, UINT64_MAX);
	ACCEPT(&w, UINT64_MAX - 1, UINT64_MAX);
	ACCEPT(&w, UINT64_MAX - N, UINT64_MAX);
	REFUSE(&w, UINT64_MAX - N - 1, UINT64_MAX);
	REFUSE(&w, 0, UINT64_MAX);
	REFUSE(&w, N - 1, UINT64_MAX);
	REFUSE(&w, UINT64_MAX, UINT64_MAX);
	/* A jump from 0 to the very top. */
	replay_init(&w);
	ACCEPT(&w, 0, UINT64_MAX);
	ACCEPT(&w, UINT64_MAX - 2, UINT64_MAX);
	REFUSE(&w, 0, UINT64_MAX);
	ACCEPT(&w, UINT64_MAX - 3, UINT64_MAX);
	ACCEPT(&w, UINT64_MAX - 1, UINT64_MAX);
}

/* ---- The naive model: every accepted counter in a hash set. ---- */

#define SET_BITS 18
#define SET_SIZE (1u << SET_BITS)

struct model {
	uint64_t *keys;
	unsigned char *used;
	size_t n;
	uint64_t greatest;
	int any;
};

static size_t slot_of(uint64_t c)
{
	c *= 0x9e3779b97f4a7c15ULL;
	return (size_t)(c >> (64 - SET_BITS));
}

static int model_seen(const struct model *m, uint64_t c)
{
	size_t i;

	for (i = slot_of(c); m->used[i]; i = (i + 1) & (SET_SIZE - 1))
		if (m->keys[i] == c)
			return 1;
	return 0;
}

static void model_add(struct model *m, uint64_t c)
{
	size_t i = slot_of(c);

	CHECK(m->n < SET_SIZE / 2, "model set full");
	while (m->used[i])
		i = (i + 1) & (SET_SIZE - 1);
	m->used[i] = 1;
	m->keys[i] = c;
	m->n++;
}

static void model_reset(struct model *m)
{
	memset(m->used, 0, SET_SIZE);
	m->n = 0;
	m->greatest = 0;
	m->any = 0;
}

/* replay.h's rule, spelled out with no cleverness. */
static int model_check(struct model *m, uint64_t c, uint64_t limit)
{
	if (c >= limit)
		return 0;
	if (model_seen(m, c))
		return 0;
	if (m->any && c < m->greatest && m->greatest - c >= N)
		return 0;
	model_add(m, c);
	if (!m->any || c > m->greatest)
		m->greatest = c;
	m->any = 1;
	return 1;
}

/* x + d and x - d, stopping at the ends of the counter space. */
static uint64_t fwd(uint64_t x, uint64_t d)
{
	return x + d < x ? UINT64_MAX : x + d;
}

static uint64_t back(uint64_t x, uint64_t d)
{
	return x < d ? 0 : x - d;
}

static uint64_t pick_counter(const struct model *m, uint64_t *next, const uint64_t *recent,
			     unsigned int nrecent)
{
	uint64_t r = rnd_below(1000), c;

	if (r < 450) {
		c = *next; /* in order */
		*next = fwd(*next, 1);
	} else if (r < 700) {
		c = back(*next, 1 + rnd_below(N + 256)); /* reordered, around the edge */
	} else if (r < 800 && nrecent) {
		c = recent[rnd_below(nrecent)]; /* replayed */
	} else if (r < 900) {
		c = back(m->greatest, N - 2 + rnd_below(5)); /* greatest - N +- 2 */
	} else if (r < 950) {
		*next = fwd(*next, rnd_below(2 * N)); /* a gap, within or beyond the window */
		c = *next;
	} else if (r < 955) {
		*next = fwd(*next, 1ULL << rnd_below(36)); /* a big jump */
		c = *next;
	} else {
		c = fwd(back(m->greatest, 3 * N), rnd_below(6 * N)); /* anywhere nearby */
	}
	return c;
}

static void test_differential(void)
{
	enum { EPISODES = 20, OPS = 50000, RECENT = 64 };
	struct model m;
	struct replay_window w;
	uint64_t next, limit, c, end, recent[RECENT];
	unsigned int e, i, nrecent;
	unsigned long ops = 0, accepted = 0;
	int got, want;

	m.keys = calloc(SET_SIZE, sizeof(*m.keys));
	m.used = calloc(SET_SIZE, 1);
	CHECK(m.keys && m.used, "out of memory");

	for (e = 0; e < EPISODES; e++) {
		/* Where the counters start, and where the limit lies. */
		switch (e % 5) {
		case 0:
			next = 0;
			break;
		case 1:
			next = rnd_below(1000);
			break;
		case 2:
			next = rnd();
			break;
		case 3:
			/* Reaches the top in the course of the episode. */
			next = UINT64_MAX - rnd_below(N) - (1ULL << 39);
			break;
		default:
			next = REJECT_AFTER_MESSAGES - rnd_below(N) - (1ULL << 38);
			break;
		}
		limit = e % 4 == 1 ? REJECT_AFTER_MESSAGES : NOLIMIT;

		replay_init(&w);
		model_reset(&m);
		nrecent = 0;
		for (i = 0; i < OPS; i++) {
			/* Half the episodes meet a limit inside the window half-way. */
			if (e % 4 >= 2 && i == OPS / 2)
				limit = fwd(back(m.greatest, N), rnd_below(2 * N));
			c = pick_counter(&m, &next, recent, nrecent);
			want = model_check(&m, c, limit);
			got = replay_check(&w, c, limit);
			CHECK(got == want,
			      "episode %u op %u: counter %" PRIu64 " (greatest %" PRIu64
			      ", limit %" PRIu64 "): got %d, model %d",
			      e, i, c, m.greatest, limit, got, want);
			if (got) {
				accepted++;
				recent[nrecent < RECENT ? nrecent++ : rnd_below(RECENT)] = c;
				CHECK(w.any && w.greatest == m.greatest, "greatest differs");
			}
			ops++;
		}
		/* Sweep the edge and the front of the final window (the bounds
		 * are fixed first: accepting moves greatest). */
		end = m.greatest + 64;
		for (c = m.greatest - N - 64; c != end; c++) {
			want = model_check(&m, c, limit);
			got = replay_check(&w, c, limit);
			CHECK(got == want, "sweep: counter %" PRIu64 ": got %d, model %d", c, got,
			      want);
			ops++;
		}
	}
	printf("differential: %lu operations, %lu accepted, all as the model says\n", ops,
	       accepted);
	free(m.keys);
	free(m.used);
}

int main(void)
{
	const char *env = getenv("TS_SEED");

	if (env && *env)
		seed = strtoull(env, NULL, 0);
	rng_state = seed;
	printf("test_replay: seed %" PRIu64 " (set TS_SEED to replay)\n", seed);

	test_edges();
	test_differential();
	printf("test_replay: all passed\n");
	return 0;
}
