/* fuzz_yaml.c - libFuzzer harness for common/yaml.
 *
 * Parses the input as a YAML stream. A refusal must be -EINVAL or -E2BIG with
 * a message. On success every document is written with yaml_emit() and read
 * back with yaml_parse_one(); the harness aborts unless the result equals the
 * document (numbers compared by value, the one latitude yaml.h allows: a real
 * with an integral value may come back as the integer) with the same key
 * order, so both directions are checked against each other.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small enough that each input stays fast; aliases may still expand. */
static const struct yaml_limits fuzz_limits = {
	.max_input = 1u << 20,
	.max_depth = 64,
	.max_nodes = 20000,
	.max_documents = 100,
};

/* Re-reading emitted text: it may be longer than the input (aliases are
 * expanded), never deeper or with more nodes. */
static const struct yaml_limits reread_limits = {
	.max_input = 256u << 20,
	.max_depth = 64,
	.max_nodes = 20000,
	.max_documents = 1,
};

static bool fuzz_equal(const json_t *a, const json_t *b)
{
	if (json_is_integer(a) && json_is_real(b))
		return json_real_value(b) == (double)json_integer_value(a);
	if (json_is_real(a) && json_is_integer(b))
		return json_real_value(a) == (double)json_integer_value(b);
	if (json_typeof(a) != json_typeof(b))
		return false;
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!fuzz_equal(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	if (json_is_object(a)) {
		void *ia = json_object_iter((json_t *)(uintptr_t)a);
		void *ib = json_object_iter((json_t *)(uintptr_t)b);

		if (json_object_size(a) != json_object_size(b))
			return false;
		for (; ia && ib; ia = json_object_iter_next((json_t *)(uintptr_t)a, ia),
				 ib = json_object_iter_next((json_t *)(uintptr_t)b, ib)) {
			size_t kl = json_object_iter_key_len(ia);

			if (kl != json_object_iter_key_len(ib) ||
			    memcmp(json_object_iter_key(ia), json_object_iter_key(ib), kl) != 0)
				return false;
			if (!fuzz_equal(json_object_iter_value(ia), json_object_iter_value(ib)))
				return false;
		}
		return !ia && !ib;
	}
	return json_equal(a, b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct errbuf err = { "" };
	json_t *docs = NULL;
	int r;

	r = yaml_parse_stream((const char *)data, size, &fuzz_limits, &err, &docs);
	if (r < 0) {
		if ((r != -EINVAL && r != -E2BIG && r != -ENOMEM) || err.msg[0] == '\0') {
			fprintf(stderr, "fuzz_yaml: refusal %d with message [%s]\n", r, err.msg);
			abort();
		}
		return 0;
	}
	for (size_t i = 0; i < json_array_size(docs); i++) {
		json_t *doc = json_array_get(docs, i), *back = NULL;
		char *y = yaml_emit(doc);

		r = yaml_parse_one(y, strlen(y), &reread_limits, &err, &back);
		if (r < 0 || !fuzz_equal(doc, back)) {
			char *d1 = json_dumps(doc, JSON_ENCODE_ANY | JSON_COMPACT);
			char *d2 = back ? json_dumps(back, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;

			fprintf(stderr, "fuzz_yaml: round trip failed (%d %s)\nin:  %s\nout: %s\nyaml:\n%s\n",
				r, err.msg, d1 ? d1 : "?", d2 ? d2 : "-", y);
			abort();
		}
		json_decref(back);
		free(y);
	}
	json_decref(docs);
	return 0;
}
