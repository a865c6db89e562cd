/* SPDX-License-Identifier: MIT */
/*
 * The service table every instance gets (include/tinescale/plugin.h):
 * each service checks its arguments, converts between the public types
 * and the engine's, and calls the engine table (base/seam.h).  Without an
 * engine (tests, fuzzing) the engine services answer -ENODEV or nothing.
 * No host lock is held here; the engine table never runs plugin code.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "host_internal.h"
#include "log.h"

/* The public endpoint type is cast-compatible with the engine's. */
_Static_assert(sizeof(union ts_plugin_endpoint) == sizeof(union ts_endpoint),
	       "union ts_plugin_endpoint must match union ts_endpoint");
_Static_assert(offsetof(union ts_plugin_endpoint, in6) == offsetof(union ts_endpoint, in6),
	       "union ts_plugin_endpoint layout");

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
	const struct ts_engine_table *e = &inst_of(h)->ph->eng;
	union ts_endpoint ep;

	if (!e->send_datagram)
		return -ENODEV;
	if (!dst || (!buf && len))
		return -EINVAL;
	ep_from_plugin(&ep, dst);
	return e->send_datagram(e->ctx, &ep, buf, len);
}

static int svc_inject_datagram(const struct ts_host_services *h,
			       const union ts_plugin_endpoint *src, const uint8_t *buf, size_t len)
{
	const struct ts_engine_table *e = &inst_of(h)->ph->eng;
	union ts_endpoint ep;

	if (!e->inject_datagram)
		return -ENODEV;
	if (!src || (!buf && len))
		return -EINVAL;
	ep_from_plugin(&ep, src);
	return e->inject_datagram(e->ctx, &ep, buf, len);
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
	const struct ts_engine_table *e = &inst_of(h)->ph->eng;
	struct ts_peer_info pi;
	struct ts_plugin_peer p;
	size_t n;
	int r;

	if (!e->peer_info)
		return -ENODEV;
	if (!public_key || !out || out->struct_size < sizeof(size_t))
		return -EINVAL;
	r = e->peer_info(e->ctx, public_key, &pi);
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
	const struct ts_engine_table *e = &inst_of(h)->ph->eng;
	struct foreach_ctx fc = {cb, ctx};

	if (!e->peer_foreach)
		return -ENODEV;
	if (!cb)
		return -EINVAL;
	return e->peer_foreach(e->ctx, foreach_adapter, &fc);
}

static int svc_peer_set_endpoint(const struct ts_host_services *h, const uint8_t public_key[32],
				 const union ts_plugin_endpoint *ep)
{
	const struct ts_engine_table *e = &inst_of(h)->ph->eng;
	union ts_endpoint to;

	if (!e->peer_set_endpoint)
		return -ENODEV;
	if (!public_key || !ep)
		return -EINVAL;
	ep_from_plugin(&to, ep);
	return e->peer_set_endpoint(e->ctx, public_key, &to);
}

static int svc_peer_by_index(const struct ts_host_services *h, uint32_t local_index,
			     uint8_t public_key_out[32])
{
	const struct ts_engine_table *e = &inst_of(h)->ph->eng;

	if (!e->peer_by_index)
		return -ENODEV;
	if (!public_key_out)
		return -EINVAL;
	return e->peer_by_index(e->ctx, local_index, public_key_out);
}

static int svc_note_set(const struct ts_host_services *h, const uint8_t *public_key,
			const char *key, const char *value)
{
	return notes_set(inst_of(h), public_key, key, value);
}

static int svc_note_get(const struct ts_host_services *h, const uint8_t *public_key,
			const char *key, char *buf, size_t len)
{
	const struct ts_engine_table *e = &inst_of(h)->ph->eng;

	return e->note_get ? e->note_get(e->ctx, public_key, key, buf, len) : -ENODEV;
}

static int svc_static_dh(const struct ts_host_services *h, const uint8_t remote_public[32],
			 uint8_t out[32])
{
	const struct ts_engine_table *e = &inst_of(h)->ph->eng;

	if (!remote_public || !out)
		return -EINVAL;
	return e->static_dh ? e->static_dh(e->ctx, remote_public, out) : -ENODEV;
}

static int svc_request_secrets(const struct ts_host_services *h)
{
	struct instance *in = inst_of(h);

	if (!atomic_exchange(&in->wants_secrets, true))
		ts_log(TS_LOG_WARN,
		       "plugin '%s' (%s) asked for session secrets: it sees the keys of every new "
		       "handshake",
		       in->name, in->desc.name);
	return 0;
}

static uint16_t svc_listen_port(const struct ts_host_services *h)
{
	const struct ts_engine_table *e = &inst_of(h)->ph->eng;

	return e->listen_port ? e->listen_port(e->ctx) : 0;
}

static bool svc_public_key(const struct ts_host_services *h, uint8_t out[32])
{
	const struct ts_engine_table *e = &inst_of(h)->ph->eng;

	return e->public_key && out ? e->public_key(e->ctx, out) : false;
}

static const char *svc_ifname(const struct ts_host_services *h)
{
	const struct ts_engine_table *e = &inst_of(h)->ph->eng;

	return e->ifname ? e->ifname(e->ctx) : "";
}

static uint64_t svc_now_ns(const struct ts_host_services *h)
{
	return mono_ns();
}

/*
 * map_get, remembering the key asked for: when create() then fails, its
 * error is placed at that key (config_error_node).  Atomic: a timer started
 * in create() may read config concurrently.
 */
static const struct ts_config_node *cfg_get(const struct ts_host_services *h,
					    const struct ts_config_node *node, const char *key)
{
	if (!node || node->type != CN_MAP || !key)
		return NULL;
	for (size_t i = 0; i + 1 < node->n; i += 2) {
		if (!strcmp(node->kids[i]->value, key)) {
			atomic_store(&inst_of(h)->cfg_last_key, node->kids[i]);
			return node->kids[i + 1];
		}
	}
	return NULL;
}

/* The value under key is not what was asked for: an error is likely about it. */
static int cfg_bad(const struct ts_host_services *h, int r)
{
	struct instance *in = inst_of(h);

	if (r == -EINVAL)
		atomic_store(&in->cfg_bad_key, atomic_load(&in->cfg_last_key));
	return r;
}

/* Where in msg the key k appears as a word first; SIZE_MAX when it does not. */
static size_t word_at(const char *msg, const char *k)
{
	size_t kl = strlen(k);

	for (const char *p = msg; kl && (p = strstr(p, k)); p++) {
		bool l = p == msg || !(isalnum((unsigned char)p[-1]) || strchr("_-", p[-1]));
		bool r = !(isalnum((unsigned char)p[kl]) || (p[kl] && strchr("_-", p[kl])));

		if (l && r)
			return (size_t)(p - msg);
	}
	return SIZE_MAX;
}

static void key_named(const struct ts_config_node *n, const char *msg, size_t *best,
		      const struct ts_config_node **out, int depth)
{
	if (!n || n->type != CN_MAP || depth > 4)
		return;
	for (size_t i = 0; i + 1 < n->n; i += 2) {
		size_t at = word_at(msg, n->kids[i]->value);

		if (at < *best) {
			*best = at;
			*out = n->kids[i];
		}
		key_named(n->kids[i + 1], msg, best, out, depth + 1);
	}
}

const struct ts_config_node *config_error_node(const struct instance *in, const struct entry *e,
					       const char *msg)
{
	const struct ts_config_node *k = NULL;
	size_t best = SIZE_MAX;

	/* The key the message names first, then the key a service refused, then the last asked. */
	key_named(e->config, msg, &best, &k, 0);
	if (!k)
		k = atomic_load(&in->cfg_bad_key);
	if (!k)
		k = atomic_load(&in->cfg_last_key);
	if (!k)
		k = e->config ? e->config : e->node;
	return k;
}

static const char *svc_config_string(const struct ts_host_services *h,
				     const struct ts_config_node *node, const char *key)
{
	const struct ts_config_node *v = cfg_get(h, node, key);

	if (!v || v->type != CN_SCALAR || node_is_null(v))
		return NULL;
	return v->value;
}

static int svc_config_int(const struct ts_host_services *h, const struct ts_config_node *node,
			  const char *key, long long *out)
{
	const struct ts_config_node *v = cfg_get(h, node, key);
	long long x;

	if (!v || node_is_null(v))
		return -ENOENT;
	if (v->type != CN_SCALAR || parse_ll(v->value, &x))
		return cfg_bad(h, -EINVAL);
	if (out)
		*out = x;
	return 0;
}

static int svc_config_bool(const struct ts_host_services *h, const struct ts_config_node *node,
			   const char *key, bool *out)
{
	const struct ts_config_node *v = cfg_get(h, node, key);
	bool b;

	if (!v || node_is_null(v))
		return -ENOENT;
	if (v->type != CN_SCALAR || parse_bool(v->value, &b))
		return cfg_bad(h, -EINVAL);
	if (out)
		*out = b;
	return 0;
}

static int svc_config_list_len(const struct ts_host_services *h, const struct ts_config_node *node,
			       const char *key)
{
	const struct ts_config_node *v = cfg_get(h, node, key);

	if (!v || node_is_null(v))
		return -ENOENT;
	if (v->type != CN_SEQ)
		return cfg_bad(h, -EINVAL);
	return v->n > INT_MAX ? INT_MAX : (int)v->n;
}

static const char *svc_config_list_item(const struct ts_host_services *h,
					const struct ts_config_node *node, const char *key,
					size_t index)
{
	const struct ts_config_node *v = cfg_get(h, node, key);

	if (!v || v->type != CN_SEQ || index >= v->n || v->kids[index]->type != CN_SCALAR)
		return NULL;
	return v->kids[index]->value;
}

static const struct ts_config_node *svc_config_child(const struct ts_host_services *h,
						     const struct ts_config_node *node,
						     const char *key)
{
	const struct ts_config_node *v = cfg_get(h, node, key);

	return v && v->type != CN_SCALAR ? v : NULL;
}

static const char *svc_config_key_at(const struct ts_host_services *h,
				     const struct ts_config_node *node, size_t index)
{
	if (!node || node->type != CN_MAP || index >= node->n / 2)
		return NULL;
	/* A plugin rejecting unknown keys fails right after the one it got last. */
	atomic_store(&inst_of(h)->cfg_last_key, node->kids[2 * index]);
	return node->kids[2 * index]->value;
}

static ts_timer_id svc_timer_add(const struct ts_host_services *h, uint32_t interval_ms,
				 void (*cb)(void *arg), void *arg)
{
	return timer_add(inst_of(h), interval_ms, cb, arg);
}

static void svc_timer_cancel(const struct ts_host_services *h, ts_timer_id id)
{
	struct instance *in = inst_of(h);

	if (id)
		timers_cancel(in->ph, in, id);
}

static const char *svc_instance_name(const struct ts_host_services *h)
{
	return inst_of(h)->name;
}

static void *svc_peer_state(const struct ts_host_services *h, const uint8_t public_key[32])
{
	return public_key ? peer_slot_get(inst_of(h), public_key, SLOT_IF_PEER) : NULL;
}

static struct ts_output *svc_output_open(const struct ts_host_services *h, const char *target,
					 size_t max_bytes, char *err, size_t errlen)
{
	return output_open(inst_of(h), target, max_bytes, err, errlen);
}

static int svc_output_write(const struct ts_host_services *h, struct ts_output *out,
			    const void *buf, size_t len)
{
	return output_write(out, buf, len);
}

static void svc_output_stats(const struct ts_host_services *h, struct ts_output *out,
			     uint64_t *written, uint64_t *dropped)
{
	output_stats(out, written, dropped);
}

static void svc_output_close(const struct ts_host_services *h, struct ts_output *out)
{
	output_close(inst_of(h), out);
}

static struct ts_output *svc_output_open_cb(const struct ts_host_services *h, size_t max_bytes,
					    unsigned tick_ms, ts_output_fn fn, void *arg, char *err,
					    size_t errlen)
{
	return output_open_cb(inst_of(h), max_bytes, tick_ms, fn, arg, err, errlen);
}

static int svc_output_writev(const struct ts_host_services *h, struct ts_output *out,
			     const struct iovec *iov, int iovcnt)
{
	(void)h;
	return output_writev(out, iov, iovcnt);
}

const struct ts_host_services services_template = {
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
    .instance_name = svc_instance_name,
    .peer_state = svc_peer_state,
    .output_open = svc_output_open,
    .output_write = svc_output_write,
    .output_stats = svc_output_stats,
    .output_close = svc_output_close,
    .output_open_cb = svc_output_open_cb,
    .output_writev = svc_output_writev,
};
