/* fuzz_agent_state.c - libFuzzer harness for what nave-klusterlet reads back
 * from its durable state (klusterlet/store.h): the persisted outbox of
 * unacknowledged status updates and the hub credential, both of which a
 * damaged disk, a hand-edited Secret or an attacker with access to the
 * state could have changed.
 *
 * The input is the text of one stored value. As the outbox document it must
 * load or be refused with -EINVAL; whatever loads must persist again, and
 * the persisted form must load back to the same entries (same count, same
 * bytes, same sequence floor). As a credential object ({key: string}) it
 * must be read or refused, and a credential that was read must be judged
 * by agent_cred_check without crashing. Any violation aborts.
 *
 * Registered in tests/agent/meson.build (it links the klusterlet's agent
 * library, which the shared table in tests/fuzz/meson.build does not).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "credentials.h"
#include "log.h"
#include "outbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
	fprintf(stderr, "fuzz_agent_state: %s\n", what);
	abort();
}

static void check_outbox(const json_t *doc)
{
	struct outbox *ob = outbox_new(0, 0), *ob2 = outbox_new(0, 0);
	struct outbox_entry *a, *b;
	struct errbuf err;
	json_t *again;
	size_t skipped = 0;
	int r;

	r = outbox_load_json(ob, doc, &err, &skipped);
	if (r != 0 && r != -EINVAL)
		die("outbox_load_json: undocumented code");
	if (r == 0) {
		again = outbox_to_json(ob, 0);
		if (outbox_load_json(ob2, again, &err, &skipped) != 0 || skipped)
			die("the persisted outbox does not load back");
		if (outbox_count(ob) != outbox_count(ob2) || outbox_last_seq(ob) != outbox_last_seq(ob2))
			die("the outbox changed through persistence");
		for (a = outbox_first(ob), b = outbox_first(ob2); a && b; a = a->next, b = b->next)
			if (a->seq != b->seq || a->len != b->len || memcmp(a->json, b->json, a->len) ||
			    strcmp(a->resourceid, b->resourceid))
				die("an outbox entry changed through persistence");
		json_decref(again);
	}
	outbox_free(ob);
	outbox_free(ob2);
}

static void check_credential(const json_t *doc)
{
	struct agent_cred *c = NULL;
	struct errbuf err;
	int r;

	r = agent_cred_from_values(doc, &err, &c);
	if (r != 0 && r != -EINVAL)
		die("agent_cred_from_values: undocumented code");
	if (r == 0) {
		r = agent_cred_check(c, NULL, NULL, &err);
		if (r != 0 && r != -EINVAL && r != -EKEYEXPIRED && r != -EKEYREJECTED && r != -E2BIG)
			die("agent_cred_check: undocumented code");
		if (!err.msg[0] && r != 0)
			die("agent_cred_check: no message");
	}
	agent_cred_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	json_t *doc;

	if (!quiet) {
		/* Skipped events are logged as warnings: noise at this rate. */
		log_setup(LOG_LVL_ERROR, LOG_FORMAT_TEXT);
		quiet = true;
	}
	doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!doc)
		return 0;
	check_outbox(doc);
	check_credential(doc);
	json_decref(doc);
	return 0;
}
