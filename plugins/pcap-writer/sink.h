/* SPDX-License-Identifier: MIT */
/*
 * Where the debug plugins' writer threads put their bytes: a file (created
 * mode 0600), a FIFO, a character device, or the daemon's stdout/stderr.
 * A write waits for a slow reader but can be cut short by sink_stop(), so
 * destroy() never hangs on a pipe that nobody reads.  (Shared by hexdump and
 * pcap-writer; the pcap-writer builds this file from here.)
 */
#ifndef TS_DEBUG_SINK_H
#define TS_DEBUG_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sink {
	int fd;
	int stopfd;    /* eventfd: readable once sink_stop() was called */
	bool regular;  /* a regular file: write(2) does not wait for a reader */
	uint64_t size; /* regular files: bytes in the file when opened */
};

/*
 * Open path for writing.  trunc: start the file over (else append).  A
 * regular file ends up mode 0600 (fchmod when it existed with another mode);
 * a FIFO is opened read-write so that opening never waits for a reader.
 * 0, or -1 with one line in err.
 */
int sink_open(struct sink *s, const char *path, bool trunc, char *err, size_t errlen);
/* Wrap an fd the daemon shares (stdout/stderr): dup'ed, never made non-blocking. */
int sink_from_fd(struct sink *s, int fd, char *err, size_t errlen);
/*
 * Write all of buf.  wait_ms < 0: wait for the reader as long as it takes,
 * unless sink_stop() is called (-ECANCELED).  wait_ms >= 0: give up after
 * that long (-ETIMEDOUT), even after sink_stop() (the final flush).
 * 0 or -errno.
 */
int sink_write(struct sink *s, const void *buf, size_t len, int wait_ms);
void sink_stop(struct sink *s);
void sink_close(struct sink *s);

#endif
