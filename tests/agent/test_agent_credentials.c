/* Unit tests for klusterlet/credentials, the option parsers of join and
 * health, and the claim mappings: the OCM subject, hub URLs, pins, labels,
 * and agent_cred_check on good, mismatched, foreign and expired
 * credentials made with common/x509. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "alloc.h"
#include "claims.h"
#include "credentials.h"
#include "health.h"
#include "join.h"
#include "x509.h"

static void test_subject(void **state)
{
	char *cn = NULL, *org = NULL;
	struct errbuf err;

	assert_int_equal(agent_cred_subject("cluster1", "agent-ab12", &cn, &org, &err), 0);
	assert_string_equal(cn, "system:open-cluster-management:cluster1:agent-ab12");
	assert_string_equal(org, "system:open-cluster-management:cluster1");
	free(cn);
	free(org);
	assert_int_equal(agent_cred_subject("Cluster1", "a", &cn, &org, &err), -EINVAL);
	assert_int_equal(agent_cred_subject("c1", "A_b", &cn, &org, &err), -EINVAL);
	/* the CN must fit the 64 bytes X.509 allows */
	assert_int_equal(agent_cred_subject("a-very-long-cluster-name-here", "agent-12345678", &cn,
					    &org, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "64 bytes"));
}

static void test_hub_url(void **state)
{
	char *host = NULL;
	int port = 0;
	struct errbuf err;

	assert_int_equal(agent_hub_url_parse("https://hub.example:9443", &err, &host, &port), 0);
	assert_string_equal(host, "hub.example");
	assert_int_equal(port, 9443);
	free(host);
	assert_int_equal(agent_hub_url_parse("https://[::1]:8443/", &err, &host, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 8443);
	free(host);
	assert_int_equal(agent_hub_url_parse("https://hub", &err, NULL, &port), 0);
	assert_int_equal(port, 443);
	assert_int_equal(agent_hub_url_parse("http://hub:1", &err, NULL, NULL), -EINVAL);
	assert_int_equal(agent_hub_url_parse("https://hub:0", &err, NULL, NULL), -EINVAL);
	assert_int_equal(agent_hub_url_parse("https://hub:1/path", &err, NULL, NULL), -EINVAL);
	assert_int_equal(agent_hub_url_parse("https://u@hub:1", &err, NULL, NULL), -EINVAL);
	assert_int_equal(agent_hub_url_parse("https://:1", &err, NULL, NULL), -EINVAL);
	assert_int_equal(agent_hub_url_parse(NULL, &err, NULL, NULL), -EINVAL);
}

static void test_pin_and_labels(void **state)
{
	char pin[80];
	json_t *l = NULL;
	struct errbuf err;

	memset(pin, 'a', sizeof(pin));
	memcpy(pin, "sha256:", 7);
	pin[7 + 64] = '\0';
	assert_int_equal(join_pin_check_syntax(pin, &err), 0);
	pin[10] = 'g';
	assert_int_equal(join_pin_check_syntax(pin, &err), -EINVAL);
	assert_int_equal(join_pin_check_syntax("sha256:abc", &err), -EINVAL);
	assert_int_equal(join_pin_check_syntax("md5:abc", &err), -EINVAL);

	assert_int_equal(join_labels_parse("region=eu,tier=gold", &err, &l), 0);
	assert_string_equal(json_string_value(json_object_get(l, "region")), "eu");
	assert_int_equal(json_object_size(l), 2);
	json_decref(l);
	assert_int_equal(join_labels_parse("", &err, &l), 0);
	assert_int_equal(json_object_size(l), 0);
	json_decref(l);
	assert_int_equal(join_labels_parse("novalue", &err, &l), -EINVAL);
	assert_int_equal(join_labels_parse("=v", &err, &l), -EINVAL);
}

static void test_listen_and_claims(void **state)
{
	char *addr = NULL;
	int port = -1;

	assert_int_equal(agent_listen_parse("127.0.0.1:8080", &addr, &port), 0);
	assert_string_equal(addr, "127.0.0.1");
	assert_int_equal(port, 8080);
	free(addr);
	assert_int_equal(agent_listen_parse(":0", &addr, &port), 0);
	assert_null(addr);
	assert_int_equal(port, 0);
	assert_int_equal(agent_listen_parse("[::1]:9", &addr, &port), 0);
	assert_string_equal(addr, "::1");
	free(addr);
	assert_int_equal(agent_listen_parse("8081", &addr, &port), 0);
	assert_int_equal(port, 8081);
	assert_int_equal(agent_listen_parse("x:99999", &addr, &port), -EINVAL);
	assert_int_equal(agent_listen_parse("host:", &addr, &port), -EINVAL);

	assert_string_equal(claims_platform("aws:///us-east-1a/i-0abc"), "AWS");
	assert_string_equal(claims_platform("gce://p/z/n"), "GCP");
	assert_string_equal(claims_platform(NULL), "Other");
	assert_string_equal(claims_platform("awsx://"), "Other");
	assert_string_equal(claims_product("v1.29.1-eks-abc"), "EKS");
	assert_string_equal(claims_product("v1.30.0+k3s1"), "K3s");
	assert_null(claims_product("v1.30.0"));
}

/* A CA and a credential it signed for cluster c1, agent a1. */
struct fixture {
	struct x509_ca *ca;
	struct agent_cred *cred;
};

static struct agent_cred *issue(struct x509_ca *ca, const char *cn, const char *org,
				int64_t not_before, int64_t lifetime)
{
	struct x509_key *key = NULL;
	struct x509_cert_spec spec = { .cn = cn, .org = org, .usage = X509_USAGE_CLIENT,
				       .lifetime = lifetime, .not_before = not_before };
	char *cert = NULL, *key_pem = NULL;
	struct agent_cred *c;
	struct errbuf err;

	assert_int_equal(x509_key_generate(&key, &err), 0);
	assert_int_equal(x509_ca_sign(ca, key, &spec, &cert, &err), 0);
	assert_int_equal(x509_key_pem(key, &key_pem, &err), 0);
	c = agent_cred_new("https://hub:9443", "c1", "a1", x509_ca_cert_pem(ca), cert, key_pem);
	x509_key_free(key);
	free(cert);
	free(key_pem);
	return c;
}

static void test_cred_check(void **state)
{
	struct x509_ca *ca = NULL, *other = NULL;
	struct agent_cred *c, *c2, *c3;
	struct errbuf err;
	json_t *v;
	const char *cn = "system:open-cluster-management:c1:a1";
	const char *org = "system:open-cluster-management:c1";

	assert_int_equal(x509_ca_create("test-ca", 86400, &ca, &err), 0);
	assert_int_equal(x509_ca_create("other-ca", 86400, &other, &err), 0);
	c = issue(ca, cn, org, 0, 3600);
	assert_int_equal(agent_cred_check(c, NULL, NULL, &err), 0);
	assert_true(c->not_after > c->not_before);
	assert_int_equal(agent_cred_check(c, "https://hub:9443", "c1", &err), 0);
	assert_int_equal(agent_cred_check(c, "https://other:1", NULL, &err), -EINVAL);
	assert_int_equal(agent_cred_check(c, NULL, "c2", &err), -EINVAL);

	/* store values round trip */
	v = agent_cred_to_values(c);
	assert_int_equal(json_object_size(v), 6);
	assert_int_equal(agent_cred_from_values(v, &err, &c2), 0);
	assert_int_equal(agent_cred_check(c2, NULL, NULL, &err), 0);
	json_object_del(v, "tls.key");
	assert_int_equal(agent_cred_from_values(v, &err, &c3), -EINVAL);
	assert_non_null(strstr(err.msg, "tls.key"));
	json_decref(v);

	/* another key than the certificate's */
	free(c2->key_pem);
	c3 = issue(ca, cn, org, 0, 3600);
	c2->key_pem = xstrdup(c3->key_pem);
	assert_int_equal(agent_cred_check(c2, NULL, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not the key"));
	agent_cred_free(c2);
	agent_cred_free(c3);

	/* another cluster's subject */
	c2 = issue(ca, "system:open-cluster-management:c2:a1", "system:open-cluster-management:c2",
		   0, 3600);
	assert_int_equal(agent_cred_check(c2, NULL, NULL, &err), -EINVAL);
	agent_cred_free(c2);

	/* signed by a CA other than the credential's */
	c2 = issue(other, cn, org, 0, 3600);
	free(c2->ca_pem);
	c2->ca_pem = xstrdup(x509_ca_cert_pem(ca));
	assert_int_equal(agent_cred_check(c2, NULL, NULL, &err), -EKEYREJECTED);
	agent_cred_free(c2);

	/* expired */
	c2 = issue(ca, cn, org, (int64_t)time(NULL) - 7200, 3600);
	assert_int_equal(agent_cred_check(c2, NULL, NULL, &err), -EKEYEXPIRED);
	assert_non_null(strstr(err.msg, "expired"));
	agent_cred_free(c2);

	agent_cred_free(c);
	x509_ca_free(ca);
	x509_ca_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subject),
		cmocka_unit_test(test_hub_url),
		cmocka_unit_test(test_pin_and_labels),
		cmocka_unit_test(test_listen_and_claims),
		cmocka_unit_test(test_cred_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
