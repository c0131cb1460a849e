/* fuzz_selector.c - libFuzzer harness for common/selector.
 *
 * The input, as a string, is parsed as a label selector (string form) and as
 * a field selector; when it is JSON it is also read as an object-form label
 * selector and as a labels map. Every selector that parses is matched
 * against a fixed label set / object, and label selectors must survive
 * printing: format(parse(format(s))) == format(s) with the same verdict, or
 * the harness aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "selector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *fixed_labels(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "app", "web", "tier", "frontend", "env", "", "version",
			 "3", "example.com/team", "a_b.c", "in", "notin");
}

static void check_label_selector(struct label_selector *sel, const json_t *labels)
{
	struct label_selector *again = NULL;
	struct errbuf err;
	bool m = label_selector_matches(sel, labels);
	char *s1 = label_selector_format(sel), *s2;

	(void)label_selector_matches(sel, NULL);
	(void)label_selector_empty(sel);
	if (label_selector_parse(s1, &err, &again) != 0) {
		fprintf(stderr, "printed selector \"%s\" does not parse: %s\n", s1, err.msg);
		abort();
	}
	s2 = label_selector_format(again);
	if (strcmp(s1, s2) != 0 || label_selector_matches(again, labels) != m) {
		fprintf(stderr, "round trip differs: \"%s\" -> \"%s\"\n", s1, s2);
		abort();
	}
	free(s1);
	free(s2);
	label_selector_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct label_selector *sel = NULL;
	struct field_selector *fs = NULL;
	struct errbuf err;
	char *s = xstrndup((const char *)data, size);
	json_t *labels = fixed_labels();
	json_t *obj = json_pack("{s:{s:s, s:s, s:O}, s:{s:s, s:i, s:b}, s:{s:n, s:[]}}", "metadata", "name", "web",
				"namespace", "default", "labels", labels, "status", "phase", "Running", "replicas", 3,
				"ready", 1, "spec", "nodeName", "x");
	json_t *j;

	if (label_selector_parse(s, &err, &sel) == 0) {
		check_label_selector(sel, labels);
		label_selector_free(sel);
		sel = NULL;
	}
	if (field_selector_parse(s, &err, &fs) == 0) {
		(void)field_selector_matches(fs, obj);
		(void)field_selector_matches(fs, NULL);
		(void)field_selector_exact(fs, "metadata.name");
		field_selector_free(fs);
	}
	j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (j) {
		if (label_selector_from_json(j, &err, &sel) == 0) {
			check_label_selector(sel, labels);
			label_selector_free(sel);
		}
		(void)labels_validate(j, &err);
		if (json_is_object(j)) {
			/* The input as the label set, for the string form too. */
			if (label_selector_parse("app=web,tier!=x,env in (a,b),!k,version>2", &err, &sel) == 0) {
				(void)label_selector_matches(sel, j);
				label_selector_free(sel);
			}
		}
		json_decref(j);
	}
	json_decref(obj);
	json_decref(labels);
	free(s);
	return 0;
}
