/* SPDX-License-Identifier: MIT */
/*
 * The `wg setconf` INI loader (--config FILE), built on inih.
 *
 * inih splits "name = value" lines; this file feeds it through a custom
 * reader (ini_parse_stream) that first applies wg's own line rules: '#'
 * starts a comment anywhere, every white-space character is dropped, and
 * section headers are handled here, because inih does not tell its handler
 * where a section starts (two [Peer] blocks in a row would merge) nor on
 * which line a key was.  A line too long for inih's fixed buffer is handed
 * over as "Name=" while the handler takes the value from our own copy, so
 * no length limit but the file's applies.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <netdb.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "key.h"

enum section { SEC_NONE, SEC_INTERFACE, SEC_PEER };

struct ini_ctx {
	const char *text;
	size_t len, pos;
	const char *name;
	unsigned flags;
	unsigned long lineno;
	char *line; /* current line without comments and spaces; wiped */
	size_t line_cap, key_len;
	bool oversize;
	enum section section;
	unsigned long peer_line; /* line of the open [Peer] header, 0 if none */
	struct ts_config *c;
	struct ts_ini_extras *x;
	struct ts_peer_dedup dedup;
	int ret;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 4, 5))) static void ini_fail(struct ini_ctx *x, int ret,
							   const char *key, const char *fmt, ...)
{
	char safe[48];
	va_list ap;
	int n;

	if (x->ret)
		return; /* the first error is the one reported */
	x->ret = ret;
	if (!x->errlen)
		return;
	if (key)
		n = snprintf(x->err, x->errlen, "%s:%lu: key '%s': ", x->name, x->lineno,
			     ts_config_sanitize(safe, key));
	else
		n = snprintf(x->err, x->errlen, "%s:%lu: ", x->name, x->lineno);
	if (n >= 0 && (size_t)n < x->errlen) {
		va_start(ap, fmt);
		vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
}

static void ini_bad_value(struct ini_ctx *x, const char *key, const char *value,
			  const char *expected)
{
	char safe[48];

	ini_fail(x, -EINVAL, key, "expected %s, got '%s'", expected,
		 ts_config_sanitize(safe, value));
}

/* Ends the open [Peer] block: it needs a key, and may repeat an earlier one. */
static void close_peer(struct ini_ctx *x)
{
	const char *why;
	unsigned long line = x->lineno;
	int ret;

	if (!x->peer_line || x->ret)
		return;
	x->lineno = x->peer_line; /* report against the [Peer] header */
	if (!(x->c->peers[x->c->n_peers - 1].flags & TS_PEER_HAS_PUBLIC_KEY)) {
		ini_fail(x, -EINVAL, NULL, "[Peer] section without a PublicKey");
	} else {
		ret = ts_config_finish_peer(x->c, &x->dedup, &why);
		if (ret)
			ini_fail(x, ret, "PublicKey", "%s", why);
	}
	x->lineno = line;
	x->peer_line = 0;
}

static void begin_section(struct ini_ctx *x, const char *name, size_t len)
{
	struct ts_peer_config *p;

	close_peer(x);
	if (x->ret)
		return;
	if (len == 9 && !strncasecmp(name, "Interface", 9)) {
		x->section = SEC_INTERFACE;
	} else if (len == 4 && !strncasecmp(name, "Peer", 4)) {
		x->section = SEC_PEER;
		p = ts_config_add_peer(x->c);
		if (!p) {
			ini_fail(x, -ENOMEM, NULL, "out of memory");
			return;
		}
		p->flags = TS_PEER_REPLACE_ALLOWEDIPS; /* as `wg setconf` sends */
		x->peer_line = x->lineno;
	} else {
		char safe[48], copy[48];
		size_t n = len < sizeof(copy) - 1 ? len : sizeof(copy) - 1;

		memcpy(copy, name, n);
		copy[n] = '\0';
		ini_fail(x, -EPROTO, NULL, "unknown section '[%s]', expected [Interface] or [Peer]",
			 ts_config_sanitize(safe, copy));
	}
}

/*
 * The ini_reader: returns the next meaningful line in inih's buffer (of
 * num bytes), or NULL at the end or after an error.
 */
static char *ini_read(char *str, int num, void *stream)
{
	struct ini_ctx *x = stream;

	while (!x->ret && x->pos < x->len) {
		const char *start = x->text + x->pos;
		const char *nl = memchr(start, '\n', x->len - x->pos);
		size_t l = nl ? (size_t)(nl - start) : x->len - x->pos, n = 0;
		const char *eq;

		x->pos += l + (nl ? 1 : 0);
		x->lineno++;
		if (memchr(start, '\0', l)) {
			ini_fail(x, -EINVAL, NULL, "NUL byte in line");
			return NULL;
		}
		if (x->lineno == 1 && l >= 3 && !memcmp(start, "\xef\xbb\xbf", 3)) {
			start += 3; /* UTF-8 byte order mark */
			l -= 3;
		}
		if (l + 1 > x->line_cap) {
			/* l < TS_INI_MAX_FILE: no overflow. */
			char *bigger = malloc(l + 1);

			if (!bigger) {
				ini_fail(x, -ENOMEM, NULL, "out of memory");
				return NULL;
			}
			if (x->line) {
				sodium_memzero(x->line, x->line_cap);
				free(x->line);
			}
			x->line = bigger;
			x->line_cap = l + 1;
		}
		for (size_t i = 0; i < l && start[i] != '#'; i++) {
			/* wg drops every space, so "Allowed IPs" reads as "AllowedIPs". */
			if (start[i] == ' ' || (start[i] >= '\t' && start[i] <= '\r'))
				continue;
			x->line[n++] = start[i];
		}
		x->line[n] = '\0';
		if (n == 0 || x->line[0] == ';')
			continue; /* blank, or a comment */
		if (x->line[0] == '[') {
			if (x->line[n - 1] != ']' || memchr(x->line + 1, ']', n - 2)) {
				ini_fail(x, -EINVAL, NULL, "expected [Interface] or [Peer]");
				return NULL;
			}
			begin_section(x, x->line + 1, n - 2);
			continue;
		}
		/* inih also splits at ':', which wg does not accept. */
		eq = x->line + strcspn(x->line, "=:");
		if (*eq != '=' || eq == x->line) {
			ini_fail(x, -EINVAL, NULL, "expected Key = Value or a [Section] header");
			return NULL;
		}
		x->key_len = (size_t)(eq - x->line);
		if (num < 3 || x->key_len > (size_t)num - 3) {
			ini_fail(x, -EINVAL, NULL, "key name too long");
			return NULL;
		}
		/* Room for the line, '\n' and NUL?  Else pass "Key=" only. */
		x->oversize = n + 2 > (size_t)num;
		if (x->oversize) {
			memcpy(str, x->line, x->key_len + 1);
			str[x->key_len + 1] = '\n';
			str[x->key_len + 2] = '\0';
		} else {
			memcpy(str, x->line, n);
			str[n] = '\n';
			str[n + 1] = '\0';
		}
		return str;
	}
	return NULL;
}

static bool key_is(const char *key, const char *want)
{
	return !strcasecmp(key, want);
}

/* Decimal (or 0x hex when hex_ok), at most max. */
static int parse_num(const char *s, uint64_t max, bool hex_ok, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;
	size_t i = 0;

	if (hex_ok && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (!s[i])
		return -EINVAL;
	for (; s[i]; i++) {
		unsigned d;

		if (s[i] >= '0' && s[i] <= '9')
			d = (unsigned)(s[i] - '0');
		else if (base == 16 && s[i] >= 'a' && s[i] <= 'f')
			d = (unsigned)(s[i] - 'a' + 10);
		else if (base == 16 && s[i] >= 'A' && s[i] <= 'F')
			d = (unsigned)(s[i] - 'A' + 10);
		else
			return -EINVAL;
		if (v > (max - d) / base)
			return -EINVAL;
		v = v * base + d;
	}
	*out = v;
	return 0;
}

/* "host:port" or "[host]:port"; a name is looked up unless TS_INI_NO_DNS. */
static void parse_endpoint(struct ini_ctx *x, const char *key, const char *value,
			   union ts_endpoint *ep)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_DGRAM,
				 .ai_protocol = IPPROTO_UDP,
				 .ai_flags = AI_NUMERICSERV};
	const char *expected = "host:port or [IPv6]:port";
	char host[256], port[8], safe[48];
	struct addrinfo *res = NULL;
	const char *colon, *p;
	uint64_t portnum;
	size_t hl;
	int gai;

	if (!ts_endpoint_parse(ep, value))
		return;
	if (value[0] == '[') {
		colon = strchr(value, ']');
		if (!colon || colon[1] != ':')
			return ini_bad_value(x, key, value, expected);
		p = value + 1;
		hl = (size_t)(colon - p);
		colon++;
	} else {
		colon = strrchr(value, ':');
		if (!colon)
			return ini_bad_value(x, key, value, expected);
		p = value;
		hl = (size_t)(colon - p);
	}
	if (hl == 0 || hl >= sizeof(host) || strlen(colon + 1) >= sizeof(port) ||
	    parse_num(colon + 1, 65535, false, &portnum) || portnum == 0 || colon[1] == '0')
		return ini_bad_value(x, key, value, expected);
	memcpy(host, p, hl);
	host[hl] = '\0';
	strcpy(port, colon + 1);
	if (x->flags & TS_INI_NO_DNS)
		return ini_bad_value(x, key, value, "a numeric IPv4:port or [IPv6]:port");
	gai = getaddrinfo(host, port, &hints, &res);
	if (gai) {
		ini_fail(x, -EHOSTUNREACH, key, "cannot resolve '%s': %s",
			 ts_config_sanitize(safe, host), gai_strerror(gai));
		return;
	}
	if ((res->ai_family == AF_INET && res->ai_addrlen == sizeof(ep->in)) ||
	    (res->ai_family == AF_INET6 && res->ai_addrlen == sizeof(ep->in6))) {
		memset(ep, 0, sizeof(*ep));
		memcpy(ep, res->ai_addr, res->ai_addrlen);
	} else {
		ini_fail(x, -EHOSTUNREACH, key, "'%s' has no IPv4 or IPv6 address",
			 ts_config_sanitize(safe, host));
	}
	freeaddrinfo(res);
}

/* Calls fn on each item of a comma list; an empty list has no items. */
static void for_each_item(struct ini_ctx *x, const char *key, char *value,
			  void (*fn)(struct ini_ctx *, const char *, const char *))
{
	char *item = value;

	if (!*value)
		return;
	while (!x->ret) {
		char *comma = strchr(item, ',');

		if (comma)
			*comma = '\0';
		fn(x, key, item);
		if (!comma)
			break;
		*comma = ',';
		item = comma + 1;
	}
}

static void add_allowedip(struct ini_ctx *x, const char *key, const char *item)
{
	struct ts_allowedip a;
	int ret;

	if (ts_allowedip_parse(&a, item, false))
		return ini_bad_value(x, key, item, "a comma list of IP/CIDR");
	ret = ts_peer_config_add_allowedip(&x->c->peers[x->c->n_peers - 1], &a);
	if (ret)
		ini_fail(x, ret, key, "out of memory");
}

static void add_address(struct ini_ctx *x, const char *key, const char *item)
{
	struct ts_ini_extras *e = x->x;
	struct ts_allowedip a;
	char **n;

	if (ts_allowedip_parse(&a, item, false))
		return ini_bad_value(x, key, item, "a comma list of IP/CIDR");
	if (!e)
		return;
	n = reallocarray(e->addresses, e->n_addresses + 1, sizeof(*n));
	if (!n)
		return ini_fail(x, -ENOMEM, key, "out of memory");
	e->addresses = n;
	e->addresses[e->n_addresses] = strdup(item);
	if (!e->addresses[e->n_addresses])
		return ini_fail(x, -ENOMEM, key, "out of memory");
	e->n_addresses++;
}

static void interface_key(struct ini_ctx *x, const char *key, char *value)
{
	struct ts_config *c = x->c;
	uint64_t v;

	if (key_is(key, "PrivateKey")) {
		if (!ts_key_from_base64(c->private_key, value))
			return ini_fail(x, -EINVAL, key, "expected a base64 key of 44 characters");
		c->flags |= TS_DEV_HAS_PRIVATE_KEY;
	} else if (key_is(key, "ListenPort")) {
		if (parse_num(value, 65535, false, &v))
			return ini_bad_value(x, key, value, "a port number 0..65535");
		c->listen_port = (uint16_t)v;
		c->flags |= TS_DEV_HAS_LISTEN_PORT;
	} else if (key_is(key, "FwMark")) {
		if (!strcasecmp(value, "off"))
			v = 0;
		else if (parse_num(value, UINT32_MAX, true, &v))
			return ini_bad_value(x, key, value, "a number 0..4294967295 or 'off'");
		c->fwmark = (uint32_t)v;
		c->flags |= TS_DEV_HAS_FWMARK;
	} else if (key_is(key, "Address") || key_is(key, "MTU") || key_is(key, "DNS") ||
		   key_is(key, "Table") || key_is(key, "PreUp") || key_is(key, "PostUp") ||
		   key_is(key, "PreDown") || key_is(key, "PostDown") || key_is(key, "SaveConfig")) {
		if (!(x->flags & TS_INI_ALLOW_QUICK))
			return ini_fail(x, -EPROTO, key,
					"is a wg-quick key, not valid in a `wg setconf` file");
		if (key_is(key, "Address")) {
			for_each_item(x, key, value, add_address);
		} else if (key_is(key, "MTU")) {
			if (parse_num(value, 65535, false, &v) || v < 68)
				return ini_bad_value(x, key, value, "an MTU 68..65535");
			if (x->x)
				x->x->mtu = (int)v;
		}
		/* DNS, Table, the hooks and SaveConfig are wg-quick's business. */
	} else {
		ini_fail(x, -EPROTO, key, "unknown key in [Interface]");
	}
}

static void peer_key(struct ini_ctx *x, const char *key, char *value)
{
	struct ts_peer_config *p = &x->c->peers[x->c->n_peers - 1];
	uint64_t v;

	if (key_is(key, "PublicKey")) {
		if (!ts_key_from_base64(p->public_key, value))
			return ini_fail(x, -EINVAL, key, "expected a base64 key of 44 characters");
		p->flags |= TS_PEER_HAS_PUBLIC_KEY;
	} else if (key_is(key, "PresharedKey")) {
		if (!ts_key_from_base64(p->preshared_key, value))
			return ini_fail(x, -EINVAL, key, "expected a base64 key of 44 characters");
		p->flags |= TS_PEER_HAS_PRESHARED_KEY;
	} else if (key_is(key, "AllowedIPs")) {
		for_each_item(x, key, value, add_allowedip);
	} else if (key_is(key, "Endpoint")) {
		parse_endpoint(x, key, value, &p->endpoint);
		if (!x->ret)
			p->flags |= TS_PEER_HAS_ENDPOINT;
	} else if (key_is(key, "PersistentKeepalive")) {
		if (!strcasecmp(value, "off"))
			v = 0;
		else if (parse_num(value, 65535, false, &v))
			return ini_bad_value(x, key, value, "seconds 0..65535 or 'off'");
		p->persistent_keepalive = (uint16_t)v;
		p->flags |= TS_PEER_HAS_KEEPALIVE;
	} else {
		ini_fail(x, -EPROTO, key, "unknown key in [Peer]");
	}
}

/* The ini_handler; inih's section argument is ignored (ini_read tracks it). */
static int ini_handle(void *user, const char *section, const char *name, const char *value)
{
	struct ini_ctx *x = user;
	char *v;

	(void)section;
	(void)value;
	if (x->ret)
		return 0;
	/*
	 * Take the value from our own copy of the line: it is complete even
	 * when inih only got "Key=", and it is writable.
	 */
	v = x->line + x->key_len + 1;
	if (strlen(name) != x->key_len) {
		ini_fail(x, -EINVAL, NULL, "cannot parse line");
		return 0;
	}
	if (x->section == SEC_INTERFACE)
		interface_key(x, name, v);
	else if (x->section == SEC_PEER)
		peer_key(x, name, v);
	else
		ini_fail(x, -EINVAL, name, "outside any [Interface] or [Peer] section");
	return !x->ret;
}

int ts_config_parse_ini_string(const char *text, size_t len, const char *name, unsigned flags,
			       struct ts_config *out, struct ts_ini_extras *extras, char *err,
			       size_t errlen)
{
	struct ini_ctx x = {.text = text,
			    .len = len,
			    .name = name ? name : "<config>",
			    .flags = flags,
			    .c = out,
			    .x = extras,
			    .err = err,
			    .errlen = errlen};
	int ret;

	ts_config_init(out);
	if (extras)
		memset(extras, 0, sizeof(*extras));
	if (errlen)
		err[0] = '\0';
	if (len > TS_INI_MAX_FILE) {
		ini_fail(&x, -E2BIG, NULL, "file larger than %d bytes", TS_INI_MAX_FILE);
		return x.ret;
	}
	ret = ini_parse_stream(ini_read, &x, ini_handle, &x);
	if (!x.ret && ret)
		ini_fail(&x, ret == -2 ? -ENOMEM : -EINVAL, NULL, "cannot parse line");
	close_peer(&x);
	if (!x.ret)
		out->flags |= TS_DEV_REPLACE_PEERS;
	if (x.line) {
		sodium_memzero(x.line, x.line_cap);
		free(x.line);
	}
	ts_peer_dedup_free(&x.dedup);
	if (x.ret) {
		ts_config_free(out);
		if (extras)
			ts_ini_extras_free(extras);
	}
	return x.ret;
}

int ts_config_load_ini(const char *path, unsigned flags, struct ts_config *out,
		       struct ts_ini_extras *extras, char *err, size_t errlen)
{
	size_t len = 0, cap = 4096;
	char *buf = NULL;
	int fd, ret;

	ts_config_init(out);
	if (extras)
		memset(extras, 0, sizeof(*extras));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto io_error;
	}
	/* Read to EOF (also pipes like /dev/stdin), growing the buffer by hand so
	 * that every copy of the private key is wiped. */
	for (;;) {
		ssize_t n;

		if (!buf || len == cap) {
			size_t ncap = buf ? cap * 2 : cap;
			char *nbuf;

			if (ncap > (size_t)TS_INI_MAX_FILE + 1)
				ncap = (size_t)TS_INI_MAX_FILE + 1;
			if (buf && len == ncap) {
				ret = -E2BIG;
				close(fd);
				sodium_memzero(buf, cap);
				free(buf);
				if (errlen)
					snprintf(err, errlen, "%s: larger than %d bytes", path,
						 TS_INI_MAX_FILE);
				return ret;
			}
			nbuf = malloc(ncap);
			if (!nbuf) {
				ret = -ENOMEM;
				close(fd);
				goto free_buf;
			}
			if (buf) {
				memcpy(nbuf, buf, len);
				sodium_memzero(buf, cap);
				free(buf);
			}
			buf = nbuf;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			close(fd);
			goto free_buf;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	ret = ts_config_parse_ini_string(buf, len, path, flags, out, extras, err, errlen);
	sodium_memzero(buf, cap);
	free(buf);
	return ret;

free_buf:
	if (buf) {
		sodium_memzero(buf, cap);
		free(buf);
	}
io_error:
	if (errlen)
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
	return ret;
}

void ts_ini_extras_free(struct ts_ini_extras *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->n_addresses; i++)
		free(x->addresses[i]);
	free(x->addresses);
	memset(x, 0, sizeof(*x));
}
