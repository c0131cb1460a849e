/* app_workflow.c - one reconcile of an Application: revision, workflow,
 * works, status. The workflow's state machine lives in status.workflow.
 *
 * A reconcile reads the stored Application and:
 *   1. parses it and finds or makes its revision (app_revision.c); a new
 *      revision starts a new workflow run (status.workflow reset, every
 *      step pending), unless the Application says revision-only;
 *   2. loads the run's revision (struct app_run: its own spec and
 *      definitions) and runs passes until nothing changes: each pass
 *      renders what every deploying step puts on each cluster (app_works.c)
 *      and then advances the steps in order (StepByStep):
 *        pending      -> skipped   `if` is false, or an earlier step failed
 *                                  and the step has no `if`
 *                     -> suspending  suspend steps; deploy with auto: false
 *                     -> running   the rest
 *        suspending   -> succeeded (suspend) when its duration has passed or
 *                        on resume; -> running (deploy) on resume
 *        running      -> succeeded deploy/apply-component: every work of the
 *                        step up to date, applied at its generation, every
 *                        component healthy; notification: 2xx
 *                     -> failed    notification error; render error
 *        running/suspending -> failed (reason Timeout / SuspendTimeout) when
 *                        the step's timeout passed since firstExecuteTime
 *      A step starts only after the previous ones ended and its dependsOn
 *      ended; workflow.suspend (a suspend step, an approval, or the
 *      suspend endpoint) keeps pending steps from starting;
 *   3. writes every work whose content changed and deletes works of
 *      clusters no deploy step selects any more (all the run did not
 *      deploy to, once the run has succeeded);
 *   4. rolls the works' status up and writes the status if it changed.
 * Deadlines (suspend durations, timeouts) are computed from the
 * timestamps in status on every reconcile; st->deadline_us wakes it.
 *
 * Deletion: the finalizer APP_FINALIZER holds the Application until its
 * works are gone: works are deleted, those on clusters that are not
 * available are released at once (app_works.c), then the revisions are
 * deleted and the finalizer removed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "app_int.h"
#include "kobj.h"
#include "log.h"
#include "timefmt.h"
#include "tmpl.h"
#include "wave.h"

static const struct kapi_write_opts meta_opts = {.field_manager = APP_FIELD_MANAGER};

struct wf {
	struct app_ctl *ctl;
	struct app_state *st;
	json_t *app;                    /* owned: the stored Application (a copy) */
	json_t *status;                 /* owned: the status being built */
	json_t *wf;                     /* borrowed from status: status.workflow, or NULL */
	json_t *steps;                  /* borrowed: status.workflow.steps */
	struct app_run *run;            /* borrowed: st->run */
	int64_t now_us;
	int64_t deadline;
	/* one pass */
	struct app_piece **active;      /* owned array of borrowed pieces that deploy */
	size_t nactive, capactive;
	json_t *content;                /* owned: cluster -> render entries */
	json_t *potential;              /* owned: cluster -> true */
	json_t *gated;                  /* owned: "component|cluster" -> true */
	json_t *desired;                /* owned: cluster -> desired work (lazily) */
	json_t *step_pieces;            /* owned: step index -> [piece ordinals into all] */
	struct app_piece **all;         /* owned array of borrowed pieces, every step */
	size_t nall, capall;
	json_t *step_info;              /* owned: step index -> {missing, empty, error} */
	char render_err[APP_MSG_MAX];
	char policy_err[APP_MSG_MAX];
	bool changed;
	bool failed_any;
};

/* See app_int.h. */
char *app_now(char *out)
{
	return time_format_micro(time_now_us(), out);
}

static const char *sget(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static bool streq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static bool has_app_finalizer(const json_t *app)
{
	json_t *f = kobj_get_path(app, "metadata.finalizers"), *x;
	size_t i;

	json_array_foreach(f, i, x)
		if (streq(json_string_value(x), APP_FINALIZER))
			return true;
	return false;
}

static const char *step_kind_name(const struct app_step *s)
{
	return s->type ? s->type : "deploy";
}

static json_t *new_workflow(const char *rev, const struct app_spec *spec)
{
	char now[TIMEFMT_MAX];
	json_t *steps = json_array();

	for (size_t i = 0; i < spec->nsteps; i++)
		json_array_append_new(steps, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", spec->steps[i].name,
						       "name", spec->steps[i].name, "type",
						       step_kind_name(&spec->steps[i]), "phase", "pending", "reason", "",
						       "message", ""));
	return json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:s, s:s, s:o}", "appRevision", rev, "mode", "StepByStep",
			 "phase", "executing", "suspend", 0, "terminated", 0, "finished", 0, "message", "",
			 "startTime", app_now(now), "steps", steps);
}

/* Step status helpers ------------------------------------------------------- */

static json_t *sst(struct wf *w, size_t i)
{
	return json_array_get(w->steps, i);
}

static const char *phase(struct wf *w, size_t i)
{
	return sget(sst(w, i), "phase");
}

static bool terminal(const char *ph)
{
	return !strcmp(ph, "succeeded") || !strcmp(ph, "skipped") || !strcmp(ph, "failed");
}

static void set_step(struct wf *w, size_t i, const char *ph, const char *reason, const char *msg)
{
	json_t *s = sst(w, i);
	char now[TIMEFMT_MAX];
	char m[APP_MSG_MAX];

	snprintf(m, sizeof(m), "%s", msg ? msg : "");
	if (strcmp(sget(s, "phase"), ph)) {
		w->changed = true;
		app_now(now);
		if (!strcmp(sget(s, "phase"), "pending") && !json_object_get(s, "firstExecuteTime"))
			json_object_set_new(s, "firstExecuteTime", json_string(now));
		json_object_set_new(s, "lastExecuteTime", json_string(now));
		json_object_set_new(s, "phase", json_string(ph));
	}
	json_object_set_new(s, "reason", json_string(reason ? reason : ""));
	json_object_set_new(s, "message", json_string(m));
}

static int64_t step_start_us(struct wf *w, size_t i)
{
	int64_t us;

	if (time_parse_rfc3339(sget(sst(w, i), "firstExecuteTime"), &us) < 0)
		return w->now_us;
	return us;
}

static void want_wake(struct wf *w, int64_t at)
{
	if (!w->deadline || at < w->deadline)
		w->deadline = at;
}

static void fmt_duration(int64_t ms, char *out, size_t outlen)
{
	if (ms % 3600000 == 0 && ms >= 3600000)
		snprintf(out, outlen, "%lldh", (long long)(ms / 3600000));
	else if (ms % 60000 == 0 && ms >= 60000)
		snprintf(out, outlen, "%lldm", (long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(out, outlen, "%llds", (long long)(ms / 1000));
	else
		snprintf(out, outlen, "%lldms", (long long)ms);
}

/* One pass: what deploys where ---------------------------------------------- */

/* Free what one pass computed (wf_free, too). */
static void pass_free(struct wf *w)
{
	free(w->active);
	free(w->all);
	json_decref(w->content);
	json_decref(w->potential);
	json_decref(w->gated);
	json_decref(w->desired);
	json_decref(w->step_pieces);
	json_decref(w->step_info);
}

static void pass_reset(struct wf *w)
{
	pass_free(w);
	w->active = w->all = NULL;
	w->nactive = w->capactive = w->nall = w->capall = 0;
	w->content = json_object();
	w->potential = json_object();
	w->gated = json_object();
	w->desired = json_object();
	w->step_pieces = json_object();
	w->step_info = json_object();
	w->render_err[0] = w->policy_err[0] = '\0';
}

static void push(struct app_piece ***v, size_t *n, size_t *cap, struct app_piece *p)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = p;
}

static bool deploys(const struct app_step *s)
{
	return s->kind == APP_STEP_DEPLOY || s->kind == APP_STEP_APPLY_COMPONENT;
}

/* Whether step i's pieces are part of what the works carry. */
static bool contributes(struct wf *w, size_t i)
{
	const char *ph = phase(w, i), *reason = sget(sst(w, i), "reason");

	if (!deploys(&w->run->spec->steps[i]))
		return false;
	if (!strcmp(ph, "running") || !strcmp(ph, "succeeded"))
		return true;
	return !strcmp(ph, "failed") && strcmp(reason, "SuspendTimeout") && strcmp(reason, "RenderError") &&
	       strcmp(reason, "Skipped");
}

static json_t *comp_in(const struct app_piece *pc, const char *name)
{
	json_t *c;
	size_t i;

	json_array_foreach(pc->comps, i, c)
		if (streq(sget(c, "name"), name))
			return c;
	return NULL;
}

/* Whether the stored work already holds comp's workload as rendered. */
static bool already_there(struct wf *w, const struct app_piece *pc, const json_t *comp)
{
	json_t *work = json_object_get(w->st->works, pc->cluster), *ms, *m;
	json_t *wl = json_object_get(comp, "workload");
	size_t i;

	if (!work || !wl)
		return false;
	ms = kobj_get_path(work, "spec.workload.manifests");
	json_array_foreach(ms, i, m)
		if (json_equal(m, wl))
			return true;
	return false;
}

static bool comp_healthy(struct wf *w, const struct app_piece *pc, const json_t *comp)
{
	json_t *values = NULL;
	char *msg = NULL;
	bool h = app_comp_health(w->ctl, w->st, pc, comp, &msg, &values);

	free(msg);
	return h;
}

/* The components of pc held back because a dependency is not healthy yet:
 * a new object of names -> true. */
static json_t *gate(struct wf *w, const struct app_piece *pc)
{
	json_t *released = json_object(), *held = json_object(), *c, *d;
	bool progress = true;
	size_t i, j;

	json_array_foreach(pc->comps, i, c)
		if (!json_array_size(json_object_get(c, "dependsOn")) || already_there(w, pc, c))
			json_object_set_new(released, sget(c, "name"), json_true());
	while (progress) {
		progress = false;
		json_array_foreach(pc->comps, i, c) {
			bool ok = true;

			if (json_object_get(released, sget(c, "name")))
				continue;
			json_array_foreach(json_object_get(c, "dependsOn"), j, d) {
				json_t *dc = comp_in(pc, json_string_value(d));

				if (!dc)
					continue; /* not deployed by this step here */
				if (!json_object_get(released, sget(dc, "name")) || !comp_healthy(w, pc, dc)) {
					ok = false;
					break;
				}
			}
			if (ok) {
				json_object_set_new(released, sget(c, "name"), json_true());
				progress = true;
			}
		}
	}
	json_array_foreach(pc->comps, i, c)
		if (!json_object_get(released, sget(c, "name")))
			json_object_set_new(held, sget(c, "name"), json_true());
	json_decref(released);
	return held;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether every component of every piece of step i on cluster is healthy. */
static bool cluster_done(struct wf *w, struct app_piece **list, size_t n, const char *cluster)
{
	for (size_t k = 0; k < n; k++) {
		json_t *c;
		size_t j;

		if (strcmp(list[k]->cluster, cluster))
			continue;
		if (list[k]->error)
			return false;
		json_array_foreach(list[k]->comps, j, c)
			if (!comp_healthy(w, list[k], c))
				return false;
	}
	return true;
}

/* The clusters of a running step that may be written now: a window of
 * `parallelism` clusters not yet healthy, in name order. New object
 * cluster -> true. */
static json_t *admitted(struct wf *w, const struct app_step *s, struct app_piece **list, size_t n)
{
	json_t *names = json_object(), *out = json_object();
	const char **v;
	bool *done;
	size_t nn = 0, a, i;
	const char *k;
	json_t *x;
	int par = s->parallelism > 0 ? s->parallelism : 5;

	for (i = 0; i < n; i++)
		json_object_set_new(names, list[i]->cluster, json_true());
	v = xcalloc(json_object_size(names) + 1, sizeof(*v));
	json_object_foreach(names, k, x)
		v[nn++] = k;
	qsort(v, nn, sizeof(*v), cmp_str);
	/* done[i]: cluster i is healthy with this step's pieces (computed once) */
	done = xcalloc(nn + 1, sizeof(*done));
	a = nn < (size_t)par ? nn : (size_t)par;
	for (size_t counted = 0, h = 0;;) {
		size_t na;

		for (; counted < a; counted++) {
			done[counted] = cluster_done(w, list, n, v[counted]);
			h += done[counted];
		}
		na = h + (size_t)par < nn ? h + (size_t)par : nn;
		if (na <= a)
			break;
		a = na;
	}
	free(done);
	for (i = 0; i < a; i++)
		json_object_set_new(out, v[i], json_true());
	free(v);
	json_decref(names);
	return out;
}

static void pass_compute(struct wf *w)
{
	struct app_spec *spec = w->run->spec;

	pass_reset(w);
	for (size_t i = 0; i < spec->nsteps; i++) {
		const struct app_step *s = &spec->steps[i];
		struct app_piece **list = NULL;
		json_t *missing = NULL, *empty = NULL, *adm = NULL, *ords, *info;
		struct errbuf err = {""};
		size_t n = 0;
		char key[32];

		if (!deploys(s) || !strcmp(phase(w, i), "skipped"))
			continue;
		snprintf(key, sizeof(key), "%zu", i);
		ords = json_array();
		if (app_step_pieces(w->ctl, w->st, i, &err, &list, &n, &missing, &empty) < 0) {
			json_object_set_new(w->step_info, key, json_pack("{s:s}", "error", err.msg));
			if (contributes(w, i) && !w->render_err[0])
				snprintf(w->render_err, sizeof(w->render_err), "step %s: %s", s->name, err.msg);
			json_decref(ords);
			continue;
		}
		info = json_pack("{s:o, s:o}", "missing", missing, "empty", empty);
		json_object_set_new(w->step_info, key, info);
		for (size_t k = 0; k < n; k++) {
			json_object_set_new(w->potential, list[k]->cluster, json_true());
			json_array_append_new(ords, json_integer((json_int_t)w->nall));
			push(&w->all, &w->nall, &w->capall, list[k]);
		}
		json_object_set_new(w->step_pieces, key, ords);
		if (!contributes(w, i)) {
			free(list);
			continue;
		}
		if (app_rollout_policy(spec, s) >= 0 && strcmp(phase(w, i), "succeeded"))
			/* a wave: only the released clusters get this run's content
			 * (once the step succeeded, every cluster was released) */
			adm = app_rollout_released(w->status, s->name, w->run->rev_name);
		else if (!strcmp(phase(w, i), "running"))
			adm = admitted(w, s, list, n);
		for (size_t k = 0; k < n; k++) {
			struct app_piece *pc = list[k];
			json_t *held, *entries, *m;
			size_t j;

			if (adm && !json_object_get(adm, pc->cluster))
				continue;
			if (pc->error) {
				if (!w->render_err[0])
					snprintf(w->render_err, sizeof(w->render_err), "step %s, cluster %s: %s", s->name,
						 pc->cluster, pc->error);
				continue;
			}
			held = gate(w, pc);
			entries = json_object_get(w->content, pc->cluster);
			if (!entries) {
				entries = json_array();
				json_object_set_new(w->content, pc->cluster, entries);
			}
			json_array_foreach(pc->manifests, j, m) {
				const char *c = sget(m, "component");

				if (!json_object_get(held, c))
					json_array_append(entries, m);
			}
			{
				const char *hn;
				json_t *hv;
				char gk[400];

				json_object_foreach(held, hn, hv) {
					snprintf(gk, sizeof(gk), "%s|%s", hn, pc->cluster);
					json_object_set_new(w->gated, gk, json_true());
				}
			}
			json_decref(held);
			push(&w->active, &w->nactive, &w->capactive, pc);
		}
		json_decref(adm);
		free(list);
	}
}

static bool workflow_succeeded(struct wf *w)
{
	return w->wf && streq(sget(w->wf, "phase"), "succeeded");
}

/* The desired work on cluster for this pass (borrowed), or NULL. */
static json_t *desired(struct wf *w, const char *cluster)
{
	json_t *d = json_object_get(w->desired, cluster), *entries = json_object_get(w->content, cluster);
	struct errbuf err = {""};

	if (d || !entries)
		return d;
	d = app_work_desired(w->ctl, w->st, cluster, entries, !workflow_succeeded(w), &err);
	if (!d) {
		if (!w->render_err[0])
			snprintf(w->render_err, sizeof(w->render_err), "cluster %s: %s", cluster, err.msg);
		return NULL;
	}
	json_object_set_new(w->desired, cluster, d);
	return d;
}

/* Step execution ---------------------------------------------------------------- */

/* Whether deploying step i is done; else *why says what it waits for. */
static bool deploy_done(struct wf *w, size_t i, char *why, size_t whylen, bool *ret_fatal)
{
	char key[32];
	json_t *info, *ords, *x, *miss, *empty;
	size_t k, n = 0, waiting = 0;
	int len = 0;

	*ret_fatal = false;
	snprintf(key, sizeof(key), "%zu", i);
	info = json_object_get(w->step_info, key);
	if (json_object_get(info, "error")) {
		snprintf(why, whylen, "%s", sget(info, "error"));
		*ret_fatal = true;
		return false;
	}
	miss = json_object_get(info, "missing");
	empty = json_object_get(info, "empty");
	if (json_array_size(miss)) {
		len = snprintf(why, whylen, "waiting for clusters that do not exist or are not accepted:");
		json_array_foreach(miss, k, x)
			if (len < (int)whylen)
				len += snprintf(why + len, whylen - (size_t)len, " %s", json_string_value(x));
		return false;
	}
	if (json_array_size(empty)) {
		len = snprintf(why, whylen, "topology policy");
		json_array_foreach(empty, k, x)
			if (len < (int)whylen)
				len += snprintf(why + len, whylen - (size_t)len, " %s", json_string_value(x));
		if (len < (int)whylen)
			snprintf(why + len, whylen - (size_t)len,
				 " selects no cluster: waiting for a matching cluster (allowEmpty: true deploys nothing "
				 "instead)");
		if (!w->policy_err[0])
			snprintf(w->policy_err, sizeof(w->policy_err), "step %s: %s", w->run->spec->steps[i].name, why);
		return false;
	}
	ords = json_object_get(w->step_pieces, key);
	len = 0;
	why[0] = '\0';
	json_array_foreach(ords, k, x) {
		struct app_piece *pc = w->all[json_integer_value(x)];
		json_t *d, *c;
		size_t j;
		const char *bad = NULL;
		char *msg = NULL;

		n++;
		if (pc->error) {
			snprintf(why, whylen, "cluster %s: %s", pc->cluster, pc->error);
			*ret_fatal = true;
			return false;
		}
		d = desired(w, pc->cluster);
		if (!d || !app_work_uptodate(w->st, pc->cluster, d)) {
			bad = "being written";
		} else {
			json_array_foreach(pc->comps, j, c) {
				char gk[400];
				json_t *values;

				snprintf(gk, sizeof(gk), "%s|%s", sget(c, "name"), pc->cluster);
				if (json_object_get(w->gated, gk)) {
					free(msg);
					msg = xasprintf("%s: waiting for its dependencies", sget(c, "name"));
					break;
				}
				free(msg);
				msg = NULL;
				if (!app_comp_health(w->ctl, w->st, pc, c, &msg, &values)) {
					char *m2 = xasprintf("%s: %s", sget(c, "name"), msg);

					free(msg);
					msg = m2;
					break;
				}
				free(msg);
				msg = NULL;
			}
		}
		if (bad || msg) {
			if (!waiting && len < (int)whylen)
				len += snprintf(why + len, whylen - (size_t)len, "waiting for");
			if (len < (int)whylen)
				len += snprintf(why + len, whylen - (size_t)len, "%s %s (%s)", waiting ? "," : "", pc->cluster,
						bad ? bad : msg);
			waiting++;
		}
		free(msg);
	}
	return waiting == 0;
}

/* A deploy step with a nave-rollout policy (app_rollout.c) --------------------------- */

struct wave_ctx {
	struct wf *w;
	struct app_piece **list;        /* borrowed pieces of the step */
	size_t n;
};

static void wave_check(void *data, const char *cluster, bool *ret_uptodate, bool *ret_healthy)
{
	struct wave_ctx *c = data;
	json_t *d = desired(c->w, cluster);

	*ret_uptodate = d && app_work_uptodate(c->w->st, cluster, d);
	*ret_healthy = *ret_uptodate && cluster_done(c->w, c->list, c->n, cluster);
}

/* Run step i's wave: 1 done, 0 waiting (why says for what), -1 failed
 * (*ret_reason, why). */
static int wave_deploy(struct wf *w, size_t i, char *why, size_t whylen, const char **ret_reason)
{
	json_t *info, *ords, *x, *names = json_object(), *sorted = json_array();
	struct wave_ctx c = {.w = w};
	struct app_rollout_out out;
	const char **v = NULL;
	const char *k;
	size_t j, nn = 0;
	char key[32];
	int r = 0;

	snprintf(key, sizeof(key), "%zu", i);
	info = json_object_get(w->step_info, key);
	if (json_object_get(info, "error")) {
		snprintf(why, whylen, "%s", sget(info, "error"));
		*ret_reason = "RenderError";
		r = -1;
		goto out;
	}
	if (json_array_size(json_object_get(info, "missing"))) {
		snprintf(why, whylen, "waiting for clusters that do not exist or are not accepted: %s",
			 json_string_value(json_array_get(json_object_get(info, "missing"), 0)));
		goto out;
	}
	ords = json_object_get(w->step_pieces, key);
	c.list = xcalloc(json_array_size(ords) + 1, sizeof(*c.list));
	json_array_foreach(ords, j, x) {
		struct app_piece *pc = w->all[json_integer_value(x)];

		c.list[c.n++] = pc;
		json_object_set_new(names, pc->cluster, json_true());
	}
	v = xcalloc(json_object_size(names) + 1, sizeof(*v));
	json_object_foreach(names, k, x)
		v[nn++] = k;
	qsort(v, nn, sizeof(*v), cmp_str);
	for (j = 0; j < nn; j++)
		json_array_append_new(sorted, json_string(v[j]));
	if (app_rollout_run(w->ctl, w->st, w->status, w->run->spec, i, w->run->rev_name, sorted, wave_check, &c,
			    w->now_us / 1000, &out) < 0) {
		snprintf(why, whylen, "the rollout cannot be evaluated");
		goto out;
	}
	if (out.released)
		w->changed = true;
	if (out.next_wake_ms)
		want_wake(w, out.next_wake_ms * 1000);
	snprintf(why, whylen, "rollout %s: %s", wave_phase_name((enum wave_phase)out.phase), out.message);
	if (out.phase == WAVE_SUCCEEDED) {
		r = 1;
	} else if (out.phase == WAVE_HALTED || out.phase == WAVE_ABORTED) {
		*ret_reason = out.phase == WAVE_HALTED ? "RolloutHalted" : "RolloutAborted";
		r = -1;
	}
	/* a released cluster whose rendering failed fails the step (a pending
	 * one only once it is released) */
	if (r >= 0) {
		json_t *rel = app_rollout_released(w->status, w->run->spec->steps[i].name, w->run->rev_name);

		for (j = 0; j < c.n; j++)
			if (c.list[j]->error && json_object_get(rel, c.list[j]->cluster)) {
				snprintf(why, whylen, "cluster %s: %s", c.list[j]->cluster, c.list[j]->error);
				*ret_reason = "RenderError";
				r = -1;
				break;
			}
		json_decref(rel);
	}
out:
	free(v);
	free(c.list);
	json_decref(names);
	json_decref(sorted);
	return r;
}

static void on_notified(void *data, int r, const char *message)
{
	struct app_state *st = data;

	st->notify = NULL;
	st->notify_done = true;
	st->notify_r = r;
	free(st->notify_msg);
	st->notify_msg = xstrdup(message ? message : "");
	app_mark_dirty(st->ctl, st);
}

/* Run the notification step i: 1 done (phase set), 0 waiting. */
static int notification(struct wf *w, size_t i)
{
	const struct app_step *s = &w->run->spec->steps[i];
	struct app_state *st = w->st;
	struct errbuf err = {""};
	int64_t timeout = APP_NOTIFY_TIMEOUT_MS;
	char origin[300];

	if (st->notify_done && streq(st->notify_step, s->name) && streq(st->notify_run, w->run->rev_name)) {
		if (st->notify_r == 0)
			set_step(w, i, "succeeded", "", "");
		else
			set_step(w, i, "failed", "NotificationFailed", st->notify_msg);
		app_state_notify_clear(st);
		return 1;
	}
	if (st->notify && streq(st->notify_step, s->name) && streq(st->notify_run, w->run->rev_name))
		return 0;
	app_state_notify_clear(st);
	if (!s->url) {
		set_step(w, i, "failed", "NotificationFailed", "no URL to post to");
		return 1;
	}
	if (s->timeout_ms > 0 && s->timeout_ms < timeout)
		timeout = s->timeout_ms;
	if (app_notify_post(w->ctl->loop, s->url, s->payload, timeout, on_notified, st, &err, &st->notify) < 0) {
		set_step(w, i, "failed", "NotificationFailed", err.msg);
		return 1;
	}
	st->notify_step = xstrdup(s->name);
	st->notify_run = xstrdup(w->run->rev_name);
	app_url_origin(s->url, origin, sizeof(origin));
	set_step(w, i, "running", "", "");
	json_object_set_new(sst(w, i), "message", json_sprintf("posting to %s", origin));
	return 0;
}

/* The scope of `if`: {status: {<step>: {phase, succeeded, failed, skipped}}}. */
static json_t *if_scope(struct wf *w)
{
	json_t *by = json_object(), *s;
	size_t i;

	json_array_foreach(w->steps, i, s) {
		const char *ph = sget(s, "phase");

		json_object_set_new(by, sget(s, "name"),
				    json_pack("{s:s, s:b, s:b, s:b}", "phase", ph, "succeeded", !strcmp(ph, "succeeded"),
					      "failed", !strcmp(ph, "failed"), "skipped", !strcmp(ph, "skipped")));
	}
	return json_pack("{s:o}", "status", by);
}

/* Advance the state machine once over the steps. */
static void advance(struct wf *w)
{
	struct app_spec *spec = w->run->spec;
	bool terminated = json_is_true(json_object_get(w->wf, "terminated"));
	char why[APP_MSG_MAX], dur[32];

	w->failed_any = false;
	for (size_t i = 0; i < spec->nsteps; i++) {
		const struct app_step *s = &spec->steps[i];
		const char *ph = phase(w, i);
		bool fatal = false;

		if (!strcmp(ph, "succeeded") || !strcmp(ph, "skipped"))
			continue;
		if (!strcmp(ph, "failed")) {
			w->failed_any = true;
			continue;
		}
		if (terminated)
			break;
		if ((!strcmp(ph, "running") || !strcmp(ph, "suspending")) && s->timeout_ms > 0) {
			int64_t end = step_start_us(w, i) + s->timeout_ms * 1000;

			if (w->now_us >= end) {
				fmt_duration(s->timeout_ms, dur, sizeof(dur));
				snprintf(why, sizeof(why), "%s within its timeout (%s)",
					 !strcmp(ph, "suspending") ? "not resumed" : "the step did not finish", dur);
				set_step(w, i, "failed", !strcmp(ph, "suspending") ? "SuspendTimeout" : "Timeout", why);
				if (streq(w->st->notify_step, s->name))
					app_state_notify_clear(w->st);
				w->failed_any = true;
				continue;
			}
			want_wake(w, end);
		}
		if (!strcmp(ph, "pending")) {
			bool deps_ok = true;

			if (json_is_true(json_object_get(w->wf, "suspend")))
				break;
			for (size_t d = 0; d < s->ndepends; d++)
				for (size_t k = 0; k < spec->nsteps; k++)
					if (!strcmp(spec->steps[k].name, s->depends_on[d]) && !terminal(phase(w, k)))
						deps_ok = false;
			if (!deps_ok)
				break;
			if (s->if_expr && strcmp(s->if_expr, "always")) {
				json_t *scope = if_scope(w), *v = NULL;
				struct errbuf err = {""};
				int r = tmpl_eval(s->if_expr, scope, &err, &v);
				bool yes = r == 0 && tmpl_truthy(v);

				json_decref(scope);
				json_decref(v);
				if (r < 0) {
					snprintf(why, sizeof(why), "if: %s", err.msg);
					set_step(w, i, "failed", "InvalidIf", why);
					w->failed_any = true;
					continue;
				}
				if (!yes) {
					snprintf(why, sizeof(why), "if: %s is false", s->if_expr);
					set_step(w, i, "skipped", "Skip", why);
					continue;
				}
			} else if (!s->if_expr && w->failed_any) {
				set_step(w, i, "skipped", "Skip", "an earlier step failed");
				continue;
			}
			if (s->kind == APP_STEP_SUSPEND) {
				set_step(w, i, "suspending", "Suspend", s->message ? s->message : "");
				json_object_set_new(w->wf, "suspend", json_true());
			} else if (s->kind == APP_STEP_DEPLOY && !s->auto_) {
				snprintf(why, sizeof(why), "waiting for approval: navectl workflow resume %s",
					 spec->name);
				set_step(w, i, "suspending", "WaitingApproval", why);
				json_object_set_new(w->wf, "suspend", json_true());
			} else if (s->kind == APP_STEP_NOTIFICATION) {
				if (notification(w, i) == 1) {
					if (streq(phase(w, i), "failed"))
						w->failed_any = true;
					continue;
				}
			} else {
				set_step(w, i, "running", "", "");
			}
			if (s->timeout_ms > 0)
				want_wake(w, step_start_us(w, i) + s->timeout_ms * 1000);
			if (s->kind == APP_STEP_SUSPEND && s->duration_ms > 0)
				want_wake(w, step_start_us(w, i) + s->duration_ms * 1000);
			break; /* its pieces deploy in the next pass */
		}
		/* running or suspending */
		if (s->kind == APP_STEP_SUSPEND) {
			int64_t end = step_start_us(w, i) + s->duration_ms * 1000;

			if (s->duration_ms > 0 && w->now_us >= end) {
				set_step(w, i, "succeeded", "", "");
				json_object_set_new(w->wf, "suspend", json_false());
				continue;
			}
			if (s->duration_ms > 0)
				want_wake(w, end);
			json_object_set_new(w->wf, "suspend", json_true());
			break;
		}
		if (!strcmp(ph, "suspending")) {
			/* a deploy waiting for approval */
			json_object_set_new(w->wf, "suspend", json_true());
			break;
		}
		if (s->kind == APP_STEP_NOTIFICATION) {
			if (notification(w, i) == 1) {
				if (streq(phase(w, i), "failed"))
					w->failed_any = true;
				continue;
			}
			break;
		}
		if (app_rollout_policy(spec, s) >= 0) {
			const char *reason = "";
			int wr = wave_deploy(w, i, why, sizeof(why), &reason);

			if (wr > 0) {
				set_step(w, i, "succeeded", "", why);
				continue;
			}
			if (wr < 0) {
				set_step(w, i, "failed", reason, why);
				w->failed_any = true;
				continue;
			}
			json_object_set_new(sst(w, i), "message", json_string(why));
			break;
		}
		if (deploy_done(w, i, why, sizeof(why), &fatal)) {
			set_step(w, i, "succeeded", "", "");
			continue;
		}
		if (fatal) {
			set_step(w, i, "failed", "RenderError", why);
			w->failed_any = true;
			continue;
		}
		json_object_set_new(sst(w, i), "message", json_string(why));
		break;
	}
}

/* The workflow's phase, message and end from its steps. */
static void workflow_phase(struct wf *w)
{
	bool all = true, failed = false, suspend = json_is_true(json_object_get(w->wf, "suspend"));
	const char *msg = "", *ph;
	char now[TIMEFMT_MAX];
	json_t *s;
	size_t i;

	json_array_foreach(w->steps, i, s) {
		const char *p = sget(s, "phase");

		if (!terminal(p)) {
			if (all && *sget(s, "message"))
				msg = sget(s, "message");
			all = false;
		}
		if (!strcmp(p, "failed")) {
			failed = true;
			if (!*msg)
				msg = sget(s, "message");
		}
	}
	if (json_is_true(json_object_get(w->wf, "terminated")))
		ph = "terminated";
	else if (all)
		ph = failed ? "failed" : "succeeded";
	else if (suspend)
		ph = "suspending";
	else
		ph = "executing";
	json_object_set_new(w->wf, "phase", json_string(ph));
	json_object_set_new(w->wf, "message", json_string(msg));
	json_object_set_new(w->wf, "finished", json_boolean(all || !strcmp(ph, "terminated")));
	if (all || !strcmp(ph, "terminated")) {
		json_object_set_new(w->wf, "suspend", json_false());
		if (!json_object_get(w->wf, "endTime"))
			json_object_set_new(w->wf, "endTime", json_string(app_now(now)));
	} else {
		json_object_del(w->wf, "endTime");
	}
}

/* Works ------------------------------------------------------------------------- */

static void write_works(struct wf *w)
{
	json_t *names = json_array(), *x;
	const char *c;
	size_t i;

	json_object_foreach(w->content, c, x) {
		json_t *d = desired(w, c);

		if (d)
			app_work_write(w->ctl, w->st, c, d);
	}
	/* collect first: deleting changes st->works through the subscription */
	json_object_foreach(w->st->works, c, x)
		if (!json_object_get(w->content, c) && (workflow_succeeded(w) || !json_object_get(w->potential, c)))
			json_array_append_new(names, json_string(c));
	json_array_foreach(names, i, x)
		app_work_delete(w->ctl, w->st, json_string_value(x));
	json_decref(names);
}

/* Deletion ---------------------------------------------------------------------- */

static void delete_all_works(struct app_ctl *ctl, struct app_state *st)
{
	json_t *names = json_array(), *x;
	const char *c;
	size_t i;

	json_object_foreach(st->works, c, x)
		json_array_append_new(names, json_string(c));
	json_array_foreach(names, i, x)
		app_work_delete(ctl, st, json_string_value(x));
	json_decref(names);
}

static void reconcile_delete(struct wf *w)
{
	struct app_ctl *ctl = w->ctl;
	struct app_state *st = w->st;
	struct errbuf err = {""};

	app_state_notify_clear(st);
	delete_all_works(ctl, st);
	if (json_object_size(st->works)) {
		json_t *x;
		const char *c;
		char msg[APP_MSG_MAX];
		int len = snprintf(msg, sizeof(msg), "waiting for the works on");

		json_object_foreach(st->works, c, x)
			if (len < (int)sizeof(msg))
				len += snprintf(msg + len, sizeof(msg) - (size_t)len, " %s", c);
		if (len < (int)sizeof(msg))
			snprintf(msg + len, sizeof(msg) - (size_t)len, " to be deleted by their agents");
		json_object_set_new(w->status, "status", json_string("deleting"));
		app_set_condition(w->status, "Ready", false, "Deleting", msg);
		app_status_write(ctl, w->app, w->status);
		return;
	}
	app_revisions_delete(ctl, st->ns, st->name);
	if (has_app_finalizer(w->app)) {
		json_t *obj = json_deep_copy(w->app), *fin = kobj_get_path(obj, "metadata.finalizers"), *nf = json_array(), *x;
		size_t i;
		int r;

		json_array_foreach(fin, i, x)
			if (!streq(json_string_value(x), APP_FINALIZER))
				json_array_append(nf, x);
		json_object_set_new(kobj_metadata(obj, true), "finalizers", nf);
		json_object_del(kobj_metadata(obj, true), "resourceVersion");
		r = kapi_update(ctl->kapi, APP_GROUP, APP_RES_APPS, obj, &meta_opts, &err, NULL);
		json_decref(obj);
		if (r < 0 && r != -ENOENT)
			log_warn("application %s/%s: cannot remove its finalizer: %s", st->ns, st->name, err.msg);
		else
			log_info("application %s/%s: deleted with its works and revisions", st->ns, st->name);
	}
	app_state_reset(st, true);
}

/* The reconcile -------------------------------------------------------------------- */

static void app_conditions(struct wf *w, bool healthy, bool have_services)
{
	const char *wph = w->wf ? sget(w->wf, "phase") : "";
	bool wf_bad = !strcmp(wph, "failed") || !strcmp(wph, "terminated");
	bool done = w->wf && json_is_true(json_object_get(w->wf, "finished"));
	const char *phase_name;

	app_set_condition(w->status, "Render", !w->render_err[0], w->render_err[0] ? "RenderFailed" : "Rendered",
			  w->render_err);
	app_set_condition(w->status, "Policy", !w->policy_err[0], w->policy_err[0] ? "NoCluster" : "Placed",
			  w->policy_err);
	if (w->wf)
		app_set_condition(w->status, "WorkflowFinished", done, done ? wph : "Running", sget(w->wf, "message"));
	if (wf_bad)
		app_set_condition(w->status, "Healthy", false, !strcmp(wph, "failed") ? "WorkflowFailed" : "WorkflowTerminated",
				  "the workflow has not succeeded");
	else if (!have_services && strcmp(wph, "succeeded"))
		/* Nothing runs anywhere yet (a topology that selects no cluster,
		 * a step still waiting): not "healthy" by default. */
		app_set_condition(w->status, "Healthy", false, "NothingDeployed", "no component is deployed yet");
	else
		app_set_condition(w->status, "Healthy", healthy, healthy ? "Healthy" : "Unhealthy",
				  healthy ? "" : have_services ? "some components are not healthy" : "");
	app_set_condition(w->status, "Ready", healthy && !wf_bad && !strcmp(wph, "succeeded"),
			  !strcmp(wph, "succeeded") ? (healthy ? "Ready" : "Unhealthy") : "WorkflowNotFinished", "");
	if (!strcmp(wph, "executing") || !strcmp(wph, "initializing"))
		phase_name = "runningWorkflow";
	else if (!strcmp(wph, "suspending"))
		phase_name = "workflowSuspending";
	else if (!strcmp(wph, "terminated"))
		phase_name = "workflowTerminated";
	else if (!strcmp(wph, "failed"))
		phase_name = "workflowFailed";
	else if (!strcmp(wph, "succeeded"))
		phase_name = healthy ? "running" : "unhealthy";
	else
		phase_name = "rendering";
	json_object_set_new(w->status, "status", json_string(phase_name));
}

static void wf_free(struct wf *w)
{
	pass_free(w);
	json_decref(w->status);
	json_decref(w->app);
}

/* Make sure st->run is the revision rev; drop cached renders otherwise. */
static int ensure_run(struct wf *w, const char *rev, struct errbuf *err)
{
	struct app_state *st = w->st;

	if (st->run && !strcmp(st->run->rev_name, rev))
		return 0;
	app_state_reset(st, true);
	app_state_notify_clear(st);
	return app_run_load(w->ctl, st->ns, rev, err, &st->run);
}

/* app_revision_sync, remembered while the generation, the definitions and
 * the publish version stay the same and the status names that revision. */
static int revision(struct wf *w, const struct app_spec *spec, struct errbuf *err, char **ret_name, int64_t *ret_rev,
		    char *ret_hash)
{
	struct app_state *st = w->st;
	json_t *gen = kobj_get_path(w->app, "metadata.generation");
	const char *latest = json_string_value(kobj_get_path(w->app, "status.latestRevision.name"));
	char *key = xasprintf("%lld|%llu|%s|%s", (long long)json_integer_value(gen),
			      (unsigned long long)w->ctl->defs_epoch, spec->publish_version ? "p" : "-",
			      spec->publish_version ? spec->publish_version : "");
	int r;

	if (st->rc_key && !strcmp(st->rc_key, key) && streq(latest, st->rc_name)) {
		free(key);
		*ret_name = xstrdup(st->rc_name);
		*ret_rev = st->rc_rev;
		memcpy(ret_hash, st->rc_hash, 65);
		return 0;
	}
	free(st->rc_key);
	free(st->rc_name);
	st->rc_key = st->rc_name = NULL;
	r = app_revision_sync(w->ctl, st, w->app, spec, err, ret_name, ret_rev, ret_hash);
	if (r < 0) {
		free(key);
		return r;
	}
	st->rc_key = key;
	st->rc_name = xstrdup(*ret_name);
	st->rc_rev = *ret_rev;
	memcpy(st->rc_hash, ret_hash, 65);
	return 0;
}

/* See app_int.h. */
void app_reconcile(struct app_ctl *ctl, struct app_state *st)
{
	struct wf w = {.ctl = ctl, .st = st, .now_us = time_now_us()};
	struct app_spec *spec = NULL;
	struct errbuf err = {""};
	char *latest = NULL, hash[65] = "";
	int64_t rev = 0;
	bool was_finished, healthy;
	json_t *gen;
	int r;

	st->ctl = ctl;
	st->deadline_us = 0;
	r = kapi_get(ctl->kapi, APP_GROUP, APP_RES_APPS, st->ns, st->name, NULL, &w.app);
	if (r == -ENOENT) {
		/* works without an application: let them go */
		st->exists = false;
		app_state_notify_clear(st);
		delete_all_works(ctl, st);
		app_revisions_delete(ctl, st->ns, st->name);
		app_state_reset(st, true);
		return;
	}
	if (r < 0)
		return;
	st->exists = true;
	w.status = json_deep_copy(json_object_get(w.app, "status"));
	if (!json_is_object(w.status)) {
		json_decref(w.status);
		w.status = json_object();
	}
	if (kobj_get_path(w.app, "metadata.deletionTimestamp")) {
		reconcile_delete(&w);
		goto out;
	}
	if (!has_app_finalizer(w.app)) {
		json_t *fin = json_deep_copy(kobj_get_path(w.app, "metadata.finalizers")), *patch, *upd = NULL;

		if (!json_is_array(fin)) {
			json_decref(fin);
			fin = json_array();
		}
		json_array_append_new(fin, json_string(APP_FINALIZER));
		patch = json_pack("{s:{s:o}}", "metadata", "finalizers", fin);
		if (kapi_patch(ctl->kapi, APP_GROUP, APP_RES_APPS, st->ns, st->name, NULL, KAPI_PATCH_MERGE, patch,
			       &meta_opts, &err, &upd) == 0) {
			json_decref(w.app);
			w.app = upd;
		}
		json_decref(patch);
	}
	/* 1. parse and revision */
	if (app_spec_parse(w.app, &err, &spec) < 0) {
		app_set_condition(w.status, "Parsed", false, "ParseFailed", err.msg);
	} else {
		app_set_condition(w.status, "Parsed", true, "Parsed", "");
		errbuf_clear(&err);
		if (revision(&w, spec, &err, &latest, &rev, hash) < 0) {
			app_set_condition(w.status, "Revision", false, "RevisionFailed", err.msg);
			snprintf(w.render_err, sizeof(w.render_err), "%s", err.msg);
		} else {
			app_set_condition(w.status, "Revision", true, "Revised", latest);
			json_object_set_new(w.status, "latestRevision",
					    json_pack("{s:s, s:I, s:s}", "name", latest, "revision", (json_int_t)rev,
						      "revisionHash", hash));
		}
	}
	gen = kobj_get_path(w.app, "metadata.generation");
	if (json_is_integer(gen))
		json_object_set(w.status, "observedGeneration", gen);
	w.wf = json_object_get(w.status, "workflow");
	if (!json_is_object(w.wf))
		w.wf = NULL;
	if (latest && spec && !spec->revision_only && (!w.wf || !streq(sget(w.wf, "appRevision"), latest))) {
		struct app_run *nr = NULL;

		if (app_run_load(ctl, st->ns, latest, &err, &nr) == 0) {
			app_state_reset(st, true);
			app_state_notify_clear(st);
			st->run = nr;
			json_object_set_new(w.status, "workflow", new_workflow(latest, nr->spec));
			w.wf = json_object_get(w.status, "workflow");
			log_info("application %s/%s: workflow started for %s", st->ns, st->name, latest);
		} else {
			snprintf(w.render_err, sizeof(w.render_err), "%s", err.msg);
		}
	}
	if (!w.wf)
		goto rollup;
	/* 2. the run */
	if (ensure_run(&w, sget(w.wf, "appRevision"), &err) < 0) {
		snprintf(w.render_err, sizeof(w.render_err), "%s", err.msg);
		json_object_set_new(w.wf, "message", json_string(err.msg));
		goto rollup;
	}
	w.run = st->run;
	w.steps = json_object_get(w.wf, "steps");
	if (!json_is_array(w.steps) || json_array_size(w.steps) != w.run->spec->nsteps) {
		json_object_set_new(w.status, "workflow", new_workflow(w.run->rev_name, w.run->spec));
		w.wf = json_object_get(w.status, "workflow");
		w.steps = json_object_get(w.wf, "steps");
	}
	if (st->ncache > APP_CACHE_MAX)
		app_state_reset(st, false);
	was_finished = json_is_true(json_object_get(w.wf, "finished"));
	for (int pass = 0; pass < APP_PASSES_MAX; pass++) {
		w.changed = false;
		workflow_phase(&w);
		pass_compute(&w);
		advance(&w);
		if (!w.changed)
			break;
	}
	workflow_phase(&w);
	/* 3. works */
	write_works(&w);
	if (!was_finished && json_is_true(json_object_get(w.wf, "finished")))
		app_revision_set_outcome(ctl, st->ns, w.run->rev_name, sget(w.wf, "phase"),
					 streq(sget(w.wf, "phase"), "succeeded"));
	if (w.deadline)
		st->deadline_us = w.deadline;
rollup:
	/* 4. status */
	healthy = app_status_rollup(ctl, st, w.status, w.active, w.nactive, w.gated);
	app_conditions(&w, healthy, w.nactive > 0);
	app_status_write(ctl, w.app, w.status);
out:
	free(latest);
	app_spec_free(spec);
	wf_free(&w);
}

/* Endpoints' transitions ----------------------------------------------------------- */

/* See app_int.h. */
int app_workflow_action(struct app_ctl *ctl, const json_t *app, const char *action, struct errbuf *err)
{
	json_t *status = json_deep_copy(json_object_get(app, "status")), *wf, *steps, *s;
	struct app_state *st = app_state_get(ctl, kobj_namespace(app), kobj_name(app));
	const char *ph;
	char now[TIMEFMT_MAX];
	size_t i;
	int r = 0;

	if (!json_is_object(status)) {
		json_decref(status);
		status = json_object();
	}
	wf = json_object_get(status, "workflow");
	steps = json_object_get(wf, "steps");
	ph = sget(wf, "phase");
	if (!strcmp(action, "restart")) {
		const char *rev = json_string_value(kobj_get_path(status, "latestRevision.name"));
		json_t *nsteps = json_array();

		if (!rev)
			rev = sget(wf, "appRevision");
		if (!*rev) {
			r = errbuf_set(err, -EBUSY, "application %s has no revision to run yet (status: %s)", kobj_name(app),
				       sget(status, "status"));
			goto out;
		}
		if (!json_is_object(wf) || strcmp(sget(wf, "appRevision"), rev)) {
			/* the reconcile builds the steps of that revision */
			json_object_del(status, "workflow");
			json_object_set_new(status, "workflow",
					    json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:s, s:s, s:[]}", "appRevision", rev,
						      "mode", "StepByStep", "phase", "executing", "suspend", 0, "terminated",
						      0, "finished", 0, "message", "", "startTime", app_now(now), "steps"));
		} else {
			json_array_foreach(steps, i, s)
				json_array_append_new(nsteps, json_pack("{s:O, s:O, s:O, s:s, s:s, s:s}", "id",
									json_object_get(s, "id"), "name",
									json_object_get(s, "name"), "type",
									json_object_get(s, "type"), "phase", "pending",
									"reason", "", "message", ""));
			json_object_set_new(wf, "steps", nsteps);
			nsteps = NULL;
			json_object_set_new(wf, "phase", json_string("executing"));
			json_object_set_new(wf, "suspend", json_false());
			json_object_set_new(wf, "terminated", json_false());
			json_object_set_new(wf, "finished", json_false());
			json_object_set_new(wf, "message", json_string(""));
			json_object_set_new(wf, "startTime", json_string(app_now(now)));
			json_object_del(wf, "endTime");
		}
		json_decref(nsteps);
		app_state_notify_clear(st);
		goto write;
	}
	if (!json_is_object(wf)) {
		r = errbuf_set(err, -EBUSY, "application %s has no workflow running (status: %s)", kobj_name(app),
			       *sget(status, "status") ? sget(status, "status") : "not reconciled yet");
		goto out;
	}
	if (!strcmp(action, "resume")) {
		bool any = false;

		json_array_foreach(steps, i, s) {
			if (strcmp(sget(s, "phase"), "suspending"))
				continue;
			any = true;
			json_object_set_new(s, "phase", json_string(streq(sget(s, "type"), "suspend") ? "succeeded" : "running"));
			json_object_set_new(s, "reason", json_string("Resumed"));
			json_object_set_new(s, "message", json_string(""));
			json_object_set_new(s, "lastExecuteTime", json_string(app_now(now)));
		}
		if (!any && !json_is_true(json_object_get(wf, "suspend"))) {
			r = errbuf_set(err, -EBUSY, "the workflow of application %s is not suspended (phase: %s)",
				       kobj_name(app), ph);
			goto out;
		}
		json_object_set_new(wf, "suspend", json_false());
	} else if (!strcmp(action, "suspend")) {
		if (json_is_true(json_object_get(wf, "finished")) || json_is_true(json_object_get(wf, "terminated"))) {
			r = errbuf_set(err, -EBUSY, "the workflow of application %s has ended (phase: %s); restart it "
				       "to run it again", kobj_name(app), ph);
			goto out;
		}
		if (json_is_true(json_object_get(wf, "suspend"))) {
			r = errbuf_set(err, -EBUSY, "the workflow of application %s is already suspended", kobj_name(app));
			goto out;
		}
		json_object_set_new(wf, "suspend", json_true());
		json_object_set_new(wf, "phase", json_string("suspending"));
	} else if (!strcmp(action, "terminate")) {
		if (json_is_true(json_object_get(wf, "terminated"))) {
			r = errbuf_set(err, -EBUSY, "the workflow of application %s is already terminated", kobj_name(app));
			goto out;
		}
		if (json_is_true(json_object_get(wf, "finished"))) {
			r = errbuf_set(err, -EBUSY, "the workflow of application %s has ended (phase: %s)", kobj_name(app),
				       ph);
			goto out;
		}
		json_array_foreach(steps, i, s) {
			const char *p = sget(s, "phase");

			if (!strcmp(p, "running") || !strcmp(p, "suspending")) {
				json_object_set_new(s, "phase", json_string(!strcmp(p, "running") ? "failed" : "skipped"));
				json_object_set_new(s, "reason", json_string("Terminated"));
				json_object_set_new(s, "message", json_string("terminated by the user"));
				json_object_set_new(s, "lastExecuteTime", json_string(app_now(now)));
			}
		}
		json_object_set_new(wf, "terminated", json_true());
		json_object_set_new(wf, "suspend", json_false());
		json_object_set_new(wf, "phase", json_string("terminated"));
		app_state_notify_clear(st);
	} else {
		r = errbuf_set(err, -ENOENT, "unknown workflow action \"%s\" (resume, suspend, terminate, restart)", action);
		goto out;
	}
write:
	if ((r = app_status_write(ctl, app, status)) < 0) {
		errbuf_set(err, r, "cannot write the application's status");
		goto out;
	}
	r = 0;
	log_info("application %s/%s: workflow %s", kobj_namespace(app), kobj_name(app), action);
	app_mark_dirty(ctl, st);
out:
	json_decref(status);
	return r;
}
