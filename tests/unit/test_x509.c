/* Unit tests for common/x509: keys, the CA, serving and client certificates,
 * CSRs (signature checked), pins. Results are cross-checked with the openssl
 * command line (verify, SAN and EKU as printed, the pin as openssl computes
 * it), so a certificate that only mbed TLS likes fails here. Fixtures:
 * tests/data/x509/ (CSRs made by openssl, some malformed or tampered). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc.h"
#include "codec.h"
#include "errbuf.h"
#include "x509.h"

static char tmpdir[64];

static int setup_dir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/nave-test-x509-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	int r = system(cmd);

	free(cmd);
	return r == 0 ? 0 : -1;
}

static char *tmp_path(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static void write_tmp(const char *name, const char *data, mode_t mode)
{
	char *p = tmp_path(name);
	struct errbuf err = { "" };

	assert_int_equal(x509_file_write(p, data, strlen(data), mode, &err), 0);
	free(p);
}

/* Run a shell command in tmpdir; return its exit status and (if ret_out)
 * its stdout+stderr (caller frees). */
static int run(char **ret_out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(char **ret_out, const char *fmt, ...)
{
	char out[16384];
	size_t len = 0, n;
	char *cmd, *full;
	va_list ap;
	FILE *f;
	int st;

	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	full = xasprintf("cd '%s' && { %s; } 2>&1", tmpdir, cmd);
	f = popen(full, "r");
	assert_non_null(f);
	while ((n = fread(out + len, 1, sizeof(out) - 1 - len, f)) > 0)
		len += n;
	out[len] = '\0';
	st = pclose(f);
	if (ret_out)
		*ret_out = xstrdup(out);
	else if (st != 0)
		fprintf(stderr, "command failed: %s\n%s", cmd, out);
	free(cmd);
	free(full);
	return st;
}

static char *fixture(const char *name)
{
	const char *dir = getenv("NAVE_TEST_DATA");
	char *path, *data = NULL;
	size_t len;

	assert_non_null(dir);
	path = xasprintf("%s/x509/%s", dir, name);
	assert_int_equal(x509_file_read(path, X509_PEM_MAX, &data, &len, NULL), 0);
	free(path);
	return data;
}

static void test_key_generate_pem_roundtrip(void **state)
{
	struct x509_key *k = NULL, *k2 = NULL;
	struct errbuf err = { "" };
	char *pem = NULL, *pem2 = NULL;

	assert_int_equal(x509_key_generate(&k, &err), 0);
	assert_int_equal(x509_key_pem(k, &pem, &err), 0);
	assert_non_null(strstr(pem, "-----BEGIN EC PRIVATE KEY-----"));
	/* without the NUL (the trap) and with it: both parse */
	assert_int_equal(x509_key_parse(pem, strlen(pem), &k2, &err), 0);
	k2 = x509_key_free(k2);
	assert_int_equal(x509_key_parse(pem, strlen(pem) + 1, &k2, &err), 0);
	assert_int_equal(x509_key_pem(k2, &pem2, &err), 0);
	assert_string_equal(pem, pem2);
	write_tmp("k.pem", pem, 0600);
	assert_int_equal(run(NULL, "openssl ec -in k.pem -noout -check"), 0);
	assert_int_equal(run(NULL, "openssl ec -in k.pem -noout -text | grep -q 'NIST CURVE: P-256'"), 0);

	assert_int_equal(x509_key_parse("garbage", 7, &k2, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "private key"));
	free(pem);
	free(pem2);
	x509_key_free(k);
	x509_key_free(k2);
	x509_key_free(NULL);
}

static void test_ca_create(void **state)
{
	struct x509_ca *ca = NULL;
	struct x509_cert_info info;
	struct errbuf err = { "" };
	char *out = NULL;
	int64_t now = time(NULL);

	assert_int_equal(x509_ca_create("nave-test-ca", 86400 * 365, &ca, &err), 0);
	assert_int_equal(x509_cert_info(x509_ca_cert_pem(ca), strlen(x509_ca_cert_pem(ca)), &info,
					&err), 0);
	assert_string_equal(info.cn, "nave-test-ca");
	assert_string_equal(info.org, "");
	assert_true(info.is_ca);
	assert_int_equal(strlen(info.serial), 32);
	assert_true(info.not_before <= now && info.not_before >= now - 400);
	assert_int_equal(info.not_after - info.not_before, 86400 * 365 + 300);

	write_tmp("ca.pem", x509_ca_cert_pem(ca), 0644);
	assert_int_equal(run(NULL, "openssl verify -CAfile ca.pem ca.pem"), 0);
	assert_int_equal(run(&out, "openssl x509 -in ca.pem -noout -text"), 0);
	assert_non_null(strstr(out, "X509v3 Basic Constraints: critical"));
	assert_non_null(strstr(out, "CA:TRUE"));
	assert_non_null(strstr(out, "X509v3 Key Usage: critical"));
	assert_non_null(strstr(out, "Certificate Sign, CRL Sign"));
	assert_non_null(strstr(out, "ecdsa-with-SHA256"));
	assert_non_null(strstr(out, "X509v3 Subject Key Identifier"));
	free(out);

	assert_int_equal(x509_ca_create("bad,cn", 3600, &ca, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "cn:"));
	assert_int_equal(x509_ca_create("ok", 0, &ca, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "lifetime"));
	x509_ca_free(ca);
	x509_ca_free(NULL);
}

static void test_pin_matches_openssl(void **state)
{
	struct x509_ca *ca = NULL;
	char pin[X509_PIN_LEN + 1], pin2[X509_PIN_LEN + 1];
	char *out = NULL, *expect;

	assert_int_equal(x509_ca_create("pin-ca", 3600, &ca, NULL), 0);
	x509_ca_pin(ca, pin);
	assert_int_equal(strlen(pin), X509_PIN_LEN);
	assert_memory_equal(pin, "sha256:", 7);
	write_tmp("pin-ca.pem", x509_ca_cert_pem(ca), 0644);
	assert_int_equal(run(&out, "openssl x509 -in pin-ca.pem -pubkey -noout | "
				   "openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1"),
			 0);
	out[strcspn(out, "\n")] = '\0';
	expect = xasprintf("sha256:%s", out);
	assert_string_equal(pin, expect);
	assert_int_equal(x509_cert_pin(x509_ca_cert_pem(ca), strlen(x509_ca_cert_pem(ca)), pin2,
				       NULL), 0);
	assert_string_equal(pin2, expect);
	free(out);
	free(expect);
	x509_ca_free(ca);
}

static void test_serving_cert_with_sans(void **state)
{
	static const char *const dns[] = { "hub.example.com", "localhost", "*.hub.example.com" };
	static const char *const ips[] = { "127.0.0.1", "::1", "10.1.2.3" };
	struct x509_cert_spec spec = {
		.cn = "nave-hub", .org = "nave", .dns = dns, .n_dns = 3, .ips = ips, .n_ips = 3,
		.usage = X509_USAGE_SERVER | X509_USAGE_CLIENT, .lifetime = 86400,
	};
	struct x509_ca *ca = NULL;
	struct x509_key *key = NULL;
	struct x509_cert_info info;
	struct errbuf err = { "" };
	char *pem = NULL, *kpem = NULL, *out = NULL;

	assert_int_equal(x509_ca_create("sans-ca", 86400, &ca, &err), 0);
	assert_int_equal(x509_key_generate(&key, &err), 0);
	assert_int_equal(x509_ca_sign(ca, key, &spec, &pem, &err), 0);
	assert_int_equal(x509_ca_verify(ca, pem, strlen(pem), &err), 0);
	assert_int_equal(x509_verify(x509_ca_cert_pem(ca), strlen(x509_ca_cert_pem(ca)), pem,
				     strlen(pem), &err), 0);
	assert_int_equal(x509_cert_info(pem, strlen(pem), &info, &err), 0);
	assert_string_equal(info.cn, "nave-hub");
	assert_string_equal(info.org, "nave");
	assert_false(info.is_ca);

	write_tmp("sans-ca.pem", x509_ca_cert_pem(ca), 0644);
	write_tmp("hub.pem", pem, 0644);
	assert_int_equal(x509_key_pem(key, &kpem, &err), 0);
	write_tmp("hub.key", kpem, 0600);
	assert_int_equal(run(NULL, "openssl verify -CAfile sans-ca.pem -purpose sslserver hub.pem"), 0);
	assert_int_equal(run(NULL, "openssl verify -CAfile sans-ca.pem -purpose sslclient hub.pem"), 0);
	assert_int_equal(run(NULL, "openssl x509 -in hub.pem -noout -checkhost hub.example.com | "
				   "grep -q 'does match'"), 0);
	assert_int_equal(run(NULL, "openssl x509 -in hub.pem -noout -checkhost a.hub.example.com | "
				   "grep -q 'does match'"), 0);
	assert_int_equal(run(NULL, "openssl x509 -in hub.pem -noout -checkip ::1 | "
				   "grep -q 'does match'"), 0);
	assert_int_equal(run(&out, "openssl x509 -in hub.pem -noout -ext "
				   "subjectAltName,extendedKeyUsage,basicConstraints,keyUsage"), 0);
	assert_non_null(strstr(out, "DNS:hub.example.com, DNS:localhost, DNS:*.hub.example.com, "
				    "IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, "
				    "IP Address:10.1.2.3"));
	assert_non_null(strstr(out, "TLS Web Server Authentication, TLS Web Client Authentication"));
	assert_non_null(strstr(out, "Digital Signature"));
	assert_non_null(strstr(out, "CA:FALSE"));
	/* the key matches the certificate, as OpenSSL sees them */
	assert_int_equal(run(NULL, "test \"$(openssl x509 -in hub.pem -noout -pubkey)\" = "
				   "\"$(openssl pkey -in hub.key -pubout)\""), 0);
	free(out);
	free(pem);
	free(kpem);
	x509_key_free(key);
	x509_ca_free(ca);
}

static void test_sign_refuses_bad_spec(void **state)
{
	static const char *const bad_dns[] = { "ok.example", "bad_name!" };
	static const char *const bad_ip[] = { "300.1.2.3" };
	static const char *many[X509_SAN_MAX + 1];
	struct x509_ca *ca = NULL;
	struct x509_key *key = NULL;
	struct errbuf err = { "" };
	char *pem = NULL;
	struct x509_cert_spec spec = { .cn = "x", .lifetime = 60 };

	assert_int_equal(x509_ca_create("spec-ca", 3600, &ca, NULL), 0);
	assert_int_equal(x509_key_generate(&key, NULL), 0);

	spec.dns = bad_dns;
	spec.n_dns = 2;
	assert_int_equal(x509_ca_sign(ca, key, &spec, &pem, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "dns[1]"));
	spec.n_dns = 0;
	spec.ips = bad_ip;
	spec.n_ips = 1;
	assert_int_equal(x509_ca_sign(ca, key, &spec, &pem, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "ips[0]"));
	for (size_t i = 0; i < X509_SAN_MAX + 1; i++)
		many[i] = "a.example";
	spec.ips = NULL;
	spec.n_ips = 0;
	spec.dns = many;
	spec.n_dns = X509_SAN_MAX + 1;
	assert_int_equal(x509_ca_sign(ca, key, &spec, &pem, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "subjectAltName"));
	spec.n_dns = 0;
	spec.cn = "";
	assert_int_equal(x509_ca_sign(ca, key, &spec, &pem, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "cn:"));
	spec.cn = "cn";
	spec.org = "o=x";
	assert_int_equal(x509_ca_sign(ca, key, &spec, &pem, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "org:"));
	spec.org = NULL;
	spec.serial = "00";
	assert_int_equal(x509_ca_sign(ca, key, &spec, &pem, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "serial"));
	spec.serial = "xyz";
	assert_int_equal(x509_ca_sign(ca, key, &spec, &pem, &err), -EINVAL);
	spec.serial = NULL;
	spec.lifetime = X509_LIFETIME_MAX + 1;
	assert_int_equal(x509_ca_sign(ca, key, &spec, &pem, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "lifetime"));
	assert_null(pem);
	x509_key_free(key);
	x509_ca_free(ca);
}

static void test_csr_roundtrip_and_client_cert(void **state)
{
	struct x509_ca *ca = NULL;
	struct x509_key *key = NULL;
	struct x509_csr *csr = NULL;
	struct x509_cert_info info;
	struct errbuf err = { "" };
	char serial[2 * X509_SERIAL_BYTES + 1];
	char *csr_pem = NULL, *pem = NULL, *out = NULL, *expect;
	struct x509_cert_spec spec = { .usage = X509_USAGE_CLIENT, .lifetime = 3600 };

	assert_int_equal(x509_ca_create("client-ca", 86400, &ca, NULL), 0);
	assert_int_equal(x509_key_generate(&key, NULL), 0);
	assert_int_equal(x509_csr_create(key, "cluster-1", "nave:clusters", &csr_pem, &err), 0);
	write_tmp("c1.csr", csr_pem, 0644);
	assert_int_equal(run(NULL, "openssl req -in c1.csr -noout -verify"), 0);
	assert_int_equal(run(&out, "openssl req -in c1.csr -noout -subject"), 0);
	assert_non_null(strstr(out, "O = nave:clusters, CN = cluster-1"));
	free(out);

	assert_int_equal(x509_csr_parse(csr_pem, strlen(csr_pem), &csr, &err), 0);
	assert_string_equal(x509_csr_cn(csr), "cluster-1");
	assert_string_equal(x509_csr_org(csr), "nave:clusters");

	assert_int_equal(x509_serial_random(serial), 0);
	assert_int_equal(strlen(serial), 32);
	assert_true(strchr("4567", serial[0]) != NULL); /* positive, full length */
	spec.serial = serial;
	assert_int_equal(x509_ca_sign_csr(ca, csr, &spec, &pem, &err), 0);
	assert_int_equal(x509_cert_info(pem, strlen(pem), &info, &err), 0);
	assert_string_equal(info.cn, "cluster-1");
	assert_string_equal(info.org, "nave:clusters");
	assert_string_equal(info.serial, serial);
	assert_int_equal(info.not_after - info.not_before, 3600 + 300);
	assert_false(info.is_ca);

	write_tmp("client-ca.pem", x509_ca_cert_pem(ca), 0644);
	write_tmp("c1.pem", pem, 0644);
	assert_int_equal(run(NULL, "openssl verify -CAfile client-ca.pem -purpose sslclient c1.pem"), 0);
	/* client only: not a server certificate */
	assert_int_not_equal(run(&out, "openssl verify -CAfile client-ca.pem -purpose sslserver c1.pem"),
			     0);
	free(out);
	assert_int_equal(run(&out, "openssl x509 -in c1.pem -noout -serial"), 0);
	expect = xasprintf("serial=%s", serial);
	assert_int_equal(strncasecmp(out, expect, strlen(expect)), 0);
	free(expect);
	free(out);
	/* the certificate carries the CSR's key */
	assert_int_equal(run(NULL, "test \"$(openssl x509 -in c1.pem -noout -pubkey)\" = "
				   "\"$(openssl req -in c1.csr -noout -pubkey)\""), 0);
	free(pem);
	pem = NULL;

	/* cn / org overridden by the spec; random serial when none given */
	spec.serial = NULL;
	spec.org = "forced";
	assert_int_equal(x509_ca_sign_csr(ca, csr, &spec, &pem, &err), 0);
	assert_int_equal(x509_cert_info(pem, strlen(pem), &info, &err), 0);
	assert_string_equal(info.org, "forced");
	assert_int_equal(strlen(info.serial), 32);
	assert_string_not_equal(info.serial, serial);

	free(pem);
	free(csr_pem);
	x509_csr_free(csr);
	x509_csr_free(NULL);
	x509_key_free(key);
	x509_ca_free(ca);
}

static void test_csr_from_openssl(void **state)
{
	struct x509_csr *csr = NULL;
	struct errbuf err = { "" };
	char *pem = fixture("csr-p256-openssl.pem");

	assert_int_equal(x509_csr_parse(pem, strlen(pem), &csr, &err), 0);
	assert_string_equal(x509_csr_cn(csr), "agent-1");
	assert_string_equal(x509_csr_org(csr), "agents");
	x509_csr_free(csr);
	free(pem);
}

/* The trap: mbedtls_x509_csr_parse alone accepts a tampered signature. */
static void test_csr_flipped_signature_refused(void **state)
{
	struct x509_key *key = NULL;
	struct x509_csr *csr = NULL;
	struct errbuf err = { "" };
	char *pem = NULL, *b64, *tampered, *fx;
	uint8_t *der = NULL;
	size_t der_len;
	const char *begin, *end;

	/* our own CSR, the last byte of its DER (inside the signature) flipped */
	assert_int_equal(x509_key_generate(&key, NULL), 0);
	assert_int_equal(x509_csr_create(key, "victim", NULL, &pem, NULL), 0);
	begin = strchr(pem, '\n') + 1;
	end = strstr(pem, "-----END");
	assert_int_equal(base64_decode(begin, (size_t)(end - begin), &der, &der_len), 0);
	der[der_len - 1] ^= 0x01;
	b64 = base64_encode(der, der_len);
	tampered = xasprintf("-----BEGIN CERTIFICATE REQUEST-----\n%s\n"
			     "-----END CERTIFICATE REQUEST-----\n", b64);
	assert_int_equal(x509_csr_parse(tampered, strlen(tampered), &csr, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "signature"));
	assert_null(csr);
	/* and untampered, the same bytes pass */
	der[der_len - 1] ^= 0x01;
	free(b64);
	free(tampered);
	b64 = base64_encode(der, der_len);
	tampered = xasprintf("-----BEGIN CERTIFICATE REQUEST-----\n%s\n"
			     "-----END CERTIFICATE REQUEST-----\n", b64);
	assert_int_equal(x509_csr_parse(tampered, strlen(tampered), &csr, &err), 0);
	csr = x509_csr_free(csr);

	/* an openssl CSR tampered the same way (fixture) */
	fx = fixture("csr-badsig.pem");
	assert_int_equal(x509_csr_parse(fx, strlen(fx), &csr, &err), -EBADMSG);
	free(fx);
	free(b64);
	free(tampered);
	free(der);
	free(pem);
	x509_key_free(key);
}

static void test_csr_malformed_fixtures(void **state)
{
	static const struct {
		const char *file;
		int code;
		const char *msg;
	} cases[] = {
		{ "csr-rsa.pem", -EINVAL, "CSR key" },
		{ "csr-nocn.pem", -EINVAL, "CN: required" },
		{ "csr-twocn.pem", -EINVAL, "more than once" },
		{ "csr-comma.pem", -EINVAL, "CSR subject CN" },
		{ "csr-sha1.pem", -EINVAL, "SHA-256" },
		{ "csr-truncated.pem", -EINVAL, "CSR" },
		{ "not-pem.txt", -EINVAL, "not PEM" },
	};
	struct x509_csr *csr = NULL;
	char *big;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct errbuf err = { "" };
		char *pem = fixture(cases[i].file);

		assert_int_equal(x509_csr_parse(pem, strlen(pem), &csr, &err), cases[i].code);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].file, err.msg,
				 cases[i].msg);
		assert_null(csr);
		free(pem);
	}
	big = xmalloc(X509_PEM_MAX + 2);
	memset(big, 'A', X509_PEM_MAX + 1);
	big[X509_PEM_MAX + 1] = '\0';
	assert_int_equal(x509_csr_parse(big, X509_PEM_MAX + 1, &csr, NULL), -E2BIG);
	free(big);
	assert_int_equal(x509_csr_parse("", 0, &csr, NULL), -EINVAL);
	assert_int_equal(x509_csr_parse(NULL, 0, &csr, NULL), -EINVAL);
}

static void test_verify_refuses_foreign_and_expired(void **state)
{
	struct x509_ca *ca = NULL, *other = NULL;
	struct x509_key *key = NULL;
	struct errbuf err = { "" };
	char *pem = NULL, *old = NULL;
	struct x509_cert_spec spec = { .cn = "leaf", .lifetime = 3600 };

	assert_int_equal(x509_ca_create("ca-a", 86400, &ca, NULL), 0);
	assert_int_equal(x509_ca_create("ca-b", 86400, &other, NULL), 0);
	assert_int_equal(x509_key_generate(&key, NULL), 0);
	assert_int_equal(x509_ca_sign(other, key, &spec, &pem, &err), 0);
	assert_int_equal(x509_ca_verify(ca, pem, strlen(pem), &err), -EKEYREJECTED);
	assert_non_null(strstr(err.msg, "not trusted"));
	assert_int_equal(x509_verify(x509_ca_cert_pem(ca), strlen(x509_ca_cert_pem(ca)), pem,
				     strlen(pem), &err), -EKEYREJECTED);
	assert_int_equal(x509_ca_verify(other, pem, strlen(pem), &err), 0);

	/* expired an hour ago */
	spec.not_before = (int64_t)time(NULL) - 7200;
	assert_int_equal(x509_ca_sign(ca, key, &spec, &old, &err), 0);
	assert_int_equal(x509_ca_verify(ca, old, strlen(old), &err), -EKEYREJECTED);
	assert_non_null(strstr(err.msg, "expired"));
	assert_int_equal(x509_ca_verify(ca, "junk", 4, &err), -EINVAL);
	free(pem);
	free(old);
	x509_key_free(key);
	x509_ca_free(ca);
	x509_ca_free(other);
}

static void test_ca_files_roundtrip(void **state)
{
	struct x509_ca *ca = NULL, *ca2 = NULL, *other = NULL;
	struct x509_key *key = NULL;
	struct errbuf err = { "" };
	char pin[X509_PIN_LEN + 1], pin2[X509_PIN_LEN + 1];
	char *kpem = NULL, *cert_path = tmp_path("rt-ca.pem"), *key_path = tmp_path("rt-ca.key");
	char *okey_path = tmp_path("other.key"), *pem = NULL, *data = NULL;
	size_t len;
	struct stat st;
	struct x509_cert_spec spec = { .cn = "after-reload", .lifetime = 60 };

	assert_int_equal(x509_ca_create("rt-ca", 86400, &ca, NULL), 0);
	assert_int_equal(x509_key_pem(x509_ca_key(ca), &kpem, NULL), 0);
	assert_int_equal(x509_file_write(key_path, kpem, strlen(kpem), 0600, &err), 0);
	assert_int_equal(x509_file_write(cert_path, x509_ca_cert_pem(ca),
					 strlen(x509_ca_cert_pem(ca)), 0644, &err), 0);
	assert_int_equal(stat(key_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(cert_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	/* overwrite keeps working (rename over the old file) */
	assert_int_equal(x509_file_write(key_path, kpem, strlen(kpem), 0600, &err), 0);

	assert_int_equal(x509_ca_load(cert_path, key_path, &ca2, &err), 0);
	x509_ca_pin(ca, pin);
	x509_ca_pin(ca2, pin2);
	assert_string_equal(pin, pin2);
	assert_string_equal(x509_ca_cert_pem(ca), x509_ca_cert_pem(ca2));
	/* the reloaded CA signs certificates the original trusts */
	assert_int_equal(x509_key_generate(&key, NULL), 0);
	assert_int_equal(x509_ca_sign(ca2, key, &spec, &pem, &err), 0);
	assert_int_equal(x509_ca_verify(ca, pem, strlen(pem), &err), 0);

	/* a key that does not match the certificate */
	free(kpem);
	assert_int_equal(x509_ca_create("other", 86400, &other, NULL), 0);
	assert_int_equal(x509_key_pem(x509_ca_key(other), &kpem, NULL), 0);
	assert_int_equal(x509_file_write(okey_path, kpem, strlen(kpem), 0600, &err), 0);
	x509_ca_free(ca2);
	ca2 = NULL;
	assert_int_equal(x509_ca_load(cert_path, okey_path, &ca2, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "does not match"));
	/* a leaf is not a CA */
	assert_int_equal(x509_ca_parse(pem, strlen(pem), kpem, strlen(kpem), &ca2, &err), -EINVAL);
	/* missing files and caps */
	assert_int_equal(x509_ca_load("/nonexistent/ca.pem", key_path, &ca2, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/ca.pem"));
	assert_int_equal(x509_file_read(cert_path, 10, &data, &len, &err), -E2BIG);
	assert_null(ca2);
	assert_null(data);

	free(pem);
	free(kpem);
	free(cert_path);
	free(key_path);
	free(okey_path);
	x509_key_free(key);
	x509_ca_free(ca);
	x509_ca_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_generate_pem_roundtrip),
		cmocka_unit_test(test_ca_create),
		cmocka_unit_test(test_pin_matches_openssl),
		cmocka_unit_test(test_serving_cert_with_sans),
		cmocka_unit_test(test_sign_refuses_bad_spec),
		cmocka_unit_test(test_csr_roundtrip_and_client_cert),
		cmocka_unit_test(test_csr_from_openssl),
		cmocka_unit_test(test_csr_flipped_signature_refused),
		cmocka_unit_test(test_csr_malformed_fixtures),
		cmocka_unit_test(test_verify_refuses_foreign_and_expired),
		cmocka_unit_test(test_ca_files_roundtrip),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
