/* fuzz_x509.c - libFuzzer harness for common/x509's parsers of outside
 * input: CSRs (the hub parses them from joining agents) and certificates.
 *
 * The first byte chooses how the rest is presented: 'P' as PEM text as is;
 * anything else as DER, wrapped in a PEM envelope (so the fuzzer works on
 * the ASN.1, not on base64). The input goes through x509_csr_parse and, as a
 * certificate, x509_cert_info and x509_cert_pin. A CSR that parses must
 * have a printable CN within the cap, and a certificate signed for it by a
 * fixed CA must verify and carry the same CN, or the harness aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct x509_ca *fuzz_ca;

static char *envelope(const char *label, const uint8_t *der, size_t len)
{
	char *b64 = base64_encode(der, len);
	char *pem = xasprintf("-----BEGIN %s-----\n%s\n-----END %s-----\n", label, b64, label);

	free(b64);
	return pem;
}

static void check_csr(const char *pem, size_t len)
{
	struct x509_cert_spec spec = { .usage = X509_USAGE_CLIENT, .lifetime = 3600 };
	struct x509_cert_info info;
	struct x509_csr *csr = NULL;
	struct errbuf err;
	const char *cn;
	char *cert = NULL;

	if (x509_csr_parse(pem, len, &csr, &err) != 0)
		return;
	cn = x509_csr_cn(csr);
	if (!cn[0] || strlen(cn) > X509_NAME_MAX) {
		fprintf(stderr, "parsed CSR with a bad CN \"%s\"\n", cn);
		abort();
	}
	for (const char *p = cn; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
			fprintf(stderr, "parsed CSR with an unprintable CN\n");
			abort();
		}
	}
	if (!fuzz_ca && x509_ca_create("fuzz-ca", 86400, &fuzz_ca, NULL) != 0)
		abort();
	if (x509_ca_sign_csr(fuzz_ca, csr, &spec, &cert, &err) != 0) {
		fprintf(stderr, "a parsed CSR could not be signed: %s\n", err.msg);
		abort();
	}
	if (x509_ca_verify(fuzz_ca, cert, strlen(cert), &err) != 0 ||
	    x509_cert_info(cert, strlen(cert), &info, &err) != 0 || strcmp(info.cn, cn) != 0) {
		fprintf(stderr, "certificate for CSR CN \"%s\" does not check: %s\n", cn, err.msg);
		abort();
	}
	free(cert);
	x509_csr_free(csr);
}

static void check_cert(const char *pem, size_t len)
{
	struct x509_cert_info info;
	char pin[X509_PIN_LEN + 1];

	if (x509_cert_info(pem, len, &info, NULL) == 0 &&
	    (strlen(info.cn) > X509_NAME_MAX || strlen(info.serial) > X509_SERIAL_HEX_MAX))
		abort();
	if (x509_cert_pin(pem, len, pin, NULL) == 0 &&
	    (strlen(pin) != X509_PIN_LEN || memcmp(pin, "sha256:", 7) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *pem;

	if (size < 1 || size > X509_PEM_MAX)
		return 0;
	if (data[0] == 'P') {
		check_csr((const char *)data + 1, size - 1);
		check_cert((const char *)data + 1, size - 1);
		return 0;
	}
	pem = envelope("CERTIFICATE REQUEST", data + 1, size - 1);
	check_csr(pem, strlen(pem));
	free(pem);
	pem = envelope("CERTIFICATE", data + 1, size - 1);
	check_cert(pem, strlen(pem));
	free(pem);
	return 0;
}
