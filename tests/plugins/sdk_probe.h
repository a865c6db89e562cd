/* SPDX-License-Identifier: MIT */
/*
 * What sdk_probe.so (sdk_probe.c) records of the 2.1 SDK services, exported
 * as the symbol sdk_global; test_pipeline's test_sdk reads it through its
 * own dlopen of the plugin.  One definition for both sides.
 */
#ifndef TS_TEST_SDK_PROBE_H
#define TS_TEST_SDK_PROBE_H

struct sdk_global {
	_Atomic long added, removed, migrations, removed_hits, last_event, hits, writes, refused;
	_Atomic long generation;
	/* output_open_cb: records, bytes and bad records seen, ends, calls from a hook's thread. */
	_Atomic long cb_records, cb_bytes, cb_bad, cb_closing, cb_wrong_thread;
	/* output_open_cb: calls with no record (the tick, and "queue empty"). */
	_Atomic long cb_idle;
};

#endif
