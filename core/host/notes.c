/* SPDX-License-Identifier: MIT */
/*
 * Who owns which note.  The notes themselves live in the engine (per peer
 * and per interface, base/seam.h); the host remembers which instance set
 * each one last, and removes an instance's notes when the instance is
 * freed, so notes never outlive their plugin and reloads cannot fill the
 * engine's slots.
 *
 * nlock is held across the engine call, so the engine's notes and this
 * table change together: a note a new instance sets while the old one is
 * being freed keeps its new owner and stays.  Lock order: nlock > engine
 * locks (the engine never calls the host under them, except the event
 * queue's leaf lock).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host_internal.h"

struct note_owner {
	struct instance *inst;
	bool peer; /* false: a note on the interface */
	uint8_t public_key[32];
	char key[TS_NOTE_KEY_MAX + 1];
};

static bool same_note(const struct note_owner *o, const uint8_t *public_key, const char *key)
{
	if (o->peer != (public_key != NULL) || strcmp(o->key, key))
		return false;
	return !public_key || !memcmp(o->public_key, public_key, 32);
}

static void note_drop(struct ts_pipeline_host *ph, size_t i)
{
	ph->notes[i] = ph->notes[--ph->n_notes];
}

int notes_set(struct instance *in, const uint8_t *public_key, const char *key, const char *value)
{
	struct ts_pipeline_host *ph = in->ph;
	const struct ts_engine_table *e = &ph->eng;
	size_t i;
	int r;

	if (!e->note_set)
		return -ENODEV;
	/* The engine checks key and value; strlen below needs a key that fits. */
	if (!key || strnlen(key, TS_NOTE_KEY_MAX + 1) > TS_NOTE_KEY_MAX)
		return -EINVAL;
	pthread_mutex_lock(&ph->nlock);
	r = e->note_set(e->ctx, public_key, key, value);
	if (r)
		goto out;
	for (i = 0; i < ph->n_notes; i++)
		if (same_note(&ph->notes[i], public_key, key))
			break;
	if (!value) {
		if (i < ph->n_notes)
			note_drop(ph, i);
		goto out;
	}
	if (i == ph->n_notes) {
		/* The engine bounds the notes (TS_NOTES_MAX per peer), and so this table. */
		struct note_owner *n = realloc(ph->notes, (ph->n_notes + 1) * sizeof(*n));

		if (!n) {
			e->note_set(e->ctx, public_key, key, NULL); /* untracked would leak */
			r = -ENOMEM;
			goto out;
		}
		ph->notes = n;
		memset(&n[i], 0, sizeof(n[i]));
		n[i].peer = public_key != NULL;
		if (public_key)
			memcpy(n[i].public_key, public_key, 32);
		strcpy(n[i].key, key);
		ph->n_notes++;
	}
	ph->notes[i].inst = in;
out:
	pthread_mutex_unlock(&ph->nlock);
	return r;
}

void notes_release(struct instance *in)
{
	struct ts_pipeline_host *ph = in->ph;
	const struct ts_engine_table *e = &ph->eng;

	pthread_mutex_lock(&ph->nlock);
	for (size_t i = 0; i < ph->n_notes;) {
		struct note_owner *o = &ph->notes[i];

		if (o->inst != in) {
			i++;
			continue;
		}
		/* -ENOENT when the peer is gone already: nothing left to remove. */
		if (e->note_set)
			e->note_set(e->ctx, o->peer ? o->public_key : NULL, o->key, NULL);
		note_drop(ph, i);
	}
	pthread_mutex_unlock(&ph->nlock);
}

void notes_forget_peer(struct ts_pipeline_host *ph, const uint8_t public_key[32])
{
	pthread_mutex_lock(&ph->nlock);
	for (size_t i = 0; i < ph->n_notes;) {
		if (ph->notes[i].peer && !memcmp(ph->notes[i].public_key, public_key, 32))
			note_drop(ph, i);
		else
			i++;
	}
	pthread_mutex_unlock(&ph->nlock);
}

void notes_free(struct ts_pipeline_host *ph)
{
	free(ph->notes);
	ph->notes = NULL;
	ph->n_notes = 0;
}
