/* SPDX-License-Identifier: MIT */
/*
 * The configuration model (struct ts_config), the UAPI "set" parser and the
 * "get" formatter of https://www.wireguard.com/xplatform/.  The parser goes
 * line by line, checks every value fully before storing it, and applies
 * nothing: the caller validates the whole request first, then applies it,
 * so a bad line never leaves a half-applied device.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"

void ts_config_init(struct ts_config *c)
{
	memset(c, 0, sizeof(*c));
}

void ts_config_free(struct ts_config *c)
{
	for (size_t i = 0; i < c->n_peers; i++) {
		sodium_memzero(c->peers[i].preshared_key, sizeof(c->peers[i].preshared_key));
		free(c->peers[i].allowedips);
	}
	free(c->peers);
	sodium_memzero(c->private_key, sizeof(c->private_key));
	ts_config_init(c);
}

/*
 * The capacity after cap when one more element of size bytes is needed:
 * doubled, or 0 if that would overflow a size_t byte count (the
 * allocation would fail anyway: memory is the only limit).
 */
static size_t grow_cap(size_t cap, size_t size)
{
	size_t ncap = cap ? cap * 2 : 4, bytes;

	if (ncap < cap || __builtin_mul_overflow(ncap, size, &bytes))
		return 0;
	return ncap;
}

struct ts_peer_config *ts_config_add_peer(struct ts_config *c)
{
	if (c->n_peers == c->cap_peers) {
		size_t cap = grow_cap(c->cap_peers, sizeof(*c->peers));
		struct ts_peer_config *p;

		/*
		 * Not realloc(): the old array holds preshared keys, which
		 * must be wiped rather than left behind in freed memory.
		 */
		p = cap ? calloc(cap, sizeof(*p)) : NULL;
		if (!p) {
			errno = ENOMEM;
			return NULL;
		}
		if (c->n_peers)
			memcpy(p, c->peers, c->n_peers * sizeof(*p));
		if (c->peers) {
			sodium_memzero(c->peers, c->n_peers * sizeof(*p));
			free(c->peers);
		}
		c->peers = p;
		c->cap_peers = cap;
	}
	memset(&c->peers[c->n_peers], 0, sizeof(c->peers[0]));
	return &c->peers[c->n_peers++];
}

int ts_peer_config_add_allowedip(struct ts_peer_config *p, const struct ts_allowedip *a)
{
	if (p->n_allowedips >= p->cap_allowedips) {
		size_t cap = grow_cap(p->cap_allowedips, sizeof(*p->allowedips));
		struct ts_allowedip *n;

		if (cap < p->n_allowedips + 1)
			cap = p->n_allowedips + 1; /* a hand-built array without cap */
		if (cap == 0)			   /* both overflowed */
			return -ENOMEM;
		n = reallocarray(p->allowedips, cap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		p->allowedips = n;
		p->cap_allowedips = cap;
	}
	p->allowedips[p->n_allowedips++] = *a;
	return 0;
}

const char *ts_config_sanitize(char out[static 48], const char *s)
{
	size_t i;

	for (i = 0; i < 40 && s[i]; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s[i] && i == 40) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/* Decimal digits only (no sign, no space), at most max.  Returns 0 or -EINVAL. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; s[i]; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (d > 9 || v > (max - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (i == 0)
		return -EINVAL;
	*out = v;
	return 0;
}

int ts_allowedip_parse(struct ts_allowedip *a, const char *text, bool need_cidr)
{
	char ip[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t ip_len = slash ? (size_t)(slash - text) : strlen(text);
	uint64_t cidr;

	memset(a, 0, sizeof(*a));
	if (ip_len == 0 || ip_len >= sizeof(ip) || (!slash && need_cidr))
		return -EINVAL;
	memcpy(ip, text, ip_len);
	ip[ip_len] = '\0';
	if (strchr(ip, ':')) {
		if (inet_pton(AF_INET6, ip, a->addr) != 1)
			return -EINVAL;
		a->family = AF_INET6;
	} else {
		if (inet_pton(AF_INET, ip, a->addr) != 1)
			return -EINVAL;
		a->family = AF_INET;
	}
	cidr = a->family == AF_INET6 ? 128 : 32;
	if (slash && (strlen(slash + 1) > 3 || parse_u64(slash + 1, cidr, &cidr)))
		return -EINVAL;
	a->cidr = (uint8_t)cidr;
	return 0;
}

/*
 * Open-addressing set of peer indices keyed by public key.  Keys come from
 * the request, so the hash is SipHash under a per-request random key: no
 * input can force collisions into quadratic time.
 */
static size_t key_hash(const struct ts_peer_dedup *d, const uint8_t key[static 32])
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, key, 32, d->hash_key);
	memcpy(&v, h, sizeof(v));
	return (size_t)v;
}

static int dedup_grow(struct ts_config *c, struct ts_peer_dedup *d)
{
	size_t cap = d->cap ? d->cap * 2 : 16;
	uint32_t *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	if (!d->cap)
		randombytes_buf(d->hash_key, sizeof(d->hash_key));
	/* Every entry but the newest (still being finished) is in the set. */
	for (size_t i = 0; i + 1 < c->n_peers; i++) {
		size_t j = key_hash(d, c->peers[i].public_key) & (cap - 1);

		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = (uint32_t)(i + 1);
	}
	free(d->slots);
	d->slots = slots;
	d->cap = cap;
	return 0;
}

void ts_peer_dedup_free(struct ts_peer_dedup *d)
{
	free(d->slots);
	memset(d, 0, sizeof(*d));
}

static void drop_last_peer(struct ts_config *c)
{
	struct ts_peer_config *p = &c->peers[c->n_peers - 1];

	free(p->allowedips);
	sodium_memzero(p, sizeof(*p));
	c->n_peers--;
}

/* Fold block b into the earlier entry e for the same key (see config.h). */
static int merge_peer(struct ts_peer_config *e, struct ts_peer_config *b, const char **why)
{
	if (e->flags & TS_PEER_REMOVE_ME) {
		*why = "peer repeated after remove=true";
		return -EINVAL;
	}
	if (b->flags & TS_PEER_REMOVE_ME) {
		free(e->allowedips);
		e->allowedips = NULL;
		e->n_allowedips = e->cap_allowedips = 0;
		e->flags = TS_PEER_HAS_PUBLIC_KEY | TS_PEER_REMOVE_ME;
		return 0;
	}
	if ((e->flags & TS_PEER_UPDATE_ONLY) && !(b->flags & TS_PEER_UPDATE_ONLY)) {
		*why = "peer repeated without the update_only=true of its first block";
		return -EINVAL;
	}
	if (b->flags & TS_PEER_REPLACE_ALLOWEDIPS) {
		e->n_allowedips = 0;
		e->flags |= TS_PEER_REPLACE_ALLOWEDIPS;
	}
	if (b->flags & TS_PEER_HAS_PRESHARED_KEY) {
		memcpy(e->preshared_key, b->preshared_key, sizeof(e->preshared_key));
		e->flags |= TS_PEER_HAS_PRESHARED_KEY;
	}
	if (b->flags & TS_PEER_HAS_ENDPOINT) {
		e->endpoint = b->endpoint;
		e->flags |= TS_PEER_HAS_ENDPOINT;
	}
	if (b->flags & TS_PEER_HAS_KEEPALIVE) {
		e->persistent_keepalive = b->persistent_keepalive;
		e->flags |= TS_PEER_HAS_KEEPALIVE;
	}
	if (b->protocol_version)
		e->protocol_version = b->protocol_version;
	for (size_t i = 0; i < b->n_allowedips; i++) {
		int ret = ts_peer_config_add_allowedip(e, &b->allowedips[i]);

		if (ret) {
			*why = "out of memory";
			return ret;
		}
	}
	return 0;
}

int ts_config_finish_peer(struct ts_config *c, struct ts_peer_dedup *d, const char **why)
{
	size_t last, j;
	int ret;

	*why = "out of memory";
	if (!c->n_peers)
		return 0;
	last = c->n_peers - 1;
	if (d->used + 1 > d->cap / 2) {
		ret = dedup_grow(c, d);
		if (ret)
			return ret;
	}
	for (j = key_hash(d, c->peers[last].public_key) & (d->cap - 1); d->slots[j];
	     j = (j + 1) & (d->cap - 1)) {
		size_t i = d->slots[j] - 1;

		if (!memcmp(c->peers[i].public_key, c->peers[last].public_key, 32)) {
			ret = merge_peer(&c->peers[i], &c->peers[last], why);
			drop_last_peer(c);
			return ret;
		}
	}
	d->slots[j] = (uint32_t)(last + 1);
	d->used++;
	return 0;
}

/* ---- UAPI set parser ---- */

struct uapi_ctx {
	struct ts_config *c;
	struct ts_peer_dedup dedup;
	unsigned flags;
	unsigned long line;
	bool in_peer;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 4, 5))) static int fail(struct uapi_ctx *x, int ret, const char *key,
						      const char *fmt, ...)
{
	char safe_key[48];
	int n;
	va_list ap;

	if (!x->errlen)
		return ret;
	if (key)
		n = snprintf(x->err, x->errlen, "line %lu: %s: ", x->line,
			     ts_config_sanitize(safe_key, key));
	else
		n = snprintf(x->err, x->errlen, "line %lu: ", x->line);
	if (n >= 0 && (size_t)n < x->errlen) {
		va_start(ap, fmt);
		vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return ret;
}

static int bad_value(struct uapi_ctx *x, const char *key, const char *value, const char *expected)
{
	char safe[48];

	return fail(x, -EINVAL, key, "expected %s, got '%s'", expected,
		    ts_config_sanitize(safe, value));
}

static bool is_true(const char *value)
{
	return !strcmp(value, "true");
}

static struct ts_peer_config *cur_peer(struct uapi_ctx *x)
{
	return &x->c->peers[x->c->n_peers - 1];
}

static int finish_peer(struct uapi_ctx *x)
{
	const char *why;
	int ret = ts_config_finish_peer(x->c, &x->dedup, &why);

	if (ret)
		return fail(x, ret, "public_key", "%s", why);
	return 0;
}

static int uapi_device_key(struct uapi_ctx *x, const char *key, const char *value)
{
	struct ts_config *c = x->c;
	uint64_t v;

	if (!strcmp(key, "private_key")) {
		/* Never echo this value. */
		if (!ts_key_from_hex(c->private_key, value))
			return fail(x, -EINVAL, key, "expected 64 lowercase hex digits");
		c->flags |= TS_DEV_HAS_PRIVATE_KEY;
	} else if (!strcmp(key, "listen_port")) {
		if (parse_u64(value, UINT16_MAX, &v))
			return bad_value(x, key, value, "a port number 0..65535");
		c->listen_port = (uint16_t)v;
		c->flags |= TS_DEV_HAS_LISTEN_PORT;
	} else if (!strcmp(key, "fwmark")) {
		if (parse_u64(value, UINT32_MAX, &v))
			return bad_value(x, key, value, "a decimal number 0..4294967295");
		c->fwmark = (uint32_t)v;
		c->flags |= TS_DEV_HAS_FWMARK;
	} else if (!strcmp(key, "replace_peers") && !(x->flags & TS_PARSE_GET)) {
		if (!is_true(value))
			return bad_value(x, key, value, "'true'");
		c->flags |= TS_DEV_REPLACE_PEERS;
	} else {
		return 1; /* not a device key */
	}
	return 0;
}

static int uapi_peer_key(struct uapi_ctx *x, const char *key, const char *value)
{
	bool get = x->flags & TS_PARSE_GET;
	struct ts_peer_config *p = cur_peer(x);
	struct ts_allowedip a;
	uint64_t v;
	int ret;

	if (!strcmp(key, "preshared_key")) {
		if (!ts_key_from_hex(p->preshared_key, value))
			return fail(x, -EINVAL, key, "expected 64 lowercase hex digits");
		p->flags |= TS_PEER_HAS_PRESHARED_KEY;
	} else if (!strcmp(key, "endpoint")) {
		if (ts_endpoint_parse(&p->endpoint, value))
			return bad_value(x, key, value, "IPv4:port or [IPv6]:port");
		p->flags |= TS_PEER_HAS_ENDPOINT;
	} else if (!strcmp(key, "persistent_keepalive_interval")) {
		if (parse_u64(value, UINT16_MAX, &v))
			return bad_value(x, key, value, "seconds 0..65535");
		p->persistent_keepalive = (uint16_t)v;
		p->flags |= TS_PEER_HAS_KEEPALIVE;
	} else if (!strcmp(key, "allowed_ip")) {
		bool remove = !get && value[0] == '-';

		if (ts_allowedip_parse(&a, value + remove, true))
			return bad_value(x, key, value, "IP/CIDR");
		a.remove = remove;
		ret = ts_peer_config_add_allowedip(p, &a);
		if (ret)
			return fail(x, ret, key, "out of memory");
	} else if (!strcmp(key, "protocol_version")) {
		if (strcmp(value, "1"))
			return bad_value(x, key, value, "1");
		p->protocol_version = 1;
	} else if (!get && !strcmp(key, "remove")) {
		if (!is_true(value))
			return bad_value(x, key, value, "'true'");
		p->flags |= TS_PEER_REMOVE_ME;
	} else if (!get && !strcmp(key, "update_only")) {
		if (!is_true(value))
			return bad_value(x, key, value, "'true'");
		p->flags |= TS_PEER_UPDATE_ONLY;
	} else if (!get && !strcmp(key, "replace_allowed_ips")) {
		if (!is_true(value))
			return bad_value(x, key, value, "'true'");
		/* Prefixes listed earlier in this block are replaced too. */
		p->n_allowedips = 0;
		p->flags |= TS_PEER_REPLACE_ALLOWEDIPS;
	} else if (get && !strcmp(key, "rx_bytes")) {
		if (parse_u64(value, UINT64_MAX, &p->rx_bytes))
			return bad_value(x, key, value, "a byte count");
	} else if (get && !strcmp(key, "tx_bytes")) {
		if (parse_u64(value, UINT64_MAX, &p->tx_bytes))
			return bad_value(x, key, value, "a byte count");
	} else if (get && !strcmp(key, "last_handshake_time_sec")) {
		if (parse_u64(value, INT64_MAX, &v))
			return bad_value(x, key, value, "seconds");
		p->last_handshake_sec = (int64_t)v;
	} else if (get && !strcmp(key, "last_handshake_time_nsec")) {
		if (parse_u64(value, 999999999, &v))
			return bad_value(x, key, value, "nanoseconds 0..999999999");
		p->last_handshake_nsec = (int64_t)v;
	} else {
		return 1;
	}
	return 0;
}

static int uapi_line(struct uapi_ctx *x, const char *key, const char *value)
{
	struct ts_peer_config *p;
	int ret;

	if (!strcmp(key, "public_key")) {
		if (x->in_peer && (ret = finish_peer(x)))
			return ret;
		p = ts_config_add_peer(x->c);
		if (!p)
			return fail(x, -ENOMEM, key, "out of memory");
		x->in_peer = true;
		if (!ts_key_from_hex(p->public_key, value))
			return fail(x, -EINVAL, key, "expected 64 lowercase hex digits");
		p->flags |= TS_PEER_HAS_PUBLIC_KEY;
		return 0;
	}
	if ((x->flags & TS_PARSE_GET) && !strcmp(key, "errno")) {
		if (strcmp(value, "0"))
			return bad_value(x, key, value, "0");
		return 0;
	}
	if (!x->in_peer) {
		ret = uapi_device_key(x, key, value);
		if (ret <= 0)
			return ret;
		/* A peer key before any public_key is misplaced, not unknown. */
		if (!strcmp(key, "preshared_key") || !strcmp(key, "endpoint") ||
		    !strcmp(key, "persistent_keepalive_interval") || !strcmp(key, "allowed_ip") ||
		    !strcmp(key, "protocol_version") || !strcmp(key, "remove") ||
		    !strcmp(key, "update_only") || !strcmp(key, "replace_allowed_ips"))
			return fail(x, -EINVAL, key, "peer key before any public_key");
		return fail(x, -EPROTO, key, "unknown key");
	}
	ret = uapi_peer_key(x, key, value);
	if (ret <= 0)
		return ret;
	if (!strcmp(key, "private_key") || !strcmp(key, "listen_port") || !strcmp(key, "fwmark") ||
	    !strcmp(key, "replace_peers"))
		return fail(x, -EINVAL, key, "interface key after the first public_key");
	return fail(x, -EPROTO, key, "unknown key");
}

int ts_config_parse_uapi(const char *text, size_t len, unsigned flags, struct ts_config *out,
			 char *err, size_t errlen)
{
	struct uapi_ctx x = {.c = out, .flags = flags, .err = err, .errlen = errlen};
	bool file = flags & TS_PARSE_FILE, seen_content = false;
	char buf[TS_UAPI_MAX_LINE + 1];
	size_t pos = 0;
	int ret = 0;

	ts_config_init(out);
	if (errlen)
		err[0] = '\0';
	while (pos < len) {
		const char *start = text + pos, *nl = memchr(start, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - start) : len - pos;
		char *eq;

		pos += l + (nl ? 1 : 0);
		x.line++;
		if (l > TS_UAPI_MAX_LINE) {
			ret =
			    fail(&x, -EINVAL, NULL, "line longer than %d bytes", TS_UAPI_MAX_LINE);
			break;
		}
		if (memchr(start, '\0', l)) {
			ret = fail(&x, -EINVAL, NULL, "NUL byte in line");
			break;
		}
		memcpy(buf, start, l);
		buf[l] = '\0';
		if (file && l && buf[l - 1] == '\r')
			buf[--l] = '\0';
		if (file && (l == 0 || buf[0] == '#'))
			continue;
		if (l == 0) {
			ret = fail(&x, -EINVAL, NULL, "empty line inside the request");
			break;
		}
		eq = strchr(buf, '=');
		if (!eq || eq == buf) {
			ret = fail(&x, -EINVAL, NULL, "expected key=value");
			break;
		}
		*eq = '\0';
		if (file && !seen_content && !strcmp(buf, "set")) {
			seen_content = true;
			if (strcmp(eq + 1, "1")) {
				ret = bad_value(&x, buf, eq + 1, "1");
				break;
			}
			continue;
		}
		seen_content = true;
		ret = uapi_line(&x, buf, eq + 1);
		if (ret)
			break;
	}
	if (!ret && x.in_peer)
		ret = finish_peer(&x);
	sodium_memzero(buf, sizeof(buf)); /* may hold a private key */
	ts_peer_dedup_free(&x.dedup);
	if (ret)
		ts_config_free(out);
	return ret;
}

/* ---- UAPI get formatter ---- */

/*
 * Lines go into a fixed buffer that is handed to the sink whenever the next
 * line might not fit.  Every line is far shorter than FMT_LINE_MAX (the
 * longest is an endpoint with a scope name).
 */
enum { FMT_LINE_MAX = 256, FMT_CHUNK = 16384 };

struct fmt {
	char buf[FMT_CHUNK];
	size_t len;
	ts_config_sink sink;
	void *ctx;
	int ret; /* the first failure; nothing more is written after it */
};

static void flush(struct fmt *f)
{
	if (!f->ret && f->len)
		f->ret = f->sink(f->ctx, f->buf, f->len);
	f->len = 0;
}

__attribute__((format(printf, 2, 3))) static void put(struct fmt *f, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (f->ret)
		return;
	if (sizeof(f->buf) - f->len < FMT_LINE_MAX)
		flush(f);
	va_start(ap, fmt);
	n = vsnprintf(f->buf + f->len, sizeof(f->buf) - f->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(f->buf) - f->len) {
		f->ret = -EOVERFLOW; /* a line longer than FMT_LINE_MAX: a bug */
		return;
	}
	f->len += (size_t)n;
}

int ts_config_write_uapi(const struct ts_config *c, ts_config_sink sink, void *ctx)
{
	char hex[TS_KEY_HEX_LEN], ep[TS_ENDPOINT_STRLEN], ip[INET6_ADDRSTRLEN];
	struct fmt *f = malloc(sizeof(*f));
	int ret;

	/* On the heap: the UAPI thread's stack need not hold 16 KiB more. */
	if (!f)
		return -ENOMEM;
	f->len = 0;
	f->sink = sink;
	f->ctx = ctx;
	f->ret = 0;
	if ((c->flags & TS_DEV_HAS_PRIVATE_KEY) && !ts_key_is_zero(c->private_key)) {
		ts_key_to_hex(hex, c->private_key);
		put(f, "private_key=%s\n", hex);
	}
	if (c->flags & TS_DEV_HAS_LISTEN_PORT)
		put(f, "listen_port=%u\n", c->listen_port);
	if (c->fwmark)
		put(f, "fwmark=%" PRIu32 "\n", c->fwmark);
	for (size_t i = 0; i < c->n_peers && !f->ret; i++) {
		const struct ts_peer_config *p = &c->peers[i];

		ts_key_to_hex(hex, p->public_key);
		put(f, "public_key=%s\n", hex);
		if ((p->flags & TS_PEER_HAS_PRESHARED_KEY) && !ts_key_is_zero(p->preshared_key)) {
			ts_key_to_hex(hex, p->preshared_key);
			put(f, "preshared_key=%s\n", hex);
		}
		put(f, "protocol_version=%d\n", p->protocol_version > 0 ? p->protocol_version : 1);
		if ((p->flags & TS_PEER_HAS_ENDPOINT) && ts_endpoint_is_set(&p->endpoint))
			put(f, "endpoint=%s\n", ts_endpoint_str(&p->endpoint, ep));
		/* wg reads these as unsigned: never print a negative time. */
		put(f, "last_handshake_time_sec=%" PRId64 "\n",
		    p->last_handshake_sec > 0 ? p->last_handshake_sec : 0);
		put(f, "last_handshake_time_nsec=%" PRId64 "\n",
		    p->last_handshake_nsec > 0 ? p->last_handshake_nsec : 0);
		put(f, "tx_bytes=%" PRIu64 "\n", p->tx_bytes);
		put(f, "rx_bytes=%" PRIu64 "\n", p->rx_bytes);
		put(f, "persistent_keepalive_interval=%u\n", p->persistent_keepalive);
		for (size_t j = 0; j < p->n_allowedips && !f->ret; j++) {
			const struct ts_allowedip *a = &p->allowedips[j];

			if ((a->family != AF_INET && a->family != AF_INET6) ||
			    !inet_ntop(a->family, a->addr, ip, sizeof(ip)))
				continue;
			put(f, "allowed_ip=%s/%u\n", ip, a->cidr);
		}
	}
	flush(f);
	ret = f->ret;
	sodium_memzero(hex, sizeof(hex));
	sodium_memzero(f, sizeof(*f)); /* the buffer held the private key */
	free(f);
	return ret;
}

/* A sink that collects the text in one growing, wiped-on-move string. */
struct collect {
	char *buf;
	size_t len, cap;
};

static int collect_sink(void *ctx, const char *text, size_t len)
{
	struct collect *c = ctx;

	if (c->cap - c->len <= len) {
		size_t cap = c->cap, need;
		char *n;

		if (__builtin_add_overflow(c->len, len + 1, &need))
			return -ENOMEM;
		while (cap < need)
			if (__builtin_mul_overflow(cap, 2, &cap))
				return -ENOMEM;
		/* Not realloc(): the old buffer may hold the private key. */
		n = malloc(cap);
		if (!n)
			return -ENOMEM;
		memcpy(n, c->buf, c->len);
		ts_config_free_text(c->buf, c->cap);
		c->buf = n;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, text, len);
	c->len += len;
	c->buf[c->len] = '\0';
	return 0;
}

char *ts_config_format_uapi(const struct ts_config *c, size_t *len)
{
	struct collect col = {.buf = malloc(FMT_CHUNK), .cap = FMT_CHUNK};

	if (!col.buf) {
		errno = ENOMEM;
		return NULL;
	}
	col.buf[0] = '\0';
	if (ts_config_write_uapi(c, collect_sink, &col)) {
		ts_config_free_text(col.buf, col.cap);
		errno = ENOMEM;
		return NULL;
	}
	*len = col.len;
	return col.buf;
}

void ts_config_free_text(char *text, size_t len)
{
	if (!text)
		return;
	sodium_memzero(text, len);
	free(text);
}
