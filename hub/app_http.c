/* app_http.c - the /nave/v1 application endpoints (app.h "ENDPOINTS").
 *
 *   POST /nave/v1/namespaces/NS/applications/NAME/workflow/{resume,suspend,
 *        terminate,restart}
 *   POST /nave/v1/namespaces/NS/applications/NAME/rollback
 *        {"revision": "NAME-vN" | "vN" | N}; without "revision": the newest
 *        revision whose workflow succeeded, other than the latest.
 *   POST /nave/v1/namespaces/NS/applications/NAME/rollout/{pause,resume,
 *        abort,rollback}: the wave of a deploy step with a nave-rollout
 *        policy (app_rollout.c, status.rollout); rollback is the rollback
 *        above (a body may name the revision), whose run is a new wave.
 * serve.c routes here after checking the admin credential. Each answers
 * 200 with the Application as stored after the change (its status carries
 * the transition; the controller continues from it in the next loop
 * turn), 404 for an unknown application or revision, 409 when the
 * transition is not possible, with the reason.
 *
 * A rollback writes the Application's spec (and its publishVersion
 * annotation) from the revision, as field manager APP_ROLLBACK_MANAGER. The
 * hash of the result equals that revision's, so the controller finds it
 * and makes it the latest revision again, which starts its workflow.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "app_int.h"
#include "httpd.h"
#include "kobj.h"
#include "log.h"

static const struct kapi_write_opts rollback_opts = {.field_manager = APP_ROLLBACK_MANAGER};

static void not_found(struct hub *h, struct httpd_req *req, const char *what, const char *name)
{
	char msg[600];

	snprintf(msg, sizeof(msg), "%s.%s \"%s\" not found", what, APP_GROUP, name);
	hub_respond_error(h, req, -ENOENT, msg);
}

/* Answer 200 with application ns/name as stored now, after a change to it
 * ({} when it went away meanwhile). */
static void respond_app(struct hub *h, struct httpd_req *req, const char *ns, const char *name)
{
	json_t *app = NULL;

	if (kapi_get(h->apps->kapi, APP_GROUP, APP_RES_APPS, ns, name, NULL, &app) < 0)
		app = json_object();
	hub_respond_json(h, req, 200, app);
}

/* The newest succeeded revision other than the latest, into out. */
static int last_succeeded(struct app_ctl *ctl, const json_t *app, char *out, size_t outlen)
{
	const char *latest = json_string_value(kobj_get_path(app, "status.latestRevision.name"));
	json_t *items = NULL, *x, *best = NULL;
	char sel[400];
	size_t i;

	snprintf(sel, sizeof(sel), "%s=%s", APP_LABEL_NAME, kobj_name(app));
	if (kapi_list(ctl->kapi, APP_GROUP, APP_RES_REVISIONS, kobj_namespace(app), sel, NULL, NULL, &items) < 0)
		return -ENOENT;
	json_array_foreach(items, i, x) {
		json_int_t n = json_integer_value(kobj_get_path(x, "spec.revision"));

		if (latest && !strcmp(kobj_name(x), latest))
			continue;
		if (!json_is_true(kobj_get_path(x, "status.succeeded")))
			continue;
		if (!best || n > json_integer_value(kobj_get_path(best, "spec.revision")))
			best = x;
	}
	if (best)
		snprintf(out, outlen, "%s", kobj_name(best));
	json_decref(items);
	return best ? 0 : -ENOENT;
}

static void rollback(struct hub *h, struct httpd_req *req, const json_t *app)
{
	struct app_ctl *ctl = h->apps;
	json_t *body = NULL, *v, *rev = NULL, *obj = NULL, *spec;
	const char *name = kobj_name(app), *ns = kobj_namespace(app), *pv;
	char rn[300], in[64], msg[ERRBUF_MAX + 64];
	struct errbuf err = {""};
	int r;

	if ((r = hub_body_json(req, &body, &err)) < 0) {
		hub_respond_error(h, req, r, err.msg);
		return;
	}
	v = json_object_get(body, "revision");
	if (!v || json_is_null(v)) {
		if (last_succeeded(ctl, app, rn, sizeof(rn)) < 0) {
			snprintf(msg, sizeof(msg), "application %s has no earlier revision whose workflow succeeded; "
				 "name one: {\"revision\": \"v1\"}", name);
			hub_respond_error(h, req, -EBUSY, msg);
			goto out;
		}
	} else {
		const char *src = NULL;

		if (json_is_integer(v)) {
			snprintf(in, sizeof(in), "%lld", (long long)json_integer_value(v));
			src = in;
		} else if (json_is_string(v)) {
			src = json_string_value(v);
		}
		if (!src || app_revision_name(name, src, rn, sizeof(rn)) < 0) {
			snprintf(msg, sizeof(msg), "revision: Invalid value: expected \"%s-vN\", \"vN\" or N", name);
			hub_respond_error(h, req, -EINVAL, msg);
			goto out;
		}
	}
	if (kapi_get(ctl->kapi, APP_GROUP, APP_RES_REVISIONS, ns, rn, NULL, &rev) < 0 ||
	    !kobj_label(rev, APP_LABEL_NAME) || strcmp(kobj_label(rev, APP_LABEL_NAME), name)) {
		not_found(h, req, APP_RES_REVISIONS, rn);
		goto out;
	}
	spec = kobj_get_path(rev, "spec.application.spec");
	if (!json_is_object(spec)) {
		snprintf(msg, sizeof(msg), "revision %s holds no application spec", rn);
		hub_respond_error(h, req, -EBUSY, msg);
		goto out;
	}
	obj = json_deep_copy(app);
	json_object_set(obj, "spec", spec);
	json_object_del(kobj_metadata(obj, true), "resourceVersion");
	json_object_del(kobj_metadata(obj, true), "managedFields");
	pv = json_string_value(kobj_get_path(rev, "spec.publishVersion"));
	if (pv)
		kobj_set_annotation(obj, APP_ANNOT_PUBLISH_VERSION, pv);
	else if (kobj_annotations(obj))
		json_object_del(kobj_annotations(obj), APP_ANNOT_PUBLISH_VERSION);
	if (kobj_annotations(obj))
		json_object_del(kobj_annotations(obj), APP_ANNOT_REVISION_ONLY);
	if ((r = kapi_update(ctl->kapi, APP_GROUP, APP_RES_APPS, obj, &rollback_opts, &err, NULL)) < 0) {
		hub_respond_error(h, req, r, err.msg);
		goto out;
	}
	log_info("application %s/%s: rolled back to %s", ns, name, rn);
	app_mark_dirty(ctl, app_state_get(ctl, ns, name));
	respond_app(h, req, ns, name);
out:
	json_decref(obj);
	json_decref(rev);
	json_decref(body);
}

/* See app.h. */
void app_http(struct hub *h, struct httpd_req *req, const char *ns, const char *name, char **segs, int nsegs)
{
	struct app_ctl *ctl = h->apps;
	json_t *app = NULL;
	struct errbuf err = {""};
	int r;

	if (!ctl) {
		hub_respond_error(h, req, -EIO, "the application controller is not running");
		return;
	}
	if (!(nsegs == 2 && !strcmp(segs[0], "workflow")) && !(nsegs == 1 && !strcmp(segs[0], "rollback")) &&
	    !(nsegs == 2 && !strcmp(segs[0], "rollout"))) {
		hub_respond_error(h, req, -ENOENT, "the server could not find the requested resource");
		return;
	}
	if (kapi_get(ctl->kapi, APP_GROUP, APP_RES_APPS, ns, name, NULL, &app) < 0) {
		not_found(h, req, APP_RES_APPS, name);
		return;
	}
	if (nsegs == 1 || (!strcmp(segs[0], "rollout") && !strcmp(segs[1], "rollback"))) {
		/* rollout/rollback: the last succeeded revision becomes the
		 * change, rolled out as a new wave */
		rollback(h, req, app);
		goto out;
	}
	if (!strcmp(segs[0], "rollout"))
		r = app_rollout_action(ctl, app, segs[1], &err);
	else
		r = app_workflow_action(ctl, app, segs[1], &err);
	if (r < 0) {
		hub_respond_error(h, req, r, err.msg);
		goto out;
	}
	respond_app(h, req, ns, name);
out:
	json_decref(app);
}
