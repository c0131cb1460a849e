/* navectl_rollout.c - `navectl rollout status|pause|resume|abort|rollback
 * APP [-n NS]`: the cross-cluster wave of an Application's deploy step with
 * a nave-rollout policy (issue #9; hub/app_rollout.c keeps it in the
 * Application's status.rollout).
 *
 * status reads the Application and prints the wave (phase, strategy, the
 * revision rolled out, the current group) and one line per cluster: its
 * group, state, the revision its work carries, the local rollout's batch
 * ("batch 2 of 3" from the work's Rollout feedback) and why it failed. The
 * verbs POST /nave/v1/namespaces/NS/applications/NAME/rollout/VERB.
 * Synchronous over the shared client (navectl.h); exit codes as navectl's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kobj.h"
#include "navectl.h"

#define ROLLOUT_PATH_MAX 1024

static const char rollout_help[] =
	"Usage: navectl rollout status|pause|resume|abort|rollback APP [-n NS]\n"
	"\n"
	"The cross-cluster rollout (a deploy step with a nave-rollout policy) of an\n"
	"Application:\n"
	"  status    the wave: phase, strategy, revision, current group, and per\n"
	"            cluster its group, state, revision, local batch and failure\n"
	"  pause     release no further cluster until resumed\n"
	"  resume    continue a paused rollout\n"
	"  abort     release no further cluster (the step fails: RolloutAborted)\n"
	"  rollback  roll the last revision whose workflow succeeded out again,\n"
	"            as a new wave\n"
	"\n"
	"Options:\n"
	"  -n, --namespace NS   the application's namespace (default: the kubeconfig's,\n"
	"                       else \"default\")\n"
	"\n"
	"Exit status: 0 ok, 1 failed (no such application, no rollout, or the\n"
	"transition is not possible), 2 usage error, 3 hub unreachable.\n";

static const char *sget(const json_t *o, const char *k, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s && *s ? s : dflt;
}

/* "batch 2 of 3 rollingInBatches" from a cluster's localRollout, into out. */
static void local_batch(const json_t *lr, char *out, size_t outlen)
{
	const json_t *cb = json_object_get(lr, "currentBatch"), *nb = json_object_get(lr, "numBatches");

	if (!lr) {
		snprintf(out, outlen, "-");
		return;
	}
	if (json_is_integer(cb) && json_is_integer(nb))
		snprintf(out, outlen, "batch %lld/%lld %s", (long long)json_integer_value(cb) + 1,
			 (long long)json_integer_value(nb), sget(lr, "state", ""));
	else
		snprintf(out, outlen, "%s", sget(lr, "state", "-"));
}

static int print_status(const json_t *app)
{
	const json_t *ro = kobj_get_path(app, "status.rollout"), *c, *sum;
	size_t i;

	if (!json_is_object(ro)) {
		fprintf(stderr, "navectl rollout status: application %s has no rollout (no deploy step with a "
			"nave-rollout policy has run)\n", kobj_name(app));
		return NCTL_EXIT_FAILED;
	}
	sum = json_object_get(ro, "summary");
	printf("Rollout:   %s (step %s, policy %s)\n", sget(ro, "type", "?"), sget(ro, "step", "?"),
	       sget(ro, "policy", "?"));
	printf("Revision:  %s\n", sget(ro, "revision", "?"));
	printf("Phase:     %s%s%s\n", sget(ro, "phase", "?"), json_is_true(json_object_get(ro, "paused")) ? " (paused)" : "",
	       json_is_true(json_object_get(ro, "aborted")) ? " (aborted)" : "");
	if (json_integer_value(json_object_get(ro, "currentGroup")) >= 0 && json_object_get(ro, "currentGroup"))
		printf("Group:     %lld\n", (long long)json_integer_value(json_object_get(ro, "currentGroup")));
	printf("Message:   %s\n", sget(ro, "message", ""));
	if (sum)
		printf("Clusters:  %lld total, %lld succeeded, %lld in progress, %lld failed, %lld not released\n",
		       (long long)json_integer_value(json_object_get(sum, "total")),
		       (long long)json_integer_value(json_object_get(sum, "succeeded")),
		       (long long)json_integer_value(json_object_get(sum, "updating")),
		       (long long)json_integer_value(json_object_get(sum, "failed")),
		       (long long)json_integer_value(json_object_get(sum, "pending")));
	printf("\n%-24s %-6s %-10s %-20s %-28s %s\n", "CLUSTER", "GROUP", "STATE", "REVISION", "LOCAL", "REASON");
	json_array_foreach(json_object_get(ro, "clusters"), i, c) {
		char grp[300], loc[128], why[600];
		const char *reason = sget(c, "reason", NULL);

		if (json_object_get(c, "groupName"))
			snprintf(grp, sizeof(grp), "%lld:%s", (long long)json_integer_value(json_object_get(c, "group")),
				 sget(c, "groupName", ""));
		else
			snprintf(grp, sizeof(grp), "%lld", (long long)json_integer_value(json_object_get(c, "group")));
		local_batch(json_object_get(c, "localRollout"), loc, sizeof(loc));
		if (reason)
			snprintf(why, sizeof(why), "%s: %s", reason, sget(c, "message", ""));
		else if (!json_is_true(json_object_get(c, "reachable")))
			snprintf(why, sizeof(why), "cluster unreachable");
		else
			snprintf(why, sizeof(why), "-");
		printf("%-24s %-6s %-10s %-20s %-28s %s\n", sget(c, "name", "?"), grp, sget(c, "state", "?"),
		       sget(c, "revision", "-"), loc, why);
	}
	return NCTL_EXIT_OK;
}

/* `navectl rollout VERB APP` (argv[0] is "rollout"). Returns an exit code. */
int nctl_cmd_rollout(struct nctl *n, int argc, char **argv)
{
	static const char *const verbs[] = {"status", "pause", "resume", "abort", "rollback", NULL};
	struct nctl_resp resp = {0};
	char **args = NULL, path[ROLLOUT_PATH_MAX], what[300];
	const char *ns;
	int nargs = 0, rc, k = -1;

	rc = nctl_getopt(n, argc, argv, NULL, NULL, NULL, NULL, rollout_help, &args, &nargs);
	if (rc)
		return nctl_getopt_exit(rc);
	if (nargs < 1) {
		rc = nctl_usage_error(n, "which subcommand? status, pause, resume, abort or rollback");
		goto out;
	}
	for (int i = 0; verbs[i]; i++)
		if (!strcmp(verbs[i], args[0]))
			k = i;
	if (k < 0) {
		rc = nctl_usage_error(n, "unknown subcommand \"%s\" (status, pause, resume, abort, rollback)", args[0]);
		goto out;
	}
	if (nargs != 2) {
		rc = nctl_usage_error(n, "%s takes one application: `navectl rollout %s APP`", args[0], args[0]);
		goto out;
	}
	if (!kobj_valid_subdomain(args[1])) {
		rc = nctl_usage_error(n, "\"%s\" is not an application name", args[1]);
		goto out;
	}
	rc = nctl_connect(n);
	if (rc)
		goto out;
	ns = nctl_namespace(n);
	if (!kobj_valid_label_name(ns)) {
		rc = nctl_usage_error(n, "\"%s\" is not a namespace name (a DNS-1123 label)", ns);
		goto out;
	}
	if (k == 0) {
		snprintf(path, sizeof(path), "/apis/core.oam.dev/v1beta1/namespaces/%s/applications/%s", ns, args[1]);
		snprintf(what, sizeof(what), "reading application %s/%s", ns, args[1]);
		if (nctl_request(n, &(struct kclient_request){ .method = KCLIENT_GET, .path = path }, &resp) < 0) {
			rc = nctl_report(n, &resp, what);
			goto out;
		}
		rc = print_status(resp.body);
		goto out;
	}
	snprintf(path, sizeof(path), "/nave/v1/namespaces/%s/applications/%s/rollout/%s", ns, args[1], verbs[k]);
	snprintf(what, sizeof(what), "%s the rollout of %s/%s", verbs[k], ns, args[1]);
	if (nctl_request(n, &(struct kclient_request){ .method = KCLIENT_POST, .path = path, .body = "{}" },
			 &resp) < 0) {
		rc = nctl_report(n, &resp, what);
		goto out;
	}
	printf("rollout of %s/%s: %s%s\n", ns, args[1], verbs[k],
	       k == 4 ? " (the last succeeded revision rolls out as a new wave)" : "");
out:
	nctl_resp_clear(&resp);
	free(args);
	return rc;
}
