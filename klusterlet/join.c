/* join.c - the bootstrap: pin the hub CA, register a CSR with a bootstrap
 * token, wait for an administrator, return the credential; see join.h.
 *
 * Two kclients against the hub: the first trusts nothing (it only fetches
 * the CA, which is then judged by its pin alone), the second trusts only
 * that CA and carries the bootstrap token. Both live until join_free:
 * kclient_free may not run inside a kclient callback, and every step here
 * runs inside one. For the same reason the done callback is delivered from
 * a uv timer, so the caller may free the join from it.
 */
#include "join.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "backoff.h"
#include "codec.h"
#include "kclient.h"
#include "log.h"
#include "x509.h"

#define JOIN_DEFAULT_TIMEOUT_MS 30000
#define JOIN_MAX_BODY (256u << 10)   /* answers of the registration endpoints */
#define JOIN_AGENT_RANDOM 8

enum join_step { JOIN_CA, JOIN_REGISTER, JOIN_POLL, JOIN_DONE };

struct join {
	uv_loop_t *loop;               /* borrowed */
	enum join_step step;
	char *hub_url;                 /* owned; without a trailing '/' */
	char *token;                   /* owned; secret */
	char *ca_hash;                 /* owned or NULL; lowercase */
	bool insecure_skip_ca;
	char *cluster;                 /* owned */
	char *agent;                   /* owned */
	json_t *labels;                /* owned or NULL */
	json_t *claims;                /* owned or NULL */
	uint64_t timeout_ms;
	struct backoff poll_backoff;
	struct kclient *anon;          /* owned: trusts nothing, fetches the CA */
	struct kclient *hub;           /* owned: trusts the pinned CA, bootstrap token */
	struct kclient_call *call;     /* borrowed handle of the request in flight */
	char *ca_pem;                  /* owned: the pinned CA */
	char *key_pem;                 /* owned; secret */
	char *reg_id;                  /* owned: the registration id */
	bool said_waiting;
	uint64_t waiting_since;        /* uv_now when Pending was first seen */
	uint64_t last_said;
	uv_timer_t timer;              /* polls; then delivers done */
	bool timer_init;
	int result;
	char msg[ERRBUF_MAX];
	struct agent_cred *cred;       /* owned until handed to done */
	join_progress_fn progress;
	join_done_fn done;
	void *userdata;
};

int join_pin_check_syntax(const char *pin, struct errbuf *err)
{
	if (!pin || strncmp(pin, "sha256:", 7) != 0 || strlen(pin) != X509_PIN_LEN)
		return errbuf_set(err, -EINVAL, "--ca-hash: must be sha256: followed by 64 hex "
				  "digits (the pin `navectl token create` prints)");
	for (size_t i = 7; pin[i]; i++)
		if (!isxdigit((unsigned char)pin[i]))
			return errbuf_set(err, -EINVAL, "--ca-hash: \"%s\": not hexadecimal", pin);
	return 0;
}

int join_labels_parse(const char *s, struct errbuf *err, json_t **ret_labels)
{
	json_t *o = json_object();
	char *copy, *save = NULL, *tok;
	int r = 0;

	if (!s || !*s) {
		*ret_labels = o;
		return 0;
	}
	copy = xstrdup(s);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq || eq == tok) {
			r = errbuf_set(err, -EINVAL, "--labels: \"%s\": expected key=value", tok);
			break;
		}
		*eq = '\0';
		if (strlen(tok) > 317 || strlen(eq + 1) > 63) {
			r = errbuf_set(err, -EINVAL, "--labels: %s: key or value too long", tok);
			break;
		}
		json_object_set_new(o, tok, json_string(eq + 1));
		if (!json_object_get(o, tok)) {
			r = errbuf_set(err, -EINVAL, "--labels: %s: not UTF-8", tok);
			break;
		}
		if (json_object_size(o) > JOIN_LABELS_MAX) {
			r = errbuf_set(err, -EINVAL, "--labels: more than %d labels", JOIN_LABELS_MAX);
			break;
		}
	}
	free(copy);
	if (r < 0) {
		json_decref(o);
		return r;
	}
	*ret_labels = o;
	return 0;
}

/* Finishing ----------------------------------------------------------------- */

static void deliver_done(uv_timer_t *t)
{
	struct join *j = t->data;
	struct agent_cred *cred = j->cred;

	j->cred = NULL;
	uv_timer_stop(t);
	/* done may free j. */
	j->done(j->userdata, j->result, cred, j->msg);
}

/* End the join with r (0: j->cred is set) and msg; done runs from the timer. */
static void finish(struct join *j, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void finish(struct join *j, int r, const char *fmt, ...)
{
	va_list ap;

	j->step = JOIN_DONE;
	j->result = r;
	va_start(ap, fmt);
	vsnprintf(j->msg, sizeof(j->msg), fmt, ap);
	va_end(ap);
	uv_timer_stop(&j->timer);
	uv_timer_start(&j->timer, deliver_done, 0, 0);
}

static void say(struct join *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct join *j, const char *fmt, ...)
{
	char line[ERRBUF_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (j->progress)
		j->progress(j->userdata, line);
	else
		log_info("%s", line);
}

/* A request failed: the hub's message when it sent one. */
static const char *result_msg(const struct kclient_result *res)
{
	if (res->err && res->err->message[0])
		return res->err->message;
	return "no answer";
}

/* Step 4: the certificate ------------------------------------------------- */

static void approved(struct join *j, const json_t *body)
{
	const char *cert = json_string_value(json_object_get(body, "certificate"));
	struct agent_cred *c;
	struct errbuf err = { "" };
	int r;

	if (!cert || strlen(cert) > X509_PEM_MAX) {
		finish(j, -EPROTO, "registration %s: approved, but the hub sent no certificate",
		       j->reg_id);
		return;
	}
	c = agent_cred_new(j->hub_url, j->cluster, j->agent, j->ca_pem, cert, j->key_pem);
	r = agent_cred_check(c, NULL, NULL, &err);
	if (r < 0) {
		agent_cred_free(c);
		finish(j, r, "registration %s: the certificate the hub sent is not usable: %s",
		       j->reg_id, err.msg);
		return;
	}
	j->cred = c;
	finish(j, 0, "cluster %s joined hub %s as agent %s (certificate valid until %lld)",
	       j->cluster, j->hub_url, j->agent, (long long)c->not_after);
}

/* Step 3: polling ---------------------------------------------------------- */

static void poll_now(uv_timer_t *t);

static void poll_later(struct join *j)
{
	uv_timer_start(&j->timer, poll_now, backoff_next(&j->poll_backoff), 0);
}

/* Handle a registration view (from the POST or a poll). */
static void registration_state(struct join *j, const json_t *body)
{
	const char *phase = json_string_value(json_object_get(body, "phase"));
	const char *message = json_string_value(json_object_get(body, "message"));
	uint64_t now = uv_now(j->loop);

	if (!phase) {
		finish(j, -EPROTO, "registration %s: the hub's answer has no phase", j->reg_id);
	} else if (strcmp(phase, "Approved") == 0) {
		approved(j, body);
	} else if (strcmp(phase, "Denied") == 0) {
		finish(j, -EACCES, "the hub denied cluster %s's registration %s: %s", j->cluster,
		       j->reg_id, message ? message : "no reason given");
	} else if (strcmp(phase, "Pending") == 0) {
		/* Say it at once, then once a minute, so a log shows we still wait. */
		if (!j->said_waiting || now - j->last_said >= 60000) {
			if (!j->said_waiting)
				j->waiting_since = now;
			say(j, "waiting for an administrator to accept cluster %s: run `navectl cluster "
			    "accept %s` on the hub%s", j->cluster, j->cluster,
			    j->said_waiting ? " (still waiting)" : "");
			j->said_waiting = true;
			j->last_said = now;
		}
		poll_later(j);
	} else {
		finish(j, -EPROTO, "registration %s: unknown phase \"%.32s\"", j->reg_id, phase);
	}
}

static void on_poll(void *ud, const struct kclient_result *res)
{
	struct join *j = ud;

	j->call = NULL;
	if (res->r == 0) {
		registration_state(j, res->body);
		return;
	}
	if (res->err && (res->err->reason == KCLIENT_UNAUTHORIZED ||
			 res->err->reason == KCLIENT_FORBIDDEN)) {
		finish(j, -EACCES, "hub %s refused the bootstrap token while polling registration "
		       "%s: %s", j->hub_url, j->reg_id, result_msg(res));
		return;
	}
	if (res->err && res->err->reason == KCLIENT_NOT_FOUND) {
		finish(j, -ENOENT, "hub %s no longer knows registration %s: join again", j->hub_url,
		       j->reg_id);
		return;
	}
	/* The hub is away or busy: keep polling, it still has our request. */
	log_warn("join: polling registration %s: %s (retrying)", j->reg_id, result_msg(res));
	poll_later(j);
}

static void poll_now(uv_timer_t *t)
{
	struct join *j = t->data;
	char *path = xasprintf("/nave/v1/registrations/%s", j->reg_id);
	int r;

	r = kclient_request(j->hub,
			    &(struct kclient_request){ .method = KCLIENT_GET, .path = path,
						       .max_body = JOIN_MAX_BODY,
						       .timeout_ms = j->timeout_ms },
			    NULL, on_poll, j, &j->call);
	free(path);
	if (r < 0)
		poll_later(j);
}

/* Step 2: register ----------------------------------------------------------- */

static void on_registered(void *ud, const struct kclient_result *res)
{
	struct join *j = ud;
	const char *id;

	j->call = NULL;
	if (res->r < 0) {
		if (res->err && res->err->reason == KCLIENT_UNAUTHORIZED)
			finish(j, -EACCES, "hub %s refused the bootstrap token: %s", j->hub_url,
			       result_msg(res));
		else if (res->err && res->err->code)
			finish(j, res->r, "hub %s refused the registration of cluster %s (HTTP %ld): %s",
			       j->hub_url, j->cluster, res->err->code, result_msg(res));
		else
			finish(j, res->r, "cannot reach hub %s to register: %s", j->hub_url,
			       result_msg(res));
		return;
	}
	id = json_string_value(json_object_get(res->body, "id"));
	if (!id || !*id || strlen(id) > 253 || strchr(id, '/') || strchr(id, '?')) {
		finish(j, -EPROTO, "hub %s: the registration answer has no usable id", j->hub_url);
		return;
	}
	j->reg_id = xstrdup(id);
	log_info("join: cluster %s: registration %s made", j->cluster, j->reg_id);
	j->step = JOIN_POLL;
	registration_state(j, res->body);
}

static int hub_client(struct join *j, bool trusted, struct errbuf *err, struct kclient **ret_kc)
{
	struct kubeconfig *cfg = xnew(struct kubeconfig);
	struct kclient_options o = { .qps = -1, .timeout_ms = j->timeout_ms,
				     .user_agent = "nave-klusterlet" };

	cfg->source = xstrdup("hub");
	cfg->server = xstrdup(j->hub_url);
	cfg->namespace = xstrdup("default");
	if (trusted) {
		cfg->ca_pem = (uint8_t *)xstrdup(j->ca_pem);
		cfg->ca_pem_len = strlen(j->ca_pem);
		cfg->token = xstrdup(j->token);
	} else {
		/* Only the CA is fetched this way, and it is judged by its pin. */
		cfg->insecure = true;
	}
	if (kclient_new(j->loop, cfg, &o, err, ret_kc) < 0) {
		kubeconfig_free(cfg);
		return -EIO;
	}
	return 0;
}

static void do_register(struct join *j)
{
	struct x509_key *key = NULL;
	char *cn = NULL, *org = NULL, *csr = NULL, *body = NULL;
	json_t *req = NULL;
	struct errbuf err = { "" };
	int r;

	r = agent_cred_subject(j->cluster, j->agent, &cn, &org, &err);
	if (r < 0)
		goto out;
	/* A few milliseconds on the loop, once per join. */
	r = x509_key_generate(&key, &err);
	if (r == 0)
		r = x509_key_pem(key, &j->key_pem, &err);
	if (r == 0)
		r = x509_csr_create(key, cn, org, &csr, &err);
	if (r < 0)
		goto out;
	r = hub_client(j, true, &err, &j->hub);
	if (r < 0)
		goto out;
	req = json_pack("{s:s, s:s}", "clusterName", j->cluster, "csr", csr);
	if (j->labels)
		json_object_set(req, "labels", j->labels);
	if (j->claims)
		json_object_set(req, "claims", j->claims);
	body = json_dumps(req, JSON_COMPACT);
	j->step = JOIN_REGISTER;
	r = kclient_request(j->hub,
			    &(struct kclient_request){ .method = KCLIENT_POST,
						       .path = "/nave/v1/registrations",
						       .body = body, .max_body = JOIN_MAX_BODY,
						       .timeout_ms = j->timeout_ms },
			    NULL, on_registered, j, &j->call);
	if (r < 0)
		errbuf_set(&err, r, "cannot start the registration request");
out:
	if (r < 0)
		finish(j, r, "join: %s", err.msg);
	x509_key_free(key);
	free(cn);
	free(org);
	free(csr);
	free(body);
	json_decref(req);
}

/* Step 1: the CA and its pin ------------------------------------------------ */

static void on_ca(void *ud, const struct kclient_result *res)
{
	struct join *j = ud;
	char pin[X509_PIN_LEN + 1];
	struct x509_cert_info info;
	struct errbuf err = { "" };

	j->call = NULL;
	if (res->r < 0) {
		if (res->err && res->err->code)
			finish(j, res->r, "hub %s: GET /nave/v1/ca.crt answered HTTP %ld: %s (is this a "
			       "Nave hub?)", j->hub_url, res->err->code, result_msg(res));
		else
			finish(j, res->r, "cannot reach hub %s: %s", j->hub_url, result_msg(res));
		return;
	}
	if (res->raw_len == 0 || res->raw_len > X509_PEM_MAX ||
	    x509_cert_pin(res->raw, res->raw_len, pin, &err) < 0 ||
	    x509_cert_info(res->raw, res->raw_len, &info, &err) < 0) {
		finish(j, -EPROTO, "hub %s: /nave/v1/ca.crt is not a PEM certificate%s%s", j->hub_url,
		       err.msg[0] ? ": " : "", err.msg);
		return;
	}
	if (j->ca_hash) {
		if (strcmp(pin, j->ca_hash) != 0) {
			finish(j, -EKEYREJECTED,
			       "refusing to join: the CA of hub %s has pin %s, but --ca-hash is %s "
			       "(a different hub, or someone in between; check the pin `navectl token "
			       "create` printed)", j->hub_url, pin, j->ca_hash);
			return;
		}
	} else {
		log_warn("join: --insecure-skip-ca-verification: trusting the CA hub %s sent (pin %s) "
			 "without checking it", j->hub_url, pin);
	}
	if (!info.is_ca) {
		finish(j, -EKEYREJECTED, "hub %s: /nave/v1/ca.crt is not a CA certificate", j->hub_url);
		return;
	}
	j->ca_pem = xstrndup(res->raw, res->raw_len);
	log_info("join: hub %s CA %s%s", j->hub_url, pin, j->ca_hash ? " matches --ca-hash" : "");
	do_register(j);
}

/* The API ----------------------------------------------------------------- */

static void random_agent(char out[7 + JOIN_AGENT_RANDOM])
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	uint8_t rnd[JOIN_AGENT_RANDOM];

	if (random_bytes(rnd, sizeof(rnd)) < 0)
		memset(rnd, 0, sizeof(rnd));
	memcpy(out, "agent-", 6);
	for (int i = 0; i < JOIN_AGENT_RANDOM; i++)
		out[6 + i] = alphabet[rnd[i] % 36];
	out[6 + JOIN_AGENT_RANDOM] = '\0';
}

int join_start(uv_loop_t *loop, const struct join_options *opts, join_progress_fn progress,
	       join_done_fn done, void *userdata, struct errbuf *err, struct join **ret_join)
{
	char agent[7 + JOIN_AGENT_RANDOM], *cn = NULL, *org = NULL;
	struct join *j;
	size_t n;
	int r;

	if (!opts || !done)
		return errbuf_set(err, -EINVAL, "join: options and callback required");
	r = agent_hub_url_parse(opts->hub_url, err, NULL, NULL);
	if (r < 0) {
		errbuf_prefix(err, "--hub");
		return r;
	}
	if (!opts->token || !*opts->token)
		return errbuf_set(err, -EINVAL, "--token: required (a bootstrap token id.secret)");
	if (strlen(opts->token) > JOIN_TOKEN_MAX)
		return errbuf_set(err, -EINVAL, "--token: longer than %d bytes", JOIN_TOKEN_MAX);
	if (!opts->ca_hash && !opts->insecure_skip_ca)
		return errbuf_set(err, -EINVAL,
				  "--ca-hash: required: without the pin of the hub's CA anyone between "
				  "here and the hub could pose as it (use "
				  "--insecure-skip-ca-verification to join anyway)");
	if (opts->ca_hash && (r = join_pin_check_syntax(opts->ca_hash, err)) < 0)
		return r;
	random_agent(agent);
	r = agent_cred_subject(opts->cluster_name, opts->agent_name ? opts->agent_name : agent, &cn,
			       &org, err);
	if (r < 0)
		return r;
	free(cn);
	free(org);
	if (opts->labels && (!json_is_object(opts->labels) ||
			     json_object_size(opts->labels) > JOIN_LABELS_MAX))
		return errbuf_set(err, -EINVAL, "--labels: at most %d", JOIN_LABELS_MAX);
	if (opts->claims && (!json_is_array(opts->claims) ||
			     json_array_size(opts->claims) > JOIN_CLAIMS_MAX))
		return errbuf_set(err, -EINVAL, "claims: at most %d", JOIN_CLAIMS_MAX);

	j = xnew(struct join);
	j->loop = loop;
	j->hub_url = xstrdup(opts->hub_url);
	n = strlen(j->hub_url);
	if (n && j->hub_url[n - 1] == '/')
		j->hub_url[n - 1] = '\0';
	j->token = xstrdup(opts->token);
	if (opts->ca_hash) {
		j->ca_hash = xstrdup(opts->ca_hash);
		for (char *p = j->ca_hash; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	j->insecure_skip_ca = opts->insecure_skip_ca;
	j->cluster = xstrdup(opts->cluster_name);
	j->agent = xstrdup(opts->agent_name ? opts->agent_name : agent);
	j->labels = opts->labels ? json_deep_copy(opts->labels) : NULL;
	j->claims = opts->claims ? json_deep_copy(opts->claims) : NULL;
	j->timeout_ms = opts->timeout_ms ? opts->timeout_ms : JOIN_DEFAULT_TIMEOUT_MS;
	backoff_init(&j->poll_backoff, JOIN_POLL_MIN_MS,
		     opts->poll_max_ms ? opts->poll_max_ms : JOIN_POLL_MAX_MS, 0.2);
	j->progress = progress;
	j->done = done;
	j->userdata = userdata;
	uv_timer_init(loop, &j->timer);
	j->timer.data = j;
	j->timer_init = true;

	r = hub_client(j, false, err, &j->anon);
	if (r == 0)
		r = kclient_request(j->anon,
				    &(struct kclient_request){ .method = KCLIENT_GET,
							       .path = "/nave/v1/ca.crt",
							       .flags = KCLIENT_REQ_RAW,
							       .max_body = X509_PEM_MAX,
							       .timeout_ms = j->timeout_ms },
				    NULL, on_ca, j, &j->call);
	if (r < 0) {
		errbuf_set(err, r, "join: cannot start the request to %s", j->hub_url);
		join_free(j);
		return r;
	}
	*ret_join = j;
	return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

struct join *join_free(struct join *j)
{
	if (!j)
		return NULL;
	/* Dropping the clients drops their requests without callbacks. */
	kclient_free(j->anon);
	kclient_free(j->hub);
	free(j->hub_url);
	if (j->token) {
		explicit_bzero(j->token, strlen(j->token));
		free(j->token);
	}
	free(j->ca_hash);
	free(j->cluster);
	free(j->agent);
	json_decref(j->labels);
	json_decref(j->claims);
	free(j->ca_pem);
	if (j->key_pem) {
		explicit_bzero(j->key_pem, strlen(j->key_pem));
		free(j->key_pem);
	}
	free(j->reg_id);
	agent_cred_free(j->cred);
	if (j->timer_init) {
		uv_timer_stop(&j->timer);
		uv_close((uv_handle_t *)&j->timer, on_timer_closed);
	} else {
		free(j);
	}
	return NULL;
}
