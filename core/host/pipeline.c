/* SPDX-License-Identifier: MIT */
/*
 * The plugin host: the YAML pipeline loader (libyaml event API into a small
 * config tree), plugin loading (dlopen, descriptor checks, create), the
 * per-hook chains of an immutable snapshot published with one atomic
 * pointer, the hot swap (publish, grace period, destroy, dlclose), the
 * service table plugins get, the timer thread, and the statistics.
 *
 * Lifetimes:
 * - A snapshot is immutable once published.  ph->cur points to the current
 *   one (never NULL while the host lives: an empty snapshot at least).
 *   Data-path readers are protected by QSBR (core/base/rcu.h); event/format
 *   readers by ph->snap_lock (read side), which a reload takes for writing
 *   for an instant after the grace period, so no reader of the old snapshot
 *   remains when it is destroyed.
 * - An instance's timers are cancelled (waiting for a running callback)
 *   before its destroy() is called; instance->dying stops new ones.
 */
#include "pipeline.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "endpoint.h"
#include "engine_calls.h"
#include "log.h"
#include "rcu.h"

#ifndef TS_PLUGIN_DIR
#define TS_PLUGIN_DIR "/usr/local/lib/tinescale/plugins"
#endif

/* The public endpoint type is cast-compatible with the engine's. */
_Static_assert(sizeof(union ts_plugin_endpoint) == sizeof(union ts_endpoint),
	       "union ts_plugin_endpoint must match union ts_endpoint");
_Static_assert(offsetof(union ts_plugin_endpoint, in6) == offsetof(union ts_endpoint, in6),
	       "union ts_plugin_endpoint layout");

#define MAX_FILE_SIZE (1 << 20)
#define MAX_DEPTH     32
#define MAX_NODES     20000
#define MAX_NAME      64
#define SAMPLE_MASK   63u /* time one call in 64 */

/* ------------------------------------------------------------------ */
/* The config tree                                                     */

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

static void node_free(struct ts_config_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->value);
	free(n);
}

static bool node_is_null(const struct ts_config_node *n)
{
	return n && n->type == CN_SCALAR && n->plain &&
	       (!n->value[0] || !strcmp(n->value, "~") || !strcmp(n->value, "null") ||
		!strcmp(n->value, "Null") || !strcmp(n->value, "NULL"));
}

static const struct ts_config_node *map_get(const struct ts_config_node *n, const char *key)
{
	if (!n || n->type != CN_MAP || !key)
		return NULL;
	for (size_t i = 0; i + 1 < n->n; i += 2)
		if (!strcmp(n->kids[i]->value, key))
			return n->kids[i + 1];
	return NULL;
}

/* Decimal, or 0x hex, optional sign, whole string. */
static int parse_ll(const char *s, long long *out)
{
	const char *p = s;
	char *end;
	int base = 10;
	long long v;

	if (*p == '+' || *p == '-')
		p++;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		base = 16;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, base);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

struct yaml_loader {
	const char *fname;
	char *err;
	size_t errlen;
	size_t nodes;
};

static struct ts_config_node *node_new(struct yaml_loader *ld, enum cnode_type type,
				       yaml_mark_t mark)
{
	struct ts_config_node *n;

	if (++ld->nodes > MAX_NODES) {
		snprintf(ld->err, ld->errlen,
			 "%s:%zu:%zu: too many YAML nodes, expected at most %d", ld->fname,
			 mark.line + 1, mark.column + 1, MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		snprintf(ld->err, ld->errlen, "%s: out of memory", ld->fname);
		return NULL;
	}
	n->type = type;
	n->line = mark.line + 1 > UINT_MAX ? UINT_MAX : (unsigned int)mark.line + 1;
	n->col = mark.column + 1 > UINT_MAX ? UINT_MAX : (unsigned int)mark.column + 1;
	return n;
}

/* Add child to parent (a map expecting a key or value, or a sequence). */
static int node_add(struct yaml_loader *ld, struct ts_config_node *parent,
		    struct ts_config_node *child)
{
	if (parent->type == CN_MAP && parent->n % 2 == 0) {
		if (child->type != CN_SCALAR) {
			snprintf(ld->err, ld->errlen,
				 "%s:%u:%u: complex mapping key, expected a plain key", ld->fname,
				 child->line, child->col);
			return -1;
		}
		for (size_t i = 0; i < parent->n; i += 2) {
			if (!strcmp(parent->kids[i]->value, child->value)) {
				snprintf(ld->err, ld->errlen,
					 "%s:%u:%u: duplicate key '%.64s' (first at line %u), "
					 "expected each key once",
					 ld->fname, child->line, child->col, child->value,
					 parent->kids[i]->line);
				return -1;
			}
		}
	}
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 4;
		struct ts_config_node **k = realloc(parent->kids, cap * sizeof(*k));

		if (!k) {
			snprintf(ld->err, ld->errlen, "%s: out of memory", ld->fname);
			return -1;
		}
		parent->kids = k;
		parent->cap = cap;
	}
	parent->kids[parent->n++] = child;
	return 0;
}

/*
 * Parse one YAML document into a tree.  Aliases are refused: expanding
 * them could blow up (billion laughs) and a pipeline has no use for them.
 */
static struct ts_config_node *yaml_to_tree(const char *fname, const unsigned char *buf, size_t len,
					   char *err, size_t errlen)
{
	struct yaml_loader ld = {.fname = fname, .err = err, .errlen = errlen};
	struct ts_config_node *stack[MAX_DEPTH + 1];
	struct ts_config_node *root = NULL;
	yaml_parser_t parser;
	int depth = 0, docs = 0;
	bool done = false, ok = false;

	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: out of memory", fname);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, buf, len);
	while (!done) {
		struct ts_config_node *n = NULL;
		yaml_event_t ev;

		if (!yaml_parser_parse(&parser, &ev)) {
			snprintf(err, errlen, "%s:%zu:%zu: YAML syntax error: %s%s%s", fname,
				 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
				 parser.problem ? parser.problem : "unknown",
				 parser.context ? " " : "", parser.context ? parser.context : "");
			goto out;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				snprintf(err, errlen,
					 "%s:%zu:%zu: a second YAML document, expected exactly one",
					 fname, ev.start_mark.line + 1, ev.start_mark.column + 1);
				yaml_event_delete(&ev);
				goto out;
			}
			break;
		case YAML_ALIAS_EVENT:
			snprintf(err, errlen, "%s:%zu:%zu: YAML alias, expected plain values",
				 fname, ev.start_mark.line + 1, ev.start_mark.column + 1);
			yaml_event_delete(&ev);
			goto out;
		case YAML_SCALAR_EVENT:
			n = node_new(&ld, CN_SCALAR, ev.start_mark);
			if (n) {
				n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
				n->value = strndup((const char *)ev.data.scalar.value,
						   ev.data.scalar.length);
				/* An embedded NUL would make strcmp lie about the value. */
				if (n->value && strlen(n->value) != ev.data.scalar.length) {
					snprintf(
					    err, errlen,
					    "%s:%u:%u: NUL character in a value, expected text",
					    fname, n->line, n->col);
					node_free(n);
					yaml_event_delete(&ev);
					goto out;
				}
				if (!n->value) {
					snprintf(err, errlen, "%s: out of memory", fname);
					node_free(n);
					n = NULL;
				}
			}
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			n = node_new(&ld, ev.type == YAML_MAPPING_START_EVENT ? CN_MAP : CN_SEQ,
				     ev.start_mark);
			if (n && depth >= MAX_DEPTH) {
				snprintf(err, errlen,
					 "%s:%u:%u: nesting too deep, expected at most %d levels",
					 fname, n->line, n->col, MAX_DEPTH);
				node_free(n);
				yaml_event_delete(&ev);
				goto out;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--; /* libyaml guarantees balance */
			break;
		default:
			break;
		}
		if ((ev.type == YAML_SCALAR_EVENT || ev.type == YAML_SEQUENCE_START_EVENT ||
		     ev.type == YAML_MAPPING_START_EVENT)) {
			if (!n) {
				yaml_event_delete(&ev);
				goto out;
			}
			if (depth == 0) {
				root = n; /* one document: at most one root */
			} else if (node_add(&ld, stack[depth - 1], n)) {
				node_free(n);
				yaml_event_delete(&ev);
				goto out;
			}
			if (n->type != CN_SCALAR)
				stack[depth++] = n;
		}
		yaml_event_delete(&ev);
	}
	if (!root) {
		snprintf(err, errlen, "%s:1:1: empty file, expected a mapping with 'version: 1'",
			 fname);
		goto out;
	}
	ok = true;
out:
	yaml_parser_delete(&parser);
	if (!ok) {
		node_free(root);
		return NULL;
	}
	return root;
}

/* ------------------------------------------------------------------ */
/* Host, snapshots, instances                                          */

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

struct instance {
	struct ts_host_services svc; /* first: services find the instance from it */
	struct ts_pipeline_host *ph;
	char *name, *use, *so_path;
	const struct ts_plugin_v1 *desc;
	void *handle, *state;
	bool created;
	_Atomic bool dying;	    /* no new timers */
	_Atomic bool wants_secrets; /* called request_secrets() */
	int priority;
	unsigned int order, hooks; /* file order; bit per hook */
	const struct ts_config_node *config;
	struct hook_stats stats[TS_HOOK_COUNT];
};

struct chain_entry {
	ts_hook_fn fn;
	void *state;
	struct hook_stats *stats;
	struct instance *inst;
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

struct ts_pipeline_host {
	_Atomic(struct snapshot *) cur;
	struct ts_device *dev;
	pthread_mutex_t load_lock;  /* serialises loads and destroy */
	pthread_rwlock_t snap_lock; /* readers: event/format/path_dup; see top comment */
	_Atomic int log_level;
	char *default_dir; /* protected by load_lock */
	void *(*open)(const char *path, char *err, size_t errlen);

	/* timers: all fields below protected by tlock */
	pthread_mutex_t tlock;
	pthread_cond_t tcond; /* list changed / stop */
	pthread_cond_t tdone; /* a callback returned */
	struct timer *timers; /* sorted by deadline, ties in insertion order */
	ts_timer_id next_id, running_id;
	struct instance *running_inst;
	struct timer *running;
	bool tstop;
	pthread_t tthread;
};

static uint64_t mono_ns(void)
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

static ts_hook_fn desc_hook(const struct ts_plugin_v1 *d, enum ts_hook hook)
{
	switch (hook) {
	case TS_HOOK_PLAINTEXT_OUT:
		return d->plaintext_out;
	case TS_HOOK_CIPHERTEXT_OUT:
		return d->ciphertext_out;
	case TS_HOOK_CIPHERTEXT_IN:
		return d->ciphertext_in;
	case TS_HOOK_PLAINTEXT_IN:
		return d->plaintext_in;
	}
	return NULL;
}

static struct instance *inst_of(const struct ts_host_services *h)
{
	/* svc is the first member of struct instance */
	return (struct instance *)(uintptr_t)h;
}

/* ------------------------------------------------------------------ */
/* Timers: one thread per host, a sorted list, a condition variable    */

static void timer_insert(struct ts_pipeline_host *ph, struct timer *t)
{
	struct timer **pp = &ph->timers;

	while (*pp && (*pp)->deadline <= t->deadline)
		pp = &(*pp)->next;
	t->next = *pp;
	*pp = t;
}

static void *timer_thread(void *arg)
{
	struct ts_pipeline_host *ph = arg;

	pthread_mutex_lock(&ph->tlock);
	while (!ph->tstop) {
		struct timer *t = ph->timers;
		uint64_t now;

		if (!t) {
			pthread_cond_wait(&ph->tcond, &ph->tlock);
			continue;
		}
		now = mono_ns();
		if (t->deadline > now) {
			struct timespec ts = {.tv_sec = (time_t)(t->deadline / 1000000000ull),
					      .tv_nsec = (long)(t->deadline % 1000000000ull)};

			pthread_cond_timedwait(&ph->tcond, &ph->tlock, &ts);
			continue;
		}
		ph->timers = t->next;
		ph->running = t;
		ph->running_id = t->id;
		ph->running_inst = t->inst;
		pthread_mutex_unlock(&ph->tlock);
		t->cb(t->arg);
		pthread_mutex_lock(&ph->tlock);
		ph->running = NULL;
		ph->running_id = 0;
		ph->running_inst = NULL;
		if (t->cancelled) {
			free(t);
		} else {
			/* Keep the period; if we fell behind, do not fire a burst. */
			t->deadline += t->interval_ns;
			if (t->deadline < now)
				t->deadline = now + t->interval_ns;
			timer_insert(ph, t);
		}
		pthread_cond_broadcast(&ph->tdone);
	}
	pthread_mutex_unlock(&ph->tlock);
	return NULL;
}

static bool on_timer_thread(struct ts_pipeline_host *ph)
{
	return pthread_equal(pthread_self(), ph->tthread);
}

static ts_timer_id svc_timer_add(const struct ts_host_services *h, uint32_t interval_ms,
				 void (*cb)(void *arg), void *arg)
{
	struct instance *in = inst_of(h);
	struct ts_pipeline_host *ph = in->ph;
	struct timer *t;
	ts_timer_id id;

	if (!interval_ms || !cb || atomic_load(&in->dying))
		return 0;
	t = calloc(1, sizeof(*t));
	if (!t)
		return 0;
	t->inst = in;
	t->interval_ns = (uint64_t)interval_ms * 1000000ull;
	t->deadline = mono_ns() + t->interval_ns;
	t->cb = cb;
	t->arg = arg;
	pthread_mutex_lock(&ph->tlock);
	t->id = id = ++ph->next_id;
	timer_insert(ph, t);
	if (ph->timers == t)
		pthread_cond_signal(&ph->tcond);
	pthread_mutex_unlock(&ph->tlock);
	return id;
}

/* Remove matching timers; wait for a matching running callback unless we are it. */
static void timers_cancel(struct ts_pipeline_host *ph, struct instance *in, ts_timer_id id)
{
	struct timer **pp;

	pthread_mutex_lock(&ph->tlock);
	for (pp = &ph->timers; *pp;) {
		struct timer *t = *pp;

		if (t->inst == in && (!id || t->id == id)) {
			*pp = t->next;
			free(t);
		} else {
			pp = &t->next;
		}
	}
	if (ph->running && ph->running_inst == in && (!id || ph->running_id == id)) {
		ts_timer_id rid = ph->running_id;

		ph->running->cancelled = true;
		if (!on_timer_thread(ph))
			while (ph->running_id == rid)
				pthread_cond_wait(&ph->tdone, &ph->tlock);
	}
	pthread_mutex_unlock(&ph->tlock);
}

static void svc_timer_cancel(const struct ts_host_services *h, ts_timer_id id)
{
	struct instance *in = inst_of(h);

	if (id)
		timers_cancel(in->ph, in, id);
}

/* ------------------------------------------------------------------ */
/* Host services                                                       */

static __attribute__((format(printf, 3, 4))) void
svc_log(const struct ts_host_services *h, enum ts_log_level level, const char *fmt, ...)
{
	static const char *const lv[] = {"error", "warning", "info", "debug"};
	struct instance *in = inst_of(h);
	char msg[512];
	va_list ap;

	if ((int)level > atomic_load_explicit(&in->ph->log_level, memory_order_relaxed))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++) /* one line per call, whatever the plugin passed */
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	/* Into the daemon's own log (stderr or syslog), under the instance's name. */
	(void)lv;
	ts_log((int)level, "plugin '%s': %s", in->name, msg);
}

static void ep_from_plugin(union ts_endpoint *dst, const union ts_plugin_endpoint *src)
{
	memcpy(dst, src, sizeof(*dst));
}

static void ep_to_plugin(union ts_plugin_endpoint *dst, const union ts_endpoint *src)
{
	memcpy(dst, src, sizeof(*dst));
}

static int svc_send_datagram(const struct ts_host_services *h, const union ts_plugin_endpoint *dst,
			     const uint8_t *buf, size_t len)
{
	struct ts_device *dev = inst_of(h)->ph->dev;
	union ts_endpoint ep;

	if (!dev)
		return -ENODEV;
	if (!dst || (!buf && len))
		return -EINVAL;
	ep_from_plugin(&ep, dst);
	return ts_device_send_datagram(dev, &ep, buf, len);
}

static int svc_inject_datagram(const struct ts_host_services *h,
			       const union ts_plugin_endpoint *src, const uint8_t *buf, size_t len)
{
	struct ts_device *dev = inst_of(h)->ph->dev;
	union ts_endpoint ep;

	if (!dev)
		return -ENODEV;
	if (!src || (!buf && len))
		return -EINVAL;
	ep_from_plugin(&ep, src);
	return ts_device_inject_datagram(dev, &ep, buf, len);
}

static void peer_to_plugin(struct ts_plugin_peer *out, const struct ts_peer_info *pi)
{
	memset(out, 0, sizeof(*out));
	out->struct_size = sizeof(*out);
	memcpy(out->public_key, pi->public_key, sizeof(out->public_key));
	ep_to_plugin(&out->endpoint, &pi->endpoint);
	out->rx_bytes = pi->rx_bytes;
	out->tx_bytes = pi->tx_bytes;
	out->last_handshake_ns = pi->last_handshake_ns;
	out->has_session = pi->has_session;
}

static int svc_peer_info(const struct ts_host_services *h, const uint8_t public_key[32],
			 struct ts_plugin_peer *out)
{
	struct ts_device *dev = inst_of(h)->ph->dev;
	struct ts_peer_info pi;
	struct ts_plugin_peer p;
	size_t n;
	int r;

	if (!dev)
		return -ENODEV;
	if (!public_key || !out || out->struct_size < sizeof(size_t))
		return -EINVAL;
	r = ts_device_peer_info(dev, public_key, &pi);
	if (r)
		return r;
	peer_to_plugin(&p, &pi);
	/* An older plugin's struct may be shorter: fill what it has, keep its size. */
	n = out->struct_size < sizeof(p) ? out->struct_size : sizeof(p);
	memcpy((char *)out + sizeof(size_t), (char *)&p + sizeof(size_t), n - sizeof(size_t));
	return 0;
}

struct foreach_ctx {
	int (*cb)(void *ctx, const struct ts_plugin_peer *peer);
	void *ctx;
};

static int foreach_adapter(void *ctx, const struct ts_peer_info *pi)
{
	struct foreach_ctx *fc = ctx;
	struct ts_plugin_peer p;

	peer_to_plugin(&p, pi);
	return fc->cb(fc->ctx, &p);
}

static int svc_peer_foreach(const struct ts_host_services *h,
			    int (*cb)(void *ctx, const struct ts_plugin_peer *peer), void *ctx)
{
	struct ts_device *dev = inst_of(h)->ph->dev;
	struct foreach_ctx fc = {cb, ctx};

	if (!dev)
		return -ENODEV;
	if (!cb)
		return -EINVAL;
	return ts_device_peer_foreach(dev, foreach_adapter, &fc);
}

static int svc_peer_set_endpoint(const struct ts_host_services *h, const uint8_t public_key[32],
				 const union ts_plugin_endpoint *ep)
{
	struct ts_device *dev = inst_of(h)->ph->dev;
	union ts_endpoint e;

	if (!dev)
		return -ENODEV;
	if (!public_key || !ep)
		return -EINVAL;
	ep_from_plugin(&e, ep);
	return ts_device_peer_set_endpoint(dev, public_key, &e);
}

static int svc_peer_by_index(const struct ts_host_services *h, uint32_t local_index,
			     uint8_t public_key_out[32])
{
	struct ts_device *dev = inst_of(h)->ph->dev;

	if (!dev)
		return -ENODEV;
	if (!public_key_out)
		return -EINVAL;
	return ts_device_peer_by_index(dev, local_index, public_key_out);
}

static int svc_note_set(const struct ts_host_services *h, const uint8_t *public_key,
			const char *key, const char *value)
{
	struct ts_device *dev = inst_of(h)->ph->dev;

	return dev ? ts_device_note_set(dev, public_key, key, value) : -ENODEV;
}

static int svc_note_get(const struct ts_host_services *h, const uint8_t *public_key,
			const char *key, char *buf, size_t len)
{
	struct ts_device *dev = inst_of(h)->ph->dev;

	return dev ? ts_device_note_get(dev, public_key, key, buf, len) : -ENODEV;
}

static int svc_static_dh(const struct ts_host_services *h, const uint8_t remote_public[32],
			 uint8_t out[32])
{
	struct ts_device *dev = inst_of(h)->ph->dev;

	if (!remote_public || !out)
		return -EINVAL;
	return dev ? ts_device_static_dh(dev, remote_public, out) : -ENODEV;
}

static int svc_request_secrets(const struct ts_host_services *h)
{
	struct instance *in = inst_of(h);

	if (!atomic_exchange(&in->wants_secrets, true))
		ts_log(TS_LOG_WARN,
		       "plugin '%s' (%s) asked for session secrets: it sees the keys of every new "
		       "handshake",
		       in->name, in->desc->name);
	return 0;
}

static uint16_t svc_listen_port(const struct ts_host_services *h)
{
	struct ts_device *dev = inst_of(h)->ph->dev;

	return dev ? ts_device_listen_port(dev) : 0;
}

static bool svc_public_key(const struct ts_host_services *h, uint8_t out[32])
{
	struct ts_device *dev = inst_of(h)->ph->dev;

	return dev && out ? ts_device_public_key(dev, out) : false;
}

static const char *svc_ifname(const struct ts_host_services *h)
{
	struct ts_device *dev = inst_of(h)->ph->dev;

	return dev ? ts_device_ifname(dev) : "";
}

static uint64_t svc_now_ns(const struct ts_host_services *h)
{
	return mono_ns();
}

static const char *svc_config_string(const struct ts_host_services *h,
				     const struct ts_config_node *node, const char *key)
{
	const struct ts_config_node *v = map_get(node, key);

	if (!v || v->type != CN_SCALAR || node_is_null(v))
		return NULL;
	return v->value;
}

static int svc_config_int(const struct ts_host_services *h, const struct ts_config_node *node,
			  const char *key, long long *out)
{
	const struct ts_config_node *v = map_get(node, key);
	long long x;

	if (!v || node_is_null(v))
		return -ENOENT;
	if (v->type != CN_SCALAR || parse_ll(v->value, &x))
		return -EINVAL;
	if (out)
		*out = x;
	return 0;
}

static int svc_config_bool(const struct ts_host_services *h, const struct ts_config_node *node,
			   const char *key, bool *out)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
					  "YES",  "on",	  "On",	  "ON",	 "1"};
	static const char *const no[] = {"false", "False", "FALSE", "no",  "No",
					 "NO",	  "off",   "Off",   "OFF", "0"};
	const struct ts_config_node *v = map_get(node, key);

	if (!v || node_is_null(v))
		return -ENOENT;
	if (v->type != CN_SCALAR)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcmp(v->value, yes[i]) || !strcmp(v->value, no[i])) {
			if (out)
				*out = !strcmp(v->value, yes[i]);
			return 0;
		}
	}
	return -EINVAL;
}

static int svc_config_list_len(const struct ts_host_services *h, const struct ts_config_node *node,
			       const char *key)
{
	const struct ts_config_node *v = map_get(node, key);

	if (!v || node_is_null(v))
		return -ENOENT;
	if (v->type != CN_SEQ)
		return -EINVAL;
	return v->n > INT_MAX ? INT_MAX : (int)v->n;
}

static const char *svc_config_list_item(const struct ts_host_services *h,
					const struct ts_config_node *node, const char *key,
					size_t index)
{
	const struct ts_config_node *v = map_get(node, key);

	if (!v || v->type != CN_SEQ || index >= v->n || v->kids[index]->type != CN_SCALAR)
		return NULL;
	return v->kids[index]->value;
}

static const struct ts_config_node *svc_config_child(const struct ts_host_services *h,
						     const struct ts_config_node *node,
						     const char *key)
{
	const struct ts_config_node *v = map_get(node, key);

	return v && v->type != CN_SCALAR ? v : NULL;
}

static const char *svc_config_key_at(const struct ts_host_services *h,
				     const struct ts_config_node *node, size_t index)
{
	if (!node || node->type != CN_MAP || index >= node->n / 2)
		return NULL;
	return node->kids[2 * index]->value;
}

static const struct ts_host_services services_template = {
    .struct_size = sizeof(struct ts_host_services),
    .log = svc_log,
    .send_datagram = svc_send_datagram,
    .inject_datagram = svc_inject_datagram,
    .peer_info = svc_peer_info,
    .peer_foreach = svc_peer_foreach,
    .peer_set_endpoint = svc_peer_set_endpoint,
    .peer_by_index = svc_peer_by_index,
    .listen_port = svc_listen_port,
    .public_key = svc_public_key,
    .ifname = svc_ifname,
    .now_ns = svc_now_ns,
    .timer_add = svc_timer_add,
    .timer_cancel = svc_timer_cancel,
    .config_string = svc_config_string,
    .config_int = svc_config_int,
    .config_bool = svc_config_bool,
    .config_list_len = svc_config_list_len,
    .config_list_item = svc_config_list_item,
    .config_child = svc_config_child,
    .config_key_at = svc_config_key_at,
    .note_set = svc_note_set,
    .note_get = svc_note_get,
    .static_dh = svc_static_dh,
    .request_secrets = svc_request_secrets,
};

/* ------------------------------------------------------------------ */
/* Building and tearing down snapshots                                 */

static void instance_free(struct ts_pipeline_host *ph, struct instance *in)
{
	if (!in)
		return;
	atomic_store(&in->dying, true);
	/* No timer callback runs during or after destroy(). */
	timers_cancel(ph, in, 0);
	if (in->created && in->desc->destroy)
		in->desc->destroy(in->state);
	timers_cancel(ph, in, 0);
	if (in->handle)
		dlclose(in->handle);
	free(in->name);
	free(in->use);
	free(in->so_path);
	free(in);
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

static const char *type_name(const struct ts_config_node *n)
{
	return n->type == CN_MAP ? "a mapping" : n->type == CN_SEQ ? "a sequence" : "a scalar";
}

static bool valid_instance_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > MAX_NAME)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}

static char *join_path(const char *dir, const char *file)
{
	char *p;

	if (file[0] == '/')
		return strdup(file);
	if (asprintf(&p, "%s/%s", dir, file) < 0)
		return NULL;
	return p;
}

static bool is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Find the .so for 'use' (its value node for messages); returns a malloc'd path or NULL + error. */
static char *resolve_plugin(struct loader *ld, const struct ts_config_node *use)
{
	const char *u = use->value;
	char *file = NULL, *searched = NULL, *found = NULL;
	size_t slen = 0, n_dirs;
	FILE *sf;

	if (strchr(u, '/')) {
		char *p = join_path(ld->dir, u);

		if (!p) {
			LERR(ld, use, "out of memory");
			return NULL;
		}
		if (!is_file(p)) {
			LERR(ld, use, "plugin file '%s' not found, expected a path to a .so", p);
			free(p);
			return NULL;
		}
		return p;
	}
	if (asprintf(&file, "%s%s", u,
		     strlen(u) > 3 && !strcmp(u + strlen(u) - 3, ".so") ? "" : ".so") < 0) {
		LERR(ld, use, "out of memory");
		return NULL;
	}
	sf = open_memstream(&searched, &slen);
	if (!sf) {
		free(file);
		LERR(ld, use, "out of memory");
		return NULL;
	}
	/* The YAML's plugin_path entries in order, then the install directory. */
	n_dirs = (ld->plugin_path ? ld->plugin_path->n : 0) + 1;
	for (size_t i = 0; i < n_dirs && !found; i++) {
		char *cand, *d = NULL;
		const char *dir;

		if (i + 1 < n_dirs) {
			d = join_path(ld->dir, ld->plugin_path->kids[i]->value);
			dir = d;
		} else {
			dir = ld->ph->default_dir ? ld->ph->default_dir : TS_PLUGIN_DIR;
		}
		cand = dir ? join_path(dir, file) : NULL;
		free(d);
		if (!cand)
			break;
		fprintf(sf, "%s%s", i ? ", " : "", cand);
		if (is_file(cand))
			found = cand;
		else
			free(cand);
	}
	fclose(sf);
	if (!found)
		LERR(ld, use, "plugin '%s' not found, searched: %s", u, searched ? searched : "");
	free(searched);
	free(file);
	return found;
}

static void *default_open(const char *path, char *err, size_t errlen)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		const char *e = dlerror();

		snprintf(err, errlen, "%s", e ? e : "unknown dlopen error");
	}
	return h;
}

static int parse_hooks(struct loader *ld, const struct ts_config_node *v, unsigned int *mask)
{
	*mask = 0;
	if (v->type != CN_SEQ) {
		LERR(ld, v, "'hooks' is %s, expected a list like [plaintext_out, plaintext_in]",
		     type_name(v));
		return -1;
	}
	for (size_t i = 0; i < v->n; i++) {
		const struct ts_config_node *it = v->kids[i];
		int h;

		if (it->type != CN_SCALAR) {
			LERR(ld, it, "hook is %s, expected a hook name", type_name(it));
			return -1;
		}
		for (h = 0; h < TS_HOOK_COUNT; h++)
			if (!strcmp(it->value, ts_hook_name((enum ts_hook)h)))
				break;
		if (h == TS_HOOK_COUNT) {
			LERR(ld, it,
			     "unknown hook '%.64s', expected plaintext_out, ciphertext_out, "
			     "ciphertext_in or plaintext_in",
			     it->value);
			return -1;
		}
		if (*mask & (1u << h)) {
			LERR(ld, it, "hook '%s' listed twice, expected each hook once", it->value);
			return -1;
		}
		*mask |= 1u << h;
	}
	return 0;
}

struct entry {
	const struct ts_config_node *node, *name, *use, *hooks_node, *config;
	unsigned int hooks;
	int priority;
};

/* Check one `plugins:` item without loading anything. */
static int parse_entry(struct loader *ld, const struct ts_config_node *it, struct entry *e)
{
	memset(e, 0, sizeof(*e));
	e->node = it;
	e->priority = TS_PRIORITY_DEFAULT;
	if (it->type != CN_MAP) {
		LERR(ld, it, "plugin entry is %s, expected a mapping with name, use, hooks",
		     type_name(it));
		return -1;
	}
	for (size_t i = 0; i + 1 < it->n; i += 2) {
		const struct ts_config_node *k = it->kids[i], *v = it->kids[i + 1];

		if (!strcmp(k->value, "name") || !strcmp(k->value, "use")) {
			if (v->type != CN_SCALAR || node_is_null(v)) {
				LERR(ld, v, "'%s' is %s, expected a non-empty string", k->value,
				     node_is_null(v) ? "empty" : type_name(v));
				return -1;
			}
			if (k->value[0] == 'n')
				e->name = v;
			else
				e->use = v;
		} else if (!strcmp(k->value, "hooks")) {
			if (parse_hooks(ld, v, &e->hooks))
				return -1;
			e->hooks_node = v;
		} else if (!strcmp(k->value, "priority")) {
			long long p;

			if (v->type != CN_SCALAR || parse_ll(v->value, &p) || p < INT_MIN ||
			    p > INT_MAX) {
				LERR(ld, v, "'priority' is '%.64s', expected an integer",
				     v->type == CN_SCALAR ? v->value : type_name(v));
				return -1;
			}
			e->priority = (int)p;
		} else if (!strcmp(k->value, "config")) {
			if (node_is_null(v))
				continue;
			if (v->type != CN_MAP) {
				LERR(ld, v, "'config' is %s, expected a mapping", type_name(v));
				return -1;
			}
			e->config = v;
		} else {
			LERR(ld, k,
			     "unknown key '%.64s' in plugin entry, expected name, use, hooks, "
			     "priority or config",
			     k->value);
			return -1;
		}
	}
	if (!e->name) {
		LERR(ld, it, "plugin entry without 'name', expected a unique instance name");
		return -1;
	}
	if (!valid_instance_name(e->name->value)) {
		LERR(ld, e->name,
		     "instance name '%.64s' is invalid, expected 1-%d of [A-Za-z0-9_.-]",
		     e->name->value, MAX_NAME);
		return -1;
	}
	if (!e->use) {
		LERR(ld, it, "plugin entry '%s' without 'use', expected a plugin name or path",
		     e->name->value);
		return -1;
	}
	if (!e->hooks_node) {
		LERR(ld, it, "plugin entry '%s' without 'hooks', expected a list (may be [])",
		     e->name->value);
		return -1;
	}
	return 0;
}

static const struct ts_config_node empty_map = {.type = CN_MAP};

/* dlopen, check and create one instance; on failure nothing of it remains. */
static struct instance *instance_build(struct loader *ld, const struct entry *e, unsigned int order)
{
	struct ts_pipeline_host *ph = ld->ph;
	const struct ts_plugin_v1 *d;
	struct instance *in;
	char perr[256] = "", oerr[512] = "";
	void *sym;

	in = aligned_alloc(_Alignof(struct instance), sizeof(*in));
	if (!in) {
		LERR(ld, e->node, "out of memory");
		return NULL;
	}
	memset(in, 0, sizeof(*in));
	in->svc = services_template;
	in->ph = ph;
	in->priority = e->priority;
	in->order = order;
	in->hooks = e->hooks;
	in->config = e->config ? e->config : &empty_map;
	in->name = strdup(e->name->value);
	in->use = strdup(e->use->value);
	if (!in->name || !in->use) {
		LERR(ld, e->node, "out of memory");
		goto fail;
	}
	in->so_path = resolve_plugin(ld, e->use);
	if (!in->so_path)
		goto fail;
	in->handle = ph->open(in->so_path, oerr, sizeof(oerr));
	if (!in->handle) {
		LERR(ld, e->use, "cannot load plugin '%s': %s", in->so_path, oerr);
		goto fail;
	}
	dlerror();
	sym = dlsym(in->handle, TS_PLUGIN_SYMBOL);
	if (!sym) {
		LERR(ld, e->use, "'%s' has no symbol %s, expected a tinescale plugin", in->so_path,
		     TS_PLUGIN_SYMBOL);
		goto fail;
	}
	d = sym;
	if (d->abi_version != TS_PLUGIN_ABI_VERSION) {
		LERR(ld, e->use, "'%s' has plugin ABI version %" PRIu32 ", expected %d",
		     in->so_path, d->abi_version, TS_PLUGIN_ABI_VERSION);
		goto fail;
	}
	if (d->struct_size < sizeof(struct ts_plugin_v1)) {
		LERR(ld, e->use,
		     "'%s' has descriptor struct_size %" PRIu32 ", expected at least %zu",
		     in->so_path, d->struct_size, sizeof(struct ts_plugin_v1));
		goto fail;
	}
	if (!d->name || !d->version || !d->create) {
		LERR(ld, e->use,
		     "'%s' has an incomplete descriptor, expected name, version, create",
		     in->so_path);
		goto fail;
	}
	in->desc = d;
	for (size_t i = 0; i < e->hooks_node->n; i++) {
		const struct ts_config_node *hn = e->hooks_node->kids[i];

		for (int h = 0; h < TS_HOOK_COUNT; h++) {
			if (!strcmp(hn->value, ts_hook_name((enum ts_hook)h)) &&
			    !desc_hook(d, (enum ts_hook)h)) {
				LERR(ld, hn,
				     "plugin '%s' (%s) does not support hook '%s', expected one "
				     "it implements",
				     in->name, d->name, hn->value);
				goto fail;
			}
		}
	}
	if (d->create(&in->svc, in->config, &in->state, perr, sizeof(perr)) != 0) {
		perr[sizeof(perr) - 1] = '\0';
		for (char *p = perr; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		LERR(ld, e->config ? e->config : e->node, "plugin '%s' (%s): %s", in->name, d->name,
		     perr[0] ? perr : "create failed");
		goto fail;
	}
	in->created = true;
	return in;
fail:
	instance_free(ph, in);
	return NULL;
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
			c->e[c->n++] =
			    (struct chain_entry){.fn = desc_hook(in->desc, (enum ts_hook)h),
						 .state = in->state,
						 .stats = &in->stats[h],
						 .inst = in};
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
	free(entries);
	free(ld.dir);
	return s;
fail:
	free(entries);
	free(ld.dir);
	snapshot_free(ph, s);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The engine-facing API                                               */

int ts_pipeline_host_create(struct ts_pipeline_host **out, struct ts_device *dev)
{
	struct ts_pipeline_host *ph;
	pthread_rwlockattr_t rwa;
	pthread_condattr_t ca;
	struct snapshot *empty;
	int r;

	ph = calloc(1, sizeof(*ph));
	empty = calloc(1, sizeof(*empty));
	if (!ph || !empty) {
		free(ph);
		free(empty);
		return -ENOMEM;
	}
	ph->dev = dev;
	ph->open = default_open;
	atomic_init(&ph->log_level, TS_LOG_INFO);
	atomic_init(&ph->cur, empty);
	pthread_mutex_init(&ph->load_lock, NULL);
	pthread_rwlockattr_init(&rwa);
	/*
	 * Reader preference: an event callback may cause a nested event
	 * (a plugin roams a peer, the engine reports the endpoint change),
	 * which must not deadlock behind a waiting reload.
	 */
	pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_READER_NP);
	pthread_rwlock_init(&ph->snap_lock, &rwa);
	pthread_rwlockattr_destroy(&rwa);
	pthread_mutex_init(&ph->tlock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ph->tcond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&ph->tdone, NULL);
	r = pthread_create(&ph->tthread, NULL, timer_thread, ph);
	if (r) {
		pthread_cond_destroy(&ph->tcond);
		pthread_cond_destroy(&ph->tdone);
		pthread_mutex_destroy(&ph->tlock);
		pthread_rwlock_destroy(&ph->snap_lock);
		pthread_mutex_destroy(&ph->load_lock);
		free(empty);
		free(ph);
		return -r;
	}
	*out = ph;
	return 0;
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
	/* Event/format readers that loaded 'old' hold the read lock until done. */
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
	struct timer *t;

	if (!ph)
		return;
	pthread_mutex_lock(&ph->load_lock);
	publish(ph, NULL);
	pthread_mutex_unlock(&ph->load_lock);
	pthread_mutex_lock(&ph->tlock);
	ph->tstop = true;
	pthread_cond_signal(&ph->tcond);
	pthread_mutex_unlock(&ph->tlock);
	pthread_join(ph->tthread, NULL);
	while ((t = ph->timers)) { /* none should be left: every instance cancelled its own */
		ph->timers = t->next;
		free(t);
	}
	pthread_cond_destroy(&ph->tcond);
	pthread_cond_destroy(&ph->tdone);
	pthread_mutex_destroy(&ph->tlock);
	pthread_rwlock_destroy(&ph->snap_lock);
	pthread_mutex_destroy(&ph->load_lock);
	free(ph->default_dir);
	free(ph);
}

static _Thread_local unsigned int sample_tick;

static enum ts_verdict run_chain(const struct chain *c, enum ts_hook hook, struct ts_packet *pkt)
{
	/* The buffer's ends, which no hook may move (integers: no pointer arithmetic UB). */
	const uintptr_t lo = (uintptr_t)pkt->data - pkt->headroom;
	const uintptr_t hi = (uintptr_t)pkt->data + pkt->len + pkt->tailroom;

	pkt->hook = hook;
	for (size_t i = 0; i < c->n; i++) {
		const struct chain_entry *e = &c->e[i];
		bool sample = (++sample_tick & SAMPLE_MASK) == 0;
		uint64_t t0 = sample ? mono_ns() : 0;
		unsigned int v = (unsigned int)e->fn(e->state, pkt);

		if (sample) {
			atomic_fetch_add_explicit(&e->stats->sampled_ns, mono_ns() - t0,
						  memory_order_relaxed);
			atomic_fetch_add_explicit(&e->stats->samples, 1, memory_order_relaxed);
		}
		if (v > TS_STOLEN)
			v = 3;
		else if (v == TS_PASS && ((uintptr_t)pkt->data - pkt->headroom != lo ||
					  (uintptr_t)pkt->data + pkt->len + pkt->tailroom != hi))
			v = 3;
		/* Relaxed: statistics only, read approximately by ts_pipeline_format. */
		atomic_fetch_add_explicit(&e->stats->verdicts[v], 1, memory_order_relaxed);
		if (v == 3)
			return TS_DROP;
		if (v != TS_PASS)
			return (enum ts_verdict)v;
	}
	return TS_PASS;
}

enum ts_verdict ts_pipeline_run(struct ts_pipeline_host *ph, enum ts_hook hook,
				struct ts_packet *pkt)
{
	/*
	 * Acquire pairs with the release in publish(): the snapshot's
	 * contents are visible.  (On x86 and for the dependent loads that
	 * follow, this costs nothing more than a plain load.)
	 */
	const struct snapshot *s = atomic_load_explicit(&ph->cur, memory_order_acquire);
	const struct chain *c;

	if ((unsigned int)hook >= TS_HOOK_COUNT)
		return TS_DROP;
	c = &s->chains[hook];
	if (__builtin_expect(c->n == 0, 1))
		return TS_PASS;
	return run_chain(c, hook, pkt);
}

bool ts_pipeline_has_hook(struct ts_pipeline_host *ph, enum ts_hook hook)
{
	const struct snapshot *s = atomic_load_explicit(&ph->cur, memory_order_acquire);

	return (unsigned int)hook < TS_HOOK_COUNT && s->chains[hook].n != 0;
}

static bool plugin_wants_secrets(const struct instance *in)
{
	return in->desc->event && atomic_load_explicit(&in->wants_secrets, memory_order_relaxed);
}

bool ts_pipeline_wants_secrets(struct ts_pipeline_host *ph)
{
	const struct snapshot *s;
	bool any = false;

	pthread_rwlock_rdlock(&ph->snap_lock);
	s = atomic_load_explicit(&ph->cur, memory_order_acquire);
	for (size_t i = 0; s && i < s->n_inst && !any; i++)
		any = plugin_wants_secrets(s->inst[i]);
	pthread_rwlock_unlock(&ph->snap_lock);
	return any;
}

void ts_pipeline_event(struct ts_pipeline_host *ph, const struct ts_event *ev)
{
	const struct snapshot *s;

	pthread_rwlock_rdlock(&ph->snap_lock);
	s = atomic_load_explicit(&ph->cur, memory_order_acquire);
	for (size_t i = 0; s && i < s->n_inst; i++) {
		if (!s->inst[i]->desc->event)
			continue;
		if (ev->type == TS_EVENT_HANDSHAKE_SECRETS && !plugin_wants_secrets(s->inst[i]))
			continue;
		s->inst[i]->desc->event(s->inst[i]->state, ev);
	}
	pthread_rwlock_unlock(&ph->snap_lock);
}

static const char *hooks_str(unsigned int mask, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int h = 0; h < TS_HOOK_COUNT; h++)
		if (mask & (1u << h))
			off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s",
						off ? "," : "", ts_hook_name((enum ts_hook)h));
	return buf[0] ? buf : "-";
}

void ts_pipeline_format(struct ts_pipeline_host *ph, FILE *out)
{
	const struct snapshot *s;
	char hb[80];

	pthread_rwlock_rdlock(&ph->snap_lock);
	s = atomic_load_explicit(&ph->cur, memory_order_acquire);
	fprintf(out, "pipeline: %s (%zu instance%s)\n", s->path ? s->path : "none", s->n_inst,
		s->n_inst == 1 ? "" : "s");
	for (size_t i = 0; i < s->n_inst; i++) {
		const struct instance *in = s->inst[i];

		fprintf(out, "instance %s: plugin %s %s (%s) priority %d hooks %s%s\n", in->name,
			in->desc->name, in->desc->version, in->so_path, in->priority,
			hooks_str(in->hooks, hb, sizeof(hb)), in->desc->event ? " +events" : "");
	}
	for (int h = 0; h < TS_HOOK_COUNT; h++) {
		const struct chain *c = &s->chains[h];

		fprintf(out, "hook %s:%s\n", ts_hook_name((enum ts_hook)h), c->n ? "" : " (none)");
		for (size_t i = 0; i < c->n; i++) {
			const struct hook_stats *st = c->e[i].stats;
			uint64_t v[4], ns, n, total = 0;

			for (int j = 0; j < 4; j++) {
				v[j] = atomic_load_explicit(&st->verdicts[j], memory_order_relaxed);
				total += v[j];
			}
			ns = atomic_load_explicit(&st->sampled_ns, memory_order_relaxed);
			n = atomic_load_explicit(&st->samples, memory_order_relaxed);
			fprintf(out,
				"  %zu. %s (%s %s) priority %d: packets %" PRIu64 " pass %" PRIu64
				" drop %" PRIu64 " stolen %" PRIu64 " invalid %" PRIu64
				" mean_ns %" PRIu64 "\n",
				i + 1, c->e[i].inst->name, c->e[i].inst->desc->name,
				c->e[i].inst->desc->version, c->e[i].inst->priority, total, v[0],
				v[1], v[2], v[3], n ? ns / n : 0);
		}
	}
	pthread_rwlock_unlock(&ph->snap_lock);
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
