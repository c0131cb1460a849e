/* kubeconfig.c - kubeconfig files and in-cluster configuration; see kubeconfig.h.
 *
 * Parsing goes YAML -> JSON (yaml.h) and then walks the JSON. Every document
 * is checked for shape (top level a mapping; clusters/users/contexts lists of
 * mappings with a string name and an inner mapping) while merging, and only
 * the chosen context's cluster and user are decoded in depth. Each merged
 * entry remembers the file and index it came from, so a message can point at
 * "file: users[3].user.token".
 *
 * Runs at start-up on the caller's thread (file reads are small and capped);
 * token re-reads later are the same kind of small read.
 */
#include "kubeconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "alloc.h"
#include "codec.h"
#include "log.h"
#include "timefmt.h"
#include "yaml.h"

/* A named cluster, user or context, as found in one file. */
struct kc_entry {
	const char *name;  /* borrowed from the document */
	json_t *body;      /* borrowed: the inner cluster/user/context mapping */
	const char *file;  /* borrowed: display name of the file */
	const char *dir;   /* borrowed: directory for relative paths, or NULL */
	size_t index;      /* position in its file's list */
};

struct kc_list {
	struct kc_entry *v; /* owned array */
	size_t n;
};

struct kc_merge {
	struct kc_list clusters;
	struct kc_list users;
	struct kc_list contexts;
	const char *current;      /* borrowed; first non-empty current-context */
	const char *current_file; /* borrowed */
};

/* Read a whole file of at most max bytes into a NUL-terminated buffer.
 * Returns 0, -ENOENT, -E2BIG or another -errno. */
static int read_file_capped(const char *path, size_t max, char **ret_data, size_t *ret_len)
{
	struct stat st;
	char *data = NULL;
	size_t len = 0;
	int fd, r;

	/* O_NONBLOCK and the regular-file check: a path naming a FIFO or a
	 * device must not hang the caller. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	/* Read up to max + 1 bytes whatever fstat says (files under /proc or
	 * a file being rewritten report sizes that are not to be trusted). */
	data = xmalloc(max + 2);
	for (;;) {
		ssize_t n = read(fd, data + len, max + 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			r = -E2BIG;
			goto out;
		}
	}
	data[len] = '\0';
	*ret_data = data;
	*ret_len = len;
	data = NULL;
	r = 0;
out:
	free(data);
	close(fd);
	return r;
}

/* The path as shown in messages: $HOME/... as ~/... Caller frees. */
static char *display_name(const char *path)
{
	const char *home = getenv("HOME");
	size_t hl = home ? strlen(home) : 0;

	if (hl > 1 && strncmp(path, home, hl) == 0 && path[hl] == '/')
		return xasprintf("~%s", path + hl);
	return xstrdup(path);
}

/* dir/path unless path is absolute. Caller frees. */
static char *resolve_path(const char *dir, const char *path)
{
	if (path[0] == '/' || !dir || !dir[0])
		return xstrdup(path);
	return xasprintf("%s/%s", dir, path);
}

/* The directory part of path ("." for a bare name). Caller frees. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

static const char *list_inner_key(const char *list)
{
	if (strcmp(list, "clusters") == 0)
		return "cluster";
	if (strcmp(list, "users") == 0)
		return "user";
	return "context";
}

static struct kc_entry *kc_list_find(struct kc_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return &l->v[i];
	return NULL;
}

/* Check one list of a document and merge its entries (first definition of a name wins). */
static int merge_list(struct kc_merge *m, struct kc_list *l, const char *key, json_t *doc,
		      const struct kubeconfig_source *src, struct errbuf *err)
{
	const char *inner_key = list_inner_key(key);
	json_t *arr = json_object_get(doc, key);
	json_t *item;
	size_t i;

	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return errbuf_set(err, -EINVAL, "%s: %s: must be a list", src->name, key);
	json_array_foreach(arr, i, item) {
		json_t *name, *inner;

		if (!json_is_object(item))
			return errbuf_set(err, -EINVAL, "%s: %s[%zu]: must be a mapping", src->name, key, i);
		name = json_object_get(item, "name");
		if (!json_is_string(name) || json_string_length(name) == 0)
			return errbuf_set(err, -EINVAL, "%s: %s[%zu].name: required", src->name, key, i);
		inner = json_object_get(item, inner_key);
		if (inner && json_is_null(inner))
			inner = NULL;
		if (!inner)
			return errbuf_set(err, -EINVAL, "%s: %s[%zu].%s: required", src->name, key, i,
					  inner_key);
		if (!json_is_object(inner))
			return errbuf_set(err, -EINVAL, "%s: %s[%zu].%s: must be a mapping", src->name,
					  key, i, inner_key);
		if (kc_list_find(l, json_string_value(name)))
			continue;
		l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
		l->v[l->n++] = (struct kc_entry){
			.name = json_string_value(name),
			.body = inner,
			.file = src->name,
			.dir = src->dir,
			.index = i,
		};
	}
	(void)m;
	return 0;
}

/* Field access with the file/field path in errors. Returns the string, NULL
 * when absent or empty; *r gets -EINVAL when present but not a string. */
static const char *field_str(const struct kc_entry *e, const char *list, const char *field,
			     struct errbuf *err, int *r)
{
	json_t *v = json_object_get(e->body, field);

	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		*r = errbuf_set(err, -EINVAL, "%s: %s[%zu].%s.%s: must be a string", e->file, list,
				e->index, list_inner_key(list), field);
		return NULL;
	}
	if (json_string_length(v) == 0)
		return NULL;
	return json_string_value(v);
}

/* A "-data" field (base64) or a file field, exactly one of them used.
 * *ret_data is NUL-terminated and owned by the caller; NULL when neither is set. */
static int load_blob(const struct kc_entry *e, const char *list, const char *file_field,
		     const char *data_field, size_t max, bool pem, struct errbuf *err,
		     uint8_t **ret_data, size_t *ret_len)
{
	const char *ik = list_inner_key(list);
	const char *file, *data;
	uint8_t *out = NULL;
	size_t out_len = 0;
	int r = 0;

	file = field_str(e, list, file_field, err, &r);
	if (r < 0)
		return r;
	data = field_str(e, list, data_field, err, &r);
	if (r < 0)
		return r;
	if (data) {
		if (strlen(data) > max / 3 * 4 + 8)
			return errbuf_set(err, -E2BIG, "%s: %s[%zu].%s.%s: longer than %zu bytes", e->file,
					  list, e->index, ik, data_field, max);
		if (base64_decode(data, strlen(data), &out, &out_len) < 0)
			return errbuf_set(err, -EINVAL, "%s: %s[%zu].%s.%s: invalid base64", e->file,
					  list, e->index, ik, data_field);
		if (pem && !memmem(out, out_len, "-----BEGIN ", 11)) {
			free(out);
			return errbuf_set(err, -EINVAL, "%s: %s[%zu].%s.%s: not PEM", e->file, list,
					  e->index, ik, data_field);
		}
	} else if (file) {
		char *path = resolve_path(e->dir, file);
		char *text = NULL;

		r = read_file_capped(path, max, &text, &out_len);
		if (r < 0) {
			errbuf_set(err, r, "%s: %s[%zu].%s.%s: %s: %s", e->file, list, e->index, ik,
				   file_field, path, r == -E2BIG ? "file too large" : strerror(-r));
			free(path);
			return r;
		}
		free(path);
		out = (uint8_t *)text;
		if (pem && !memmem(out, out_len, "-----BEGIN ", 11)) {
			free(out);
			return errbuf_set(err, -EINVAL, "%s: %s[%zu].%s.%s: not PEM", e->file, list,
					  e->index, ik, file_field);
		}
	}
	*ret_data = out;
	*ret_len = out_len;
	return 0;
}

/* Trim surrounding whitespace of a token read from a file, in place. */
static void trim(char *s)
{
	size_t n = strlen(s);
	size_t a = 0;

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	while (s[a] == ' ' || s[a] == '\t' || s[a] == '\n' || s[a] == '\r')
		a++;
	if (a)
		memmove(s, s + a, n - a + 1);
}

/* Whether a token can go into an Authorization header as is. */
static bool token_valid(const char *t)
{
	for (; *t; t++)
		if ((unsigned char)*t < 0x21 || (unsigned char)*t > 0x7e)
			return false;
	return true;
}

static int read_token_file(const char *path, char **ret_token)
{
	char *text = NULL;
	size_t len;
	int r;

	r = read_file_capped(path, KUBECONFIG_MAX_TOKEN, &text, &len);
	if (r < 0)
		return r;
	if (strlen(text) != len) {
		free(text);
		return -EINVAL;
	}
	trim(text);
	if (!text[0] || !token_valid(text)) {
		free(text);
		return -EINVAL;
	}
	*ret_token = text;
	return 0;
}

static int check_server(const char *server, const char *where, struct errbuf *err)
{
	const char *host;

	if (strlen(server) > KUBECONFIG_MAX_SERVER)
		return errbuf_set(err, -E2BIG, "%s: longer than %d bytes", where, KUBECONFIG_MAX_SERVER);
	if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
		return errbuf_set(err, -EINVAL, "%s: must start with https:// or http://", where);
	host = strstr(server, "://") + 3;
	if (!host[0] || host[0] == '/' || host[0] == ':')
		return errbuf_set(err, -EINVAL, "%s: no host", where);
	for (const char *p = server; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return errbuf_set(err, -EINVAL, "%s: invalid character", where);
	return 0;
}

static int decode_cluster(const struct kc_entry *e, struct kubeconfig *cfg, struct errbuf *err)
{
	const char *server;
	json_t *insecure;
	char where[512];
	int r = 0;

	server = field_str(e, "clusters", "server", err, &r);
	if (r < 0)
		return r;
	snprintf(where, sizeof(where), "%s: clusters[%zu].cluster.server", e->file, e->index);
	if (!server)
		return errbuf_set(err, -EINVAL, "%s: required", where);
	r = check_server(server, where, err);
	if (r < 0)
		return r;
	cfg->server = xstrdup(server);
	while (strlen(cfg->server) > 8 && cfg->server[strlen(cfg->server) - 1] == '/')
		cfg->server[strlen(cfg->server) - 1] = '\0';

	insecure = json_object_get(e->body, "insecure-skip-tls-verify");
	if (insecure && !json_is_null(insecure)) {
		if (!json_is_boolean(insecure))
			return errbuf_set(err, -EINVAL,
					  "%s: clusters[%zu].cluster.insecure-skip-tls-verify: must be a boolean",
					  e->file, e->index);
		cfg->insecure = json_is_true(insecure);
	}
	if (json_object_get(e->body, "proxy-url") &&
	    !json_is_null(json_object_get(e->body, "proxy-url")))
		return errbuf_set(err, -EINVAL, "%s: clusters[%zu].cluster.proxy-url: not supported",
				  e->file, e->index);
	if (json_object_get(e->body, "tls-server-name") &&
	    !json_is_null(json_object_get(e->body, "tls-server-name")))
		return errbuf_set(err, -EINVAL, "%s: clusters[%zu].cluster.tls-server-name: not supported",
				  e->file, e->index);
	r = load_blob(e, "clusters", "certificate-authority", "certificate-authority-data",
		      KUBECONFIG_MAX_PEM, true, err, &cfg->ca_pem, &cfg->ca_pem_len);
	if (r < 0)
		return r;
	if (cfg->insecure && cfg->ca_pem)
		return errbuf_set(err, -EINVAL,
				  "%s: clusters[%zu].cluster: certificate-authority with insecure-skip-tls-verify is not allowed",
				  e->file, e->index);
	return 0;
}

static int decode_user(const struct kc_entry *e, struct kubeconfig *cfg, struct errbuf *err)
{
	static const char *const unsupported[] = { "exec", "auth-provider", "username", "password",
						   "as", "impersonate" };
	const char *token, *token_file;
	int r = 0;

	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
		json_t *v = json_object_get(e->body, unsupported[i]);

		if (v && !json_is_null(v))
			return errbuf_set(err, -EINVAL, "%s: users[%zu].user.%s: not supported", e->file,
					  e->index, unsupported[i]);
	}
	const char *pairs[][2] = {
		{ "client-certificate", "client-certificate-data" },
		{ "client-key", "client-key-data" },
	};
	for (size_t i = 0; i < 2; i++) {
		bool a = field_str(e, "users", pairs[i][0], err, &r) != NULL;
		bool b = field_str(e, "users", pairs[i][1], err, &r) != NULL;

		if (r < 0)
			return r;
		if (a && b)
			return errbuf_set(err, -EINVAL, "%s: users[%zu].user: %s and %s are both set",
					  e->file, e->index, pairs[i][0], pairs[i][1]);
	}
	r = load_blob(e, "users", "client-certificate", "client-certificate-data", KUBECONFIG_MAX_PEM,
		      true, err, &cfg->cert_pem, &cfg->cert_pem_len);
	if (r < 0)
		return r;
	r = load_blob(e, "users", "client-key", "client-key-data", KUBECONFIG_MAX_PEM, true, err,
		      &cfg->key_pem, &cfg->key_pem_len);
	if (r < 0)
		return r;
	if (cfg->cert_pem && !cfg->key_pem)
		return errbuf_set(err, -EINVAL, "%s: users[%zu].user.client-key: required with a client certificate",
				  e->file, e->index);
	if (cfg->key_pem && !cfg->cert_pem)
		return errbuf_set(err, -EINVAL,
				  "%s: users[%zu].user.client-certificate: required with a client key",
				  e->file, e->index);

	token = field_str(e, "users", "token", err, &r);
	if (r < 0)
		return r;
	token_file = field_str(e, "users", "tokenFile", err, &r);
	if (r < 0)
		return r;
	if (token) {
		/* As kubectl: token takes precedence over tokenFile. */
		if (strlen(token) > KUBECONFIG_MAX_TOKEN)
			return errbuf_set(err, -E2BIG, "%s: users[%zu].user.token: longer than %u bytes",
					  e->file, e->index, KUBECONFIG_MAX_TOKEN);
		if (!token_valid(token))
			return errbuf_set(err, -EINVAL, "%s: users[%zu].user.token: invalid character",
					  e->file, e->index);
		cfg->token = xstrdup(token);
	} else if (token_file) {
		char *path = resolve_path(e->dir, token_file);

		r = read_token_file(path, &cfg->token);
		if (r < 0) {
			errbuf_set(err, r, "%s: users[%zu].user.tokenFile: %s: %s", e->file, e->index, path,
				   r == -E2BIG ? "file too large" :
				   r == -EINVAL ? "empty or invalid token" : strerror(-r));
			free(path);
			return r;
		}
		cfg->token_file = path;
		cfg->token_read_us = time_mono_us();
	}
	return 0;
}

static int check_namespace(const char *ns, const char *where, struct errbuf *err)
{
	size_t n = strlen(ns);

	if (n > 63)
		return errbuf_set(err, -EINVAL, "%s: longer than 63 bytes", where);
	for (size_t i = 0; i < n; i++) {
		char c = ns[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i && i + 1 < n)))
			return errbuf_set(err, -EINVAL, "%s: \"%s\" is not a valid namespace name", where, ns);
	}
	return 0;
}

int kubeconfig_parse(const struct kubeconfig_source *src, size_t n, const char *context,
		     struct errbuf *err, struct kubeconfig **ret_cfg)
{
	struct kc_merge m = { 0 };
	struct kubeconfig *cfg = NULL;
	json_t **docs = xcalloc(n ? n : 1, sizeof(*docs));
	const struct kc_entry *ctx, *cluster, *user = NULL;
	const char *cluster_name, *user_name, *ns;
	const char *ctx_name;
	int r = 0;

	if (n == 0) {
		r = errbuf_set(err, -ENOENT, "no kubeconfig given");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *stream = NULL;
		json_t *cur;

		if (src[i].len > KUBECONFIG_MAX_FILE) {
			r = errbuf_set(err, -E2BIG, "%s: larger than %u bytes", src[i].name,
				       KUBECONFIG_MAX_FILE);
			goto out;
		}
		r = yaml_parse_stream(src[i].text, src[i].len, NULL, err, &stream);
		if (r < 0) {
			errbuf_prefix(err, "%s", src[i].name);
			goto out;
		}
		if (json_array_size(stream) > 1) {
			json_decref(stream);
			r = errbuf_set(err, -EINVAL, "%s: more than one YAML document", src[i].name);
			goto out;
		}
		if (json_array_size(stream) == 0) {
			json_decref(stream);
			docs[i] = json_object();
			continue;
		}
		docs[i] = json_incref(json_array_get(stream, 0));
		json_decref(stream);
		if (json_is_null(docs[i])) {
			json_decref(docs[i]);
			docs[i] = json_object();
			continue;
		}
		if (!json_is_object(docs[i])) {
			r = errbuf_set(err, -EINVAL, "%s: not a mapping", src[i].name);
			goto out;
		}
		r = merge_list(&m, &m.clusters, "clusters", docs[i], &src[i], err);
		if (r < 0)
			goto out;
		r = merge_list(&m, &m.users, "users", docs[i], &src[i], err);
		if (r < 0)
			goto out;
		r = merge_list(&m, &m.contexts, "contexts", docs[i], &src[i], err);
		if (r < 0)
			goto out;
		cur = json_object_get(docs[i], "current-context");
		if (cur && !json_is_null(cur) && !json_is_string(cur)) {
			r = errbuf_set(err, -EINVAL, "%s: current-context: must be a string", src[i].name);
			goto out;
		}
		if (!m.current && json_string_length(cur) > 0) {
			m.current = json_string_value(cur);
			m.current_file = src[i].name;
		}
	}

	ctx_name = context && context[0] ? context : m.current;
	if (!ctx_name) {
		r = errbuf_set(err, -ENOENT, "%s: current-context is not set", src[0].name);
		goto out;
	}
	ctx = kc_list_find(&m.contexts, ctx_name);
	if (!ctx) {
		if (context && context[0])
			r = errbuf_set(err, -ENOENT, "%s: context \"%s\" not found", src[0].name, ctx_name);
		else
			r = errbuf_set(err, -ENOENT, "%s: current-context: context \"%s\" not found",
				       m.current_file, ctx_name);
		goto out;
	}
	cluster_name = field_str(ctx, "contexts", "cluster", err, &r);
	if (r < 0)
		goto out;
	user_name = field_str(ctx, "contexts", "user", err, &r);
	if (r < 0)
		goto out;
	ns = field_str(ctx, "contexts", "namespace", err, &r);
	if (r < 0)
		goto out;
	if (!cluster_name) {
		r = errbuf_set(err, -EINVAL, "%s: contexts[%zu].context.cluster: required", ctx->file,
			       ctx->index);
		goto out;
	}
	cluster = kc_list_find(&m.clusters, cluster_name);
	if (!cluster) {
		r = errbuf_set(err, -ENOENT, "%s: contexts[%zu].context.cluster: cluster \"%s\" not found",
			       ctx->file, ctx->index, cluster_name);
		goto out;
	}
	if (user_name) {
		user = kc_list_find(&m.users, user_name);
		if (!user) {
			r = errbuf_set(err, -ENOENT, "%s: contexts[%zu].context.user: user \"%s\" not found",
				       ctx->file, ctx->index, user_name);
			goto out;
		}
	}
	if (ns) {
		char where[512];

		snprintf(where, sizeof(where), "%s: contexts[%zu].context.namespace", ctx->file, ctx->index);
		r = check_namespace(ns, where, err);
		if (r < 0)
			goto out;
	}

	cfg = xnew(struct kubeconfig);
	cfg->source = xstrdup(src[0].name);
	cfg->context = xstrdup(ctx_name);
	cfg->namespace = xstrdup(ns ? ns : "default");
	r = decode_cluster(cluster, cfg, err);
	if (r < 0)
		goto out;
	if (user) {
		r = decode_user(user, cfg, err);
		if (r < 0)
			goto out;
	}
	*ret_cfg = cfg;
	cfg = NULL;
	r = 0;
out:
	kubeconfig_free(cfg);
	free(m.clusters.v);
	free(m.users.v);
	free(m.contexts.v);
	for (size_t i = 0; i < n; i++)
		json_decref(docs[i]);
	free(docs);
	return r;
}

int kubeconfig_load_files(const char *paths, const char *context, struct errbuf *err,
			  struct kubeconfig **ret_cfg)
{
	struct kubeconfig_source src[KUBECONFIG_MAX_FILES];
	char *names[KUBECONFIG_MAX_FILES] = { 0 };
	char *dirs[KUBECONFIG_MAX_FILES] = { 0 };
	char *texts[KUBECONFIG_MAX_FILES] = { 0 };
	char *list = xstrdup(paths ? paths : "");
	bool several = strchr(list, ':') != NULL;
	char *save = NULL;
	size_t n = 0;
	int r = 0;

	for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
		size_t len;

		if (!p[0])
			continue;
		if (n == KUBECONFIG_MAX_FILES) {
			r = errbuf_set(err, -E2BIG, "KUBECONFIG: more than %d files", KUBECONFIG_MAX_FILES);
			goto out;
		}
		r = read_file_capped(p, KUBECONFIG_MAX_FILE, &texts[n], &len);
		if (r == -ENOENT && several)
			continue;
		if (r < 0) {
			char *d = display_name(p);

			errbuf_set(err, r, "%s: %s", d,
				   r == -E2BIG ? "file too large" : strerror(-r));
			free(d);
			goto out;
		}
		names[n] = display_name(p);
		dirs[n] = dir_of(p);
		src[n] = (struct kubeconfig_source){
			.name = names[n], .dir = dirs[n], .text = texts[n], .len = len,
		};
		n++;
	}
	if (n == 0) {
		r = errbuf_set(err, -ENOENT, "no kubeconfig file found in \"%s\"", paths ? paths : "");
		goto out;
	}
	r = kubeconfig_parse(src, n, context, err, ret_cfg);
out:
	for (size_t i = 0; i < KUBECONFIG_MAX_FILES; i++) {
		free(names[i]);
		free(dirs[i]);
		free(texts[i]);
	}
	free(list);
	return r;
}

int kubeconfig_in_cluster(const char *sa_dir, struct errbuf *err, struct kubeconfig **ret_cfg)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *pod_ns = getenv("POD_NAMESPACE");
	struct kubeconfig *cfg = NULL;
	char *path = NULL;
	char *text = NULL;
	size_t len;
	int r;

	if (!sa_dir)
		sa_dir = KUBECONFIG_SA_DIR;
	if (!host || !host[0] || !port || !port[0])
		return errbuf_set(err, -ENOENT,
				  "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
	if (strlen(host) > 255 || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port))
		return errbuf_set(err, -EINVAL, "in-cluster: KUBERNETES_SERVICE_HOST/PORT: invalid");
	for (const char *p = host; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || strchr("/?#@[]", *p))
			return errbuf_set(err, -EINVAL, "in-cluster: KUBERNETES_SERVICE_HOST: invalid");

	cfg = xnew(struct kubeconfig);
	cfg->in_cluster = true;
	cfg->source = xstrdup("in-cluster");
	cfg->server = strchr(host, ':') ? xasprintf("https://[%s]:%s", host, port) :
					  xasprintf("https://%s:%s", host, port);

	path = xasprintf("%s/token", sa_dir);
	r = read_token_file(path, &cfg->token);
	if (r < 0) {
		errbuf_set(err, r, "in-cluster: %s: %s", path,
			   r == -EINVAL ? "empty or invalid token" : strerror(-r));
		goto out;
	}
	cfg->token_file = path;
	cfg->token_read_us = time_mono_us();
	path = NULL;

	path = xasprintf("%s/ca.crt", sa_dir);
	r = read_file_capped(path, KUBECONFIG_MAX_PEM, &text, &len);
	if (r < 0) {
		errbuf_set(err, r, "in-cluster: %s: %s", path,
			   r == -E2BIG ? "file too large" : strerror(-r));
		goto out;
	}
	if (!memmem(text, len, "-----BEGIN ", 11)) {
		r = errbuf_set(err, -EINVAL, "in-cluster: %s: not PEM", path);
		goto out;
	}
	cfg->ca_pem = (uint8_t *)text;
	cfg->ca_pem_len = len;
	text = NULL;
	free(path);
	path = NULL;

	if (pod_ns && pod_ns[0]) {
		r = check_namespace(pod_ns, "in-cluster: POD_NAMESPACE", err);
		if (r < 0)
			goto out;
		cfg->namespace = xstrdup(pod_ns);
	} else {
		path = xasprintf("%s/namespace", sa_dir);
		r = read_file_capped(path, KUBECONFIG_MAX_NAME, &text, &len);
		if (r == 0) {
			char where[600];

			trim(text);
			snprintf(where, sizeof(where), "in-cluster: %s", path);
			if (text[0]) {
				r = check_namespace(text, where, err);
				if (r < 0)
					goto out;
				cfg->namespace = text;
				text = NULL;
			}
		}
		if (!cfg->namespace)
			cfg->namespace = xstrdup("default");
	}
	*ret_cfg = cfg;
	cfg = NULL;
	r = 0;
out:
	free(path);
	free(text);
	kubeconfig_free(cfg);
	return r;
}

int kubeconfig_load_auto(const char *path, const char *context, struct errbuf *err,
			 struct kubeconfig **ret_cfg)
{
	const char *env = getenv("KUBECONFIG");
	const char *home = getenv("HOME");
	char *def;
	int r;

	if (path && path[0]) {
		/* An explicit path is one file, even with a ':' in its name. */
		struct kubeconfig_source src;
		char *text = NULL, *name = display_name(path), *dir = dir_of(path);
		size_t len;

		r = read_file_capped(path, KUBECONFIG_MAX_FILE, &text, &len);
		if (r < 0) {
			errbuf_set(err, r, "%s: %s", name, r == -E2BIG ? "file too large" : strerror(-r));
		} else {
			src = (struct kubeconfig_source){ .name = name, .dir = dir, .text = text, .len = len };
			r = kubeconfig_parse(&src, 1, context, err, ret_cfg);
		}
		free(text);
		free(name);
		free(dir);
		return r;
	}
	if (env && env[0])
		return kubeconfig_load_files(env, context, err, ret_cfg);
	if (getenv("KUBERNETES_SERVICE_HOST"))
		return kubeconfig_in_cluster(NULL, err, ret_cfg);
	if (!home || !home[0])
		return errbuf_set(err, -ENOENT, "no kubeconfig: KUBECONFIG and HOME are not set");
	def = xasprintf("%s/.kube/config", home);
	r = kubeconfig_load_files(def, context, err, ret_cfg);
	free(def);
	return r;
}

int kubeconfig_token_reload(struct kubeconfig *cfg, bool *ret_changed)
{
	char *tok = NULL;
	bool changed;
	int r;

	if (!cfg->token_file)
		return -ENOENT;
	r = read_token_file(cfg->token_file, &tok);
	if (r < 0)
		return r;
	cfg->token_read_us = time_mono_us();
	changed = !cfg->token || strcmp(cfg->token, tok) != 0;
	free(cfg->token);
	cfg->token = tok;
	if (ret_changed)
		*ret_changed = changed;
	return 0;
}

const char *kubeconfig_token(struct kubeconfig *cfg)
{
	int64_t period = cfg->token_refresh_us > 0 ? cfg->token_refresh_us : KUBECONFIG_TOKEN_REFRESH_US;

	if (cfg->token_file && time_mono_us() - cfg->token_read_us >= period) {
		int r = kubeconfig_token_reload(cfg, NULL);

		if (r < 0) {
			log_warn("%s: cannot re-read %s (%s); keeping the current token", cfg->source,
				 cfg->token_file, strerror(-r));
			/* Try again in a period, not on every request. */
			cfg->token_read_us = time_mono_us();
		}
	}
	return cfg->token;
}

struct kubeconfig *kubeconfig_free(struct kubeconfig *cfg)
{
	if (!cfg)
		return NULL;
	free(cfg->source);
	free(cfg->context);
	free(cfg->server);
	free(cfg->ca_pem);
	free(cfg->cert_pem);
	if (cfg->key_pem) {
		explicit_bzero(cfg->key_pem, cfg->key_pem_len);
		free(cfg->key_pem);
	}
	if (cfg->token) {
		explicit_bzero(cfg->token, strlen(cfg->token));
		free(cfg->token);
	}
	free(cfg->token_file);
	free(cfg->namespace);
	free(cfg);
	return NULL;
}
