/* navectl_input.c - the objects of `-f FILE|DIR|-`, with where each came from.
 *
 * A file is JSON when its first non-blank byte is '{' (one object, parsed
 * with jansson, whose errors carry line and column), else a YAML stream of
 * any number of documents (common/yaml.h, errors with line and column).
 * Directories give their *.yaml, *.yml and *.json files in name order
 * (subdirectories too with -R). `kind: List` documents are expanded into
 * their items, as kubectl does.
 *
 * So that a later error ("document 3 has no kind", or the server refusing
 * it) can name the line, each document's first line is found by splitting
 * the text on document markers ("---" and "..." at the start of a line,
 * which YAML forbids inside any scalar) and parsing the pieces one by one
 * to see which are empty; when that does not agree with the whole parse,
 * the line is left unknown (0) rather than guessed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "errbuf.h"
#include "navectl.h"
#include "yaml.h"

static void docs_add(struct nctl_docs *docs, json_t *obj, const char *file, int line, int index)
{
	struct nctl_doc *d;

	if (docs->n == docs->cap) {
		docs->cap = docs->cap ? docs->cap * 2 : 16;
		docs->v = xrealloc(docs->v, docs->cap * sizeof(*docs->v));
	}
	d = &docs->v[docs->n++];
	d->obj = obj;
	d->file = xstrdup(file);
	d->line = line;
	d->index = index;
}

void nctl_docs_free(struct nctl_docs *docs)
{
	if (!docs)
		return;
	for (size_t i = 0; i < docs->n; i++) {
		json_decref(docs->v[i].obj);
		free(docs->v[i].file);
	}
	free(docs->v);
	memset(docs, 0, sizeof(*docs));
}

/* Read a whole file (or stdin for "-") of at most NCTL_MAX_INPUT bytes. */
static int read_all(const char *path, const char *shown, struct buf *out)
{
	char chunk[65536];
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	size_t got;
	int r = 0;

	if (!f) {
		r = -errno;
		fprintf(stderr, "error: cannot read %s: %s\n", shown, strerror(errno));
		fprintf(stderr, "hint: check the path given to -f and its permissions\n");
		return r;
	}
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(out, chunk, got) < 0) {
			fprintf(stderr, "error: %s is larger than %u bytes, the most navectl reads from one file\n",
				shown, NCTL_MAX_INPUT);
			fprintf(stderr, "hint: split it into several files\n");
			r = -E2BIG;
			goto out;
		}
	}
	if (ferror(f)) {
		r = -EIO;
		fprintf(stderr, "error: cannot read %s: %s\n", shown, strerror(errno));
		fprintf(stderr, "hint: check the path given to -f\n");
	}
out:
	if (f != stdin)
		fclose(f);
	return r;
}

static bool is_marker(const char *p, const char *end)
{
	if (end - p < 3 || (memcmp(p, "---", 3) && memcmp(p, "...", 3)))
		return false;
	return p + 3 == end || p[3] == ' ' || p[3] == '\t' || p[3] == '\r' || p[3] == '\n';
}

/* The first line of every non-empty document of text, into lines[] (n_docs
 * of them); all 0 when the split does not agree with the parser. */
static void document_lines(const char *text, size_t len, size_t n_docs, int *lines)
{
	const char *p = text, *end = text + len, *start = text;
	int line = 1, start_line = 1, first_content = 0;
	size_t found = 0;
	bool ok = true;

	memset(lines, 0, n_docs * sizeof(*lines));
	for (;;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *next = eol ? eol + 1 : end;
		bool marker = p < end && is_marker(p, end);

		if (marker || p >= end) {
			/* the piece [start, p) */
			if (p > start) {
				struct errbuf err;
				json_t *arr = NULL;
				size_t k = 0;

				if (yaml_parse_stream(start, (size_t)(p - start), NULL, &err, &arr) == 0)
					k = json_array_size(arr);
				json_decref(arr);
				if (k > 1 || found + k > n_docs) {
					ok = false;
					break;
				}
				if (k == 1)
					lines[found++] = first_content ? first_content : start_line;
			}
			if (p >= end)
				break;
			start = p;
			start_line = line;
			first_content = 0;
			/* "--- {a: 1}": content on the marker line itself */
			if (p[0] == '-' && next - p > 4) {
				const char *q = p + 3;

				while (q < next && (*q == ' ' || *q == '\t'))
					q++;
				if (q < next && *q != '\n' && *q != '\r' && *q != '#')
					first_content = line;
			}
		} else if (!first_content) {
			const char *q = p;

			while (q < next && (*q == ' ' || *q == '\t'))
				q++;
			if (q < next && *q != '\n' && *q != '\r' && *q != '#' && *q != '%')
				first_content = line;
		}
		p = next;
		line++;
	}
	if (!ok || found != n_docs)
		memset(lines, 0, n_docs * sizeof(*lines));
}

static int check_object(const json_t *o, const char *file, int line, int index, bool allow_generate_name)
{
	const char *fields[] = { "apiVersion", "kind" };
	json_t *meta = json_object_get(o, "metadata");
	char where[4200];

	if (line)
		snprintf(where, sizeof(where), "%s:%d: document %d", file, line, index);
	else
		snprintf(where, sizeof(where), "%s: document %d", file, index);
	if (!json_is_object(o)) {
		fprintf(stderr, "error: %s: expected an object (a mapping with apiVersion, kind and metadata), "
				"found %s\n", where, json_is_array(o) ? "a list" : "a scalar");
		fprintf(stderr, "hint: each document must be one Kubernetes object\n");
		return -EINVAL;
	}
	for (size_t i = 0; i < 2; i++) {
		json_t *v = json_object_get(o, fields[i]);

		if (!json_is_string(v) || !*json_string_value(v)) {
			fprintf(stderr, "error: %s: %s is %s\n", where, fields[i],
				v ? "not a non-empty string" : "missing");
			fprintf(stderr, "hint: every object needs apiVersion, kind and metadata.name "
					"(e.g. apiVersion: work.open-cluster-management.io/v1, kind: ManifestWork)\n");
			return -EINVAL;
		}
	}
	if (!json_is_object(meta) ||
	    (!json_is_string(json_object_get(meta, "name")) &&
	     !(allow_generate_name && json_is_string(json_object_get(meta, "generateName"))))) {
		fprintf(stderr, "error: %s: metadata.name is %s\n", where,
			json_is_object(meta) ? "missing or not a string" : "missing (no metadata)");
		fprintf(stderr, "hint: give the %s a name under metadata\n", json_string_value(json_object_get(o, "kind")));
		return -EINVAL;
	}
	return 0;
}

/* Add one parsed document (expanding Lists) after checking it. */
static int add_doc(struct nctl_docs *docs, json_t *o, const char *file, int line, int index,
		   bool allow_generate_name)
{
	const char *kind = json_string_value(json_object_get(o, "kind"));
	size_t kl = kind ? strlen(kind) : 0;
	json_t *items = json_object_get(o, "items");
	json_t *it;
	size_t i;
	int r;

	if (kl >= 4 && !strcmp(kind + kl - 4, "List") && json_is_array(items)) {
		json_array_foreach(items, i, it) {
			r = check_object(it, file, line, index, allow_generate_name);
			if (r < 0)
				return r;
			if (docs->n >= NCTL_MAX_DOCS)
				goto too_many;
			docs_add(docs, json_incref(it), file, line, index);
		}
		return 0;
	}
	r = check_object(o, file, line, index, allow_generate_name);
	if (r < 0)
		return r;
	if (docs->n >= NCTL_MAX_DOCS)
		goto too_many;
	docs_add(docs, json_incref(o), file, line, index);
	return 0;
too_many:
	fprintf(stderr, "error: %s: more than %d objects in the input\n", file, NCTL_MAX_DOCS);
	fprintf(stderr, "hint: apply them in several runs\n");
	return -E2BIG;
}

static int parse_text(const char *text, size_t len, const char *file, bool allow_generate_name,
		      struct nctl_docs *docs)
{
	struct yaml_limits lim = { .max_input = NCTL_MAX_INPUT };
	struct errbuf err = { "" };
	json_t *arr = NULL, *o;
	json_error_t jerr;
	size_t i = 0, n;
	int *lines = NULL;
	int r = 0, line = 1;

	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	if (i == len)
		return 0; /* an empty file holds no object */
	if (text[i] == '{') {
		o = json_loadb(text, len, 0, &jerr);
		if (!o) {
			fprintf(stderr, "error: %s:%d:%d: invalid JSON: %s\n", file, jerr.line, jerr.column, jerr.text);
			fprintf(stderr, "hint: fix the JSON at that line and column\n");
			return -EINVAL;
		}
		for (size_t k = 0; k < i; k++)
			line += text[k] == '\n';
		r = add_doc(docs, o, file, line, 1, allow_generate_name);
		json_decref(o);
		return r;
	}
	r = yaml_parse_stream(text, len, &lim, &err, &arr);
	if (r < 0) {
		unsigned long l, c;
		int used = 0;

		/* "line 5, column 13: ..." becomes "FILE:5:13: ...", as compilers write it */
		if (sscanf(err.msg, "line %lu, column %lu: %n", &l, &c, &used) == 2 && used > 0)
			fprintf(stderr, "error: %s:%lu:%lu: %s\n", file, l, c, err.msg + used);
		else
			fprintf(stderr, "error: %s: %s\n", file, err.msg);
		fprintf(stderr, "hint: fix the YAML there (YAML indents with spaces, never tabs)\n");
		return r;
	}
	n = json_array_size(arr);
	lines = xcalloc(n ? n : 1, sizeof(*lines));
	document_lines(text, len, n, lines);
	json_array_foreach(arr, i, o) {
		r = add_doc(docs, o, file, lines[i], (int)i + 1, allow_generate_name);
		if (r < 0)
			break;
	}
	free(lines);
	json_decref(arr);
	return r;
}

static int read_one(const char *path, const char *shown, bool allow_generate_name, struct nctl_docs *docs)
{
	struct buf b;
	int r;

	buf_init(&b, NCTL_MAX_INPUT);
	r = read_all(path, shown, &b);
	if (r == 0)
		r = parse_text(b.data ? b.data : "", b.len, shown, allow_generate_name, docs);
	buf_free(&b);
	return r;
}

static bool wanted_name(const char *name)
{
	size_t l = strlen(name);

	return (l > 5 && !strcmp(name + l - 5, ".yaml")) || (l > 4 && !strcmp(name + l - 4, ".yml")) ||
	       (l > 5 && !strcmp(name + l - 5, ".json"));
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_dir(const char *dir, bool recursive, int depth, bool allow_generate_name,
		    struct nctl_docs *docs)
{
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (depth > NCTL_MAX_DIR_DEPTH) {
		fprintf(stderr, "error: %s: directories nested more than %d deep\n", dir, NCTL_MAX_DIR_DEPTH);
		fprintf(stderr, "hint: point -f at a shallower directory\n");
		return -E2BIG;
	}
	d = opendir(dir);
	if (!d) {
		r = -errno;
		fprintf(stderr, "error: cannot read the directory %s: %s\n", dir, strerror(errno));
		fprintf(stderr, "hint: check the path given to -f and its permissions\n");
		return r;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n && r == 0; i++) {
		char *p = xasprintf("%s/%s", dir, names[i]);
		struct stat st;

		if (stat(p, &st) == 0) {
			if (S_ISDIR(st.st_mode) && recursive)
				r = read_dir(p, recursive, depth + 1, allow_generate_name, docs);
			else if (S_ISREG(st.st_mode) && wanted_name(names[i]))
				r = read_one(p, p, allow_generate_name, docs);
		}
		free(p);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

int nctl_read_inputs(char *const *paths, size_t n_paths, bool recursive, bool allow_generate_name,
		     struct nctl_docs *docs)
{
	bool stdin_read = false;
	struct stat st;
	int r = 0;

	for (size_t i = 0; i < n_paths && r == 0; i++) {
		const char *p = paths[i];

		if (!strcmp(p, "-")) {
			if (stdin_read)
				continue;
			stdin_read = true;
			r = read_one("-", "<stdin>", allow_generate_name, docs);
			continue;
		}
		if (stat(p, &st) < 0) {
			r = -errno;
			fprintf(stderr, "error: the path \"%s\" does not exist\n", p);
			fprintf(stderr, "hint: -f takes a file, a directory, or - for standard input\n");
			break;
		}
		if (S_ISDIR(st.st_mode))
			r = read_dir(p, recursive, 0, allow_generate_name, docs);
		else
			r = read_one(p, p, allow_generate_name, docs);
	}
	return r;
}

int nctl_inputs_opt(struct nctl *n, struct nctl_inputs *in, int val, const char *arg)
{
	switch (val) {
	case 'f':
		if (in->n_files >= NCTL_MAX_ARGS)
			return nctl_usage_error(n, "too many -f");
		in->files = xrealloc(in->files, (in->n_files + 1) * sizeof(*in->files));
		in->files[in->n_files++] = (char *)arg;
		return 0;
	case 'R':
		in->recursive = true;
		return 0;
	default:
		return -ENOENT;
	}
}
