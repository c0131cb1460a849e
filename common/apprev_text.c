/* apprev_text.c - the text two ApplicationRevisions are compared by; see
 * apprev_text.h. Moved from navectl_app.c so the hub's web view prints the
 * same diff as `navectl app diff`.
 */
#include "apprev_text.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "kobj.h"
#include "yaml.h"

/* The definition maps of an ApplicationRevision's spec that are shown. */
static const char *const def_maps[] = { "componentDefinitions", "traitDefinitions", "workflowStepDefinitions",
					"policyDefinitions" };

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* What of a definition is compared: its kind, name and spec (not the
 * metadata the server changes, resourceVersion and the like). */
static json_t *definition_view(const json_t *def)
{
	json_t *v = json_object();

	if (kobj_kind(def))
		json_object_set_new(v, "kind", json_string(kobj_kind(def)));
	if (kobj_name(def))
		json_object_set_new(v, "metadata", json_pack("{s:s}", "name", kobj_name(def)));
	json_object_set(v, "spec", json_object_get(def, "spec") ? json_object_get(def, "spec") : json_null());
	return v;
}

/* See apprev_text.h. */
char *apprev_text_side(const json_t *a, const json_t *b, int side)
{
	const json_t *self = side ? b : a;
	const char *self_name = kobj_name(self);
	struct buf out;
	char *y;

	buf_init(&out, (size_t)-1);
	y = yaml_emit(kobj_get_path(self, "spec.application"));
	buf_puts(&out, y);
	free(y);
	for (size_t m = 0; m < sizeof(def_maps) / sizeof(def_maps[0]); m++) {
		json_t *da = json_object_get(json_object_get(a, "spec"), def_maps[m]);
		json_t *db = json_object_get(json_object_get(b, "spec"), def_maps[m]);
		json_t *union_ = json_object(), *v;
		const char **names, *k;
		size_t count = 0;

		if (json_is_object(da))
			json_object_update(union_, da);
		if (json_is_object(db))
			json_object_update(union_, db);
		names = xcalloc(json_object_size(union_) + 1, sizeof(*names));
		json_object_foreach(union_, k, v)
			names[count++] = k;
		qsort(names, count, sizeof(*names), name_cmp);
		for (size_t i = 0; i < count; i++) {
			json_t *va = json_object_get(da, names[i]), *vb = json_object_get(db, names[i]);
			json_t *mine = side ? vb : va, *view_a = va ? definition_view(va) : NULL;
			json_t *view_b = vb ? definition_view(vb) : NULL;

			if (!view_a || !view_b || !json_equal(view_a, view_b)) {
				buf_printf(&out, "---\n# %s.%s\n", def_maps[m], names[i]);
				if (mine) {
					y = yaml_emit(side ? view_b : view_a);
					buf_puts(&out, y);
					free(y);
				} else {
					buf_printf(&out, "# (not used by %s)\n",
						   self_name && *self_name ? self_name : "this revision");
				}
			}
			json_decref(view_a);
			json_decref(view_b);
		}
		free(names);
		json_decref(union_);
	}
	return buf_steal(&out, NULL);
}
