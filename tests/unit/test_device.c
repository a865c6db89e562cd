// SPDX-License-Identifier: MIT
/*
 * The device over the in-memory TUN and network of fake_io.c, its threads
 * not started:
 *
 * - ts_device_apply is all or nothing on out-of-memory: with the n-th
 *   engine allocation made to fail, for every n up to the last one the
 *   apply makes, a failed apply leaves what `wg showconf` would print
 *   (ts_device_snapshot) exactly as it was.
 * - A forged data message (a live receiver index, counter 2^64-1 or any
 *   counter, a wrong tag) is a bad MAC and changes nothing: the session
 *   goes on receiving.  An authenticated one beyond REJECT_AFTER_MESSAGES
 *   is dropped, and that too leaves the session working.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <sodium.h>

#include "alloc.h"
#include "config.h"
#include "crypto.h"
#include "device.h"
#include "fake_io.h"
#include "index.h"
#include "testutil.h"

static char *hex(char out[65], const uint8_t key[32])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", key[i]);
	return out;
}

static int apply_text(struct ts_device *dev, const char *text)
{
	struct ts_config cfg;
	char err[256];
	int ret;

	ret = ts_config_parse_uapi(text, strlen(text), 0, &cfg, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "test config does not parse: %s\n", err);
		exit(1);
	}
	ret = ts_device_apply(dev, &cfg, err, sizeof(err));
	ts_config_free(&cfg);
	return ret;
}

/* What `wg showconf` would show, as UAPI text (malloc'd). */
static char *showconf(struct ts_device *dev)
{
	struct ts_config cfg;
	char *text, *copy;
	size_t len;

	if (ts_device_snapshot(dev, &cfg) < 0)
		return NULL;
	text = ts_config_format_uapi(&cfg, &len);
	ts_config_free(&cfg);
	if (!text)
		return NULL;
	copy = strdup(text);
	ts_config_free_text(text, len);
	return copy;
}

static uint8_t priv[32], pub_a[32], pub_b[32], pub_c[32];

static void keys_init(void)
{
	uint8_t scratch[32];

	ts_x25519_generate(priv, scratch);
	ts_x25519_generate(scratch, pub_a);
	ts_x25519_generate(scratch, pub_b);
	ts_x25519_generate(scratch, pub_c);
}

static struct fake_net *net;

static struct ts_device *base_device(void)
{
	struct fake_tun *tun = fake_tun_new();
	struct fake_bind *bind = fake_bind_new(net, "192.0.2.100");
	char text[2048], k0[65], ka[65], kb[65], err[256];
	struct ts_device *dev;

	if (!tun || !bind ||
	    ts_device_create_with_io(&dev, "tstest0", 1420, &fake_tun_ops, tun, &fake_bind_ops,
				     bind, err, sizeof(err)) < 0) {
		fprintf(stderr, "cannot make a device\n");
		exit(1);
	}
	snprintf(text, sizeof(text),
		 "private_key=%s\nlisten_port=51820\n"
		 "public_key=%s\nendpoint=192.0.2.1:51820\npersistent_keepalive_interval=25\n"
		 "allowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\n"
		 "public_key=%s\nallowed_ip=10.0.1.1/32\nallowed_ip=10.0.2.0/23\n",
		 hex(k0, priv), hex(ka, pub_a), hex(kb, pub_b));
	CHECK(apply_text(dev, text) == 0);
	return dev;
}

static void test_apply_enomem(void)
{
	char change[4096], ka[65], kb[65], kc[65];
	unsigned n, reached = 0;
	char *expected = NULL;
	int ok_at = 0;
	int len;

	len = snprintf(change, sizeof(change),
		       "public_key=%s\nremove=true\n"
		       "public_key=%s\nreplace_allowed_ips=true\nallowed_ip=10.9.0.0/16\n"
		       "allowed_ip=10.0.0.128/25\npersistent_keepalive_interval=0\n"
		       "public_key=%s\nendpoint=[2001:db8::1]:1\n",
		       hex(kb, pub_b), hex(ka, pub_a), hex(kc, pub_c));
	/* The new peer brings enough prefixes to split nodes in both tries. */
	for (int i = 0; i < 12; i++)
		len += snprintf(change + len, sizeof(change) - (size_t)len,
				"allowed_ip=10.%d.%d.0/24\nallowed_ip=fd%02x::/%d\n", 100 + i, i, i,
				16 + i);

	/* What the change makes without any failure. */
	{
		struct ts_device *dev = base_device();

		CHECK(apply_text(dev, change) == 0);
		expected = showconf(dev);
		CHECK(expected != NULL);
		ts_device_destroy(dev);
	}
	for (n = 1; n < 1000 && !ok_at; n++) {
		struct ts_device *dev = base_device();
		char *before = showconf(dev), *after;
		int ret;

		ts_debug_fail_alloc(n);
		ret = apply_text(dev, change);
		/* Non-zero: the failure was not reached, the apply ran without it. */
		if (ts_debug_fail_alloc(0))
			ok_at = (int)n;
		else
			reached++;
		after = showconf(dev);
		CHECK(before && after);
		if (ret == -ENOMEM) {
			CHECK_MSG(before && after && strcmp(before, after) == 0,
				  "allocation %u failed, and the apply changed the device:\n"
				  "before:\n%s\nafter:\n%s",
				  n, before, after);
		} else {
			/* A failure the apply could absorb: then all of it happened. */
			CHECK_MSG(ret == 0, "allocation %u failed: apply returned %d", n, ret);
			CHECK_MSG(expected && after && strcmp(expected, after) == 0,
				  "allocation %u failed, apply succeeded but is incomplete:\n%s", n,
				  after);
		}
		free(before);
		free(after);
		ts_device_destroy(dev);
	}
	/* The walk covered every allocation the apply makes (a peer, 2 per prefix, ...). */
	CHECK_MSG(reached >= 20, "only %u allocations were failed", reached);
	CHECK(ok_at > 0);
	fprintf(stderr, "apply: each of its %u allocations failed in turn, none changed anything\n",
		reached);
	free(expected);
}

/* --- forged data messages --------------------------------------------- */

struct session {
	struct ts_device *dev;
	struct ts_peer *peer;
	struct ts_keypair *kp;
	uint8_t their_sending_key[32];
	uint32_t index;
};

static void session_init(struct session *s)
{
	struct noise_keys keys;

	memset(s, 0, sizeof(*s));
	s->dev = base_device();
	s->peer = ts_device_get_peer(s->dev, pub_a);
	CHECK(s->peer != NULL);
	randombytes_buf(keys.sending, sizeof(keys.sending));
	randombytes_buf(keys.receiving, sizeof(keys.receiving));
	memcpy(s->their_sending_key, keys.receiving, 32);
	ts_peer_lock(s->peer);
	s->index = ts_index_insert_handshake(&s->dev->index, s->peer);
	keys.local_index = s->index;
	keys.remote_index = 77;
	keys.is_initiator = true;
	s->kp = ts_keypair_create(s->peer, &keys);
	ts_index_set_keypair(&s->dev->index, s->index, s->kp);
	ts_peer_install_keypair(s->peer, s->kp);
	ts_peer_unlock(s->peer);
	sodium_memzero(&keys, sizeof(keys));
}

static void session_destroy(struct session *s)
{
	ts_peer_put(s->peer);
	ts_device_destroy(s->dev);
}

/* Receive a keepalive with this counter: sealed with the right key, or forged. */
static void receive_keepalive(struct session *s, uint64_t counter, bool genuine)
{
	uint8_t buf[TS_HEADROOM + 64 + TS_TAILROOM] = {0};
	struct message_data hdr;
	union ts_endpoint src = {0};
	uint8_t *msg = buf + TS_HEADROOM;

	src.in.sin_family = AF_INET;
	src.in.sin_port = htons(4444);
	inet_pton(AF_INET, "203.0.113.9", &src.in.sin_addr);
	hdr.header.type = htole32(MESSAGE_DATA);
	hdr.key_idx = htole32(s->index);
	hdr.counter = htole64(counter);
	memcpy(msg, &hdr, sizeof(hdr));
	if (genuine)
		ts_aead_encrypt(msg + sizeof(hdr), msg + sizeof(hdr), 0, NULL, 0, counter,
				s->their_sending_key);
	else
		randombytes_buf(msg + sizeof(hdr), NOISE_AUTHTAG_LEN);
	ts_receive_datagram(s->dev, &src, NULL, buf, TS_HEADROOM, sizeof(hdr) + NOISE_AUTHTAG_LEN);
}

static uint64_t rx_bytes(struct session *s)
{
	return atomic_load(&s->peer->rx_bytes);
}

static void test_forged_counter(void)
{
	const uint64_t forged[] = {UINT64_MAX, REJECT_AFTER_MESSAGES, 3, 0};
	struct session s;
	uint64_t bytes;

	session_init(&s);
	receive_keepalive(&s, 0, true);
	CHECK(rx_bytes(&s) == 32);
	for (int round = 0; round < 20; round++)
		for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++)
			receive_keepalive(&s, forged[i], false);
	CHECK_MSG(atomic_load(&s.dev->rx_bad_mac) == 80, "%llu bad MACs counted",
		  (unsigned long long)atomic_load(&s.dev->rx_bad_mac));
	CHECK(atomic_load(&s.kp->receiving_valid));
	CHECK(rx_bytes(&s) == 32);
	CHECK(s.kp->replay.greatest == 0);
	/* The session still receives. */
	receive_keepalive(&s, 1, true);
	CHECK(rx_bytes(&s) == 64);
	/* Authenticated but beyond the limit: dropped, and nothing else happens. */
	bytes = rx_bytes(&s);
	receive_keepalive(&s, UINT64_MAX, true);
	receive_keepalive(&s, REJECT_AFTER_MESSAGES, true);
	CHECK(rx_bytes(&s) == bytes);
	CHECK(atomic_load(&s.dev->rx_replayed) == 2);
	CHECK(atomic_load(&s.kp->receiving_valid));
	receive_keepalive(&s, 2, true);
	CHECK(rx_bytes(&s) == bytes + 32);
	/* A replay is refused. */
	receive_keepalive(&s, 2, true);
	CHECK(rx_bytes(&s) == bytes + 32);
	session_destroy(&s);
}

/* A removed peer's session dies with it; its keypair may outlive it safely. */
static void test_removed_peer(void)
{
	char text[256], ka[65];
	struct session s;

	session_init(&s);
	receive_keepalive(&s, 0, true);
	CHECK(rx_bytes(&s) == 32);
	snprintf(text, sizeof(text), "public_key=%s\nremove=true\n", hex(ka, pub_a));
	CHECK(apply_text(s.dev, text) == 0);
	CHECK(atomic_load(&s.peer->dead));
	CHECK(ts_device_get_peer(s.dev, pub_a) == NULL);
	/* Its index is gone: the next message names nothing. */
	receive_keepalive(&s, 1, true);
	CHECK(rx_bytes(&s) == 32);
	CHECK(atomic_load(&s.dev->rx_invalid) == 1);
	session_destroy(&s);
}

/*
 * What a peer allocates only when used: the staged list keeps the newest
 * MAX_STAGED_PACKETS in order, and notes appear with the first one set and
 * go with the peer (ASan sees a leak otherwise).
 */
static void test_lazy_peer_state(void)
{
	struct ts_device *dev = base_device();
	struct ts_peer *peer = ts_device_get_peer(dev, pub_a);
	struct ts_staged_packet *p;
	uint8_t pkt[4];
	char buf[64];
	unsigned i = 0;

	CHECK(peer != NULL);
	if (!peer)
		return;
	CHECK(peer->notes == NULL && peer->staged.count == 0 && peer->staged.head == NULL);
	ts_peer_lock(peer);
	for (uint32_t n = 0; n < MAX_STAGED_PACKETS + 5; n++) {
		memcpy(pkt, &n, sizeof(n));
		ts_staged_push(&peer->staged, pkt, n % 2 ? sizeof(pkt) : 0);
	}
	CHECK(peer->staged.count == MAX_STAGED_PACKETS);
	for (p = peer->staged.head; p; p = p->next, i++) {
		uint32_t n = 5 + i, got;

		CHECK(p->len == (n % 2 ? sizeof(pkt) : 0));
		if (p->len) {
			memcpy(&got, p->data, sizeof(got));
			CHECK(got == n);
		}
		CHECK(p->next || p == peer->staged.tail);
	}
	CHECK(i == MAX_STAGED_PACKETS);
	ts_staged_clear(&peer->staged);
	CHECK(peer->staged.count == 0 && !peer->staged.head && !peer->staged.tail);
	ts_staged_push(&peer->staged, pkt, sizeof(pkt)); /* left for the free to take */
	ts_peer_unlock(peer);

	CHECK(ts_device_note_get(dev, pub_a, "k", buf, sizeof(buf)) == -ENOENT);
	CHECK(ts_device_note_set(dev, pub_a, "k", NULL) == 0 && peer->notes == NULL);
	CHECK(ts_device_note_set(dev, pub_a, "k", "v") == 0 && peer->notes != NULL);
	CHECK(ts_device_note_get(dev, pub_a, "k", buf, sizeof(buf)) == 0 && !strcmp(buf, "v"));
	for (int n = 0; n < TS_NOTES_MAX - 1; n++) {
		snprintf(buf, sizeof(buf), "k%d", n);
		CHECK(ts_device_note_set(dev, pub_a, buf, "x") == 0);
	}
	CHECK(ts_device_note_set(dev, pub_a, "one-too-many", "x") == -ENOSPC);
	CHECK(ts_device_note_set(dev, NULL, "iface", "y") == 0);
	CHECK(ts_device_note_get(dev, NULL, "iface", buf, sizeof(buf)) == 0 && !strcmp(buf, "y"));
	ts_peer_put(peer);
	ts_device_destroy(dev);
}

int main(void)
{
	if (ts_crypto_init() < 0)
		return 1;
	keys_init();
	net = fake_net_new();
	if (!net)
		return 1;
	test_apply_enomem();
	test_forged_counter();
	test_removed_peer();
	test_lazy_peer_state();
	fake_net_free(net);
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
