/* SPDX-License-Identifier: MIT */
/*
 * A tiny HTTP/1.0 responder for Prometheus scrapes, on a thread of its own:
 * GET /metrics answers the render callback's text; anything else gets an
 * error status.  One connection at a time, requests at most
 * TS_HTTP_MAX_REQUEST bytes, a 2 s deadline to read the request and one to
 * write the answer, so a slow or hostile client costs this thread only.
 * The callback runs on the responder's thread.
 */
#ifndef TS_METRICS_HTTP_H
#define TS_METRICS_HTTP_H

#include <stddef.h>
#include <stdio.h>

#define TS_HTTP_MAX_REQUEST 4096

struct ts_metrics_http;

/*
 * Listen on addr ("127.0.0.1:9586", "[::1]:9586"; loopback is what a
 * scraper on the same host needs) and start the thread.  0, or -errno with
 * err filled.
 */
int ts_metrics_http_start(struct ts_metrics_http **out, const char *addr,
			  void (*render)(void *arg, FILE *f), void *arg, char *err, size_t errlen);
/* Stop the thread (it finishes the connection in hand), close the socket. */
void ts_metrics_http_stop(struct ts_metrics_http *m);

/*
 * The request parser (pure, fuzzed): the bytes read so far.  Returns 0
 * when the head is not complete yet and more may come, else the status to
 * answer: 200 (GET /metrics, any query string, HTTP/1.0 or 1.1), 400
 * (malformed), 404 (another path), 405 (another method), 431 (head longer
 * than TS_HTTP_MAX_REQUEST).
 */
int ts_http_parse_request(const char *buf, size_t len);

#endif
