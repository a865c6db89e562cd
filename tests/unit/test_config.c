/* SPDX-License-Identifier: MIT */
/*
 * Tests of the configuration layer: the UAPI set parser and get formatter
 * (core/base/config.c), the INI loader (core/base/config_ini.c), key encodings
 * (core/base/key.c) and endpoint parsing (core/base/endpoint.c).
 */
#include <errno.h>
#include <net/if.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "key.h"
#include "testutil.h"

/* The repository, for configs/: from this file's path (CMake compiles with absolute paths). */
static char source_dir[4096];

static const char *repo_file(const char *rel)
{
	static char path[8192];

	snprintf(path, sizeof(path), "%s/%s", source_dir, rel);
	return path;
}

/* The seed's peer1.ipc and peer2.ipc, verbatim. */
static const char peer1_ipc[] =
    "private_key=909d7dc175dff8461ac1e6bee76a2dd44982de2b1d3f0121450840eea22c6a58\n"
    "listen_port=51820\n"
    "replace_peers=true\n"
    "public_key=01361f99041a1b5a39860182d292c9a8a4fdeeae7cef78867d2bcd63ef84c438\n"
    "replace_allowed_ips=true\n"
    "endpoint=10.10.0.12:51820\n"
    "allowed_ip=10.0.0.2/32\n"
    "persistent_keepalive_interval=15\n";
static const char peer2_ipc[] =
    "private_key=80aad15bee3126936dd5784d704cea7110b52826ad9c4b0c2cbfa86c49f97470\n"
    "listen_port=51820\n"
    "replace_peers=true\n"
    "public_key=390affb161f08eb900700065b69c2edb7aea5c83d6d7f45b936c6abbc2333921\n"
    "replace_allowed_ips=true\n"
    "endpoint=10.10.0.11:51820\n"
    "allowed_ip=10.0.0.1/32\n"
    "persistent_keepalive_interval=15\n";

#define PEER1_PRIV_HEX "909d7dc175dff8461ac1e6bee76a2dd44982de2b1d3f0121450840eea22c6a58"
#define PEER1_PRIV_B64 "kJ19wXXf+EYawea+52ot1EmC3isdPwEhRQhA7qIsalg="
#define PEER2_PUB_HEX  "01361f99041a1b5a39860182d292c9a8a4fdeeae7cef78867d2bcd63ef84c438"
#define PEER2_PUB_B64  "ATYfmQQaG1o5hgGC0pLJqKT97q5873iGfSvNY++ExDg="
#define PK_A	       "1111111111111111111111111111111111111111111111111111111111111111"
#define PK_B	       "2222222222222222222222222222222222222222222222222222222222222222"

static int parse(const char *text, unsigned flags, struct ts_config *c, char *err, size_t errlen)
{
	return ts_config_parse_uapi(text, strlen(text), flags, c, err, errlen);
}

static bool key_hex_is(const uint8_t key[32], const char *hex)
{
	char buf[TS_KEY_HEX_LEN];

	ts_key_to_hex(buf, key);
	return !strcmp(buf, hex);
}

static bool endpoint_is(const union ts_endpoint *ep, const char *text)
{
	char buf[TS_ENDPOINT_STRLEN];

	return !strcmp(ts_endpoint_str(ep, buf), text);
}

static bool aip_is(const struct ts_allowedip *a, const char *text)
{
	struct ts_allowedip want;

	if (ts_allowedip_parse(&want, text, true))
		return false;
	return a->family == want.family && a->cidr == want.cidr &&
	       !memcmp(a->addr, want.addr, a->family == AF_INET ? 4 : 16);
}

/* Equality of everything a set request carries. */
static bool config_equal(const struct ts_config *a, const struct ts_config *b)
{
	if (a->flags != b->flags || memcmp(a->private_key, b->private_key, 32) ||
	    a->listen_port != b->listen_port || a->fwmark != b->fwmark || a->n_peers != b->n_peers)
		return false;
	for (size_t i = 0; i < a->n_peers; i++) {
		const struct ts_peer_config *p = &a->peers[i], *q = &b->peers[i];

		if (p->flags != q->flags || memcmp(p->public_key, q->public_key, 32) ||
		    memcmp(p->preshared_key, q->preshared_key, 32) ||
		    p->persistent_keepalive != q->persistent_keepalive ||
		    !ts_endpoint_equal(&p->endpoint, &q->endpoint) ||
		    p->n_allowedips != q->n_allowedips)
			return false;
		for (size_t j = 0; j < p->n_allowedips; j++)
			if (p->allowedips[j].family != q->allowedips[j].family ||
			    p->allowedips[j].cidr != q->allowedips[j].cidr ||
			    p->allowedips[j].remove != q->allowedips[j].remove ||
			    memcmp(p->allowedips[j].addr, q->allowedips[j].addr, 16))
				return false;
	}
	return true;
}

static void check_peer1(const struct ts_config *c)
{
	CHECK(c->flags == (TS_DEV_HAS_PRIVATE_KEY | TS_DEV_HAS_LISTEN_PORT | TS_DEV_REPLACE_PEERS));
	CHECK(key_hex_is(c->private_key, PEER1_PRIV_HEX));
	CHECK(c->listen_port == 51820);
	CHECK(c->fwmark == 0);
	CHECK(c->n_peers == 1);
	if (c->n_peers != 1)
		return;
	const struct ts_peer_config *p = &c->peers[0];
	CHECK(p->flags == (TS_PEER_HAS_PUBLIC_KEY | TS_PEER_REPLACE_ALLOWEDIPS |
			   TS_PEER_HAS_ENDPOINT | TS_PEER_HAS_KEEPALIVE));
	CHECK(key_hex_is(p->public_key, PEER2_PUB_HEX));
	CHECK(endpoint_is(&p->endpoint, "10.10.0.12:51820"));
	CHECK(p->persistent_keepalive == 15);
	CHECK(p->n_allowedips == 1);
	if (p->n_allowedips == 1) {
		CHECK(aip_is(&p->allowedips[0], "10.0.0.2/32"));
		CHECK(!p->allowedips[0].remove);
	}
}

static void test_seed(void)
{
	struct ts_config c;
	char err[256];

	/* As a socket request body and as an --ipc file. */
	CHECK(parse(peer1_ipc, 0, &c, err, sizeof(err)) == 0);
	check_peer1(&c);
	ts_config_free(&c);
	CHECK(c.peers == NULL && c.n_peers == 0 && ts_key_is_zero(c.private_key));
	CHECK(parse(peer1_ipc, TS_PARSE_FILE, &c, err, sizeof(err)) == 0);
	check_peer1(&c);
	ts_config_free(&c);

	CHECK(parse(peer2_ipc, TS_PARSE_FILE, &c, err, sizeof(err)) == 0);
	CHECK(key_hex_is(c.private_key,
			 "80aad15bee3126936dd5784d704cea7110b52826ad9c4b0c2cbfa86c49f97470"));
	CHECK(c.listen_port == 51820 && (c.flags & TS_DEV_REPLACE_PEERS));
	CHECK(c.n_peers == 1);
	if (c.n_peers == 1) {
		CHECK(
		    key_hex_is(c.peers[0].public_key,
			       "390affb161f08eb900700065b69c2edb7aea5c83d6d7f45b936c6abbc2333921"));
		CHECK(endpoint_is(&c.peers[0].endpoint, "10.10.0.11:51820"));
		CHECK(c.peers[0].n_allowedips == 1 &&
		      aip_is(&c.peers[0].allowedips[0], "10.0.0.1/32"));
		CHECK(c.peers[0].persistent_keepalive == 15);
	}
	ts_config_free(&c);

	/* The committed example files are the seed's text. */
	FILE *f = fopen(repo_file("configs/peer1.ipc"), "r");
	CHECK(f != NULL);
	if (f) {
		char buf[1024];
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);

		buf[n] = '\0';
		fclose(f);
		CHECK(!strcmp(buf, peer1_ipc));
	}
}

static void test_file_mode(void)
{
	static const char text[] = "set=1\r\n"
				   "# generated by hand\n"
				   "\n"
				   "private_key=" PEER1_PRIV_HEX "\r\n"
				   "listen_port=51820\n"
				   "replace_peers=true\n"
				   "   \n"
				   "# the peer\n"
				   "public_key=" PEER2_PUB_HEX "\n"
				   "replace_allowed_ips=true\n"
				   "endpoint=10.10.0.12:51820\n"
				   "allowed_ip=10.0.0.2/32\n"
				   "persistent_keepalive_interval=15";
	struct ts_config c;
	char err[256];
	int ret;

	/* "   " is not blank: a line of spaces has no '='. */
	ret = parse(text, TS_PARSE_FILE, &c, err, sizeof(err));
	CHECK(ret == -EINVAL && strstr(err, "line 7:"));
	char *fixed = strdup(text);
	char *sp = strstr(fixed, "   \n");
	memcpy(sp, "#  ", 3);
	ret = parse(fixed, TS_PARSE_FILE, &c, err, sizeof(err));
	CHECK(ret == 0);
	if (!ret)
		check_peer1(&c);
	ts_config_free(&c);
	/* Outside a file, comments, blank lines and set=1 are not accepted. */
	CHECK(parse(fixed, 0, &c, err, sizeof(err)) == -EPROTO && strstr(err, "line 1: set"));
	CHECK(parse("listen_port=1\n\nfwmark=1\n", 0, &c, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "line 2:"));
	CHECK(parse("listen_port=1\n# c\n", 0, &c, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "line 2:"));
	/* set=1 only once, only first, only "1". */
	CHECK(parse("set=2\n", TS_PARSE_FILE, &c, err, sizeof(err)) == -EINVAL);
	CHECK(parse("listen_port=1\nset=1\n", TS_PARSE_FILE, &c, err, sizeof(err)) == -EPROTO);
	CHECK(parse("", 0, &c, err, sizeof(err)) == 0 && c.flags == 0 && c.n_peers == 0);
	free(fixed);
}

struct bad_case {
	const char *text;
	int ret;
	const char *msg; /* must appear in the message */
};

static void test_errors(void)
{
	static const struct bad_case cases[] = {
	    {"private_key=zz9d7dc175dff8461ac1e6bee76a2dd44982de2b1d3f0121450840eea22c6a58",
	     -EINVAL, "line 1: private_key: expected 64"},
	    {"private_key=909D7DC175DFF8461AC1E6BEE76A2DD44982DE2B1D3F0121450840EEA22C6A58",
	     -EINVAL, "line 1: private_key:"},
	    {"private_key=909d7dc175dff8461ac1e6bee76a2dd44982de2b1d3f0121450840eea22c6a5", -EINVAL,
	     "line 1: private_key:"},
	    {"listen_port=1\nprivate_key=" PEER1_PRIV_HEX "0", -EINVAL, "line 2: private_key:"},
	    {"private_key= " PEER1_PRIV_HEX, -EINVAL, "line 1: private_key:"},
	    {"listen_port=65536", -EINVAL, "line 1: listen_port:"},
	    {"listen_port=-1", -EINVAL, "line 1: listen_port:"},
	    {"listen_port=", -EINVAL, "line 1: listen_port:"},
	    {"listen_port=+5", -EINVAL, "line 1: listen_port:"},
	    {"listen_port=5 ", -EINVAL, "line 1: listen_port:"},
	    {"listen_port=99999999999999999999999", -EINVAL, "line 1: listen_port:"},
	    {"fwmark=4294967296", -EINVAL, "line 1: fwmark:"},
	    {"fwmark=0x10", -EINVAL, "line 1: fwmark:"},
	    {"replace_peers=false", -EINVAL, "line 1: replace_peers: expected 'true'"},
	    {"replace_peers=1", -EINVAL, "line 1: replace_peers:"},
	    {"replace_peers=True", -EINVAL, "line 1: replace_peers:"},
	    {"public_key=" PK_A "\nremove=yes", -EINVAL, "line 2: remove:"},
	    {"public_key=" PK_A "\nupdate_only=TRUE", -EINVAL, "line 2: update_only:"},
	    {"public_key=" PK_A "\nreplace_allowed_ips=false", -EINVAL,
	     "line 2: replace_allowed_ips:"},
	    {"public_key=" PK_A "\npersistent_keepalive_interval=65536", -EINVAL,
	     "line 2: persistent_keepalive_interval:"},
	    {"public_key=" PK_A "\nprotocol_version=2", -EINVAL, "line 2: protocol_version:"},
	    {"public_key=" PK_A "\nprotocol_version=", -EINVAL, "line 2: protocol_version:"},
	    {"public_key=" PK_A "\nendpoint=1.2.3.4", -EINVAL, "line 2: endpoint:"},
	    {"public_key=" PK_A "\nendpoint=::1:5", -EINVAL, "line 2: endpoint:"},
	    {"public_key=" PK_A "\nendpoint=example.com:5", -EINVAL, "line 2: endpoint:"},
	    {"public_key=" PK_A "\nallowed_ip=10.0.0.1", -EINVAL, "line 2: allowed_ip:"},
	    {"public_key=" PK_A "\nallowed_ip=10.0.0.1/33", -EINVAL, "line 2: allowed_ip:"},
	    {"public_key=" PK_A "\nallowed_ip=fd00::/129", -EINVAL, "line 2: allowed_ip:"},
	    {"public_key=" PK_A "\nallowed_ip=10.0.0.1/", -EINVAL, "line 2: allowed_ip:"},
	    {"public_key=" PK_A "\nallowed_ip=10.0.0/8", -EINVAL, "line 2: allowed_ip:"},
	    {"public_key=" PK_A "\npreshared_key=abc", -EINVAL, "line 2: preshared_key:"},
	    {"public_key=" PK_A "\nlisten_port=1", -EINVAL,
	     "line 2: listen_port: interface key after the first public_key"},
	    {"public_key=" PK_A "\nprivate_key=" PEER1_PRIV_HEX, -EINVAL, "line 2: private_key:"},
	    {"public_key=" PK_A "\nreplace_peers=true", -EINVAL, "line 2: replace_peers:"},
	    {"endpoint=1.2.3.4:5", -EINVAL, "line 1: endpoint: peer key before any public_key"},
	    {"foo=bar", -EPROTO, "line 1: foo: unknown key"},
	    {"public_key=" PK_A "\nfoo=bar", -EPROTO, "line 2: foo: unknown key"},
	    {"public_key=" PK_A "\nrx_bytes=5", -EPROTO, "line 2: rx_bytes: unknown key"},
	    {"Listen_port=1", -EPROTO, "line 1: Listen_port:"},
	    {"listen_port", -EINVAL, "line 1: expected key=value"},
	    {"=5", -EINVAL, "line 1: expected key=value"},
	    {"public_key=xyz", -EINVAL, "line 1: public_key:"},
	    {"public_key=" PK_A "\npublic_key=" PK_B "\npublic_key=" PK_A
	     "\nremove=true\npublic_key=" PK_A,
	     -EINVAL, "line 5: public_key: peer repeated after remove=true"},
	    {"public_key=" PK_A "\nupdate_only=true\npublic_key=" PK_A, -EINVAL,
	     "line 3: public_key:"},
	};
	struct ts_config c;
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = parse(cases[i].text, 0, &c, err, sizeof(err));

		if (ret != cases[i].ret || !strstr(err, cases[i].msg)) {
			fprintf(stderr, "case %zu: got %d '%s', want %d '%s'\n", i, ret, err,
				cases[i].ret, cases[i].msg);
			failures++;
		}
		/* A failed parse leaves nothing behind. */
		CHECK(c.n_peers == 0 && c.peers == NULL && c.flags == 0);
		/* No key value ever appears in a message. */
		CHECK(!strstr(err, "909d7dc175dff") && !strstr(err, "909D7DC175DFF"));
		CHECK(!strstr(err, "1111111111"));
	}
	/* The message names the line, also deep in a request. */
	CHECK(parse("listen_port=1\nfwmark=2\npublic_key=" PK_A "\nallowed_ip=1.2.3.4/32\n"
		    "allowed_ip=bad\n",
		    0, &c, err, sizeof(err)) == -EINVAL &&
	      !strcmp(err, "line 5: allowed_ip: expected IP/CIDR, got 'bad'"));

	/* Overlong line, embedded NUL. */
	char *longl = malloc(3000);
	memset(longl, 'a', 2999);
	longl[2999] = '\0';
	memcpy(longl, "listen_port=1\nfoo=", 18);
	CHECK(parse(longl, 0, &c, err, sizeof(err)) == -EINVAL && strstr(err, "line 2:"));
	free(longl);
	static const char nul[] = "listen_port=1\nfwmark=1\0\nx=y\n";
	CHECK(ts_config_parse_uapi(nul, sizeof(nul) - 1, 0, &c, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "line 2:"));
	/* A tiny or absent error buffer is fine. */
	CHECK(parse("foo=bar", 0, &c, err, 5) == -EPROTO && strlen(err) == 4);
	CHECK(parse("foo=bar", 0, &c, NULL, 0) == -EPROTO);
	/* Boundaries that are valid. */
	CHECK(parse("listen_port=65535\nfwmark=4294967295\npublic_key=" PK_A
		    "\npersistent_keepalive_interval=65535\nprotocol_version=1\n",
		    0, &c, err, sizeof(err)) == 0);
	CHECK(c.listen_port == 65535 && c.fwmark == 4294967295U && c.n_peers == 1 &&
	      c.peers[0].persistent_keepalive == 65535 && c.peers[0].protocol_version == 1);
	ts_config_free(&c);
	CHECK(parse("listen_port=0\nfwmark=0\n", 0, &c, err, sizeof(err)) == 0);
	CHECK(c.flags == (TS_DEV_HAS_LISTEN_PORT | TS_DEV_HAS_FWMARK) && c.fwmark == 0);
	ts_config_free(&c);
	/* An all-zero private key means "remove it". */
	CHECK(parse("private_key=0000000000000000000000000000000000000000000000000000000000000000",
		    0, &c, err, sizeof(err)) == 0);
	CHECK((c.flags & TS_DEV_HAS_PRIVATE_KEY) && ts_key_is_zero(c.private_key));
	ts_config_free(&c);
}

static void test_peer_semantics(void)
{
	struct ts_config c;
	char err[256];
	int ret;

	ret = parse("public_key=" PK_A "\nallowed_ip=-10.0.0.0/8\nallowed_ip=10.1.2.3/8\n"
		    "allowed_ip=fd00::1/64\nupdate_only=true\n",
		    0, &c, err, sizeof(err));
	CHECK(ret == 0 && c.n_peers == 1);
	if (!ret) {
		struct ts_peer_config *p = &c.peers[0];

		CHECK(p->flags == (TS_PEER_HAS_PUBLIC_KEY | TS_PEER_UPDATE_ONLY));
		CHECK(p->n_allowedips == 3);
		CHECK(p->allowedips[0].remove && aip_is(&p->allowedips[0], "10.0.0.0/8"));
		/* Host bits are kept as given; the trie masks them. */
		CHECK(!p->allowedips[1].remove && aip_is(&p->allowedips[1], "10.1.2.3/8"));
		CHECK(p->allowedips[2].family == AF_INET6 && p->allowedips[2].cidr == 64);
	}
	ts_config_free(&c);

	/* remove=true */
	CHECK(parse("public_key=" PK_A "\nremove=true\n", 0, &c, err, sizeof(err)) == 0);
	CHECK(c.n_peers == 1 && c.peers[0].flags == (TS_PEER_HAS_PUBLIC_KEY | TS_PEER_REMOVE_ME));
	ts_config_free(&c);

	/* replace_allowed_ips=true drops the prefixes listed before it in the block. */
	CHECK(parse("public_key=" PK_A "\nallowed_ip=1.1.1.1/32\nreplace_allowed_ips=true\n"
		    "allowed_ip=2.2.2.2/32\n",
		    0, &c, err, sizeof(err)) == 0);
	CHECK(c.peers[0].n_allowedips == 1 && aip_is(&c.peers[0].allowedips[0], "2.2.2.2/32"));
	ts_config_free(&c);

	/* Repeated keys merge into the first entry, later fields win. */
	ret = parse("public_key=" PK_A "\nallowed_ip=1.1.1.1/32\nendpoint=1.2.3.4:1\n"
		    "public_key=" PK_B "\nallowed_ip=3.3.3.3/32\n"
		    "public_key=" PK_A "\nallowed_ip=2.2.2.2/32\nendpoint=[::1]:2\n"
		    "persistent_keepalive_interval=25\n",
		    0, &c, err, sizeof(err));
	CHECK(ret == 0 && c.n_peers == 2);
	if (!ret && c.n_peers == 2) {
		CHECK(key_hex_is(c.peers[0].public_key, PK_A));
		CHECK(key_hex_is(c.peers[1].public_key, PK_B));
		CHECK(c.peers[0].n_allowedips == 2);
		CHECK(aip_is(&c.peers[0].allowedips[1], "2.2.2.2/32"));
		CHECK(endpoint_is(&c.peers[0].endpoint, "[::1]:2"));
		CHECK(c.peers[0].persistent_keepalive == 25);
		CHECK(c.peers[1].n_allowedips == 1);
	}
	ts_config_free(&c);
	ret = parse("public_key=" PK_A "\nallowed_ip=1.1.1.1/32\npublic_key=" PK_A
		    "\nreplace_allowed_ips=true\nallowed_ip=2.2.2.2/32\n",
		    0, &c, err, sizeof(err));
	CHECK(ret == 0 && c.n_peers == 1 && c.peers[0].n_allowedips == 1 &&
	      (c.peers[0].flags & TS_PEER_REPLACE_ALLOWEDIPS));
	ts_config_free(&c);
	ret =
	    parse("public_key=" PK_A "\nallowed_ip=1.1.1.1/32\npublic_key=" PK_A "\nremove=true\n",
		  0, &c, err, sizeof(err));
	CHECK(ret == 0 && c.n_peers == 1 && c.peers[0].n_allowedips == 0 &&
	      c.peers[0].flags == (TS_PEER_HAS_PUBLIC_KEY | TS_PEER_REMOVE_ME));
	ts_config_free(&c);
}

static char *repeat_lines(size_t n, const char *head, const char *(*line)(size_t, char *))
{
	size_t cap = strlen(head) + n * 96 + 1, len = 0;
	char *text = malloc(cap), buf[96];

	len += (size_t)snprintf(text, cap, "%s", head);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len, "%s\n", line(i, buf));
	return text;
}

static const char *peer_line(size_t i, char *buf)
{
	snprintf(buf, 96, "public_key=%064zx", i);
	return buf;
}

static const char *aip_line(size_t i, char *buf)
{
	snprintf(buf, 96, "allowed_ip=10.%zu.%zu.%zu/32", (i >> 16) & 255, (i >> 8) & 255, i & 255);
	return buf;
}

/*
 * No count limit but memory: more than 65536 peers, and one peer with the
 * 130,560 prefixes WireGuard's own tests use to make UAPI split replies,
 * parse and format back whole.
 */
static void test_limits(void)
{
	enum { PEERS = 65537, AIPS = 130560 };
	struct ts_config c;
	char err[256], *text, *out;
	size_t len = 0, lines = 0;

	text = repeat_lines(PEERS, "", peer_line);
	CHECK(parse(text, 0, &c, err, sizeof(err)) == 0 && c.n_peers == PEERS);
	ts_config_free(&c);
	free(text);
	text = repeat_lines(AIPS, "public_key=" PK_A "\n", aip_line);
	CHECK(parse(text, 0, &c, err, sizeof(err)) == 0 && c.n_peers == 1 &&
	      c.peers[0].n_allowedips == AIPS);
	free(text);
	out = ts_config_format_uapi(&c, &len);
	CHECK(out && strlen(out) == len);
	for (size_t i = 0; out && i < len; i++)
		lines += !strncmp(out + i, "allowed_ip=", 11) && (i == 0 || out[i - 1] == '\n');
	CHECK(lines == AIPS);
	/* 130559 = 0x1fdff: the last line, after its neighbour. */
	static const char tail[] = "allowed_ip=10.1.253.254/32\nallowed_ip=10.1.253.255/32\n";
	CHECK(out && len > strlen(tail) && !strcmp(out + len - strlen(tail), tail));
	ts_config_free_text(out, len);
	ts_config_free(&c);
}

static void test_roundtrip(void)
{
	static const char text[] =
	    "private_key=" PEER1_PRIV_HEX "\nlisten_port=51820\nfwmark=7\n"
	    "public_key=" PEER2_PUB_HEX "\n"
	    "preshared_key=0101010101010101010101010101010101010101010101010101010101010101\n"
	    "endpoint=[fe80::1%1]:51820\npersistent_keepalive_interval=15\n"
	    "allowed_ip=10.0.0.2/32\nallowed_ip=fd00::2/128\nallowed_ip=0.0.0.0/0\n"
	    "public_key=" PK_A "\nendpoint=10.10.0.13:1\nallowed_ip=10.0.0.3/32\n"
	    "public_key=" PK_B "\n";
	struct ts_config a, b;
	char err[256], lo[IF_NAMESIZE];
	size_t len = 0;
	char *out;

	CHECK(parse(text, 0, &a, err, sizeof(err)) == 0);
	a.peers[0].rx_bytes = 1234;
	a.peers[0].tx_bytes = 5678;
	a.peers[0].last_handshake_sec = 1700000000;
	a.peers[0].last_handshake_nsec = 42;
	out = ts_config_format_uapi(&a, &len);
	CHECK(out && strlen(out) == len);
	if (!out)
		return;
	CHECK(!strncmp(
	    out, "private_key=" PEER1_PRIV_HEX "\nlisten_port=51820\nfwmark=7\npublic_key=",
	    strlen("private_key=" PEER1_PRIV_HEX "\nlisten_port=51820\nfwmark=7\npublic_key=")));
	CHECK(!strstr(out, "errno"));
	CHECK(!strstr(out, "replace"));
	/* The exact order `wg` and wireguard-go use. */
	char want[1024];
	snprintf(want, sizeof(want),
		 "public_key=" PEER2_PUB_HEX "\n"
		 "preshared_key=0101010101010101010101010101010101010101010101010101010101010101\n"
		 "protocol_version=1\nendpoint=[fe80::1%%%s]:51820\n"
		 "last_handshake_time_sec=1700000000\nlast_handshake_time_nsec=42\n"
		 "tx_bytes=5678\nrx_bytes=1234\npersistent_keepalive_interval=15\n"
		 "allowed_ip=10.0.0.2/32\nallowed_ip=fd00::2/128\nallowed_ip=0.0.0.0/0\n"
		 "public_key=" PK_A "\nprotocol_version=1\nendpoint=10.10.0.13:1\n",
		 if_indextoname(1, lo) ? lo : "1");
	CHECK(strstr(out, want) != NULL);
	CHECK(out[len - 1] == '\n');

	CHECK(ts_config_parse_uapi(out, len, TS_PARSE_GET, &b, err, sizeof(err)) == 0);
	CHECK(b.n_peers == 3);
	if (b.n_peers == 3) {
		CHECK(b.peers[0].rx_bytes == 1234 && b.peers[0].tx_bytes == 5678);
		CHECK(b.peers[0].last_handshake_sec == 1700000000 &&
		      b.peers[0].last_handshake_nsec == 42);
		CHECK(b.peers[0].protocol_version == 1);
	}
	/* The get reply carries no set-only flags: add them back and compare the rest. */
	b.flags |= TS_DEV_HAS_PRIVATE_KEY;
	for (size_t i = 0; i < b.n_peers && i < a.n_peers; i++) {
		b.peers[i].flags |= a.peers[i].flags & TS_PEER_HAS_KEEPALIVE;
		a.peers[i].flags |= TS_PEER_HAS_KEEPALIVE;
		b.peers[i].flags |= TS_PEER_HAS_KEEPALIVE;
	}
	CHECK(config_equal(&a, &b));

	/* And again: format(parse(format(x))) == format(x). */
	size_t len2 = 0;
	char *out2 = ts_config_format_uapi(&b, &len2);
	CHECK(out2 && len2 == len && !memcmp(out, out2, len));
	ts_config_free_text(out2, len2);
	ts_config_free_text(out, len);
	ts_config_free(&b);

	/* The seed text: parse -> format -> parse gives the same model. */
	ts_config_free(&a);
	CHECK(parse(peer1_ipc, 0, &a, err, sizeof(err)) == 0);
	out = ts_config_format_uapi(&a, &len);
	CHECK(out && ts_config_parse_uapi(out, len, TS_PARSE_GET, &b, err, sizeof(err)) == 0);
	b.flags |= TS_DEV_REPLACE_PEERS;
	if (b.n_peers == 1)
		b.peers[0].flags |= TS_PEER_REPLACE_ALLOWEDIPS;
	CHECK(config_equal(&a, &b));
	ts_config_free_text(out, len);
	ts_config_free(&a);
	ts_config_free(&b);

	/* An empty model formats to nothing. */
	ts_config_init(&a);
	out = ts_config_format_uapi(&a, &len);
	CHECK(out && len == 0 && out[0] == '\0');
	ts_config_free_text(out, len);
}

static char tmpdir[] = "/tmp/test_config.XXXXXX";

static const char *write_tmp(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	return path;
}

static int load(const char *text, unsigned flags, struct ts_config *c, struct ts_ini_extras *x,
		char *err, size_t errlen)
{
	return ts_config_load_ini(write_tmp("t.conf", text), flags, c, x, err, errlen);
}

static const char peer1_conf[] = "# peer1, as `wg showconf` would print it\n"
				 "[Interface]\n"
				 "PrivateKey = " PEER1_PRIV_B64 "\n"
				 "ListenPort = 51820\n"
				 "\n"
				 "[Peer]\n"
				 "PublicKey = " PEER2_PUB_B64 "   # peer2\n"
				 "Endpoint = 10.10.0.12:51820\n"
				 "AllowedIPs = 10.0.0.2/32\n"
				 "PersistentKeepalive = 15\n";

static void test_ini(void)
{
	struct ts_config c, ipc;
	struct ts_ini_extras x;
	char err[512];
	int ret;

	CHECK(parse(peer1_ipc, 0, &ipc, err, sizeof(err)) == 0);
	ret = load(peer1_conf, 0, &c, NULL, err, sizeof(err));
	CHECK(ret == 0);
	if (ret)
		fprintf(stderr, "%s\n", err);
	check_peer1(&c);
	CHECK(config_equal(&c, &ipc));
	ts_config_free(&c);

	/* The committed example is the same configuration. */
	ret = ts_config_load_ini(repo_file("configs/peer1.conf"), 0, &c, NULL, err, sizeof(err));
	CHECK(ret == 0 && config_equal(&c, &ipc));
	ts_config_free(&c);
	ts_config_free(&ipc);
	CHECK(parse(peer2_ipc, 0, &ipc, err, sizeof(err)) == 0);
	ret = ts_config_load_ini(repo_file("configs/peer2.conf"), 0, &c, NULL, err, sizeof(err));
	CHECK(ret == 0 && config_equal(&c, &ipc));
	ts_config_free(&c);
	ts_config_free(&ipc);

	/* Host name endpoint, lists, case-insensitive names, off values, hex fwmark. */
	ret = load("[interface]\nprivatekey=" PEER1_PRIV_B64 "\nFwMark = 0x10\n"
		   "[PEER]\nPublicKey=" PEER2_PUB_B64 "\nEndpoint = localhost:51820\n"
		   "AllowedIPs = 10.0.0.2/32, fd00::2/128\nAllowedIPs = 10.9.0.0/16,192.168.1.1\n"
		   "PersistentKeepalive = off\nPresharedKey = " PEER2_PUB_B64 "\n",
		   0, &c, NULL, err, sizeof(err));
	CHECK(ret == 0);
	if (!ret) {
		struct ts_peer_config *p = &c.peers[0];

		CHECK(c.fwmark == 16 && (c.flags & TS_DEV_HAS_FWMARK));
		CHECK(!(c.flags & TS_DEV_HAS_LISTEN_PORT));
		CHECK(endpoint_is(&p->endpoint, "127.0.0.1:51820") ||
		      endpoint_is(&p->endpoint, "[::1]:51820"));
		CHECK(p->n_allowedips == 4);
		CHECK(p->n_allowedips == 4 && aip_is(&p->allowedips[0], "10.0.0.2/32") &&
		      aip_is(&p->allowedips[1], "fd00::2/128") &&
		      aip_is(&p->allowedips[2], "10.9.0.0/16") &&
		      aip_is(&p->allowedips[3], "192.168.1.1/32"));
		CHECK((p->flags & TS_PEER_HAS_KEEPALIVE) && p->persistent_keepalive == 0);
		CHECK((p->flags & TS_PEER_HAS_PRESHARED_KEY) &&
		      key_hex_is(p->preshared_key, PEER2_PUB_HEX));
	} else {
		fprintf(stderr, "%s\n", err);
	}
	ts_config_free(&c);
	CHECK(load("[Peer]\nPublicKey=" PEER2_PUB_B64 "\nEndpoint=localhost:1\n", TS_INI_NO_DNS, &c,
		   NULL, err, sizeof(err)) == -EINVAL);

	/* A line longer than inih's 200-byte buffer. */
	char longl[4096] = "[Peer]\nPublicKey=" PEER2_PUB_B64 "\nAllowedIPs = 10.0.0.0/32";
	for (int i = 1; i < 100; i++)
		snprintf(longl + strlen(longl), sizeof(longl) - strlen(longl), ", 10.0.0.%d/32", i);
	strcat(longl, "\nPersistentKeepalive=5\n");
	ret = load(longl, 0, &c, NULL, err, sizeof(err));
	CHECK(ret == 0 && c.n_peers == 1 && c.peers[0].n_allowedips == 100 &&
	      c.peers[0].persistent_keepalive == 5);
	ts_config_free(&c);

	/* wg-quick keys: rejected by default, accepted (and Address/MTU returned) on request. */
	static const char quick[] =
	    "[Interface]\nPrivateKey=" PEER1_PRIV_B64 "\n"
	    "Address = 10.0.0.1/24, fd00::1/64\nDNS = 1.1.1.1\nMTU = 1420\n"
	    "Table = off\nPostUp = echo up # with a comment\nSaveConfig = true\n"
	    "[Peer]\nPublicKey=" PEER2_PUB_B64 "\n";
	ret = load(quick, 0, &c, &x, err, sizeof(err));
	CHECK(ret == -EPROTO && strstr(err, "t.conf:3: key 'Address'"));
	CHECK(x.n_addresses == 0 && x.addresses == NULL);
	ret = load(quick, TS_INI_ALLOW_QUICK, &c, &x, err, sizeof(err));
	CHECK(ret == 0 && x.n_addresses == 2 && x.mtu == 1420);
	if (!ret && x.n_addresses == 2) {
		CHECK(!strcmp(x.addresses[0], "10.0.0.1/24"));
		CHECK(!strcmp(x.addresses[1], "fd00::1/64"));
		CHECK(c.n_peers == 1);
	}
	ts_config_free(&c);
	ts_ini_extras_free(&x);
	CHECK(load(quick, TS_INI_ALLOW_QUICK, &c, NULL, err, sizeof(err)) == 0);
	ts_config_free(&c);
	CHECK(load("[Interface]\nMTU=10\n", TS_INI_ALLOW_QUICK, &c, &x, err, sizeof(err)) ==
		  -EINVAL &&
	      strstr(err, "t.conf:2: key 'MTU'"));

	/* Two [Peer] blocks with the same key: like setconf, the second replaces the allowed IPs.
	 */
	ret = load("[Peer]\nPublicKey=" PEER2_PUB_B64 "\nAllowedIPs=1.1.1.1/32\n[Peer]\n[pEER]\n",
		   0, &c, NULL, err, sizeof(err));
	CHECK(ret == -EINVAL && strstr(err, "t.conf:4: [Peer] section without a PublicKey"));
	ret = load("[Peer]\nPublicKey=" PEER2_PUB_B64 "\nAllowedIPs=1.1.1.1/32\n"
		   "[Peer]\nPublicKey=" PEER1_PRIV_B64 "\n"
		   "[Peer]\nAllowedIPs=2.2.2.2/32\nPublicKey=" PEER2_PUB_B64 "\n",
		   0, &c, NULL, err, sizeof(err));
	CHECK(ret == 0 && c.n_peers == 2 && c.peers[0].n_allowedips == 1 &&
	      aip_is(&c.peers[0].allowedips[0], "2.2.2.2/32"));
	ts_config_free(&c);

	/* Errors: file:line, key, what was expected; never a key's value. */
	static const struct bad_case bad[] = {
	    {"[Interface]\nPrivateKey = " PEER1_PRIV_B64 "x\n", -EINVAL,
	     "t.conf:2: key 'PrivateKey': expected a base64 key"},
	    {"[Interface]\nPrivateKey = kJ19wXXf+EYawea+52ot1EmC3isdPwEhRQhA7qIsalh=\n", -EINVAL,
	     "t.conf:2: key 'PrivateKey'"},
	    {"[Interface]\n\n\nFoo = 1\n", -EPROTO,
	     "t.conf:4: key 'Foo': unknown key in [Interface]"},
	    {"[Interface]\nPublicKey=" PEER2_PUB_B64 "\n", -EPROTO, "t.conf:2: key 'PublicKey'"},
	    {"[Peer]\nListenPort=1\n", -EPROTO, "t.conf:2: key 'ListenPort'"},
	    {"[Interface]\n[Peers]\n", -EPROTO, "t.conf:2: unknown section '[Peers]'"},
	    {"[Interface\n", -EINVAL, "t.conf:1:"},
	    {"ListenPort = 1\n", -EINVAL, "t.conf:1: key 'ListenPort': outside any"},
	    {"[Interface]\nListenPort : 1\n", -EINVAL, "t.conf:2: expected Key = Value"},
	    {"[Interface]\nListenPort\n", -EINVAL, "t.conf:2: expected Key = Value"},
	    {"[Interface]\nListenPort = 65536\n", -EINVAL, "t.conf:2: key 'ListenPort': expected"},
	    {"[Interface]\nFwMark = on\n", -EINVAL, "t.conf:2: key 'FwMark'"},
	    {"[Peer]\nPublicKey=" PEER2_PUB_B64 "\nAllowedIPs = 10.0.0.1/32,,10.0.0.2/32\n",
	     -EINVAL, "t.conf:3: key 'AllowedIPs'"},
	    {"[Peer]\nPublicKey=" PEER2_PUB_B64 "\nAllowedIPs = 10.0.0.1/40\n", -EINVAL,
	     "t.conf:3: key 'AllowedIPs': expected a comma list of IP/CIDR, got '10.0.0.1/40'"},
	    {"[Peer]\nPublicKey=" PEER2_PUB_B64 "\nEndpoint = 1.2.3.4\n", -EINVAL,
	     "t.conf:3: key 'Endpoint'"},
	    {"[Peer]\nPublicKey=" PEER2_PUB_B64 "\nEndpoint = 1.2.3.4:70000\n", -EINVAL,
	     "t.conf:3: key 'Endpoint'"},
	    {"[Peer]\nPublicKey=" PEER2_PUB_B64 "\nEndpoint = no-such-host.invalid:5\n",
	     -EHOSTUNREACH, "t.conf:3: key 'Endpoint': cannot resolve 'no-such-host.invalid'"},
	    {"[Peer]\nPublicKey=" PEER2_PUB_B64 "\nPersistentKeepalive = -1\n", -EINVAL,
	     "t.conf:3: key 'PersistentKeepalive'"},
	    {"[Peer]\nPresharedKey=" PEER1_PRIV_B64 "x\nPublicKey=" PEER2_PUB_B64 "\n", -EINVAL,
	     "t.conf:2: key 'PresharedKey'"},
	    {"[Peer]\nEndpoint=1.2.3.4:5\n", -EINVAL,
	     "t.conf:1: [Peer] section without a PublicKey"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ret = load(bad[i].text, 0, &c, &x, err, sizeof(err));
		if (ret != bad[i].ret || !strstr(err, bad[i].msg)) {
			fprintf(stderr, "ini case %zu: got %d '%s', want %d '%s'\n", i, ret, err,
				bad[i].ret, bad[i].msg);
			failures++;
		}
		CHECK(c.n_peers == 0 && c.flags == 0 && x.n_addresses == 0);
		CHECK(!strstr(err, "kJ19wXXf") && !strstr(err, PEER1_PRIV_B64));
	}
	/* A NUL byte in the file. */
	static const char nul[] = "[Interface]\nListenPort=1\0\n";
	ret =
	    ts_config_parse_ini_string(nul, sizeof(nul) - 1, "mem", 0, &c, NULL, err, sizeof(err));
	CHECK(ret == -EINVAL && strstr(err, "mem:2:"));
	/* A missing file. */
	ret = ts_config_load_ini("/nonexistent/x.conf", 0, &c, NULL, err, sizeof(err));
	CHECK(ret == -ENOENT && strstr(err, "/nonexistent/x.conf"));
	/* An empty file is an empty setconf: remove every peer. */
	ret = load("# nothing\n", 0, &c, NULL, err, sizeof(err));
	CHECK(ret == 0 && c.flags == TS_DEV_REPLACE_PEERS && c.n_peers == 0);
	ts_config_free(&c);
}

static void test_keys(void)
{
	uint8_t k[32], k2[32];
	char hex[TS_KEY_HEX_LEN], b64[TS_KEY_BASE64_LEN];

	for (int i = 0; i < 1000; i++) {
		randombytes_buf(k, sizeof(k));
		ts_key_to_hex(hex, k);
		CHECK(strlen(hex) == 64 && ts_key_from_hex(k2, hex) && !memcmp(k, k2, 32));
		ts_key_to_base64(b64, k);
		CHECK(strlen(b64) == 44 && b64[43] == '=');
		CHECK(ts_key_from_base64(k2, b64) && !memcmp(k, k2, 32));
		CHECK(ts_key_equal(k, k2));
	}
	/* Known answer: the seed's private key in both spellings. */
	CHECK(ts_key_from_base64(k, PEER1_PRIV_B64) && key_hex_is(k, PEER1_PRIV_HEX));
	ts_key_to_base64(b64, k);
	CHECK(!strcmp(b64, PEER1_PRIV_B64));

	static const char *bad_hex[] = {
	    "",
	    PEER1_PRIV_HEX "0",
	    "909d7dc175dff8461ac1e6bee76a2dd44982de2b1d3f0121450840eea22c6a5",
	    "g09d7dc175dff8461ac1e6bee76a2dd44982de2b1d3f0121450840eea22c6a58",
	    "909d7dc175dff8461ac1e6bee76a2dd44982de2b1d3f0121450840eea22c6a5F",
	    "909d7dc175dff8461ac1e6bee76a2dd44982de2b1d3f0121450840eea22c6a5 ",
	    " 909d7dc175dff8461ac1e6bee76a2dd44982de2b1d3f0121450840eea22c6a5",
	    "909d7dc175dff8461ac1e6bee76a2dd44982de2b:d3f0121450840eea22c6a58",
	};
	for (size_t i = 0; i < sizeof(bad_hex) / sizeof(bad_hex[0]); i++) {
		memset(k, 0xaa, sizeof(k));
		CHECK(!ts_key_from_hex(k, bad_hex[i]));
		CHECK(ts_key_is_zero(k)); /* nothing half-decoded is left */
	}
	static const char *bad_b64[] = {
	    "",
	    PEER1_PRIV_B64 "=",
	    "kJ19wXXf+EYawea+52ot1EmC3isdPwEhRQhA7qIsalg",
	    "kJ19wXXf+EYawea+52ot1EmC3isdPwEhRQhA7qIsalh=", /* non-canonical last digit */
	    "kJ19wXXf+EYawea+52ot1EmC3isdPwEhRQhA7qIsal==",
	    "kJ19wXXf-EYawea+52ot1EmC3isdPwEhRQhA7qIsalg=", /* URL-safe alphabet */
	    "kJ19wXXf EYawea+52ot1EmC3isdPwEhRQhA7qIsalg=",
	    "kJ19wXXf+EYawea+52ot1EmC3isdPwEhRQhA7qIsalg==",
	    "kJ19wXXf+EYawea+52ot1EmC3isdPwEhRQhA7qIsal*=",
	    "kJ19wX\360f+EYawea+52ot1EmC3isdPwEhRQhA7qIsalg=", /* libsodium 1.0.18 took 0xf0 as '/'
								*/
	    "kJ19wX\377f+EYawea+52ot1EmC3isdPwEhRQhA7qIsalg=",
	};
	for (size_t i = 0; i < sizeof(bad_b64) / sizeof(bad_b64[0]); i++) {
		memset(k, 0xaa, sizeof(k));
		CHECK(!ts_key_from_base64(k, bad_b64[i]));
		CHECK(ts_key_is_zero(k));
	}
	memset(k, 0, sizeof(k));
	CHECK(ts_key_is_zero(k));
	k[31] = 1;
	CHECK(!ts_key_is_zero(k));
	k[31] = 0;
	k[0] = 0x80;
	CHECK(!ts_key_is_zero(k));
	CHECK(!ts_key_equal(k, k2));
}

static void test_endpoints(void)
{
	static const char *good[][2] = {
	    {"1.2.3.4:51820", "1.2.3.4:51820"},
	    {"[::1]:51820", "[::1]:51820"},
	    {"[fe80::1%lo]:51820", "[fe80::1%lo]:51820"},
	    {"[2001:DB8::1]:1", "[2001:db8::1]:1"},
	    {"255.255.255.255:65535", "255.255.255.255:65535"},
	    {"[::ffff:1.2.3.4]:7", "[::ffff:1.2.3.4]:7"},
	};
	static const char *bad[] = {
	    "1.2.3.4",
	    "1.2.3.4:99999",
	    "[::1",
	    "::1:5",
	    "1.2.3.4:0",
	    "1.2.3.4:",
	    ":5",
	    "[::1]5",
	    "[::1]:",
	    "1.2.3:5",
	    "[fe80::1%no-such-if0]:5",
	    "1.2.3.4:+5",
	    " 1.2.3.4:5",
	    "1.2.3.4:5 ",
	    "[1.2.3.4]:5",
	    "[]:5",
	    "1.2.3.4:051",
	    "[fe80::1%]:5",
	    "",
	    "[::1]:65536",
	    "[fe80::1%0]:5",
	    "localhost:5",
	    "1.2.3.4:5:6",
	};
	union ts_endpoint ep, ep2;
	char buf[TS_ENDPOINT_STRLEN];
	unsigned char bytes[18];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int ret = ts_endpoint_parse(&ep, good[i][0]);

		CHECK(ret == 0);
		if (ret) {
			fprintf(stderr, "  endpoint '%s' rejected\n", good[i][0]);
			continue;
		}
		CHECK(!strcmp(ts_endpoint_str(&ep, buf), good[i][1]));
		CHECK(ts_endpoint_parse(&ep2, buf) == 0 && ts_endpoint_equal(&ep, &ep2));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&ep, 0, sizeof(ep));
		if (ts_endpoint_parse(&ep, bad[i]) != -EINVAL) {
			fprintf(stderr, "  endpoint '%s' accepted\n", bad[i]);
			failures++;
		}
		CHECK(!ts_endpoint_is_set(&ep));
	}
	/* The brief's scoped form, if this machine has an eth0. */
	if (if_nametoindex("eth0")) {
		CHECK(ts_endpoint_parse(&ep, "[fe80::1%eth0]:51820") == 0);
		CHECK(ep.in6.sin6_scope_id == if_nametoindex("eth0"));
		CHECK(!strcmp(ts_endpoint_str(&ep, buf), "[fe80::1%eth0]:51820"));
	}
	CHECK(ts_endpoint_parse(&ep, "[fe80::1%1]:5") == 0 && ep.in6.sin6_scope_id == 1);

	CHECK(ts_endpoint_parse(&ep, "1.2.3.4:258") == 0);
	CHECK(ts_endpoint_addr_bytes(&ep, bytes) == 6);
	CHECK(!memcmp(bytes, "\x01\x02\x03\x04\x01\x02", 6));
	CHECK(ts_endpoint_parse(&ep, "[::1]:258") == 0);
	CHECK(ts_endpoint_addr_bytes(&ep, bytes) == 18 && bytes[15] == 1 && bytes[16] == 1 &&
	      bytes[17] == 2);
	CHECK(ts_endpoint_parse(&ep2, "[::1]:259") == 0 && !ts_endpoint_equal(&ep, &ep2));
	memset(&ep, 0, sizeof(ep));
	CHECK(!strcmp(ts_endpoint_str(&ep, buf), "(none)"));
	CHECK(ts_endpoint_addr_bytes(&ep, bytes) == 0);
}

int main(void)
{
	const char *tail = strstr(__FILE__, "/tests/unit/test_config.c");

	snprintf(source_dir, sizeof(source_dir), "%.*s", tail ? (int)(tail - __FILE__) : 1,
		 tail ? __FILE__ : ".");
	if (sodium_init() < 0 || !mkdtemp(tmpdir)) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	test_seed();
	test_file_mode();
	test_errors();
	test_peer_semantics();
	test_limits();
	test_roundtrip();
	test_ini();
	test_keys();
	test_endpoints();

	unlink(write_tmp("t.conf", ""));
	rmdir(tmpdir);
	if (failures) {
		fprintf(stderr, "test_config: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_config: all checks passed\n");
	return 0;
}
