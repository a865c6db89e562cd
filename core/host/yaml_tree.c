/* SPDX-License-Identifier: MIT */
/*
 * The pipeline YAML as a small tree: libyaml's event API into
 * struct ts_config_node (with line and column of every node, for
 * messages), and the few accessors the loader and the config services use.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "host_internal.h"

void node_free(struct ts_config_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->value);
	free(n);
}

bool node_is_null(const struct ts_config_node *n)
{
	return n && n->type == CN_SCALAR && n->plain &&
	       (!n->value[0] || !strcmp(n->value, "~") || !strcmp(n->value, "null") ||
		!strcmp(n->value, "Null") || !strcmp(n->value, "NULL"));
}

const struct ts_config_node *map_get(const struct ts_config_node *n, const char *key)
{
	if (!n || n->type != CN_MAP || !key)
		return NULL;
	for (size_t i = 0; i + 1 < n->n; i += 2)
		if (!strcmp(n->kids[i]->value, key))
			return n->kids[i + 1];
	return NULL;
}

/* Decimal, or 0x hex, optional sign, whole string. */
int parse_ll(const char *s, long long *out)
{
	const char *p = s;
	char *end;
	int base = 10;
	long long v;

	if (*p == '+' || *p == '-')
		p++;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		base = 16;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, base);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
					  "YES",  "on",	  "On",	  "ON",	 "1"};
	static const char *const no[] = {"false", "False", "FALSE", "no",  "No",
					 "NO",	  "off",   "Off",   "OFF", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcmp(s, yes[i]) || !strcmp(s, no[i])) {
			*out = !strcmp(s, yes[i]);
			return 0;
		}
	}
	return -EINVAL;
}

struct yaml_loader {
	const char *fname;
	char *err;
	size_t errlen;
	size_t nodes;
};

static struct ts_config_node *node_new(struct yaml_loader *ld, enum cnode_type type,
				       yaml_mark_t mark)
{
	struct ts_config_node *n;

	if (++ld->nodes > MAX_NODES) {
		snprintf(ld->err, ld->errlen,
			 "%s:%zu:%zu: too many YAML nodes, expected at most %d", ld->fname,
			 mark.line + 1, mark.column + 1, MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		snprintf(ld->err, ld->errlen, "%s: out of memory", ld->fname);
		return NULL;
	}
	n->type = type;
	n->line = mark.line + 1 > UINT_MAX ? UINT_MAX : (unsigned int)mark.line + 1;
	n->col = mark.column + 1 > UINT_MAX ? UINT_MAX : (unsigned int)mark.column + 1;
	return n;
}

/* Add child to parent (a map expecting a key or value, or a sequence). */
static int node_add(struct yaml_loader *ld, struct ts_config_node *parent,
		    struct ts_config_node *child)
{
	if (parent->type == CN_MAP && parent->n % 2 == 0) {
		if (child->type != CN_SCALAR) {
			snprintf(ld->err, ld->errlen,
				 "%s:%u:%u: complex mapping key, expected a plain key", ld->fname,
				 child->line, child->col);
			return -1;
		}
		for (size_t i = 0; i < parent->n; i += 2) {
			if (!strcmp(parent->kids[i]->value, child->value)) {
				snprintf(ld->err, ld->errlen,
					 "%s:%u:%u: duplicate key '%.64s' (first at line %u), "
					 "expected each key once",
					 ld->fname, child->line, child->col, child->value,
					 parent->kids[i]->line);
				return -1;
			}
		}
	}
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 4;
		struct ts_config_node **k = realloc(parent->kids, cap * sizeof(*k));

		if (!k) {
			snprintf(ld->err, ld->errlen, "%s: out of memory", ld->fname);
			return -1;
		}
		parent->kids = k;
		parent->cap = cap;
	}
	parent->kids[parent->n++] = child;
	return 0;
}

/*
 * Parse one YAML document into a tree.  Aliases are refused: expanding
 * them could blow up (billion laughs) and a pipeline has no use for them.
 */
struct ts_config_node *yaml_to_tree(const char *fname, const unsigned char *buf, size_t len,
				    char *err, size_t errlen)
{
	struct yaml_loader ld = {.fname = fname, .err = err, .errlen = errlen};
	struct ts_config_node *stack[MAX_DEPTH + 1];
	struct ts_config_node *root = NULL;
	yaml_parser_t parser;
	int depth = 0, docs = 0;
	bool done = false, ok = false;

	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: out of memory", fname);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, buf, len);
	while (!done) {
		struct ts_config_node *n = NULL;
		yaml_event_t ev;

		if (!yaml_parser_parse(&parser, &ev)) {
			snprintf(err, errlen, "%s:%zu:%zu: YAML syntax error: %s%s%s", fname,
				 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
				 parser.problem ? parser.problem : "unknown",
				 parser.context ? " " : "", parser.context ? parser.context : "");
			goto out;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				snprintf(err, errlen,
					 "%s:%zu:%zu: a second YAML document, expected exactly one",
					 fname, ev.start_mark.line + 1, ev.start_mark.column + 1);
				yaml_event_delete(&ev);
				goto out;
			}
			break;
		case YAML_ALIAS_EVENT:
			snprintf(err, errlen, "%s:%zu:%zu: YAML alias, expected plain values",
				 fname, ev.start_mark.line + 1, ev.start_mark.column + 1);
			yaml_event_delete(&ev);
			goto out;
		case YAML_SCALAR_EVENT:
			n = node_new(&ld, CN_SCALAR, ev.start_mark);
			if (n) {
				n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
				n->value = strndup((const char *)ev.data.scalar.value,
						   ev.data.scalar.length);
				/* An embedded NUL would make strcmp lie about the value. */
				if (n->value && strlen(n->value) != ev.data.scalar.length) {
					snprintf(
					    err, errlen,
					    "%s:%u:%u: NUL character in a value, expected text",
					    fname, n->line, n->col);
					node_free(n);
					yaml_event_delete(&ev);
					goto out;
				}
				if (!n->value) {
					snprintf(err, errlen, "%s: out of memory", fname);
					node_free(n);
					n = NULL;
				}
			}
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			n = node_new(&ld, ev.type == YAML_MAPPING_START_EVENT ? CN_MAP : CN_SEQ,
				     ev.start_mark);
			if (n && depth >= MAX_DEPTH) {
				snprintf(err, errlen,
					 "%s:%u:%u: nesting too deep, expected at most %d levels",
					 fname, n->line, n->col, MAX_DEPTH);
				node_free(n);
				yaml_event_delete(&ev);
				goto out;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--; /* libyaml guarantees balance */
			break;
		default:
			break;
		}
		if ((ev.type == YAML_SCALAR_EVENT || ev.type == YAML_SEQUENCE_START_EVENT ||
		     ev.type == YAML_MAPPING_START_EVENT)) {
			if (!n) {
				yaml_event_delete(&ev);
				goto out;
			}
			if (depth == 0) {
				root = n; /* one document: at most one root */
			} else if (node_add(&ld, stack[depth - 1], n)) {
				node_free(n);
				yaml_event_delete(&ev);
				goto out;
			}
			if (n->type != CN_SCALAR)
				stack[depth++] = n;
		}
		yaml_event_delete(&ev);
	}
	if (!root) {
		snprintf(err, errlen, "%s:1:1: empty file, expected a mapping with 'version: 1'",
			 fname);
		goto out;
	}
	ok = true;
out:
	yaml_parser_delete(&parser);
	if (!ok) {
		node_free(root);
		return NULL;
	}
	return root;
}

const char *type_name(const struct ts_config_node *n)
{
	return n->type == CN_MAP ? "a mapping" : n->type == CN_SEQ ? "a sequence" : "a scalar";
}
