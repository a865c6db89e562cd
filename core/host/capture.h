/* SPDX-License-Identifier: MIT */
/*
 * Live capture: `tinescale ctl IFNAME capture` streams what the four hook
 * points see as pcapng to a socket, with no pipeline change.
 *
 * The data path pays one relaxed atomic load and a branch per hook point
 * while no capture runs (capture_on() below, from the hook table's
 * active/run).  While one runs, the data-path thread formats each packet
 * into a pcapng Enhanced Packet Block and copies it into the capture's
 * bounded buffer under a leaf mutex; a full buffer drops the block and
 * counts it.  The capture's own thread writes the buffer to the socket,
 * so a slow reader never stalls the tunnel.  It ends when the reader goes
 * away (HUP or EOF on the socket, a failed write) or the host stops.
 *
 * Packets are taken as the engine presents them at the hook point, before
 * any plugin runs: plaintext as raw IP, ciphertext as the WireGuard datagram
 * inside IPv4/IPv6 + UDP headers made from the real endpoints (as the
 * pcap-writer plugin writes them, with the same code: base/pcapng.c).
 * With secrets, each new handshake's secrets go into the stream as a
 * Decryption Secrets Block, so Wireshark decrypts the sessions that start
 * after the capture did.
 */
#ifndef TS_CAPTURE_H
#define TS_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ts_pipeline_host;

struct ts_capture_opts {
	unsigned int hooks; /* bit per enum ts_hook; 0 means all four */
	bool has_peer;	    /* only this peer's packets (a first initiation has no peer yet) */
	uint8_t peer[32];
	bool secrets; /* embed handshake secrets: the caller checked the client may have them */
};

/* "plaintext_in,ciphertext_out" into a mask.  0, or -EINVAL with the bad word in err. */
int ts_capture_parse_hooks(const char *list, unsigned int *mask, char *err, size_t errlen);

/*
 * Start a capture that writes to fd (a connected stream socket, which it
 * now owns and closes at the end).  At most TS_CAPTURE_MAX run at once.
 * 0, or -errno with err filled (then fd is still the caller's).
 */
#define TS_CAPTURE_MAX 4
int ts_capture_start(struct ts_pipeline_host *ph, const struct ts_capture_opts *o, int fd,
		     char *err, size_t errlen);

/* Captures running now (for tests and status). */
unsigned int ts_capture_count(struct ts_pipeline_host *ph);

#endif
