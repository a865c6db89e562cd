// SPDX-License-Identifier: MIT
/* Prometheus text exposition: see prom.h. */
#include "prom.h"

#include <inttypes.h>

void ts_prom_family(FILE *f, const char *name, const char *type, const char *help)
{
	/* HELP text escapes backslash and newline; ours are constants without either. */
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void labels_out(FILE *f, const char *const *l)
{
	if (!l || !l[0])
		return;
	fputc('{', f);
	for (int i = 0; l[i] && l[i + 1]; i += 2) {
		fprintf(f, "%s%s=\"", i ? "," : "", l[i]);
		for (const char *p = l[i + 1]; *p; p++) {
			if (*p == '\\' || *p == '"')
				fputc('\\', f);
			if (*p == '\n')
				fputs("\\n", f);
			else
				fputc(*p, f);
		}
		fputc('"', f);
	}
	fputc('}', f);
}

void ts_prom_sample(FILE *f, const char *name, const char *const *labels, uint64_t value)
{
	fputs(name, f);
	labels_out(f, labels);
	fprintf(f, " %" PRIu64 "\n", value);
}

void ts_prom_sample_f(FILE *f, const char *name, const char *const *labels, double value)
{
	fputs(name, f);
	labels_out(f, labels);
	fprintf(f, " %.9g\n", value);
}
