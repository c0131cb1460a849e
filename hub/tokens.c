/* tokens.c - bootstrap tokens: create, check, count, revoke, purge.
 *
 * A token is "<id>.<secret>", 6 and 16 characters of [a-z0-9] (kubeadm's
 * shape; 36^16 ~ 2^82 secrets). It lives as a BootstrapToken object (name =
 * id) holding only the SHA-256 of the whole token, so neither the store nor
 * a reader of the API ever sees a secret; the secret is shown once, in the
 * answer to POST /nave/v1/tokens. Checks compare hashes in constant time and
 * answer 401 with the precise reason (malformed, unknown, wrong secret,
 * revoked, expired, used up), since token ids are not secret.
 * Revoked and expired tokens are kept HUB_TOKEN_KEEP_S past their expiry so
 * the 401 keeps saying why, then purged by the janitor.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "httpd.h"
#include "hub_int.h"
#include "kobj.h"
#include "log.h"
#include "timefmt.h"

#define HUB_TOKEN_HASH_LEN (7 + SHA256_HEX_LEN)

static const struct kapi_write_opts hub_opts = {.field_manager = "nave-hub"};

static int rand_chars(char *out, size_t n)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char b[64];
	size_t got = 0, i;
	int r;

	while (got < n) {
		if ((r = random_bytes(b, sizeof(b))) < 0)
			return r;
		for (i = 0; i < sizeof(b) && got < n; i++)
			if (b[i] < 252) /* 252 = 7 * 36: no modulo bias */
				out[got++] = alphabet[b[i] % 36];
	}
	out[n] = '\0';
	return 0;
}

static void token_hash(const char *token, char out[HUB_TOKEN_HASH_LEN + 1])
{
	char hex[SHA256_HEX_LEN + 1];

	sha256_hex(token, strlen(token), hex);
	snprintf(out, HUB_TOKEN_HASH_LEN + 1, "sha256:%s", hex);
}

/* See hub_int.h. */
int hub_token_check(struct hub *h, const char *token, enum hub_token_use use, struct errbuf *err,
		    json_t **ret_obj)
{
	char id[7], want[HUB_TOKEN_HASH_LEN + 1];
	const char *have, *exp;
	json_t *obj = NULL;
	int64_t exp_us;
	int r = -EACCES;

	if (!token || !hub_token_shaped(token))
		return errbuf_set(err, -EACCES,
				  "Unauthorized: bootstrap token is malformed: expected <6 chars [a-z0-9]>.<16 chars "
				  "[a-z0-9]>");
	memcpy(id, token, 6);
	id[6] = '\0';
	if (kapi_get(h->kapi, HUB_GROUP_NAVE, HUB_RES_TOKENS, NULL, id, NULL, &obj) < 0)
		return errbuf_set(err, -EACCES, "Unauthorized: bootstrap token \"%s\" not found", id);
	token_hash(token, want);
	have = json_string_value(kobj_get_path(obj, "spec.secretHash"));
	if (!have || strlen(have) != HUB_TOKEN_HASH_LEN || memcmp_const(have, want, HUB_TOKEN_HASH_LEN)) {
		errbuf_set(err, -EACCES, "Unauthorized: bootstrap token \"%s\": wrong secret", id);
		goto out;
	}
	if (json_is_true(kobj_get_path(obj, "spec.revoked"))) {
		errbuf_set(err, -EACCES, "Unauthorized: bootstrap token \"%s\" has been revoked", id);
		goto out;
	}
	if (use == HUB_TOKEN_REGISTER) {
		json_int_t limit = json_integer_value(kobj_get_path(obj, "spec.usageLimit"));
		json_int_t uses = json_integer_value(kobj_get_path(obj, "status.uses"));

		exp = json_string_value(kobj_get_path(obj, "spec.expiration"));
		if (!exp || time_parse_rfc3339(exp, &exp_us) < 0 || exp_us <= time_now_us()) {
			errbuf_set(err, -EACCES, "Unauthorized: bootstrap token \"%s\" expired at %s", id,
				   exp ? exp : "an unknown time");
			goto out;
		}
		if (limit > 0 && uses >= limit) {
			errbuf_set(err, -EACCES, "Unauthorized: bootstrap token \"%s\" has reached its usage limit (%lld)",
				   id, (long long)limit);
			goto out;
		}
	}
	r = 0;
	if (ret_obj) {
		*ret_obj = obj;
		obj = NULL;
	}
out:
	json_decref(obj);
	return r;
}

/* See hub_int.h. */
int hub_token_count_use(struct hub *h, const char *id)
{
	char now[TIMEFMT_MAX];
	struct errbuf err;
	json_t *obj = NULL, *st;
	int r;

	if ((r = kapi_get(h->kapi, HUB_GROUP_NAVE, HUB_RES_TOKENS, NULL, id, &err, &obj)) < 0)
		return r;
	st = json_object_get(obj, "status");
	if (!json_is_object(st)) {
		st = json_object();
		json_object_set_new(obj, "status", st);
	}
	json_object_set_new(st, "uses", json_integer(json_integer_value(json_object_get(st, "uses")) + 1));
	json_object_set_new(st, "lastUsed", json_string(time_format_rfc3339(time_now_us(), now)));
	r = kapi_update_status(h->kapi, HUB_GROUP_NAVE, HUB_RES_TOKENS, obj, &hub_opts, &err, NULL);
	if (r < 0)
		log_error("bootstrap token %s: cannot count a use: %s", id, err.msg);
	json_decref(obj);
	return r;
}

static int opt_int(const json_t *body, const char *field, json_int_t lo, json_int_t hi, json_int_t def,
		   json_int_t *ret, struct errbuf *err)
{
	json_t *v = json_object_get(body, field);

	if (!v || json_is_null(v)) {
		*ret = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return errbuf_set(err, -EINVAL, "%s: Invalid value: must be an integer of %lld..%lld", field,
				  (long long)lo, (long long)hi);
	*ret = json_integer_value(v);
	return 0;
}

/* See hub_int.h. */
void hub_tokens_create(struct hub *h, struct httpd_req *req)
{
	char id[7], secret[17], token[24], hash[HUB_TOKEN_HASH_LEN + 1], exp[TIMEFMT_MAX], *join = NULL;
	struct errbuf err = {""};
	json_t *body = NULL, *obj = NULL, *descj;
	json_int_t ttl = 0, limit = 0; /* set by opt_int on success */
	const char *desc = "";
	int r, tries;

	if ((r = hub_body_json(req, &body, &err)) < 0 ||
	    (r = opt_int(body, "ttlSeconds", HUB_TOKEN_TTL_MIN, HUB_TOKEN_TTL_MAX, HUB_TOKEN_TTL_DEFAULT, &ttl,
			 &err)) < 0 ||
	    (r = opt_int(body, "usageLimit", 0, HUB_TOKEN_USES_MAX, 0, &limit, &err)) < 0)
		goto fail;
	descj = json_object_get(body, "description");
	if (descj && !json_is_null(descj)) {
		if (!json_is_string(descj) || json_string_length(descj) > HUB_DESCRIPTION_MAX) {
			r = errbuf_set(&err, -EINVAL, "description: Invalid value: must be a string of at most %d bytes",
				       HUB_DESCRIPTION_MAX);
			goto fail;
		}
		desc = json_string_value(descj);
		for (const char *c = desc; *c; c++) {
			if ((unsigned char)*c < 0x20) {
				r = errbuf_set(&err, -EINVAL, "description: Invalid value: control characters");
				goto fail;
			}
		}
	}
	time_format_rfc3339(time_now_us() + (int64_t)ttl * 1000000, exp);
	for (tries = 0; tries < 8; tries++) {
		if ((r = rand_chars(id, 6)) < 0 || (r = rand_chars(secret, 16)) < 0) {
			errbuf_set(&err, r, "cannot read random bytes");
			goto fail;
		}
		snprintf(token, sizeof(token), "%s.%s", id, secret);
		token_hash(token, hash);
		json_decref(obj);
		obj = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:I, s:s, s:b, s:s}, s:{s:i}}", "apiVersion",
				"nave.dev/v1alpha1", "kind", "BootstrapToken", "metadata", "name", id, "spec",
				"expiration", exp, "usageLimit", limit, "description", desc, "revoked", 0,
				"secretHash", hash, "status", "uses", 0);
		r = kapi_create(h->kapi, HUB_GROUP_NAVE, HUB_RES_TOKENS, NULL, obj, &hub_opts, &err, NULL);
		if (r != -EEXIST)
			break;
	}
	if (r < 0)
		goto fail;
	log_info("bootstrap token %s created (expires %s, usage limit %lld)", id, exp, (long long)limit);
	join = xasprintf("nave-klusterlet join --hub %s --token %s --ca-hash %s --cluster-name <name>",
			 h->cfg.hub_url, token, h->ca_pin);
	hub_respond_json(h, req, 201,
			 json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s}", "kind",
				   "BootstrapTokenSecret", "apiVersion", "nave.dev/v1alpha1", "id", id, "token", token,
				   "expiration", exp, "usageLimit", limit, "description", desc, "caHash", h->ca_pin,
				   "hubURL", h->cfg.hub_url, "joinCommand", join));
	memset(secret, 0, sizeof(secret));
	memset(token, 0, sizeof(token));
	memset(join, 0, strlen(join));
	goto out;
fail:
	hub_respond_error(h, req, r, err.msg);
out:
	free(join);
	json_decref(obj);
	json_decref(body);
}

/* See hub_int.h. */
void hub_tokens_revoke(struct hub *h, struct httpd_req *req, const char *id)
{
	struct errbuf err = {""};
	json_t *obj = NULL, *patch;
	int r;

	if (strlen(id) != 6 || kapi_get(h->kapi, HUB_GROUP_NAVE, HUB_RES_TOKENS, NULL, id, NULL, &obj) < 0) {
		snprintf(err.msg, sizeof(err.msg), "bootstrap token \"%.64s\" not found", id);
		hub_respond_error(h, req, -ENOENT, err.msg);
		return;
	}
	if (!json_is_true(kobj_get_path(obj, "spec.revoked"))) {
		json_decref(obj);
		obj = NULL;
		patch = json_pack("{s:{s:b}}", "spec", "revoked", 1);
		r = kapi_patch(h->kapi, HUB_GROUP_NAVE, HUB_RES_TOKENS, NULL, id, NULL, KAPI_PATCH_MERGE, patch,
			       &hub_opts, &err, &obj);
		json_decref(patch);
		if (r < 0) {
			hub_respond_error(h, req, r, err.msg);
			return;
		}
		log_info("bootstrap token %s revoked", id);
	}
	hub_respond_json(h, req, 200, obj);
}

/* See hub_int.h. */
void hub_tokens_purge(struct hub *h)
{
	int64_t cutoff = time_now_us() - (int64_t)HUB_TOKEN_KEEP_S * 1000000;
	json_t *items = NULL, *o;
	size_t i;

	if (kapi_list(h->kapi, HUB_GROUP_NAVE, HUB_RES_TOKENS, NULL, NULL, NULL, NULL, &items) < 0)
		return;
	json_array_foreach(items, i, o) {
		const char *exp = json_string_value(kobj_get_path(o, "spec.expiration"));
		int64_t us;

		if (exp && time_parse_rfc3339(exp, &us) == 0 && us < cutoff) {
			log_info("bootstrap token %s expired at %s: deleted", kobj_name(o), exp);
			kapi_delete(h->kapi, HUB_GROUP_NAVE, HUB_RES_TOKENS, NULL, kobj_name(o), NULL, NULL, NULL);
		}
	}
	json_decref(items);
}
