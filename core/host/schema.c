/* SPDX-License-Identifier: MIT */
/*
 * A plugin's declared config schema (struct ts_plugin_v2.config_schema),
 * checked by the host before create(): every key of the instance's
 * `config:` must be declared, of its type, in its range; required keys
 * must be there.  Each error names FILE:LINE:COLUMN of the key itself (the
 * mapping, for a missing key), so a plugin with a schema validates nothing
 * by hand.
 */
#include <stdio.h>
#include <string.h>

#include "host_internal.h"

#define SCHEMA_MAX 256 /* entries read from a plugin's array before giving up */

static const char *cfg_type_name(enum ts_config_type t)
{
	switch (t) {
	case TS_CFG_STRING:
		return "a string";
	case TS_CFG_INT:
		return "an integer";
	case TS_CFG_BOOL:
		return "a boolean";
	case TS_CFG_LIST:
		return "a list";
	case TS_CFG_MAP:
		return "a mapping";
	}
	return "?";
}

/* One value against its declaration; 0 or -1 with the error at key k. */
static int check_value(struct loader *ld, const struct instance *in, const struct ts_config_key *d,
		       const struct ts_config_node *k, const struct ts_config_node *v)
{
	long long x;
	bool ok, b;

	switch (d->type) {
	case TS_CFG_STRING:
		ok = v->type == CN_SCALAR && v->value[0];
		break;
	case TS_CFG_INT:
		ok = v->type == CN_SCALAR && !parse_ll(v->value, &x);
		if (ok && (d->min || d->max) && (x < d->min || x > d->max)) {
			LERR(ld, k, "plugin '%s' (%s): '%s' is %lld, expected %lld..%lld", in->name,
			     in->desc.name, k->value, x, d->min, d->max);
			return -1;
		}
		break;
	case TS_CFG_BOOL:
		ok = v->type == CN_SCALAR && !parse_bool(v->value, &b);
		break;
	case TS_CFG_LIST:
		ok = v->type == CN_SEQ;
		for (size_t i = 0; ok && i < v->n; i++)
			ok = v->kids[i]->type == CN_SCALAR;
		break;
	case TS_CFG_MAP:
		ok = v->type == CN_MAP;
		break;
	default:
		ok = false;
	}
	if (!ok) {
		LERR(ld, k, "plugin '%s' (%s): '%s' is '%.64s', expected %s", in->name,
		     in->desc.name, k->value, v->type == CN_SCALAR ? v->value : type_name(v),
		     cfg_type_name(d->type));
		return -1;
	}
	return 0;
}

int schema_check(struct loader *ld, const struct entry *e, const struct instance *in)
{
	const struct ts_config_key *schema = in->desc.schema;
	const struct ts_config_node *cfg = in->config;
	size_t n = 0;

	while (n < SCHEMA_MAX && schema[n].key)
		n++;
	for (size_t i = 0; i + 1 < cfg->n; i += 2) {
		const struct ts_config_node *k = cfg->kids[i], *v = cfg->kids[i + 1];
		size_t j;

		for (j = 0; j < n; j++)
			if (!strcmp(schema[j].key, k->value))
				break;
		if (j == n) {
			char known[256];
			size_t off = 0;

			known[0] = '\0';
			for (size_t m = 0; m < n && off < sizeof(known); m++)
				off += (size_t)snprintf(known + off, sizeof(known) - off, "%s%s",
							m ? ", " : "", schema[m].key);
			LERR(ld, k, "plugin '%s' (%s): unknown key '%.64s', expected one of: %s",
			     in->name, in->desc.name, k->value, known);
			return -1;
		}
		if (node_is_null(v))
			continue; /* an empty value is as good as none */
		if (check_value(ld, in, &schema[j], k, v))
			return -1;
	}
	for (size_t j = 0; j < n; j++) {
		const struct ts_config_node *v = map_get(cfg, schema[j].key);

		if (schema[j].required && (!v || node_is_null(v))) {
			LERR(ld, e->config ? e->config : e->node,
			     "plugin '%s' (%s): '%s' is required, expected it in config", in->name,
			     in->desc.name, schema[j].key);
			return -1;
		}
	}
	return 0;
}
