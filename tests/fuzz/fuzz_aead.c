// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for core/engine/data_aead.c, the transport data AEAD that
 * opens every data message an attacker can send.  The input is a key (32
 * bytes), a counter (8), a selector byte, then a message.
 *   - Opening the input as a message (ciphertext then tag) under that key
 *     and counter agrees with libsodium's AEAD (ts_aead_decrypt): both
 *     refuse, or both accept with the same plaintext.
 *   - Sealing the message gives exactly libsodium's AEAD output, opens back
 *     to the message, and with one bit flipped (chosen by the selector) or
 *     the next counter is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "data_aead.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAXLEN = 9000 };
static uint8_t buf[MAXLEN + 16], ref[MAXLEN + 16];

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_aead: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	const uint8_t *key = data, *msg = data + 41;
	uint64_t counter;
	size_t len, at;
	bool ok_ref, ok;

	if (!ready) {
		check(ts_crypto_init() == 0, "sodium_init failed");
		ready = true;
	}
	if (size < 41 || size - 41 > MAXLEN)
		return 0;
	memcpy(&counter, data + 32, sizeof(counter));
	len = size - 41;

	/* The message as a received one. */
	memcpy(buf, msg, len);
	ok_ref = ts_aead_decrypt(ref, msg, len, NULL, 0, counter, key);
	ok = ts_data_open(buf, len, counter, key);
	check(ok == ok_ref, "open and libsodium disagree on a received message");
	check(!ok || !memcmp(buf, ref, len - 16), "open and libsodium give other plaintexts");

	/* The message as one to send. */
	memcpy(buf, msg, len);
	ts_aead_encrypt(ref, msg, len, NULL, 0, counter, key);
	ts_data_seal(buf, len, counter, key);
	check(!memcmp(buf, ref, len + 16), "seal differs from libsodium's AEAD");
	check(ts_data_open(buf, len + 16, counter, key) && !memcmp(buf, msg, len),
	      "a sealed message does not open back");
	memcpy(buf, ref, len + 16);
	check(!ts_data_open(buf, len + 16, counter + 1, key), "opened under the next counter");
	memcpy(buf, ref, len + 16);
	at = (size_t)data[40] * 131 % (len + 16);
	buf[at] ^= (uint8_t)(1u << (data[40] & 7));
	check(!ts_data_open(buf, len + 16, counter, key), "opened with a flipped bit");
	return 0;
}
