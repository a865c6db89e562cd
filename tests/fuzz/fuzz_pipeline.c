/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the pipeline YAML loader (core/host/): each input is
 * written to a file and loaded; a loaded pipeline is then run on every hook
 * (through the hook table, as the engine does), sent an event (delivered on
 * the host's event thread, waited for) and formatted.  Plugins can only come from the
 * test plugin directory (the opener refuses every other path, after
 * resolving it), so arbitrary input never dlopens arbitrary files.
 * The host gets no engine table (NULL), so the services answer -ENODEV.
 * The fuzzing thread is a registered RCU reader, online: the hot path is
 * reader-only.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline.h"
#include "rcu.h"

#ifndef TS_TEST_PLUGIN_DIR
#define TS_TEST_PLUGIN_DIR "/nonexistent-plugin-dir"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct ts_pipeline_host *ph;
static char dir[64];
static char yaml_path[80];
static char plugin_dir[PATH_MAX];
static FILE *devnull;

/* Only .so files inside the test plugin directory, after resolving ".." and links. */
static void *guarded_open(const char *path, char *err, size_t errlen)
{
	char real[PATH_MAX];
	size_t n = strlen(plugin_dir);

	if (!plugin_dir[0] || !realpath(path, real) || strncmp(real, plugin_dir, n) ||
	    real[n] != '/') {
		snprintf(err, errlen, "refused by the fuzz harness");
		return NULL;
	}
	/*
	 * NODELETE: the plugins carry coverage counters registered with
	 * libFuzzer, which must stay mapped after the host's dlclose.
	 */
	return dlopen(real, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* tmpfs when there is one: every input is written and read back as a file. */
	strcpy(dir, "/dev/shm/ts-fuzz-pipeline.XXXXXX");
	if (!mkdtemp(dir)) {
		strcpy(dir, "/tmp/ts-fuzz-pipeline.XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	if (ts_pipeline_host_create(&ph, NULL) || ts_rcu_thread_register())
		abort();
	ts_rcu_online(); /* loads count as our quiescent points */
	snprintf(yaml_path, sizeof(yaml_path), "%s/p.yaml", dir);
	if (!realpath(TS_TEST_PLUGIN_DIR, plugin_dir))
		plugin_dir[0] = '\0';
	ts_pipeline_set_default_dir(ph, TS_TEST_PLUGIN_DIR);
	ts_pipeline_set_opener(ph, guarded_open);
	ts_pipeline_set_log_level(ph, TS_LOG_ERROR);
	devnull = fopen("/dev/null", "w");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[1024];
	FILE *f = fopen(yaml_path, "w");
	int r;

	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	memset(err, 'X', sizeof(err));
	r = ts_pipeline_load(ph, yaml_path, err, sizeof(err));
	if (!memchr(err, '\0', sizeof(err)))
		abort(); /* the error buffer must always be a string */
	if (r == 0) {
		const struct ts_hook_table *ht = ts_pipeline_hook_table(ph);
		uint8_t buf[96] = {0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1};
		struct ts_engine_event ev = {.type = TS_EVENT_PEER_UP};

		for (int h = 0; h < TS_HOOK_COUNT; h++) {
			union ts_endpoint ep = {.in = {.sin_family = AF_INET}};
			struct ts_hook_pkt pkt = {
			    .data = buf + 32,
			    .len = 28,
			    .headroom = 32,
			    .tailroom = 36,
			    .ep =
				h == TS_HP_CIPHERTEXT_OUT || h == TS_HP_CIPHERTEXT_IN ? &ep : NULL,
			    .listen_port = 51820};

			if (ht->active(ht->ctx, (enum ts_hook_point)h))
				ht->run(ht->ctx, (enum ts_hook_point)h, &pkt);
		}
		ht->event(ht->ctx, &ev);
		ts_pipeline_event_sync(ph);
		if (devnull)
			ts_pipeline_format(ph, devnull);
		if (!ts_pipeline_path(ph))
			abort();
	} else if (strncmp(err, yaml_path, strlen(yaml_path)) || strchr(err, '\n')) {
		/* every error names the file and is one line */
		fprintf(stderr, "bad error message: '%s'\n", err);
		abort();
	}
	return 0;
}
