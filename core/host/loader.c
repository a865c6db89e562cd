/* SPDX-License-Identifier: MIT */
/*
 * Loading one plugin instance: check its `plugins:` entry, find the .so
 * (plugin_path, then the install directory), dlopen it, check its
 * descriptor (ABI version 2, or version 1 through the frozen layouts of
 * abi_v1.h), create the instance; and the reverse.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host_internal.h"

void instance_free(struct ts_pipeline_host *ph, struct instance *in)
{
	if (!in)
		return;
	atomic_store(&in->dying, true);
	/* No timer callback runs during or after destroy(). */
	timers_cancel(ph, in, 0);
	if (in->created && in->desc.destroy)
		in->desc.destroy(in->state);
	timers_cancel(ph, in, 0);
	/* What the instance leaves behind goes with it: outputs, notes, peer slots. */
	outputs_close_all(in);
	notes_release(in);
	peer_slots_free(in);
	if (in->handle)
		dlclose(in->handle);
	pthread_mutex_destroy(&in->pslock);
	pthread_mutex_destroy(&in->olock);
	free(in->name);
	free(in->use);
	free(in->so_path);
	free(in);
}

static bool valid_instance_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > MAX_NAME)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}

static char *join_path(const char *dir, const char *file)
{
	char *p;

	if (file[0] == '/')
		return strdup(file);
	if (asprintf(&p, "%s/%s", dir, file) < 0)
		return NULL;
	return p;
}

static bool is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Find the .so for 'use' (its value node for messages); returns a malloc'd path or NULL + error. */
static char *resolve_plugin(struct loader *ld, const struct ts_config_node *use)
{
	const char *u = use->value;
	char *file = NULL, *searched = NULL, *found = NULL;
	size_t slen = 0, n_dirs;
	FILE *sf;

	if (strchr(u, '/')) {
		char *p = join_path(ld->dir, u);

		if (!p) {
			LERR(ld, use, "out of memory");
			return NULL;
		}
		if (!is_file(p)) {
			LERR(ld, use, "plugin file '%s' not found, expected a path to a .so", p);
			free(p);
			return NULL;
		}
		return p;
	}
	if (asprintf(&file, "%s%s", u,
		     strlen(u) > 3 && !strcmp(u + strlen(u) - 3, ".so") ? "" : ".so") < 0) {
		LERR(ld, use, "out of memory");
		return NULL;
	}
	sf = open_memstream(&searched, &slen);
	if (!sf) {
		free(file);
		LERR(ld, use, "out of memory");
		return NULL;
	}
	/* The YAML's plugin_path entries in order, then the install directory. */
	n_dirs = (ld->plugin_path ? ld->plugin_path->n : 0) + 1;
	for (size_t i = 0; i < n_dirs && !found; i++) {
		char *cand, *d = NULL;
		const char *dir;

		if (i + 1 < n_dirs) {
			d = join_path(ld->dir, ld->plugin_path->kids[i]->value);
			dir = d;
		} else {
			dir = ld->ph->default_dir ? ld->ph->default_dir : TS_PLUGIN_DIR;
		}
		cand = dir ? join_path(dir, file) : NULL;
		free(d);
		if (!cand)
			break;
		fprintf(sf, "%s%s", i ? ", " : "", cand);
		if (is_file(cand))
			found = cand;
		else
			free(cand);
	}
	fclose(sf);
	/* Say the fix too: a pipeline copied elsewhere keeps relative plugin_path entries. */
	if (!found)
		LERR(ld, use,
		     "plugin '%s' not found, searched: %s; relative plugin_path entries are taken "
		     "from the pipeline file's directory (%s): set plugin_path: to the directory "
		     "holding %s (an absolute path works from anywhere), give use: an absolute "
		     "path, or install the plugins (cmake --install)",
		     u, searched ? searched : "", ld->dir, file);
	free(searched);
	free(file);
	return found;
}

void *default_open(const char *path, char *err, size_t errlen)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		const char *e = dlerror();

		snprintf(err, errlen, "%s", e ? e : "unknown dlopen error");
	}
	return h;
}

static int parse_hooks(struct loader *ld, const struct ts_config_node *v, unsigned int *mask)
{
	*mask = 0;
	if (v->type != CN_SEQ) {
		LERR(ld, v, "'hooks' is %s, expected a list like [plaintext_out, plaintext_in]",
		     type_name(v));
		return -1;
	}
	for (size_t i = 0; i < v->n; i++) {
		const struct ts_config_node *it = v->kids[i];
		int h;

		if (it->type != CN_SCALAR) {
			LERR(ld, it, "hook is %s, expected a hook name", type_name(it));
			return -1;
		}
		for (h = 0; h < TS_HOOK_COUNT; h++)
			if (!strcmp(it->value, ts_hook_name((enum ts_hook)h)))
				break;
		if (h == TS_HOOK_COUNT) {
			LERR(ld, it,
			     "unknown hook '%.64s', expected plaintext_out, ciphertext_out, "
			     "ciphertext_in or plaintext_in",
			     it->value);
			return -1;
		}
		if (*mask & (1u << h)) {
			LERR(ld, it, "hook '%s' listed twice, expected each hook once", it->value);
			return -1;
		}
		*mask |= 1u << h;
	}
	return 0;
}

int parse_entry(struct loader *ld, const struct ts_config_node *it, struct entry *e)
{
	memset(e, 0, sizeof(*e));
	e->node = it;
	e->priority = TS_PRIORITY_DEFAULT;
	if (it->type != CN_MAP) {
		LERR(ld, it, "plugin entry is %s, expected a mapping with name, use, hooks",
		     type_name(it));
		return -1;
	}
	for (size_t i = 0; i + 1 < it->n; i += 2) {
		const struct ts_config_node *k = it->kids[i], *v = it->kids[i + 1];

		if (!strcmp(k->value, "name") || !strcmp(k->value, "use")) {
			if (v->type != CN_SCALAR || node_is_null(v)) {
				LERR(ld, v, "'%s' is %s, expected a non-empty string", k->value,
				     node_is_null(v) ? "empty" : type_name(v));
				return -1;
			}
			if (k->value[0] == 'n')
				e->name = v;
			else
				e->use = v;
		} else if (!strcmp(k->value, "hooks")) {
			if (parse_hooks(ld, v, &e->hooks))
				return -1;
			e->hooks_node = v;
		} else if (!strcmp(k->value, "priority")) {
			long long p;

			if (v->type != CN_SCALAR || parse_ll(v->value, &p) || p < INT_MIN ||
			    p > INT_MAX) {
				LERR(ld, v, "'priority' is '%.64s', expected an integer",
				     v->type == CN_SCALAR ? v->value : type_name(v));
				return -1;
			}
			e->priority = (int)p;
		} else if (!strcmp(k->value, "config")) {
			if (node_is_null(v))
				continue;
			if (v->type != CN_MAP) {
				LERR(ld, v, "'config' is %s, expected a mapping", type_name(v));
				return -1;
			}
			e->config = v;
		} else {
			LERR(ld, k,
			     "unknown key '%.64s' in plugin entry, expected name, use, hooks, "
			     "priority or config",
			     k->value);
			return -1;
		}
	}
	if (!e->name) {
		LERR(ld, it, "plugin entry without 'name', expected a unique instance name");
		return -1;
	}
	if (!valid_instance_name(e->name->value)) {
		LERR(ld, e->name,
		     "instance name '%.64s' is invalid, expected 1-%d of [A-Za-z0-9_.-]",
		     e->name->value, MAX_NAME);
		return -1;
	}
	if (!e->use) {
		LERR(ld, it, "plugin entry '%s' without 'use', expected a plugin name or path",
		     e->name->value);
		return -1;
	}
	if (!e->hooks_node) {
		LERR(ld, it, "plugin entry '%s' without 'hooks', expected a list (may be [])",
		     e->name->value);
		return -1;
	}
	return 0;
}

/*
 * Find the descriptor: tinescale_plugin_v2, else tinescale_plugin_v1.  A
 * struct_size below the version's first size is a broken plugin; one above
 * what this host knows is a plugin built against a newer header, whose
 * fields we would not honour: both are refused with a message.
 */
static int desc_load(struct loader *ld, const struct entry *e, struct instance *in)
{
	const struct ts_plugin_v2 *d2;
	const struct ts_plugin_v1 *d1;
	size_t known, min;
	uint32_t abi, size;

	dlerror();
	d2 = dlsym(in->handle, TS_PLUGIN_SYMBOL);
	d1 = d2 ? NULL : dlsym(in->handle, TS_PLUGIN_V1_SYMBOL);
	if (!d2 && !d1) {
		LERR(ld, e->use, "'%s' has no symbol %s, expected a tinescale plugin", in->so_path,
		     TS_PLUGIN_SYMBOL);
		return -1;
	}
	/* Both descriptors start with abi_version and struct_size. */
	abi = d2 ? d2->abi_version : d1->abi_version;
	size = d2 ? d2->struct_size : d1->struct_size;
	if (abi != (d2 ? TS_PLUGIN_ABI_VERSION : 1)) {
		LERR(ld, e->use, "'%s' has plugin ABI version %" PRIu32 ", expected %d",
		     in->so_path, abi, d2 ? TS_PLUGIN_ABI_VERSION : 1);
		return -1;
	}
	known = d2 ? sizeof(struct ts_plugin_v2) : sizeof(struct ts_plugin_v1);
	min = d2 ? TS_PLUGIN_V2_MIN_SIZE : sizeof(struct ts_plugin_v1);
	if (size < min) {
		LERR(ld, e->use,
		     "'%s' has descriptor struct_size %" PRIu32 ", expected at least %zu",
		     in->so_path, size, min);
		return -1;
	}
	if (size > known) {
		LERR(ld, e->use,
		     "plugin '%s' (%s) was built against a newer tinescale (descriptor %" PRIu32
		     " bytes, this host knows %zu), expected a plugin built for this version",
		     in->name, in->so_path, size, known);
		return -1;
	}
	if (d2) {
		in->desc = (struct plugin_desc){
		    .abi = 2,
		    .name = d2->name,
		    .version = d2->version,
		    .create = d2->create,
		    .destroy = d2->destroy,
		    .hooks = {[TS_HOOK_PLAINTEXT_OUT] = (void *)d2->plaintext_out,
			      [TS_HOOK_CIPHERTEXT_OUT] = (void *)d2->ciphertext_out,
			      [TS_HOOK_CIPHERTEXT_IN] = (void *)d2->ciphertext_in,
			      [TS_HOOK_PLAINTEXT_IN] = (void *)d2->plaintext_in},
		    .event = (void *)d2->event,
		};
		/* Fields appended in 2.1, only as far as the plugin's descriptor has them. */
		if (size >= TS_PLUGIN_V2_1_SIZE) {
			in->desc.v2_1 = true;
			in->desc.peer_state_size = d2->peer_state_size;
			in->desc.peer_added = d2->peer_added;
			in->desc.peer_removed = d2->peer_removed;
			in->desc.migrate = d2->migrate;
			in->desc.schema = d2->config_schema;
		}
		if (in->desc.peer_state_size > PEER_STATE_MAX) {
			LERR(ld, e->use,
			     "'%s' asks for %zu bytes of state per peer, expected at most %d",
			     in->so_path, in->desc.peer_state_size, PEER_STATE_MAX);
			return -1;
		}
		/* A descriptor built against an older header ends before wire_overhead: 0. */
		if (size >= offsetof(struct ts_plugin_v2, wire_overhead) + sizeof(uint32_t))
			in->desc.wire_overhead = d2->wire_overhead;
	} else {
		in->desc = (struct plugin_desc){
		    .abi = 1,
		    .name = d1->name,
		    .version = d1->version,
		    .create = d1->create,
		    .destroy = d1->destroy,
		    .hooks = {[TS_HOOK_PLAINTEXT_OUT] = (void *)d1->plaintext_out,
			      [TS_HOOK_CIPHERTEXT_OUT] = (void *)d1->ciphertext_out,
			      [TS_HOOK_CIPHERTEXT_IN] = (void *)d1->ciphertext_in,
			      [TS_HOOK_PLAINTEXT_IN] = (void *)d1->plaintext_in},
		    .event = (void *)d1->event,
		};
	}
	if (!in->desc.name || !in->desc.version || !in->desc.create) {
		LERR(ld, e->use,
		     "'%s' has an incomplete descriptor, expected name, version, create",
		     in->so_path);
		return -1;
	}
	return 0;
}

static const struct ts_config_node empty_map = {.type = CN_MAP};

/*
 * A symlink to so_path with a name never used before in this process: in a
 * fresh private directory, named by a counter.  The caller removes both
 * right after dlopen, so nothing is left behind even if the daemon dies.
 * NULL when that fails (then so_path is opened as it is).  load_lock held.
 */
static char *unique_link(struct ts_pipeline_host *ph, const char *so_path, char **dir)
{
	const char *tmp = getenv("TMPDIR");
	char *link;

	if (asprintf(dir, "%s/tinescale-plugin.XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp") < 0) {
		*dir = NULL;
		return NULL;
	}
	if (!mkdtemp(*dir)) {
		free(*dir);
		*dir = NULL;
		return NULL;
	}
	if (asprintf(&link, "%s/%llu.so", *dir, ++ph->link_gen) < 0)
		link = NULL;
	if (link && symlink(so_path, link)) {
		free(link);
		link = NULL;
	}
	if (!link) {
		rmdir(*dir);
		free(*dir);
		*dir = NULL;
	}
	return link;
}

struct instance *instance_build(struct loader *ld, const struct entry *e, unsigned int order)
{
	struct ts_pipeline_host *ph = ld->ph;
	struct instance *in;
	char perr[256] = "", oerr[512] = "", *link, *link_dir;

	in = aligned_alloc(_Alignof(struct instance), sizeof(*in));
	if (!in) {
		LERR(ld, e->node, "out of memory");
		return NULL;
	}
	memset(in, 0, sizeof(*in));
	pthread_mutex_init(&in->pslock, NULL);
	pthread_mutex_init(&in->olock, NULL);
	in->svc = services_template;
	in->ph = ph;
	in->priority = e->priority;
	in->order = order;
	in->hooks = e->hooks;
	in->config = e->config ? e->config : &empty_map;
	in->name = strdup(e->name->value);
	in->use = strdup(e->use->value);
	if (!in->name || !in->use) {
		LERR(ld, e->node, "out of memory");
		goto fail;
	}
	in->so_path = resolve_plugin(ld, e->use);
	if (!in->so_path)
		goto fail;
	/*
	 * dlopen through a link with a name never used before: glibc returns
	 * an already loaded object whose name matches, so dlopen(so_path) of
	 * a .so rebuilt at the same path during a reload would return the old
	 * build, still mapped by the running instance.  An object with the
	 * same file (dev, inode) is still shared; a rebuilt file is a new one.
	 */
	link = unique_link(ph, in->so_path, &link_dir);
	in->handle = ph->open(link ? link : in->so_path, oerr, sizeof(oerr));
	if (link) {
		unlink(link);
		rmdir(link_dir);
		free(link);
		free(link_dir);
	}
	if (!in->handle) {
		LERR(ld, e->use, "cannot load plugin '%s': %s", in->so_path, oerr);
		goto fail;
	}
	if (desc_load(ld, e, in))
		goto fail;
	for (size_t i = 0; i < e->hooks_node->n; i++) {
		const struct ts_config_node *hn = e->hooks_node->kids[i];

		for (int h = 0; h < TS_HOOK_COUNT; h++) {
			if (!strcmp(hn->value, ts_hook_name((enum ts_hook)h)) &&
			    !in->desc.hooks[h]) {
				LERR(ld, hn,
				     "plugin '%s' (%s) does not support hook '%s', expected one "
				     "it implements",
				     in->name, in->desc.name, hn->value);
				goto fail;
			}
		}
	}
	if (in->desc.schema && schema_check(ld, e, in))
		goto fail;
	if (in->desc.create(&in->svc, in->config, &in->state, perr, sizeof(perr)) != 0) {
		perr[sizeof(perr) - 1] = '\0';
		for (char *p = perr; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		/* At the key the error is about, not at `config:` (config_error_node). */
		LERR(ld, config_error_node(in, e, perr), "plugin '%s' (%s): %s", in->name,
		     in->desc.name, perr[0] ? perr : "create failed");
		goto fail;
	}
	in->created = true;
	peer_slots_start(in);
	return in;
fail:
	instance_free(ph, in);
	return NULL;
}
