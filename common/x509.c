/* x509.c - keys, certificates and CSRs on mbed TLS 2.28; see x509.h.
 *
 * What 2.28 lacks is done by hand here: subjectAltName and extendedKeyUsage
 * are DER-encoded with mbedtls_asn1_write_* (which writes backwards from the
 * end of a buffer) and added as raw extensions; a CSR's signature is checked
 * after mbedtls_x509_csr_parse, which does not; the SubjectPublicKeyInfo DER
 * for the pin is taken from the END of the buffer mbedtls_pk_write_pubkey_der
 * fills. Subject and issuer names go through mbed TLS's "O=..,CN=.." string
 * form, so names are restricted to characters that survive it unescaped
 * (name_valid), and every certificate signed is parsed back and verified
 * against the CA before it is returned.
 *
 * Randomness is getrandom(2) (codec.h random_bytes) handed to mbed TLS as its
 * RNG callback: no DRBG state to seed, share or reseed. All functions are
 * synchronous and reentrant.
 */
#include "x509.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "alloc.h"
#include "codec.h"

#define X509_CLOCK_SKEW 300        /* certificates start this many seconds in the past */
#define X509_DN_MAX 512            /* "O=...,CN=..." of names we write or copy */
#define X509_CERT_OUT_MAX (32 * 1024) /* PEM output of one certificate (32 SANs of 253) */
#define X509_KEY_OUT_MAX (8 * 1024)   /* PEM output of one private key */
#define X509_CSR_OUT_MAX 4096         /* PEM output of one CSR */
#define X509_EXT_MAX (10 * 1024)      /* DER of one extension we build */

struct x509_key {
	mbedtls_pk_context pk; /* owned; freed (and zeroed) by x509_key_free */
	bool has_private;      /* false for a key taken from a CSR */
};

struct x509_ca {
	mbedtls_x509_crt crt;  /* owned; the CA certificate, parsed */
	struct x509_key *key;  /* owned; matches crt */
	char *cert_pem;        /* owned; NUL-terminated PEM of crt */
	char dn[X509_DN_MAX];  /* crt's subject in mbed TLS string form, the issuer we write */
};

struct x509_csr {
	mbedtls_x509_csr csr;            /* owned; signature verified */
	char cn[X509_NAME_MAX + 1];
	char org[X509_NAME_MAX + 1];
	bool has_org;
};

/* mbed TLS's RNG callback, backed by getrandom(2). */
static int x509_rng(void *ctx, unsigned char *out, size_t n)
{
	(void)ctx;
	return random_bytes(out, n) < 0 ? MBEDTLS_ERR_ENTROPY_SOURCE_FAILED : 0;
}

/* Put "what: <mbed TLS's text> (-0x....)" into err; returns code. */
static int tls_err(struct errbuf *err, int code, int mret, const char *what)
{
	char text[160];

	mbedtls_strerror(mret, text, sizeof(text));
	return errbuf_set(err, code, "%s: %s (-0x%04x)", what, text, (unsigned)-mret);
}

/* Copy PEM input so that it ends with the NUL mbed TLS requires (and
 * counts): a trailing NUL in the input is accepted and not doubled. */
static int pem_copy(const char *pem, size_t len, const char *what, unsigned char **ret_buf,
		    size_t *ret_len, struct errbuf *err)
{
	unsigned char *b;

	if (!pem)
		return errbuf_set(err, -EINVAL, "%s: missing", what);
	while (len > 0 && pem[len - 1] == '\0')
		len--;
	if (len == 0)
		return errbuf_set(err, -EINVAL, "%s: empty", what);
	if (len > X509_PEM_MAX)
		return errbuf_set(err, -E2BIG, "%s: %zu bytes, more than the %d allowed", what, len,
				  X509_PEM_MAX);
	if (memmem(pem, len, "-----BEGIN ", 11) == NULL)
		return errbuf_set(err, -EINVAL, "%s: not PEM", what);
	b = xmalloc(len + 1);
	memcpy(b, pem, len);
	b[len] = '\0';
	*ret_buf = b;
	*ret_len = len + 1;
	return 0;
}

/* A name we put in a subject: 1..X509_NAME_MAX printable ASCII characters,
 * none of the ones mbed TLS's name strings treat specially, no edge spaces. */
static bool name_valid(const char *s, size_t n)
{
	if (n == 0 || n > X509_NAME_MAX || s[0] == ' ' || s[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c > 0x7e || strchr(",=+\\\"<>;#", c))
			return false;
	}
	return true;
}

/* A subjectAltName DNS name: letters, digits, '-', '.', an optional "*."
 * prefix; no empty labels. */
static bool dns_valid(const char *s)
{
	size_t n = strlen(s);
	size_t label = 0;

	if (n == 0 || n > X509_DNS_NAME_MAX)
		return false;
	if (strncmp(s, "*.", 2) == 0)
		s += 2;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

/* Parse an IPv4 or IPv6 address into out (4 or 16 bytes); returns its length or 0. */
static size_t ip_parse(const char *s, unsigned char out[16])
{
	if (inet_pton(AF_INET, s, out) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, out) == 1)
		return 16;
	return 0;
}

static int64_t x509_time_unix(const mbedtls_x509_time *t)
{
	struct tm tm = {
		.tm_year = t->year - 1900, .tm_mon = t->mon - 1, .tm_mday = t->day,
		.tm_hour = t->hour, .tm_min = t->min, .tm_sec = t->sec,
	};

	return (int64_t)timegm(&tm);
}

/* "YYYYMMDDhhmmss" (UTC) for mbedtls_x509write_crt_set_validity. */
static int x509_time_format(int64_t t, char out[15])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 < 1950 || tm.tm_year + 1900 > 9999)
		return -EINVAL;
	if (strftime(out, 15, "%Y%m%d%H%M%S", &tm) != 14)
		return -EINVAL;
	return 0;
}

/* Serial bytes (DER INTEGER content) as lowercase hex without leading zero bytes. */
static int serial_hex(const unsigned char *p, size_t n, char out[X509_SERIAL_HEX_MAX + 1])
{
	while (n > 1 && p[0] == 0) {
		p++;
		n--;
	}
	if (n == 0 || n > X509_SERIAL_HEX_MAX / 2)
		return -EINVAL;
	hex_encode(p, n, out);
	return 0;
}

int x509_serial_random(char out[2 * X509_SERIAL_BYTES + 1])
{
	unsigned char b[X509_SERIAL_BYTES];
	int r;

	r = random_bytes(b, sizeof(b));
	if (r < 0)
		return r;
	/* Positive (top bit clear) and always full length (next bit set). */
	b[0] = (unsigned char)((b[0] & 0x7f) | 0x40);
	hex_encode(b, sizeof(b), out);
	return 0;
}

/* Find the single attribute oid in a name list. Returns 0 with *ret_val NULL
 * when absent, -EINVAL when repeated. */
static int name_find(const mbedtls_x509_name *n, const char *oid, size_t oid_len,
		     const mbedtls_x509_buf **ret_val)
{
	const mbedtls_x509_buf *found = NULL;

	for (; n; n = n->next) {
		if (!n->oid.p || n->oid.len != oid_len || memcmp(n->oid.p, oid, oid_len) != 0)
			continue;
		if (found)
			return -EINVAL;
		found = &n->val;
	}
	*ret_val = found;
	return 0;
}

/* Copy the attribute oid of a name into out ("" when absent), refusing
 * repeated, overlong or unprintable values. what names it for err. */
static int name_get(const mbedtls_x509_name *n, const char *oid, size_t oid_len, const char *what,
		    char out[X509_NAME_MAX + 1], struct errbuf *err)
{
	const mbedtls_x509_buf *v;

	if (name_find(n, oid, oid_len, &v) < 0)
		return errbuf_set(err, -EINVAL, "%s: appears more than once", what);
	if (!v) {
		out[0] = '\0';
		return 0;
	}
	if (v->tag != MBEDTLS_ASN1_UTF8_STRING && v->tag != MBEDTLS_ASN1_PRINTABLE_STRING &&
	    v->tag != MBEDTLS_ASN1_IA5_STRING)
		return errbuf_set(err, -EINVAL, "%s: unsupported string type 0x%02x", what, v->tag);
	if (!name_valid((const char *)v->p, v->len))
		return errbuf_set(err, -EINVAL,
				  "%s: must be 1 to %d printable ASCII characters without ,=+\\\"<>;#",
				  what, X509_NAME_MAX);
	memcpy(out, v->p, v->len);
	out[v->len] = '\0';
	return 0;
}

/* Keys ------------------------------------------------------------------ */

static struct x509_key *key_new(void)
{
	struct x509_key *k = xnew(struct x509_key);

	mbedtls_pk_init(&k->pk);
	return k;
}

struct x509_key *x509_key_free(struct x509_key *key)
{
	if (!key)
		return NULL;
	mbedtls_pk_free(&key->pk);
	free(key);
	return NULL;
}

int x509_key_generate(struct x509_key **ret_key, struct errbuf *err)
{
	struct x509_key *k = key_new();
	int m, r = 0;

	m = mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (m == 0)
		m = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(k->pk), x509_rng, NULL);
	if (m != 0) {
		r = tls_err(err, -EIO, m, "generating an ECDSA P-256 key");
		goto out;
	}
	k->has_private = true;
	*ret_key = k;
	k = NULL;
out:
	x509_key_free(k);
	return r;
}

int x509_key_parse(const char *pem, size_t len, struct x509_key **ret_key, struct errbuf *err)
{
	struct x509_key *k = NULL;
	unsigned char *buf = NULL;
	size_t n;
	int m, r;

	r = pem_copy(pem, len, "private key", &buf, &n, err);
	if (r < 0)
		goto out;
	k = key_new();
	m = mbedtls_pk_parse_key(&k->pk, buf, n, NULL, 0);
	if (m != 0) {
		r = tls_err(err, -EINVAL, m, "private key");
		goto out;
	}
	k->has_private = true;
	*ret_key = k;
	k = NULL;
out:
	if (buf) {
		mbedtls_platform_zeroize(buf, n);
		free(buf);
	}
	x509_key_free(k);
	return r;
}

int x509_key_load(const char *path, struct x509_key **ret_key, struct errbuf *err)
{
	char *data = NULL;
	size_t len = 0;
	int r;

	r = x509_file_read(path, X509_PEM_MAX, &data, &len, err);
	if (r < 0)
		goto out;
	r = x509_key_parse(data, len, ret_key, err);
	if (r < 0)
		errbuf_prefix(err, "%s", path);
out:
	if (data) {
		mbedtls_platform_zeroize(data, len);
		free(data);
	}
	return r;
}

int x509_key_pem(const struct x509_key *key, char **ret_pem, struct errbuf *err)
{
	unsigned char *buf;
	int m, r = 0;

	if (!key->has_private)
		return errbuf_set(err, -EINVAL, "key: no private half to write");
	buf = xmalloc(X509_KEY_OUT_MAX);
	/* pk is not modified; 2.28's prototype just lacks the const. */
	m = mbedtls_pk_write_key_pem((mbedtls_pk_context *)&key->pk, buf, X509_KEY_OUT_MAX);
	if (m != 0) {
		r = tls_err(err, -EIO, m, "writing the private key");
		goto out;
	}
	*ret_pem = xstrdup((const char *)buf);
out:
	mbedtls_platform_zeroize(buf, X509_KEY_OUT_MAX);
	free(buf);
	return r;
}

/* SubjectPublicKeyInfo DER of pk -> "sha256:<hex>". */
static int pk_pin(const mbedtls_pk_context *pk, char out[X509_PIN_LEN + 1], struct errbuf *err)
{
	unsigned char der[1024];
	uint8_t digest[SHA256_LEN];
	int n;

	n = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)pk, der, sizeof(der));
	if (n < 0)
		return tls_err(err, -EINVAL, n, "public key");
	/* The DER is at the END of the buffer. */
	sha256(der + sizeof(der) - (size_t)n, (size_t)n, digest);
	memcpy(out, "sha256:", 7);
	hex_encode(digest, sizeof(digest), out + 7);
	return 0;
}

/* Certificates ------------------------------------------------------------ */

/* Parse the certificate(s) in pem into crt (initialised by the caller). */
static int crt_parse(mbedtls_x509_crt *crt, const char *pem, size_t len, const char *what,
		     struct errbuf *err)
{
	unsigned char *buf = NULL;
	size_t n;
	int m, r;

	r = pem_copy(pem, len, what, &buf, &n, err);
	if (r < 0)
		return r;
	m = mbedtls_x509_crt_parse(crt, buf, n);
	if (m < 0)
		r = tls_err(err, -EINVAL, m, what);
	else if (m > 0)
		r = errbuf_set(err, -EINVAL, "%s: %d certificate(s) could not be parsed", what, m);
	free(buf);
	return r;
}

int x509_cert_info(const char *pem, size_t len, struct x509_cert_info *ret_info,
		   struct errbuf *err)
{
	struct x509_cert_info info = { 0 };
	mbedtls_x509_crt crt;
	int r;

	mbedtls_x509_crt_init(&crt);
	r = crt_parse(&crt, pem, len, "certificate", err);
	if (r < 0)
		goto out;
	r = name_get(&crt.subject, MBEDTLS_OID_AT_CN, MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN),
		     "certificate subject CN", info.cn, err);
	if (r < 0)
		goto out;
	r = name_get(&crt.subject, MBEDTLS_OID_AT_ORGANIZATION,
		     MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_ORGANIZATION), "certificate subject O", info.org,
		     err);
	if (r < 0)
		goto out;
	r = serial_hex(crt.serial.p, crt.serial.len, info.serial);
	if (r < 0) {
		r = errbuf_set(err, -EINVAL, "certificate serial: longer than 20 bytes");
		goto out;
	}
	info.not_before = x509_time_unix(&crt.valid_from);
	info.not_after = x509_time_unix(&crt.valid_to);
	info.is_ca = crt.ca_istrue != 0;
	*ret_info = info;
out:
	mbedtls_x509_crt_free(&crt);
	return r;
}

int x509_cert_pin(const char *pem, size_t len, char out[X509_PIN_LEN + 1], struct errbuf *err)
{
	mbedtls_x509_crt crt;
	int r;

	mbedtls_x509_crt_init(&crt);
	r = crt_parse(&crt, pem, len, "certificate", err);
	if (r == 0)
		r = pk_pin(&crt.pk, out, err);
	mbedtls_x509_crt_free(&crt);
	return r;
}

/* Verify crt against trust; time checks are skipped when check_time is false
 * (a certificate we just made with a caller-chosen validity). */
static int crt_verify(mbedtls_x509_crt *crt, const mbedtls_x509_crt *trust, bool check_time,
		      struct errbuf *err)
{
	uint32_t flags = 0;
	char info[512];
	int m;

	m = mbedtls_x509_crt_verify(crt, (mbedtls_x509_crt *)trust, NULL, NULL, &flags, NULL, NULL);
	if (!check_time)
		flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE);
	if (m == 0 || (m == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags == 0))
		return 0;
	if (m != MBEDTLS_ERR_X509_CERT_VERIFY_FAILED)
		return tls_err(err, -EKEYREJECTED, m, "certificate verification");
	if (mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags) < 0)
		snprintf(info, sizeof(info), "flags 0x%x", flags);
	/* One line: "The certificate is not correctly signed by the trusted CA; ..." */
	for (char *p = info; *p; p++)
		if (*p == '\n')
			*p = p[1] ? ';' : '\0';
	return errbuf_set(err, -EKEYREJECTED, "certificate not trusted: %s", info);
}

int x509_verify(const char *ca_pem, size_t ca_len, const char *cert_pem, size_t cert_len,
		struct errbuf *err)
{
	mbedtls_x509_crt ca, crt;
	int r;

	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&crt);
	r = crt_parse(&ca, ca_pem, ca_len, "CA certificate", err);
	if (r < 0)
		goto out;
	r = crt_parse(&crt, cert_pem, cert_len, "certificate", err);
	if (r < 0)
		goto out;
	r = crt_verify(&crt, &ca, true, err);
out:
	mbedtls_x509_crt_free(&ca);
	mbedtls_x509_crt_free(&crt);
	return r;
}

/* Write a tag-length-value with primitive content backwards at *p. Returns the
 * bytes written or a negative mbed TLS code. */
static int asn1_tlv(unsigned char **p, unsigned char *start, unsigned char tag,
		    const unsigned char *data, size_t n)
{
	int a, b, c;

	a = mbedtls_asn1_write_raw_buffer(p, start, data, n);
	if (a < 0)
		return a;
	b = mbedtls_asn1_write_len(p, start, (size_t)a);
	if (b < 0)
		return b;
	c = mbedtls_asn1_write_tag(p, start, tag);
	if (c < 0)
		return c;
	return a + b + c;
}

/* Close a SEQUENCE of len content bytes just written before *p. */
static int asn1_seq(unsigned char **p, unsigned char *start, size_t len)
{
	int b, c;

	b = mbedtls_asn1_write_len(p, start, len);
	if (b < 0)
		return b;
	c = mbedtls_asn1_write_tag(p, start, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
	if (c < 0)
		return c;
	return (int)len + b + c;
}

/* subjectAltName: SEQUENCE OF GeneralName, dNSName [2] IA5String then
 * iPAddress [7] OCTET STRING, in the order given. Names are validated. */
static int san_add(mbedtls_x509write_cert *w, const struct x509_cert_spec *spec,
		   struct errbuf *err)
{
	unsigned char *buf = xmalloc(X509_EXT_MAX);
	unsigned char *p = buf + X509_EXT_MAX;
	size_t len = 0;
	int n, m, r = 0;

	/* Backwards: the last IP first, the first DNS name last. */
	for (size_t i = spec->n_ips; i-- > 0;) {
		unsigned char addr[16];
		size_t alen = spec->ips[i] ? ip_parse(spec->ips[i], addr) : 0;

		if (alen == 0) {
			r = errbuf_set(err, -EINVAL, "ips[%zu]: not an IPv4 or IPv6 address", i);
			goto out;
		}
		n = asn1_tlv(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7, addr, alen);
		if (n < 0)
			goto asn1_fail;
		len += (size_t)n;
	}
	for (size_t i = spec->n_dns; i-- > 0;) {
		if (!spec->dns[i] || !dns_valid(spec->dns[i])) {
			r = errbuf_set(err, -EINVAL, "dns[%zu]: not a DNS name", i);
			goto out;
		}
		n = asn1_tlv(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2,
			     (const unsigned char *)spec->dns[i], strlen(spec->dns[i]));
		if (n < 0)
			goto asn1_fail;
		len += (size_t)n;
	}
	n = asn1_seq(&p, buf, len);
	if (n < 0)
		goto asn1_fail;
	m = mbedtls_x509write_crt_set_extension(w, MBEDTLS_OID_SUBJECT_ALT_NAME,
						MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, p,
						(size_t)n);
	if (m != 0)
		r = tls_err(err, -EIO, m, "subjectAltName");
	goto out;
asn1_fail:
	r = tls_err(err, -EINVAL, n, "subjectAltName");
out:
	free(buf);
	return r;
}

/* extendedKeyUsage: SEQUENCE OF KeyPurposeId. */
static int eku_add(mbedtls_x509write_cert *w, unsigned usage, struct errbuf *err)
{
	unsigned char buf[64];
	unsigned char *p = buf + sizeof(buf);
	size_t len = 0;
	int n, m;

	if (usage & X509_USAGE_CLIENT) {
		n = mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_CLIENT_AUTH,
					   MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
		if (n < 0)
			return tls_err(err, -EIO, n, "extendedKeyUsage");
		len += (size_t)n;
	}
	if (usage & X509_USAGE_SERVER) {
		n = mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_SERVER_AUTH,
					   MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
		if (n < 0)
			return tls_err(err, -EIO, n, "extendedKeyUsage");
		len += (size_t)n;
	}
	n = asn1_seq(&p, buf, len);
	if (n < 0)
		return tls_err(err, -EIO, n, "extendedKeyUsage");
	m = mbedtls_x509write_crt_set_extension(w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
						MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, p,
						(size_t)n);
	if (m != 0)
		return tls_err(err, -EIO, m, "extendedKeyUsage");
	return 0;
}

/* Fill the serial mpi from spec's hex (or a random one). */
static int serial_set(mbedtls_x509write_cert *w, const char *hex, struct errbuf *err)
{
	char rnd[2 * X509_SERIAL_BYTES + 1];
	unsigned char bytes[X509_SERIAL_HEX_MAX / 2];
	char padded[X509_SERIAL_HEX_MAX + 2];
	mbedtls_mpi mpi;
	size_t n, skip = 0;
	int m, r;

	if (!hex) {
		r = x509_serial_random(rnd);
		if (r < 0)
			return errbuf_set(err, r, "serial: no randomness");
		hex = rnd;
	}
	n = strlen(hex);
	if (n == 0 || n > X509_SERIAL_HEX_MAX)
		return errbuf_set(err, -EINVAL, "serial: must be 1 to %d hex digits",
				  X509_SERIAL_HEX_MAX);
	/* An odd count gets a leading zero. */
	snprintf(padded, sizeof(padded), "%s%s", n % 2 ? "0" : "", hex);
	n = (n + 1) / 2;
	if (hex_decode(padded, bytes, n) < 0)
		return errbuf_set(err, -EINVAL, "serial: not hex");
	while (skip < n && bytes[skip] == 0)
		skip++;
	if (skip == n)
		return errbuf_set(err, -EINVAL, "serial: must not be zero");
	mbedtls_mpi_init(&mpi);
	m = mbedtls_mpi_read_binary(&mpi, bytes + skip, n - skip);
	if (m == 0)
		m = mbedtls_x509write_crt_set_serial(w, &mpi);
	mbedtls_mpi_free(&mpi);
	if (m != 0)
		return tls_err(err, -EIO, m, "serial");
	return 0;
}

/* Validity from spec: [not_before, not_before + lifetime], or
 * [now - skew, now + lifetime]. */
static int validity_set(mbedtls_x509write_cert *w, const struct x509_cert_spec *spec,
			struct errbuf *err)
{
	char from[15], to[15];
	int64_t now, nb, na;
	int m;

	if (spec->lifetime <= 0 || spec->lifetime > X509_LIFETIME_MAX)
		return errbuf_set(err, -EINVAL, "lifetime: must be 1 to %lld seconds",
				  (long long)X509_LIFETIME_MAX);
	/* Backdated for clock skew; the lifetime still counts from now. */
	now = (int64_t)time(NULL);
	nb = spec->not_before ? spec->not_before : now - X509_CLOCK_SKEW;
	na = (spec->not_before ? spec->not_before : now) + spec->lifetime;
	if (x509_time_format(nb, from) < 0 || x509_time_format(na, to) < 0)
		return errbuf_set(err, -EINVAL, "not_before: outside the years 1950 to 9999");
	m = mbedtls_x509write_crt_set_validity(w, from, to);
	if (m != 0)
		return tls_err(err, -EIO, m, "validity");
	return 0;
}

/* The subject string "O=org,CN=cn" (O omitted when NULL or empty). */
static int subject_format(const char *cn, const char *org, char out[X509_DN_MAX],
			  struct errbuf *err)
{
	if (!cn || !name_valid(cn, strlen(cn)))
		return errbuf_set(err, -EINVAL,
				  "cn: must be 1 to %d printable ASCII characters without ,=+\\\"<>;#",
				  X509_NAME_MAX);
	if (org && org[0] && !name_valid(org, strlen(org)))
		return errbuf_set(err, -EINVAL,
				  "org: must be 1 to %d printable ASCII characters without ,=+\\\"<>;#",
				  X509_NAME_MAX);
	if (org && org[0])
		snprintf(out, X509_DN_MAX, "O=%s,CN=%s", org, cn);
	else
		snprintf(out, X509_DN_MAX, "CN=%s", cn);
	return 0;
}

/* Sign a certificate for subject_pk. issuer NULL makes it self-signed by
 * issuer_key as a CA (then spec's names, usage and SANs are ignored but cn). */
static int crt_sign(const struct x509_ca *issuer, const struct x509_key *issuer_key,
		    const mbedtls_pk_context *subject_pk, const char *cn, const char *org,
		    const struct x509_cert_spec *spec, char **ret_pem, struct errbuf *err)
{
	mbedtls_x509write_cert w;
	mbedtls_x509_crt check;
	char subject[X509_DN_MAX];
	unsigned char *out = NULL;
	bool is_ca = issuer == NULL;
	int m, r;

	mbedtls_x509write_crt_init(&w);
	mbedtls_x509_crt_init(&check);
	r = subject_format(cn, org, subject, err);
	if (r < 0)
		goto out;
	if (spec->n_dns + spec->n_ips > X509_SAN_MAX || (spec->n_dns && !spec->dns) ||
	    (spec->n_ips && !spec->ips)) {
		r = errbuf_set(err, -EINVAL, "subjectAltName: at most %d names", X509_SAN_MAX);
		goto out;
	}
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	/* The keys are not modified; 2.28's prototypes just lack the const. */
	mbedtls_x509write_crt_set_subject_key(&w, (mbedtls_pk_context *)subject_pk);
	mbedtls_x509write_crt_set_issuer_key(&w, (mbedtls_pk_context *)&issuer_key->pk);
	r = serial_set(&w, spec->serial, err);
	if (r < 0)
		goto out;
	r = validity_set(&w, spec, err);
	if (r < 0)
		goto out;
	m = mbedtls_x509write_crt_set_subject_name(&w, subject);
	if (m == 0)
		m = mbedtls_x509write_crt_set_issuer_name(&w, is_ca ? subject : issuer->dn);
	if (m != 0) {
		r = tls_err(err, -EINVAL, m, "subject or issuer name");
		goto out;
	}
	/* basicConstraints (critical only for a CA), keyUsage (always critical). */
	m = mbedtls_x509write_crt_set_basic_constraints(&w, is_ca, is_ca ? 0 : -1);
	if (m == 0)
		m = mbedtls_x509write_crt_set_key_usage(
			&w, is_ca ? MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN
				  : MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
	if (m == 0)
		m = mbedtls_x509write_crt_set_subject_key_identifier(&w);
	if (m == 0)
		m = mbedtls_x509write_crt_set_authority_key_identifier(&w);
	if (m != 0) {
		r = tls_err(err, -EIO, m, "certificate extensions");
		goto out;
	}
	if (!is_ca && spec->n_dns + spec->n_ips > 0) {
		r = san_add(&w, spec, err);
		if (r < 0)
			goto out;
	}
	if (!is_ca && (spec->usage & (X509_USAGE_SERVER | X509_USAGE_CLIENT))) {
		r = eku_add(&w, spec->usage, err);
		if (r < 0)
			goto out;
	}
	out = xmalloc(X509_CERT_OUT_MAX);
	m = mbedtls_x509write_crt_pem(&w, out, X509_CERT_OUT_MAX, x509_rng, NULL);
	if (m != 0) {
		r = tls_err(err, -EIO, m, "signing the certificate");
		goto out;
	}
	/* Read it back and check it chains: catches an issuer name that did not
	 * survive the string form, and anything else we got wrong. */
	r = crt_parse(&check, (const char *)out, strlen((const char *)out), "signed certificate",
		      err);
	if (r == 0)
		r = crt_verify(&check, is_ca ? &check : &issuer->crt, false, err);
	if (r < 0) {
		errbuf_prefix(err, "self-check of the signed certificate");
		r = -EIO;
		goto out;
	}
	*ret_pem = xstrdup((const char *)out);
out:
	free(out);
	mbedtls_x509_crt_free(&check);
	mbedtls_x509write_crt_free(&w);
	return r;
}

/* The CA ------------------------------------------------------------------ */

struct x509_ca *x509_ca_free(struct x509_ca *ca)
{
	if (!ca)
		return NULL;
	mbedtls_x509_crt_free(&ca->crt);
	x509_key_free(ca->key);
	free(ca->cert_pem);
	free(ca);
	return NULL;
}

/* Take ownership of key; parse cert_pem into a new CA and check the pair. */
static int ca_build(const char *cert_pem, size_t cert_len, struct x509_key *key,
		    struct x509_ca **ret_ca, struct errbuf *err)
{
	struct x509_ca *ca = xnew(struct x509_ca);
	int m, r;

	mbedtls_x509_crt_init(&ca->crt);
	ca->key = key;
	r = crt_parse(&ca->crt, cert_pem, cert_len, "CA certificate", err);
	if (r < 0)
		goto out;
	if (!ca->crt.ca_istrue) {
		r = errbuf_set(err, -EINVAL, "CA certificate: basicConstraints CA is not true");
		goto out;
	}
	m = mbedtls_pk_check_pair(&ca->crt.pk, &key->pk);
	if (m != 0) {
		r = tls_err(err, -EINVAL, m, "CA key does not match the CA certificate");
		goto out;
	}
	m = mbedtls_x509_dn_gets(ca->dn, sizeof(ca->dn), &ca->crt.subject);
	if (m < 0) {
		r = tls_err(err, -EINVAL, m, "CA certificate subject");
		goto out;
	}
	while (cert_len > 0 && cert_pem[cert_len - 1] == '\0')
		cert_len--;
	ca->cert_pem = xstrndup(cert_pem, cert_len);
	*ret_ca = ca;
	ca = NULL;
out:
	x509_ca_free(ca);
	return r;
}

int x509_ca_create(const char *cn, int64_t lifetime, struct x509_ca **ret_ca, struct errbuf *err)
{
	struct x509_cert_spec spec = { .cn = cn, .lifetime = lifetime };
	struct x509_key *key = NULL;
	char *pem = NULL;
	int r;

	r = x509_key_generate(&key, err);
	if (r < 0)
		goto out;
	r = crt_sign(NULL, key, &key->pk, cn, NULL, &spec, &pem, err);
	if (r < 0)
		goto out;
	r = ca_build(pem, strlen(pem), key, ret_ca, err);
	key = NULL;
out:
	free(pem);
	x509_key_free(key);
	return r;
}

int x509_ca_parse(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
		  struct x509_ca **ret_ca, struct errbuf *err)
{
	struct x509_key *key = NULL;
	int r;

	r = x509_key_parse(key_pem, key_len, &key, err);
	if (r < 0)
		return r;
	return ca_build(cert_pem, cert_len, key, ret_ca, err);
}

int x509_ca_load(const char *cert_path, const char *key_path, struct x509_ca **ret_ca,
		 struct errbuf *err)
{
	char *cert = NULL, *key = NULL;
	size_t cert_len = 0, key_len = 0;
	int r;

	r = x509_file_read(cert_path, X509_PEM_MAX, &cert, &cert_len, err);
	if (r < 0)
		goto out;
	r = x509_file_read(key_path, X509_PEM_MAX, &key, &key_len, err);
	if (r < 0)
		goto out;
	r = x509_ca_parse(cert, cert_len, key, key_len, ret_ca, err);
out:
	free(cert);
	if (key) {
		mbedtls_platform_zeroize(key, key_len);
		free(key);
	}
	return r;
}

const char *x509_ca_cert_pem(const struct x509_ca *ca)
{
	return ca->cert_pem;
}

const struct x509_key *x509_ca_key(const struct x509_ca *ca)
{
	return ca->key;
}

void x509_ca_pin(const struct x509_ca *ca, char out[X509_PIN_LEN + 1])
{
	/* Cannot fail for a certificate that parsed: the buffer fits any key we accept. */
	if (pk_pin(&ca->crt.pk, out, NULL) < 0)
		out[0] = '\0';
}

int x509_ca_sign(const struct x509_ca *ca, const struct x509_key *subject_key,
		 const struct x509_cert_spec *spec, char **ret_pem, struct errbuf *err)
{
	return crt_sign(ca, ca->key, &subject_key->pk, spec->cn, spec->org, spec, ret_pem, err);
}

int x509_ca_sign_csr(const struct x509_ca *ca, const struct x509_csr *csr,
		     const struct x509_cert_spec *spec, char **ret_pem, struct errbuf *err)
{
	const char *cn = spec->cn ? spec->cn : csr->cn;
	const char *org = spec->org ? spec->org : (csr->has_org ? csr->org : NULL);

	return crt_sign(ca, ca->key, &csr->csr.pk, cn, org, spec, ret_pem, err);
}

int x509_ca_verify(const struct x509_ca *ca, const char *cert_pem, size_t cert_len,
		   struct errbuf *err)
{
	mbedtls_x509_crt crt;
	int r;

	mbedtls_x509_crt_init(&crt);
	r = crt_parse(&crt, cert_pem, cert_len, "certificate", err);
	if (r == 0)
		r = crt_verify(&crt, &ca->crt, true, err);
	mbedtls_x509_crt_free(&crt);
	return r;
}

/* CSRs -------------------------------------------------------------------- */

int x509_csr_create(const struct x509_key *key, const char *cn, const char *org, char **ret_pem,
		    struct errbuf *err)
{
	mbedtls_x509write_csr w;
	char subject[X509_DN_MAX];
	unsigned char *out = NULL;
	int m, r;

	mbedtls_x509write_csr_init(&w);
	r = subject_format(cn, org, subject, err);
	if (r < 0)
		goto out;
	if (!key->has_private) {
		r = errbuf_set(err, -EINVAL, "key: a CSR needs the private half");
		goto out;
	}
	m = mbedtls_x509write_csr_set_subject_name(&w, subject);
	if (m != 0) {
		r = tls_err(err, -EINVAL, m, "CSR subject");
		goto out;
	}
	mbedtls_x509write_csr_set_key(&w, (mbedtls_pk_context *)&key->pk);
	mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
	out = xmalloc(X509_CSR_OUT_MAX);
	m = mbedtls_x509write_csr_pem(&w, out, X509_CSR_OUT_MAX, x509_rng, NULL);
	if (m != 0) {
		r = tls_err(err, -EIO, m, "signing the CSR");
		goto out;
	}
	*ret_pem = xstrdup((const char *)out);
out:
	free(out);
	mbedtls_x509write_csr_free(&w);
	return r;
}

struct x509_csr *x509_csr_free(struct x509_csr *csr)
{
	if (!csr)
		return NULL;
	mbedtls_x509_csr_free(&csr->csr);
	free(csr);
	return NULL;
}

/* The check mbedtls_x509_csr_parse leaves out: the CSR is signed by its own key. */
static int csr_check_signature(const mbedtls_x509_csr *c, struct errbuf *err)
{
	unsigned char hash[MBEDTLS_MD_MAX_SIZE];
	const mbedtls_md_info_t *md;
	int m;

	if (c->sig_md != MBEDTLS_MD_SHA256 && c->sig_md != MBEDTLS_MD_SHA384 &&
	    c->sig_md != MBEDTLS_MD_SHA512)
		return errbuf_set(err, -EINVAL, "CSR signature: digest must be SHA-256, -384 or -512");
	md = mbedtls_md_info_from_type(c->sig_md);
	if (!md)
		return errbuf_set(err, -EINVAL, "CSR signature: unsupported digest");
	m = mbedtls_md(md, c->cri.p, c->cri.len, hash);
	if (m != 0)
		return tls_err(err, -EIO, m, "CSR signature digest");
	m = mbedtls_pk_verify_ext(c->sig_pk, c->sig_opts, (mbedtls_pk_context *)&c->pk, c->sig_md,
				  hash, mbedtls_md_get_size(md), c->sig.p, c->sig.len);
	if (m != 0)
		return tls_err(err, -EBADMSG, m, "CSR signature does not verify");
	return 0;
}

int x509_csr_parse(const char *pem, size_t len, struct x509_csr **ret_csr, struct errbuf *err)
{
	struct x509_csr *csr = xnew(struct x509_csr);
	unsigned char *buf = NULL;
	mbedtls_ecp_group_id curve;
	size_t n;
	int m, r;

	mbedtls_x509_csr_init(&csr->csr);
	r = pem_copy(pem, len, "CSR", &buf, &n, err);
	if (r < 0)
		goto out;
	m = mbedtls_x509_csr_parse(&csr->csr, buf, n);
	if (m != 0) {
		r = tls_err(err, -EINVAL, m, "CSR");
		goto out;
	}
	if (mbedtls_pk_get_type(&csr->csr.pk) != MBEDTLS_PK_ECKEY) {
		r = errbuf_set(err, -EINVAL, "CSR key: must be ECDSA P-256 or P-384");
		goto out;
	}
	curve = mbedtls_pk_ec(csr->csr.pk)->grp.id;
	if (curve != MBEDTLS_ECP_DP_SECP256R1 && curve != MBEDTLS_ECP_DP_SECP384R1) {
		r = errbuf_set(err, -EINVAL, "CSR key: must be ECDSA P-256 or P-384");
		goto out;
	}
	r = csr_check_signature(&csr->csr, err);
	if (r < 0)
		goto out;
	r = name_get(&csr->csr.subject, MBEDTLS_OID_AT_CN, MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN),
		     "CSR subject CN", csr->cn, err);
	if (r < 0)
		goto out;
	if (!csr->cn[0]) {
		r = errbuf_set(err, -EINVAL, "CSR subject CN: required");
		goto out;
	}
	r = name_get(&csr->csr.subject, MBEDTLS_OID_AT_ORGANIZATION,
		     MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_ORGANIZATION), "CSR subject O", csr->org, err);
	if (r < 0)
		goto out;
	csr->has_org = csr->org[0] != '\0';
	*ret_csr = csr;
	csr = NULL;
out:
	free(buf);
	x509_csr_free(csr);
	return r;
}

const char *x509_csr_cn(const struct x509_csr *csr)
{
	return csr->cn;
}

const char *x509_csr_org(const struct x509_csr *csr)
{
	return csr->has_org ? csr->org : NULL;
}

/* Files ------------------------------------------------------------------- */

int x509_file_write(const char *path, const void *data, size_t len, mode_t mode,
		    struct errbuf *err)
{
	char *tmp = xasprintf("%s.XXXXXX", path);
	const char *p = data;
	int fd, r = 0;

	/* mkstemp makes the file 0600, so a key is never readable by others,
	 * not even for a moment. */
	fd = mkstemp(tmp);
	if (fd < 0) {
		r = errbuf_set(err, -errno, "%s: cannot create: %s", path, strerror(errno));
		goto out;
	}
	if (fchmod(fd, mode) < 0) {
		r = errbuf_set(err, -errno, "%s: chmod: %s", path, strerror(errno));
		goto fail;
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = errbuf_set(err, -errno, "%s: write: %s", path, strerror(errno));
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0) {
		r = errbuf_set(err, -errno, "%s: fsync: %s", path, strerror(errno));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = errbuf_set(err, -errno, "%s: close: %s", path, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = errbuf_set(err, -errno, "%s: rename: %s", path, strerror(errno));
		goto fail;
	}
	goto out;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	free(tmp);
	return r;
}

int x509_file_read(const char *path, size_t max, char **ret_data, size_t *ret_len,
		   struct errbuf *err)
{
	char *data = NULL;
	size_t len = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errbuf_set(err, -errno, "%s: %s", path, strerror(errno));
	data = xmalloc(max + 1);
	/* Read up to max + 1 bytes so an oversized file is noticed whatever stat says. */
	while (len <= max) {
		ssize_t n = read(fd, data + len, max + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = errbuf_set(err, -errno, "%s: read: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		r = errbuf_set(err, -E2BIG, "%s: larger than %zu bytes", path, max);
		goto out;
	}
	data[len] = '\0';
	*ret_data = data;
	*ret_len = len;
	data = NULL;
out:
	free(data);
	close(fd);
	return r;
}
