/* SPDX-License-Identifier: MIT */
/*
 * bytes.h: network-order (big-endian) loads and stores of 16- and 32-bit
 * fields at any alignment, for the codecs of the core (offloads, pcapng).
 * Byte by byte, so neither alignment nor the host's byte order matters.
 */
#ifndef TS_BYTES_H
#define TS_BYTES_H

#include <stdint.h>

static inline uint16_t ts_be16_get(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t ts_be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void ts_be16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void ts_be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
