/* kapi_status.c - meta/v1 Status bodies: the errors and delete successes.
 *
 * Messages and details follow what kube-apiserver sends (apimachinery's
 * k8s.io/apimachinery/pkg/api/errors): NotFound "deployments.apps \"x\" not
 * found" with details {name, group, kind: plural}; Invalid "Deployment.apps
 * \"x\" is invalid: <field>: <detail>" with details.kind the Kind and causes
 * naming fields; Conflict "Operation cannot be fulfilled on ...". client-go
 * reads reason and details only from a Status with "status":"Failure".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "httpd.h"
#include "kapi_int.h"

/* See kapi.h. */
int kapi_status_code(int err_code, const char **ret_reason)
{
	const char *reason;
	int code;

	switch (err_code) {
	case -ENOENT: code = 404; reason = "NotFound"; break;
	case -EEXIST: code = 409; reason = "AlreadyExists"; break;
	case -EBUSY: code = 409; reason = "Conflict"; break;
	case -EINVAL: code = 422; reason = "Invalid"; break;
	case -EBADMSG: code = 400; reason = "BadRequest"; break;
	case -EPERM: code = 403; reason = "Forbidden"; break;
	case -EACCES: code = 401; reason = "Unauthorized"; break;
	case -E2BIG: code = 413; reason = "RequestEntityTooLarge"; break;
	case -EOPNOTSUPP: code = 405; reason = "MethodNotAllowed"; break;
	case -EPROTONOSUPPORT: code = 415; reason = "UnsupportedMediaType"; break;
	case -ESTALE: code = 410; reason = "Expired"; break;
	case -ETIMEDOUT: code = 504; reason = "Timeout"; break;
	case -EAGAIN: code = 429; reason = "TooManyRequests"; break;
	default: code = 500; reason = "InternalError"; break;
	}
	if (ret_reason)
		*ret_reason = reason;
	return code;
}

/* See kapi_int.h. */
const char *kapi_qualified_resource(const struct kapi_resource_def *def, char *out)
{
	if (def->group && *def->group)
		snprintf(out, 300, "%s.%s", def->resource, def->group);
	else
		snprintf(out, 300, "%s", def->resource);
	return out;
}

/* See kapi_int.h. */
const char *kapi_qualified_kind(const struct kapi_resource_def *def, char *out)
{
	if (def->group && *def->group)
		snprintf(out, 300, "%s.%s", def->kind, def->group);
	else
		snprintf(out, 300, "%s", def->kind);
	return out;
}

/* See kapi_int.h. */
void kapi_err_clear(struct kapi_err *e)
{
	if (!e)
		return;
	json_decref(e->causes);
	memset(e, 0, sizeof(*e));
}

/* See kapi_int.h. */
int kapi_err_set(struct kapi_err *e, int code, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	e->code = code;
	snprintf(e->name, sizeof(e->name), "%s", name ? name : "");
	va_start(ap, fmt);
	vsnprintf(e->eb.msg, sizeof(e->eb.msg), fmt, ap);
	va_end(ap);
	return code;
}

/* See kapi_int.h. */
int kapi_err_not_found(struct kapi_err *e, const struct kapi_resource_def *def, const char *name)
{
	char q[300];

	return kapi_err_set(e, -ENOENT, name, "%s \"%s\" not found", kapi_qualified_resource(def, q), name);
}

/* See kapi_int.h. */
int kapi_err_exists(struct kapi_err *e, const struct kapi_resource_def *def, const char *name)
{
	char q[300];

	return kapi_err_set(e, -EEXIST, name, "%s \"%s\" already exists", kapi_qualified_resource(def, q), name);
}

/* See kapi_int.h. */
int kapi_err_conflict(struct kapi_err *e, const struct kapi_resource_def *def, const char *name,
		      const char *why)
{
	char q[300];

	return kapi_err_set(e, -EBUSY, name, "Operation cannot be fulfilled on %s \"%s\": %s",
			    kapi_qualified_resource(def, q), name, why);
}

/* See kapi_int.h. */
int kapi_err_forbidden(struct kapi_err *e, const struct kapi_resource_def *def, const char *name,
		       const char *why)
{
	char q[300];

	if (name && *name)
		return kapi_err_set(e, -EPERM, name, "%s \"%s\" is forbidden: %s", kapi_qualified_resource(def, q),
				    name, why);
	return kapi_err_set(e, -EPERM, NULL, "%s is forbidden: %s", kapi_qualified_resource(def, q), why);
}

/* See kapi_int.h. */
void kapi_err_add_cause(struct kapi_err *e, const char *reason, const char *field, const char *message)
{
	json_t *c;

	if (!e)
		return;
	if (!e->causes)
		e->causes = json_array();
	if (json_array_size(e->causes) >= 100)
		return; /* enough to tell the client; keep Status bodies bounded */
	c = json_object();
	if (reason)
		json_object_set_new(c, "reason", json_string(reason));
	json_object_set_new(c, "message", json_string(message));
	if (field)
		json_object_set_new(c, "field", json_string(field));
	json_array_append_new(e->causes, c);
}

/* See kapi_int.h. */
int kapi_err_invalid(struct kapi_err *e, const struct kapi_resource_def *def, const char *name)
{
	char q[300];
	struct errbuf all;
	size_t i, n = json_array_size(e ? e->causes : NULL), off = 0;

	if (!e)
		return -EINVAL;
	all.msg[0] = '\0';
	for (i = 0; i < n; i++) {
		json_t *c = json_array_get(e->causes, i);
		const char *f = json_string_value(json_object_get(c, "field"));
		const char *m = json_string_value(json_object_get(c, "message"));
		int w = snprintf(all.msg + off, sizeof(all.msg) - off, "%s%s%s%s", i ? ", " : "",
				 f ? f : "", f ? ": " : "", m ? m : "");

		if (w < 0 || (size_t)w >= sizeof(all.msg) - off)
			break;
		off += (size_t)w;
	}
	e->kind_in_details = true;
	if (n > 1)
		return kapi_err_set(e, -EINVAL, name, "%s \"%s\" is invalid: [%s]", kapi_qualified_kind(def, q),
				    name ? name : "", all.msg);
	return kapi_err_set(e, -EINVAL, name, "%s \"%s\" is invalid: %s", kapi_qualified_kind(def, q),
			    name ? name : "", all.msg);
}

/* See kapi_int.h. */
int kapi_err_invalid1(struct kapi_err *e, const struct kapi_resource_def *def, const char *name,
		      const char *reason, const char *field, const char *detail)
{
	kapi_err_add_cause(e, reason, field, detail);
	return kapi_err_invalid(e, def, name);
}

static json_t *status_base(const char *status)
{
	json_t *st = json_object();

	json_object_set_new(st, "kind", json_string("Status"));
	json_object_set_new(st, "apiVersion", json_string("v1"));
	json_object_set_new(st, "metadata", json_object());
	json_object_set_new(st, "status", json_string(status));
	return st;
}

/* See kapi_int.h. */
json_t *kapi_err_status(const struct kapi_err *e, const struct kapi_resource_def *def)
{
	const char *reason;
	int code = kapi_status_code(e->code ? e->code : -EIO, &reason);
	json_t *st = status_base("Failure"), *details;

	json_object_set_new(st, "message", json_string(e->eb.msg[0] ? e->eb.msg : reason));
	json_object_set_new(st, "reason", json_string(reason));
	if (e->def)
		def = e->def;
	if (!e->no_details && (def || e->name[0] || e->causes)) {
		details = json_object();
		if (e->name[0])
			json_object_set_new(details, "name", json_string(e->name));
		if (def) {
			if (def->group && *def->group)
				json_object_set_new(details, "group", json_string(def->group));
			json_object_set_new(details, "kind",
					    json_string(e->kind_in_details ? def->kind : def->resource));
		}
		if (e->causes)
			json_object_set(details, "causes", e->causes);
		json_object_set_new(st, "details", details);
	}
	json_object_set_new(st, "code", json_integer(code));
	return st;
}

/* See kapi_int.h. */
void kapi_err_respond(struct httpd_req *req, const struct kapi_err *e, const struct kapi_resource_def *def)
{
	int code = kapi_status_code(e->code ? e->code : -EIO, NULL);

	kapi_respond_json(req, code, kapi_err_status(e, def));
}

/* See kapi_int.h. */
json_t *kapi_status_success(const struct kapi_resource_def *def, const char *name, const char *uid)
{
	json_t *st = status_base("Success"), *details = json_object();

	if (name)
		json_object_set_new(details, "name", json_string(name));
	if (def->group && *def->group)
		json_object_set_new(details, "group", json_string(def->group));
	json_object_set_new(details, "kind", json_string(def->resource));
	if (uid)
		json_object_set_new(details, "uid", json_string(uid));
	json_object_set_new(st, "details", details);
	return st;
}

/* See kapi.h. */
json_t *kapi_status_failure(int err_code, const char *message, const struct kapi_resource_def *def,
			    const char *name)
{
	struct kapi_err e = {0};
	json_t *st;

	kapi_err_set(&e, err_code, name, "%s", message ? message : "");
	st = kapi_err_status(&e, def);
	kapi_err_clear(&e);
	return st;
}

/* See kapi.h. */
void kapi_status_respond(struct httpd_req *req, int err_code, const char *message,
			 const struct kapi_resource_def *def, const char *name)
{
	kapi_respond_json(req, kapi_status_code(err_code, NULL), kapi_status_failure(err_code, message, def, name));
}
