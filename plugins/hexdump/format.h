/* SPDX-License-Identifier: MIT */
/*
 * hexdump's text, as pure functions of a record (tests/unit/test_hexdump_format.c
 * checks them): the header line of a packet and the `hexdump -C` body.
 *
 *   14:03:07.120931 plaintext_out peer=hGzL3c2B len=84 ipv4 10.0.0.1 > 10.0.0.2 icmp echo-request
 * id=4242 seq=1 14:03:07.121044 ciphertext_out peer=hGzL3c2B len=128 10.10.0.11:51820
 * > 10.10.0.12:51820 wg=data receiver=0x5ab1f3c2 counter=0 00000000  45 00 00 54 1c 46 40 00  40 01
 * 0a 61 0a 00 00 01  |E..T.F@.@..a....|
 *
 * On ciphertext hooks the addresses are ours and the peer's (sender first);
 * our address is `*` when the host does not know which one the datagram used.
 */
#ifndef TS_HEXDUMP_FORMAT_H
#define TS_HEXDUMP_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "rec.h"

/* "plaintext_out", ... ; "?" for an unknown value. */
const char *hd_hook_name(unsigned hook);
/*
 * The WireGuard message type of a datagram, as the protocol (and Wireshark)
 * tell them apart by type and exact length: "initiation" (148), "response"
 * (92), "cookie" (64), "keepalive" (data of 32), "data" (at least 32), else "other".
 */
const char *hd_wg_type(const uint8_t *p, size_t len);
/*
 * "10.0.0.1:51820", "[fd00::1]:51820"; for family 0 (address unknown)
 * "*:PORT" when the port field is set, else "-".
 */
void hd_endpoint_str(const union ts_plugin_endpoint *ep, char *buf, size_t n);
/* The first 8 characters of the key's base64 (what `wg` users recognise). */
void hd_short_key(const uint8_t key[32], char out[9]);
/*
 * A one-line summary of an IP packet from its first caplen bytes (len is
 * the whole packet's length): "ipv4 SRC > DST icmp echo-request id=N seq=N",
 * "ipv6 SRC > DST tcp 22 > 40000", ...  Appends to buf (NUL-terminated).
 */
void hd_ip_summary(const uint8_t *p, size_t caplen, char *buf, size_t n);
/* "wg=data receiver=0x... counter=N" and the like, for a WireGuard datagram. */
void hd_wg_summary(const uint8_t *p, size_t caplen, size_t len, char *buf, size_t n);
/*
 * The header line (no newline) of a packet record whose first caplen bytes
 * are p.
 */
void hd_header(const struct rec *r, const uint8_t *p, size_t caplen, char *buf, size_t n);
/*
 * One `hexdump -C` line (with newline) for the n <= 16 bytes p at offset.
 * buf needs HD_LINE_MAX bytes.  Returns the line's length.
 */
#define HD_LINE_MAX 96
size_t hd_hex_line(const uint8_t *p, size_t n, size_t offset, char *buf);

#endif
