// SPDX-License-Identifier: MIT
/* Daemon glue for the plugin host (interim: the host is being integrated). */
#include "pipeline_glue.h"

#include <errno.h>
#include <stdio.h>

#include "hooks.h"

int ts_pipeline_glue_start(struct ts_pipeline_glue **out, struct ts_device *dev,
			   const char *pipeline_path, char *err, size_t errlen)
{
	*out = NULL;
	if (pipeline_path) {
		snprintf(err, errlen, "--pipeline: plugin support is not built in yet");
		return -ENOTSUP;
	}
	return 0;
}

int ts_pipeline_glue_reload(struct ts_pipeline_glue *g, const char *path)
{
	return -ENOTSUP;
}

void ts_pipeline_glue_stop(struct ts_pipeline_glue *g)
{
}

int ts_pipeline_glue_ctl_main(int argc, char **argv)
{
	fprintf(stderr, "tinescale ctl: plugin support is not built in yet\n");
	return 1;
}

bool ts_hooks_run(struct ts_device *dev, enum ts_hook_point point, struct ts_hook_pkt *p)
{
	return true;
}

bool ts_hooks_active(struct ts_device *dev, enum ts_hook_point point)
{
	return false;
}
