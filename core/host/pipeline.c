/* SPDX-License-Identifier: MIT */
/*
 * The pipeline's snapshots: build one from a YAML file (every entry checked
 * before any plugin is loaded, all or nothing), publish it with one atomic
 * pointer, wait a grace period, destroy the old one; and the host's
 * lifetime (create, destroy) that owns the current snapshot and the two
 * host threads.
 *
 * Lifetimes:
 * - A snapshot is immutable once published.  ph->cur points to the current
 *   one (never NULL while the host lives: an empty snapshot at least).
 *   Hook, event and timer threads are protected by QSBR (base/rcu.h);
 *   format/path/secrets readers by ph->snap_lock (read side), which a
 *   reload takes for writing for an instant after the grace period, so no
 *   reader of the old snapshot remains when it is destroyed.
 * - An instance's timers are cancelled (waiting for a running callback)
 *   before its destroy() is called; instance->dying stops new ones.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "host_internal.h"
#include "rcu.h"

uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *ts_hook_name(enum ts_hook hook)
{
	static const char *const names[TS_HOOK_COUNT] = {
	    [TS_HOOK_PLAINTEXT_OUT] = "plaintext_out",
	    [TS_HOOK_CIPHERTEXT_OUT] = "ciphertext_out",
	    [TS_HOOK_CIPHERTEXT_IN] = "ciphertext_in",
	    [TS_HOOK_PLAINTEXT_IN] = "plaintext_in",
	};

	if ((unsigned int)hook >= TS_HOOK_COUNT)
		return NULL;
	return names[hook];
}

static void snapshot_free(struct ts_pipeline_host *ph, struct snapshot *s)
{
	if (!s)
		return;
	/* Reverse file order: later instances may have been built on earlier ones' presence. */
	for (size_t i = s->n_inst; i-- > 0;)
		instance_free(ph, s->inst[i]);
	for (int h = 0; h < TS_HOOK_COUNT; h++)
		free(s->chains[h].e);
	free(s->inst);
	node_free(s->tree);
	free(s->path);
	free(s);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct chain_entry *x = a, *y = b;

	if (x->inst->priority != y->inst->priority)
		return x->inst->priority < y->inst->priority ? -1 : 1;
	/* qsort is not stable: the file order makes it so. */
	return x->inst->order < y->inst->order ? -1 : x->inst->order > y->inst->order;
}

static int build_chains(struct snapshot *s)
{
	for (int h = 0; h < TS_HOOK_COUNT; h++) {
		struct chain *c = &s->chains[h];

		for (size_t i = 0; i < s->n_inst; i++)
			if (s->inst[i]->hooks & (1u << h))
				c->n++;
		if (!c->n)
			continue;
		c->e = calloc(c->n, sizeof(*c->e));
		if (!c->e)
			return -1;
		c->n = 0;
		for (size_t i = 0; i < s->n_inst; i++) {
			struct instance *in = s->inst[i];

			if (!(in->hooks & (1u << h)))
				continue;
			c->e[c->n++] = (struct chain_entry){.fn = in->desc.hooks[h],
							    .state = in->state,
							    .stats = &in->stats[h],
							    .inst = in,
							    .v1 = in->desc.abi == 1};
		}
		qsort(c->e, c->n, sizeof(*c->e), cmp_entry);
	}
	return 0;
}

static int read_file(const char *path, unsigned char **buf, size_t *len)
{
	FILE *f = fopen(path, "rbe");
	unsigned char *b;
	struct stat st;
	size_t n;

	if (!f)
		return -errno;
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
		fclose(f);
		return -EINVAL;
	}
	if (st.st_size > MAX_FILE_SIZE) {
		fclose(f);
		return -EFBIG;
	}
	/* One byte more than the size: a file that grew meanwhile is noticed, not truncated. */
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(b, 1, (size_t)st.st_size + 1, f);
	if (ferror(f) || n > (size_t)st.st_size) {
		fclose(f);
		free(b);
		return n > (size_t)st.st_size ? -EAGAIN : -EIO;
	}
	fclose(f);
	*buf = b;
	*len = n;
	return 0;
}

/*
 * State handoff: an instance of the new snapshot whose name and plugin name
 * match one of the running snapshot gets its peer slots and migrate(old,
 * new).  load_lock is held, so the running snapshot cannot change.
 */
static void migrate_all(struct ts_pipeline_host *ph, struct snapshot *s)
{
	const struct snapshot *old = atomic_load_explicit(&ph->cur, memory_order_acquire);

	for (size_t i = 0; old && i < s->n_inst; i++) {
		struct instance *in = s->inst[i];

		if (!in->desc.migrate)
			continue;
		for (size_t j = 0; j < old->n_inst; j++) {
			struct instance *o = old->inst[j];

			if (strcmp(o->name, in->name) || strcmp(o->desc.name, in->desc.name))
				continue;
			peer_slots_copy(in, o);
			in->desc.migrate(o->state, in->state);
			break;
		}
	}
}

static struct snapshot *snapshot_build(struct ts_pipeline_host *ph, const char *path, char *err,
				       size_t errlen)
{
	struct loader ld = {.ph = ph, .fname = path, .err = err, .errlen = errlen};
	const struct ts_config_node *root, *plugins = NULL, *version = NULL;
	struct entry *entries = NULL;
	unsigned char *buf = NULL;
	struct snapshot *s;
	size_t len = 0, n_entries = 0;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (!path)
		return s;
	s->path = realpath(path, NULL);
	if (!s->path) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	ld.dir = strdup(s->path);
	if (!ld.dir) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	*strrchr(ld.dir, '/') = '\0'; /* realpath is absolute: there is a '/' */
	if (!ld.dir[0])
		strcpy(ld.dir, "/");
	r = read_file(s->path, &buf, &len);
	if (r) {
		snprintf(err, errlen, "%s: cannot read: %s", path,
			 r == -EFBIG	? "larger than 1 MiB"
			 : r == -EINVAL ? "not a regular file"
					: strerror(-r));
		goto fail;
	}
	s->tree = yaml_to_tree(path, buf, len, err, errlen);
	free(buf);
	if (!s->tree)
		goto fail;
	root = s->tree;
	if (root->type != CN_MAP) {
		LERR(&ld, root, "the document is %s, expected a mapping with 'version: 1'",
		     type_name(root));
		goto fail;
	}
	for (size_t i = 0; i + 1 < root->n; i += 2) {
		const struct ts_config_node *k = root->kids[i], *v = root->kids[i + 1];

		if (!strcmp(k->value, "version")) {
			if (v->type != CN_SCALAR || strcmp(v->value, "1")) {
				LERR(&ld, v, "version '%.32s' is not supported, expected 1",
				     v->type == CN_SCALAR ? v->value : type_name(v));
				goto fail;
			}
			version = v;
		} else if (!strcmp(k->value, "plugin_path")) {
			if (node_is_null(v))
				continue;
			if (v->type != CN_SEQ) {
				LERR(&ld, v, "'plugin_path' is %s, expected a list of directories",
				     type_name(v));
				goto fail;
			}
			for (size_t j = 0; j < v->n; j++) {
				if (v->kids[j]->type != CN_SCALAR || !v->kids[j]->value[0]) {
					LERR(&ld, v->kids[j],
					     "plugin_path entry is %s, expected a directory",
					     v->kids[j]->type == CN_SCALAR ? "empty"
									   : type_name(v->kids[j]));
					goto fail;
				}
			}
			ld.plugin_path = v;
		} else if (!strcmp(k->value, "plugins")) {
			if (node_is_null(v))
				continue;
			if (v->type != CN_SEQ) {
				LERR(&ld, v, "'plugins' is %s, expected a list of plugin entries",
				     type_name(v));
				goto fail;
			}
			plugins = v;
		} else {
			LERR(&ld, k,
			     "unknown key '%.64s', expected version, plugin_path or plugins",
			     k->value);
			goto fail;
		}
	}
	if (!version) {
		LERR(&ld, root, "missing 'version', expected 'version: 1'");
		goto fail;
	}
	/* Validate every entry before loading anything. */
	if (plugins && plugins->n) {
		entries = calloc(plugins->n, sizeof(*entries));
		if (!entries) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		for (size_t i = 0; i < plugins->n; i++) {
			if (parse_entry(&ld, plugins->kids[i], &entries[i]))
				goto fail;
			for (size_t j = 0; j < i; j++) {
				if (!strcmp(entries[j].name->value, entries[i].name->value)) {
					LERR(&ld, entries[i].name,
					     "duplicate instance name '%s' (first at line %u), "
					     "expected a unique name",
					     entries[i].name->value, entries[j].name->line);
					goto fail;
				}
			}
			n_entries++;
		}
		s->inst = calloc(n_entries, sizeof(*s->inst));
		if (!s->inst) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	for (size_t i = 0; i < n_entries; i++) {
		struct instance *in = instance_build(&ld, &entries[i], (unsigned int)i);

		if (!in)
			goto fail;
		s->inst[s->n_inst++] = in;
	}
	if (build_chains(s)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	migrate_all(ph, s);
	free(entries);
	free(ld.dir);
	return s;
fail:
	free(entries);
	free(ld.dir);
	snapshot_free(ph, s);
	return NULL;
}

int ts_pipeline_host_create(struct ts_pipeline_host **out, const struct ts_engine_table *engine)
{
	struct ts_pipeline_host *ph;
	pthread_rwlockattr_t rwa;
	struct snapshot *empty;
	int r;

	ph = calloc(1, sizeof(*ph));
	empty = calloc(1, sizeof(*empty));
	if (!ph || !empty) {
		free(ph);
		free(empty);
		return -ENOMEM;
	}
	if (engine)
		ph->eng = *engine;
	ph->hook_table = (struct ts_hook_table){
	    .ctx = ph,
	    .active = hooks_active,
	    .run = hooks_run,
	    .event = events_queue,
	    .want_secrets = events_want_secrets,
	};
	ph->open = default_open;
	atomic_init(&ph->log_level, TS_LOG_INFO);
	atomic_init(&ph->cur, empty);
	pthread_mutex_init(&ph->load_lock, NULL);
	pthread_mutex_init(&ph->nlock, NULL);
	pthread_rwlockattr_init(&rwa);
	/*
	 * Reader preference: wants_secrets is asked by engine threads holding
	 * engine locks; a waiting reload must not queue them behind it.
	 */
	pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_READER_NP);
	pthread_rwlock_init(&ph->snap_lock, &rwa);
	pthread_rwlockattr_destroy(&rwa);
	capture_init(&ph->cap);
	r = timers_start(ph);
	if (!r)
		r = events_start(ph);
	if (r) {
		timers_stop(ph);
		pthread_rwlock_destroy(&ph->snap_lock);
		pthread_mutex_destroy(&ph->load_lock);
		pthread_mutex_destroy(&ph->nlock);
		free(empty);
		free(ph);
		return r;
	}
	*out = ph;
	return 0;
}

const struct ts_hook_table *ts_pipeline_hook_table(struct ts_pipeline_host *ph)
{
	return &ph->hook_table;
}

/* Publish s, wait until nobody can still see the old one, destroy it. */
static void publish(struct ts_pipeline_host *ph, struct snapshot *s)
{
	struct snapshot *old;

	/*
	 * Release: the snapshot's contents (built above) are visible to a
	 * reader that loads the pointer with acquire.
	 */
	old = atomic_exchange_explicit(&ph->cur, s, memory_order_acq_rel);
	ts_rcu_synchronize();
	/* Format/path/secrets readers that loaded 'old' hold the read lock until done. */
	pthread_rwlock_wrlock(&ph->snap_lock);
	pthread_rwlock_unlock(&ph->snap_lock);
	snapshot_free(ph, old);
}

int ts_pipeline_load(struct ts_pipeline_host *ph, const char *path, char *err, size_t errlen)
{
	struct snapshot *s;

	if (errlen)
		err[0] = '\0';
	pthread_mutex_lock(&ph->load_lock);
	s = snapshot_build(ph, path, err, errlen);
	if (s)
		publish(ph, s);
	pthread_mutex_unlock(&ph->load_lock);
	/* One line, whatever the quoted values held (a CR in a YAML string, say). */
	for (size_t i = 0; !s && i < errlen && err[i]; i++)
		if ((unsigned char)err[i] < 0x20 || err[i] == 0x7f)
			err[i] = '?';
	return s ? 0 : -1;
}

void ts_pipeline_host_destroy(struct ts_pipeline_host *ph)
{
	if (!ph)
		return;
	/* Live captures end (their threads read the engine table and the slots). */
	capture_stop_all(&ph->cap);
	/*
	 * Events first: the queue's undelivered events are dropped (and
	 * wiped), so no event() runs while or after the instances go; events
	 * the engine still reports meanwhile are counted as dropped.
	 */
	events_stop(ph);
	pthread_mutex_lock(&ph->load_lock);
	publish(ph, NULL);
	pthread_mutex_unlock(&ph->load_lock);
	timers_stop(ph);
	events_free(ph);
	notes_free(ph);
	pthread_mutex_destroy(&ph->nlock);
	pthread_rwlock_destroy(&ph->snap_lock);
	pthread_mutex_destroy(&ph->load_lock);
	free(ph->default_dir);
	free(ph);
}

const char *ts_pipeline_path(struct ts_pipeline_host *ph)
{
	return atomic_load_explicit(&ph->cur, memory_order_acquire)->path;
}

char *ts_pipeline_path_dup(struct ts_pipeline_host *ph)
{
	const struct snapshot *s;
	char *p;

	pthread_rwlock_rdlock(&ph->snap_lock);
	s = atomic_load_explicit(&ph->cur, memory_order_acquire);
	p = s->path ? strdup(s->path) : NULL;
	pthread_rwlock_unlock(&ph->snap_lock);
	return p;
}

size_t ts_pipeline_wire_overhead(struct ts_pipeline_host *ph)
{
	const struct snapshot *s;
	size_t sum = 0;

	pthread_rwlock_rdlock(&ph->snap_lock);
	s = atomic_load_explicit(&ph->cur, memory_order_acquire);
	/* Each wrapper on the way out adds its own: they nest. */
	for (size_t i = 0; s && i < s->n_inst; i++)
		if (s->inst[i]->hooks & (1u << TS_HOOK_CIPHERTEXT_OUT))
			sum += s->inst[i]->desc.wire_overhead;
	pthread_rwlock_unlock(&ph->snap_lock);
	return sum;
}

void ts_pipeline_set_log_level(struct ts_pipeline_host *ph, enum ts_log_level level)
{
	atomic_store_explicit(&ph->log_level, (int)level, memory_order_relaxed);
}

void ts_pipeline_set_default_dir(struct ts_pipeline_host *ph, const char *dir)
{
	pthread_mutex_lock(&ph->load_lock);
	free(ph->default_dir);
	ph->default_dir = dir ? strdup(dir) : NULL;
	pthread_mutex_unlock(&ph->load_lock);
}

void ts_pipeline_set_opener(struct ts_pipeline_host *ph,
			    void *(*open)(const char *path, char *err, size_t errlen))
{
	pthread_mutex_lock(&ph->load_lock);
	ph->open = open ? open : default_open;
	pthread_mutex_unlock(&ph->load_lock);
}
