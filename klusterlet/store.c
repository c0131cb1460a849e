/* store.c - the klusterlet's durable objects in a state directory or in
 * Secrets of the spoke; see store.h for the layout and the commit protocol.
 *
 * Directory operations run one at a time (a FIFO per store) on libuv's thread
 * pool: the worker only touches the file system and plain C arrays, the
 * loop side builds and hands out the JSON. Secret operations are kclient
 * requests on the loop. Freeing the store cancels what has not started and
 * orphans what is running (its completion frees it without calling back).
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "codec.h"
#include "kclient_ops.h"
#include "log.h"

#define STORE_COMMIT_MARK ".commit"
#define STORE_NEW_SUFFIX ".new"
#define STORE_DEFAULT_MANAGER "nave-klusterlet"

enum store_kind { STORE_DIR, STORE_SECRET };

struct store_kv {
	char *key;    /* owned */
	char *value;  /* owned; NUL-terminated */
	size_t len;
};

struct store_op {
	struct store_op *next;        /* FIFO of directory operations */
	struct agent_store *st;       /* borrowed; NULL once orphaned */
	bool save;
	char *object;                 /* owned */
	char *dir;                    /* owned: the state directory (the store may go away) */
	struct store_kv *kv;          /* owned: values to save, or values loaded */
	size_t n_kv;
	int r;
	char msg[ERRBUF_MAX];
	agent_store_load_fn load_cb;
	agent_store_save_fn save_cb;
	void *userdata;
	uv_work_t work;
	struct kclient_call *call;    /* Secret backend: the request in flight */
	struct store_op *prev_live, *next_live; /* Secret ops in flight */
};

struct agent_store {
	enum store_kind kind;
	uv_loop_t *loop;              /* borrowed */
	char *dir;                    /* owned; STORE_DIR */
	struct kclient *kc;           /* borrowed; STORE_SECRET */
	char *ns;                     /* owned; STORE_SECRET */
	char *manager;                /* owned */
	char *describe;               /* owned */
	struct store_op *head, *tail; /* directory FIFO; head is running when busy */
	bool busy;
	bool in_callback;             /* a directory callback is running */
	bool free_pending;            /* agent_store_free was called from it */
	struct store_op *live;        /* Secret operations in flight */
};

static bool key_valid(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > AGENT_STORE_KEY_MAX || k[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	/* "x.new" would be taken for an uncommitted value. */
	if (n >= strlen(STORE_NEW_SUFFIX) &&
	    strcmp(k + n - strlen(STORE_NEW_SUFFIX), STORE_NEW_SUFFIX) == 0)
		return false;
	return true;
}

static bool object_valid(const char *o)
{
	size_t n = o ? strlen(o) : 0;

	if (n == 0 || n > AGENT_STORE_OBJECT_MAX || o[0] == '-' || o[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((o[i] >= 'a' && o[i] <= 'z') || (o[i] >= '0' && o[i] <= '9') || o[i] == '-'))
			return false;
	return true;
}

static void kv_free(struct store_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		if (kv[i].value) {
			/* Values may be private keys. */
			explicit_bzero(kv[i].value, kv[i].len);
			free(kv[i].value);
		}
	}
	free(kv);
}

static struct store_op *op_free(struct store_op *op)
{
	if (!op)
		return NULL;
	kv_free(op->kv, op->n_kv);
	free(op->object);
	free(op->dir);
	free(op);
	return NULL;
}

static json_t *kv_to_json(const struct store_kv *kv, size_t n)
{
	json_t *o = json_object();

	for (size_t i = 0; i < n; i++)
		json_object_set_new(o, kv[i].key, json_stringn(kv[i].value, kv[i].len));
	return o;
}

/* Copy values into an array, checking the caps. */
static int kv_from_json(const json_t *values, size_t max_total, struct store_kv **ret_kv,
			size_t *ret_n, struct errbuf *err)
{
	struct store_kv *kv;
	const char *k;
	json_t *v;
	size_t n = 0, total = 0;

	if (!json_is_object(values))
		return errbuf_set(err, -EINVAL, "store: values must be an object");
	if (json_object_size(values) > AGENT_STORE_KEYS)
		return errbuf_set(err, -E2BIG, "store: more than %d keys", AGENT_STORE_KEYS);
	kv = xcalloc(json_object_size(values) + 1, sizeof(*kv));
	json_object_foreach((json_t *)values, k, v) {
		size_t len;

		if (!key_valid(k)) {
			kv_free(kv, n);
			return errbuf_set(err, -EINVAL, "store: key \"%.64s\": 1..%d of [A-Za-z0-9._-]",
					  k, AGENT_STORE_KEY_MAX);
		}
		if (!json_is_string(v)) {
			kv_free(kv, n);
			return errbuf_set(err, -EINVAL, "store: %s: must be a string", k);
		}
		len = json_string_length(v);
		total += len;
		if (len > AGENT_STORE_VALUE_MAX || total > max_total) {
			kv_free(kv, n);
			return errbuf_set(err, -E2BIG, "store: %s: %zu bytes, over the cap (%zu in all)",
					  k, len, max_total);
		}
		kv[n].key = xstrdup(k);
		kv[n].value = xmalloc(len + 1);
		memcpy(kv[n].value, json_string_value(v), len + 1);
		kv[n].len = len;
		n++;
	}
	*ret_kv = kv;
	*ret_n = n;
	return 0;
}

/* Directory backend: the worker side (no JSON, no loop) --------------------- */

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int write_file(const char *path, const char *data, size_t len)
{
	int fd, r = 0;
	size_t off = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	/* An existing file keeps its mode through O_CREAT: force 0600. */
	if (fchmod(fd, 0600) < 0)
		r = -errno;
	while (r == 0 && off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		off += (size_t)w;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int read_file(const char *path, size_t max, char **ret_data, size_t *ret_len)
{
	struct stat sb;
	int fd, r = 0;
	char *data;
	size_t off = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)sb.st_size > max) {
		close(fd);
		return -E2BIG;
	}
	data = xmalloc((size_t)sb.st_size + 1);
	while (off < (size_t)sb.st_size) {
		ssize_t n = read(fd, data + off, (size_t)sb.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	if (r < 0) {
		free(data);
		return r;
	}
	data[off] = '\0';
	*ret_data = data;
	*ret_len = off;
	return 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

/* Finish or undo an interrupted save of objdir. */
static int dir_recover(const char *objdir)
{
	char *mark = xasprintf("%s/%s", objdir, STORE_COMMIT_MARK);
	bool roll_forward = access(mark, F_OK) == 0;
	struct dirent *de;
	DIR *d;
	int r = 0;

	d = opendir(objdir);
	if (!d) {
		r = -errno;
		goto out;
	}
	while ((de = readdir(d))) {
		char *from, *to;

		if (!has_suffix(de->d_name, STORE_NEW_SUFFIX))
			continue;
		from = xasprintf("%s/%s", objdir, de->d_name);
		if (roll_forward) {
			to = xasprintf("%s/%.*s", objdir,
				       (int)(strlen(de->d_name) - strlen(STORE_NEW_SUFFIX)), de->d_name);
			if (rename(from, to) < 0 && r == 0)
				r = -errno;
			free(to);
		} else {
			unlink(from);
		}
		free(from);
	}
	closedir(d);
	if (roll_forward && r == 0) {
		fsync_dir(objdir);
		unlink(mark);
		fsync_dir(objdir);
	}
out:
	free(mark);
	return r;
}

static void dir_load_work(struct store_op *op, const char *dir)
{
	char *objdir = xasprintf("%s/%s", dir, op->object);
	size_t cap = 0;
	struct dirent *de;
	DIR *d;
	int r;

	r = dir_recover(objdir);
	if (r == -ENOENT) {
		op->r = -ENOENT;
		goto out;
	}
	if (r < 0) {
		op->r = r;
		snprintf(op->msg, sizeof(op->msg), "%s: %s", objdir, strerror(-r));
		goto out;
	}
	d = opendir(objdir);
	if (!d) {
		op->r = -errno;
		snprintf(op->msg, sizeof(op->msg), "%s: %s", objdir, strerror(errno));
		goto out;
	}
	while ((de = readdir(d))) {
		char *path, *data = NULL;
		size_t len = 0;

		if (!key_valid(de->d_name))
			continue;
		if (op->n_kv == AGENT_STORE_KEYS) {
			op->r = -E2BIG;
			snprintf(op->msg, sizeof(op->msg), "%s: more than %d files", objdir,
				 AGENT_STORE_KEYS);
			break;
		}
		path = xasprintf("%s/%s", objdir, de->d_name);
		r = read_file(path, AGENT_STORE_VALUE_MAX, &data, &len);
		if (r < 0) {
			op->r = r;
			snprintf(op->msg, sizeof(op->msg), "%s: %s", path,
				 r == -E2BIG ? "larger than the cap" : strerror(-r));
			free(path);
			break;
		}
		free(path);
		if (op->n_kv == cap) {
			cap = cap ? 2 * cap : 8;
			op->kv = xrealloc(op->kv, cap * sizeof(*op->kv));
		}
		op->kv[op->n_kv].key = xstrdup(de->d_name);
		op->kv[op->n_kv].value = data;
		op->kv[op->n_kv].len = len;
		op->n_kv++;
	}
	closedir(d);
	if (op->r == 0 && op->n_kv == 0)
		op->r = -ENOENT;
out:
	free(objdir);
}

static void dir_save_work(struct store_op *op, const char *dir)
{
	char *objdir = xasprintf("%s/%s", dir, op->object), *mark = NULL;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (mkdir(objdir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	r = dir_recover(objdir);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < op->n_kv && r == 0; i++) {
		char *p = xasprintf("%s/%s%s", objdir, op->kv[i].key, STORE_NEW_SUFFIX);

		r = write_file(p, op->kv[i].value, op->kv[i].len);
		free(p);
	}
	if (r < 0)
		goto out;
	r = fsync_dir(objdir);
	if (r < 0)
		goto out;
	/* From here on a load finishes the save (see dir_recover). */
	mark = xasprintf("%s/%s", objdir, STORE_COMMIT_MARK);
	r = write_file(mark, "", 0);
	if (r < 0)
		goto out;
	r = fsync_dir(objdir);
	if (r < 0)
		goto out;
	/* Keys of the old object that the new one lacks go first. */
	d = opendir(objdir);
	if (d) {
		while ((de = readdir(d))) {
			bool keep = false;

			if (!key_valid(de->d_name))
				continue;
			for (size_t i = 0; i < op->n_kv && !keep; i++)
				keep = strcmp(op->kv[i].key, de->d_name) == 0;
			if (!keep) {
				char *p = xasprintf("%s/%s", objdir, de->d_name);

				unlink(p);
				free(p);
			}
		}
		closedir(d);
	}
	r = dir_recover(objdir);
out:
	if (r < 0) {
		op->r = r;
		snprintf(op->msg, sizeof(op->msg), "%s: %s", objdir, strerror(-r));
	}
	free(mark);
	free(objdir);
}

static void dir_work_cb(uv_work_t *w)
{
	struct store_op *op = w->data;

	if (op->save)
		dir_save_work(op, op->dir);
	else
		dir_load_work(op, op->dir);
}

/* Directory backend: the loop side -------------------------------------- */

static void dir_next(struct agent_store *st);

static void dir_after_cb(uv_work_t *w, int status)
{
	struct store_op *op = w->data;
	struct agent_store *st = op->st;
	json_t *values = NULL;

	if (status == UV_ECANCELED && op->r == 0) {
		op->r = -ECANCELED;
		snprintf(op->msg, sizeof(op->msg), "cancelled");
	}
	if (!st) {
		op_free(op);
		return;
	}
	st->head = op->next;
	if (!st->head)
		st->tail = NULL;
	st->busy = false;
	/* The callback may free the store: agent_store_free then only marks it
	 * and the release happens here, after the callback. */
	st->in_callback = true;
	if (op->save) {
		if (op->save_cb)
			op->save_cb(op->userdata, op->r, op->msg);
	} else {
		if (op->r == 0)
			values = kv_to_json(op->kv, op->n_kv);
		op->load_cb(op->userdata, op->r, values, op->msg);
		json_decref(values);
	}
	st->in_callback = false;
	op_free(op);
	if (st->free_pending) {
		agent_store_free(st);
		return;
	}
	dir_next(st);
}

static void dir_next(struct agent_store *st)
{
	struct store_op *op = st->head;

	if (st->busy || !op)
		return;
	st->busy = true;
	op->work.data = op;
	if (uv_queue_work(st->loop, &op->work, dir_work_cb, dir_after_cb) < 0) {
		op->r = -EIO;
		/* Not expected; report through the same path on the next turn. */
		dir_after_cb(&op->work, 0);
	}
}

static void dir_enqueue(struct agent_store *st, struct store_op *op)
{
	op->st = st;
	op->dir = xstrdup(st->dir);
	if (st->tail)
		st->tail->next = op;
	else
		st->head = op;
	st->tail = op;
	dir_next(st);
}

/* Secret backend ---------------------------------------------------------- */

static void live_add(struct agent_store *st, struct store_op *op)
{
	op->st = st;
	op->next_live = st->live;
	if (st->live)
		st->live->prev_live = op;
	st->live = op;
}

static void live_remove(struct agent_store *st, struct store_op *op)
{
	if (op->prev_live)
		op->prev_live->next_live = op->next_live;
	else
		st->live = op->next_live;
	if (op->next_live)
		op->next_live->prev_live = op->prev_live;
}

static void secret_load_done(void *ud, const struct kclient_result *res)
{
	struct store_op *op = ud;
	struct agent_store *st = op->st;
	json_t *values = NULL, *data;
	const char *k;
	json_t *v;
	int r = 0;
	char msg[ERRBUF_MAX] = "";

	live_remove(st, op);
	if (res->r < 0) {
		r = res->err && res->err->reason == KCLIENT_NOT_FOUND ? -ENOENT : res->r;
		snprintf(msg, sizeof(msg), "Secret %s/%s: %.400s", st->ns, op->object,
			 res->err ? res->err->message : "failed");
		goto out;
	}
	data = json_object_get(res->body, "data");
	values = json_object();
	if (data && !json_is_object(data)) {
		r = -EINVAL;
		snprintf(msg, sizeof(msg), "Secret %s/%s: data: not an object", st->ns, op->object);
		goto out;
	}
	json_object_foreach(data, k, v) {
		uint8_t *bytes = NULL;
		size_t len = 0;

		if (!key_valid(k))
			continue;
		if (!json_is_string(v) ||
		    base64_decode(json_string_value(v), json_string_length(v), &bytes, &len) < 0) {
			r = -EINVAL;
			snprintf(msg, sizeof(msg), "Secret %s/%s: data.%s: not base64", st->ns,
				 op->object, k);
			goto out;
		}
		json_object_set_new(values, k, json_stringn((const char *)bytes, len));
		explicit_bzero(bytes, len);
		free(bytes);
		if (!json_object_get(values, k)) {
			r = -EINVAL;
			snprintf(msg, sizeof(msg), "Secret %s/%s: data.%s: not UTF-8 text", st->ns,
				 op->object, k);
			goto out;
		}
	}
	if (json_object_size(values) == 0)
		r = -ENOENT;
out:
	op->load_cb(op->userdata, r, r == 0 ? values : NULL, msg);
	json_decref(values);
	op_free(op);
}

static void secret_save_done(void *ud, const struct kclient_result *res)
{
	struct store_op *op = ud;
	struct agent_store *st = op->st;
	char msg[ERRBUF_MAX] = "";

	live_remove(st, op);
	if (res->r < 0)
		snprintf(msg, sizeof(msg), "Secret %s/%s: %.400s", st->ns, op->object,
			 res->err ? res->err->message : "failed");
	if (op->save_cb)
		op->save_cb(op->userdata, res->r, msg);
	op_free(op);
}

static int secret_start(struct agent_store *st, struct store_op *op, struct errbuf *err)
{
	struct kref ref = { .version = "v1", .resource = "secrets", .namespace = st->ns,
			    .name = op->object };
	json_t *obj = NULL, *data;
	int r;

	if (!op->save) {
		r = kclient_get(st->kc, &ref, secret_load_done, op, &op->call);
		goto out;
	}
	data = json_object();
	for (size_t i = 0; i < op->n_kv; i++) {
		char *b = base64_encode(op->kv[i].value, op->kv[i].len);

		json_object_set_new(data, op->kv[i].key, json_string(b));
		free(b);
	}
	obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:s, s:o}", "apiVersion", "v1", "kind",
			"Secret", "metadata", "name", op->object, "namespace", st->ns, "labels",
			"app.kubernetes.io/managed-by", "nave-klusterlet", "type", "Opaque", "data",
			data);
	r = kclient_apply(st->kc, &ref, obj,
			  &(struct kclient_patch_opts){ .field_manager = st->manager, .force = true },
			  secret_save_done, op, &op->call);
out:
	json_decref(obj);
	if (r < 0)
		return errbuf_set(err, r, "Secret %s/%s: cannot start the request", st->ns,
				  op->object);
	live_add(st, op);
	return 0;
}

/* The API ----------------------------------------------------------------- */

static int mkdir_p(const char *path)
{
	char *p = xstrdup(path);
	int r = 0;

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			r = -errno;
		*s = '/';
		if (r < 0)
			break;
	}
	if (r == 0 && mkdir(p, 0700) < 0 && errno != EEXIST)
		r = -errno;
	free(p);
	return r;
}

int agent_store_new_dir(uv_loop_t *loop, const char *dir, struct errbuf *err,
			struct agent_store **ret_st)
{
	struct agent_store *st;
	struct stat sb;
	int r;

	if (!dir || !*dir)
		return errbuf_set(err, -EINVAL, "--state-dir: required");
	if (strlen(dir) > 4000)
		return errbuf_set(err, -E2BIG, "--state-dir: longer than 4000 bytes");
	r = mkdir_p(dir);
	if (r < 0)
		return errbuf_set(err, r, "state directory %s: %s", dir, strerror(-r));
	if (stat(dir, &sb) < 0)
		return errbuf_set(err, -errno, "state directory %s: %s", dir, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return errbuf_set(err, -ENOTDIR, "state directory %s: not a directory", dir);
	if (sb.st_mode & 077)
		return errbuf_set(err, -EPERM,
				  "state directory %s: mode %04o lets group or others in; it holds a "
				  "private key (chmod 700 %s)", dir, (unsigned)(sb.st_mode & 07777), dir);
	if (sb.st_uid != geteuid())
		return errbuf_set(err, -EPERM, "state directory %s: owned by uid %u, not by us (%u)",
				  dir, (unsigned)sb.st_uid, (unsigned)geteuid());
	st = xnew(struct agent_store);
	st->kind = STORE_DIR;
	st->loop = loop;
	st->dir = xstrdup(dir);
	st->describe = xasprintf("state directory %s", dir);
	*ret_st = st;
	return 0;
}

int agent_store_new_secret(struct kclient *kc, const char *ns, const char *field_manager,
			   struct errbuf *err, struct agent_store **ret_st)
{
	struct agent_store *st;

	if (!kc || !object_valid(ns))
		return errbuf_set(err, -EINVAL, "namespace \"%s\": not a DNS label", ns ? ns : "");
	st = xnew(struct agent_store);
	st->kind = STORE_SECRET;
	st->loop = kclient_loop(kc);
	st->kc = kc;
	st->ns = xstrdup(ns);
	st->manager = xstrdup(field_manager ? field_manager : STORE_DEFAULT_MANAGER);
	st->describe = xasprintf("Secrets of namespace %s", ns);
	*ret_st = st;
	return 0;
}

struct agent_store *agent_store_free(struct agent_store *st)
{
	struct store_op *op, *next;

	if (!st)
		return NULL;
	if (st->in_callback) {
		st->free_pending = true;
		return NULL;
	}
	op = st->head;
	if (st->busy && op) {
		/* Running on the pool: its completion frees it. */
		op->st = NULL;
		op = op->next;
	}
	for (; op; op = next) {
		next = op->next;
		op_free(op);
	}
	while (st->live) {
		op = st->live;
		live_remove(st, op);
		kclient_cancel(op->call);
		op_free(op);
	}
	free(st->dir);
	free(st->ns);
	free(st->manager);
	free(st->describe);
	free(st);
	return NULL;
}

const char *agent_store_describe(const struct agent_store *st)
{
	return st->describe;
}

bool agent_store_is_secret(const struct agent_store *st)
{
	return st->kind == STORE_SECRET;
}

int agent_store_load(struct agent_store *st, const char *object, agent_store_load_fn cb,
		     void *userdata)
{
	struct store_op *op;

	if (!object_valid(object) || !cb)
		return -EINVAL;
	op = xnew(struct store_op);
	op->object = xstrdup(object);
	op->load_cb = cb;
	op->userdata = userdata;
	if (st->kind == STORE_DIR) {
		dir_enqueue(st, op);
		return 0;
	}
	if (secret_start(st, op, NULL) < 0) {
		op_free(op);
		return -EIO;
	}
	return 0;
}

int agent_store_save(struct agent_store *st, const char *object, const json_t *values,
		     agent_store_save_fn cb, void *userdata, struct errbuf *err)
{
	struct store_op *op;
	int r;

	if (!object_valid(object))
		return errbuf_set(err, -EINVAL, "store: object \"%s\": not a DNS label",
				  object ? object : "");
	op = xnew(struct store_op);
	op->object = xstrdup(object);
	op->save = true;
	op->save_cb = cb;
	op->userdata = userdata;
	r = kv_from_json(values, st->kind == STORE_DIR ? (size_t)-1 : AGENT_STORE_SECRET_MAX,
			 &op->kv, &op->n_kv, err);
	if (r < 0) {
		op_free(op);
		return r;
	}
	if (st->kind == STORE_DIR) {
		dir_enqueue(st, op);
		return 0;
	}
	r = secret_start(st, op, err);
	if (r < 0)
		op_free(op);
	return r;
}
