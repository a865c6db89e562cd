/* SPDX-License-Identifier: MIT */
/*
 * What the files of the plugin host share, and nobody else sees: the
 * config tree, instances and snapshots, the host itself, its two threads.
 *
 * Threads of one host (the ABI's promises in include/tinescale/plugin.h
 * rest on this table):
 *
 *   thread                 runs plugin code                 RCU reader
 *   loading (main/ctl)     create(), destroy()              no (calls synchronize)
 *   engine data path       hooks, via the hook table's run  yes, from its start
 *   host event thread      event(), one at a time           yes, from its start
 *   host timer thread      timer callbacks, one at a time   yes, from its start
 *   plugin's own threads   services only                    no
 *
 * Hooks, events and timer callbacks run with no host lock held.  create()
 * and destroy() run under load_lock, which serialises loads and which no
 * service takes.  Locks: load_lock (loads, destroy) > snap_lock (readers:
 * format/path/wants_secrets; the writer for an instant) and tlock (timer
 * list); qlock (event queue) is a leaf taken by any thread, engine locks
 * held or not.  Engine table functions are called with no host lock held.
 */
#ifndef TS_HOST_INTERNAL_H
#define TS_HOST_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <tinescale/plugin.h>

#include "abi_v1.h"
#include "capture_internal.h"
#include "pipeline.h"
#include "seam.h"

#ifndef TS_PLUGIN_DIR
#define TS_PLUGIN_DIR "/usr/local/lib/tinescale/plugins"
#endif

#define MAX_FILE_SIZE (1 << 20)
#define MAX_DEPTH     32
#define MAX_NODES     20000
#define MAX_NAME      64
#define SAMPLE_MASK   63u  /* time one packet in 64 */
#define SAMPLE_FIRST  64u  /* and the first 64 calls of every hook */
#define EVENT_QUEUE   1024 /* events waiting for the event thread; more are dropped */

/* ---- the config tree (yaml_tree.c) ---- */

enum cnode_type { CN_SCALAR, CN_MAP, CN_SEQ };

struct ts_config_node {
	enum cnode_type type;
	unsigned int line, col; /* 1-based */
	bool plain;		/* an unquoted scalar (so "~" and "" can mean null) */
	char *value;		/* CN_SCALAR: never NULL */
	/* CN_MAP: key, value, key, value...; CN_SEQ: the items */
	struct ts_config_node **kids;
	size_t n, cap;
};

void node_free(struct ts_config_node *n);
bool node_is_null(const struct ts_config_node *n);
const struct ts_config_node *map_get(const struct ts_config_node *n, const char *key);
/* Decimal, or 0x hex, optional sign, whole string.  0 or -EINVAL. */
int parse_ll(const char *s, long long *out);
/* true/false/yes/no/on/off/1/0 (lower, Capitalised or UPPER case).  0 or -EINVAL. */
int parse_bool(const char *s, bool *out);
/* One YAML document into a tree; NULL and err "FILE:LINE:COL: ..." on failure. */
struct ts_config_node *yaml_to_tree(const char *fname, const unsigned char *buf, size_t len,
				    char *err, size_t errlen);
const char *type_name(const struct ts_config_node *n);

/* ---- instances and snapshots ---- */

struct hook_stats {
	/* [TS_PASS], [TS_DROP], [TS_STOLEN], [3] = invalid verdict or moved buffer */
	_Atomic uint64_t verdicts[4];
	_Atomic uint64_t sampled_ns, samples;
} __attribute__((aligned(64))); /* one line per hook: send and receive threads do not share */

struct timer {
	ts_timer_id id;
	struct instance *inst;
	uint64_t interval_ns, deadline;
	void (*cb)(void *arg);
	void *arg;
	bool cancelled; /* set while running: free instead of re-arming */
	struct timer *next;
};

/*
 * The descriptor as the host uses it, whatever the plugin's ABI version:
 * v1 plugins' hooks and event take the v1 layouts (abi_v1.h), which run.c
 * and events.c convert to.
 */
struct plugin_desc {
	unsigned int abi; /* 1 or 2 */
	const char *name, *version;
	int (*create)(const struct ts_host_services *host, const struct ts_config_node *config,
		      void **state, char *err, size_t errlen);
	void (*destroy)(void *state);
	void *hooks[TS_HOOK_COUNT]; /* ts_hook_fn (v2) or ts_hook_fn_v1 (v1); NULL = none */
	void *event;		    /* v2: void (*)(void *, const struct ts_event *); v1: _v1 */
	/* 2.1 (zero for older descriptors) */
	size_t peer_state_size;
	void (*peer_added)(void *state, const uint8_t public_key[32], void *peer_state);
	void (*peer_removed)(void *state, const uint8_t public_key[32], void *peer_state);
	void (*migrate)(void *old_state, void *new_state);
	const struct ts_config_key *schema;
	bool v2_1; /* built against a 2.1 header: gets PEER_ADDED/PEER_REMOVED events */
	uint32_t wire_overhead; /* 2.2: bytes ciphertext_out may add; else 0 */
};

/* One instance's slot for one peer (peer_state.c). */
struct peer_slot {
	uint8_t key[32];
	struct peer_slot *next;
	max_align_t data[]; /* desc.peer_state_size bytes */
};

#define PEER_BUCKETS   64
#define PEER_STATE_MAX 65536 /* bytes per (instance, peer) */

struct instance {
	struct ts_host_services svc; /* first: services find the instance from it */
	struct ts_pipeline_host *ph;
	char *name, *use, *so_path;
	struct plugin_desc desc;
	void *handle, *state;
	bool created;
	_Atomic bool dying;	    /* no new timers */
	_Atomic bool wants_secrets; /* called request_secrets() */
	int priority;
	unsigned int order, hooks; /* file order; bit per hook */
	const struct ts_config_node *config;
	struct hook_stats stats[TS_HOOK_COUNT];
	/* Config keys create() asked about, for the location of its error (services.c). */
	_Atomic(const struct ts_config_node *) cfg_last_key, cfg_bad_key;
	/* peer slots (peer_state.c), protected by pslock */
	pthread_mutex_t pslock;
	struct peer_slot *slots[PEER_BUCKETS];
	/* async outputs still open (output.c), protected by olock */
	pthread_mutex_t olock;
	struct ts_output *outputs;
};

struct chain_entry {
	void *fn; /* ts_hook_fn or ts_hook_fn_v1, by inst->desc.abi */
	void *state;
	struct hook_stats *stats;
	struct instance *inst;
	bool v1;
};

struct chain {
	size_t n;
	struct chain_entry *e;
};

struct snapshot {
	struct chain chains[TS_HOOK_COUNT];
	struct instance **inst; /* file order */
	size_t n_inst;
	struct ts_config_node *tree;
	char *path; /* absolute, NULL for the empty pipeline */
};

/* One queued engine event, a copy: the engine's pointers die with its call. */
struct queued_event {
	enum ts_event_type type;
	uint8_t public_key[32];
	union ts_endpoint endpoint;
	bool has_secrets;
	struct ts_handshake_secrets secrets; /* wiped once delivered or dropped */
};

struct ts_pipeline_host {
	_Atomic(struct snapshot *) cur;
	struct ts_engine_table eng; /* a copy; every function NULL without an engine */
	struct ts_hook_table hook_table;
	pthread_mutex_t load_lock;  /* serialises loads and destroy */
	pthread_rwlock_t snap_lock; /* readers: format/path_dup/wants_secrets */
	_Atomic int log_level;
	char *default_dir;	     /* protected by load_lock */
	unsigned long long link_gen; /* fresh dlopen names (loader.c), load_lock */
	void *(*open)(const char *path, char *err, size_t errlen);

	/* timers (plugin_timers.c): all fields below protected by tlock */
	pthread_mutex_t tlock;
	pthread_cond_t tcond; /* list changed / stop */
	pthread_cond_t tdone; /* a callback returned */
	struct timer *timers; /* sorted by deadline, ties in insertion order */
	ts_timer_id next_id, running_id;
	struct instance *running_inst;
	struct timer *running;
	bool tstop, tstarted;
	pthread_t tthread;

	/* events (events.c): the ring and counters below protected by qlock */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;	    /* queued / stop */
	pthread_cond_t qdone;	    /* an event was delivered */
	struct queued_event *queue; /* EVENT_QUEUE slots */
	size_t qhead, qlen;
	uint64_t q_enqueued, q_delivered; /* sequence numbers for ts_pipeline_event_sync */
	bool qstop, qstarted;
	pthread_t qthread;
	_Atomic uint64_t events_dropped; /* queue full */

	struct capture_set cap; /* live captures (capture.c) */
	/* note ownership (notes.c), protected by nlock (a leaf: engine notes are set outside it) */
	pthread_mutex_t nlock;
	struct note_owner *notes;
	size_t n_notes;
};

uint64_t mono_ns(void);
static inline struct instance *inst_of(const struct ts_host_services *h)
{
	/* svc is the first member of struct instance */
	return (struct instance *)(uintptr_t)h;
}

/* ---- services.c ---- */
extern const struct ts_host_services services_template;

/* ---- notes.c: every note belongs to the instance that last set it ---- */
int notes_set(struct instance *in, const uint8_t *public_key, const char *key, const char *value);
/* Remove the notes in owns (when it is freed). */
void notes_release(struct instance *in);
/* The engine removed a peer, and its notes with it. */
void notes_forget_peer(struct ts_pipeline_host *ph, const uint8_t public_key[32]);
void notes_free(struct ts_pipeline_host *ph);

/* ---- peer_state.c ---- */
enum slot_make {
	SLOT_FIND,    /* only an existing slot */
	SLOT_IF_PEER, /* make it if the engine knows the peer */
	SLOT_MAKE,    /* make it (the caller knows the peer exists) */
};
void *peer_slot_get(struct instance *in, const uint8_t key[32], enum slot_make make);
/* Unlink in's slot of key; the caller frees it after a grace period. */
struct peer_slot *peer_slot_unlink(struct instance *in, const uint8_t key[32]);
/* Slots for the peers that exist now, peer_added for each (after create). */
void peer_slots_start(struct instance *in);
/* Copy old's slots into new's (same slot size), for migrate. */
void peer_slots_copy(struct instance *dst, struct instance *src);
void peer_slots_free(struct instance *in);

/* ---- output.c ---- */
/* Close every output in still has (after destroy()). */
void outputs_close_all(struct instance *in);
struct ts_output *output_open(struct instance *in, const char *target, size_t max_bytes, char *err,
			      size_t errlen);
struct ts_output *output_open_cb(struct instance *in, size_t max_bytes, unsigned tick_ms,
				 ts_output_fn fn, void *arg, char *err, size_t errlen);
int output_write(struct ts_output *o, const void *buf, size_t len);
int output_writev(struct ts_output *o, const struct iovec *iov, int iovcnt);
void output_stats(struct ts_output *o, uint64_t *written, uint64_t *dropped);
void output_close(struct instance *in, struct ts_output *o);
/* One line per open output of in: bytes written, records dropped (ctl plugins). */
void outputs_format(struct instance *in, FILE *out);

/* ---- plugin_timers.c ---- */
int timers_start(struct ts_pipeline_host *ph);
void timers_stop(struct ts_pipeline_host *ph);
/* Remove matching timers (id 0: all of in's); wait for a running one unless we are it. */
void timers_cancel(struct ts_pipeline_host *ph, struct instance *in, ts_timer_id id);
ts_timer_id timer_add(struct instance *in, uint32_t interval_ms, void (*cb)(void *arg), void *arg);

/* ---- events.c ---- */
int events_start(struct ts_pipeline_host *ph);
/* Join the event thread, wipe undelivered events; events queued later are dropped. */
void events_stop(struct ts_pipeline_host *ph);
/* After the last instance is gone (a destroy() may still make the engine report). */
void events_free(struct ts_pipeline_host *ph);
void events_queue(void *ctx, const struct ts_engine_event *ev);
bool events_want_secrets(void *ctx);

/* ---- run.c ---- */
bool hooks_active(void *ctx, enum ts_hook_point point);
bool hooks_run(void *ctx, enum ts_hook_point point, struct ts_hook_pkt *p);

/* ---- loader.c ---- */
struct loader {
	struct ts_pipeline_host *ph;
	const char *fname; /* as the user gave it, for messages */
	char *dir;	   /* the YAML file's directory (absolute) */
	char *err;
	size_t errlen;
	const struct ts_config_node *plugin_path; /* a sequence or NULL */
};

#define LERR(ld, node, fmt, ...)                                                                   \
	snprintf((ld)->err, (ld)->errlen, "%s:%u:%u: " fmt, (ld)->fname, (node)->line,             \
		 (node)->col, ##__VA_ARGS__)

struct entry {
	const struct ts_config_node *node, *name, *use, *hooks_node, *config;
	unsigned int hooks;
	int priority;
};

void *default_open(const char *path, char *err, size_t errlen);
/* Check an instance's config against its plugin's declared schema; 0 or -1 and ld->err. */
int schema_check(struct loader *ld, const struct entry *e, const struct instance *in);
/* The node create()'s error is about: the key it names, else the last key asked. */
const struct ts_config_node *config_error_node(const struct instance *in, const struct entry *e,
					       const char *msg);
/* Check one `plugins:` item without loading anything. */
int parse_entry(struct loader *ld, const struct ts_config_node *it, struct entry *e);
/* dlopen, check and create one instance; on failure nothing of it remains. */
struct instance *instance_build(struct loader *ld, const struct entry *e, unsigned int order);
void instance_free(struct ts_pipeline_host *ph, struct instance *in);

#endif
