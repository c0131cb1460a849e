/* x509.h - keys, certificates and CSRs for Nave's CA (mbed TLS 2.28).
 *
 * Everything the hub's CA and the klusterlet's join need, and nothing more:
 * ECDSA P-256 keys (PEM, SEC1 "EC PRIVATE KEY"), a self-signed CA, serving
 * certificates with subjectAltNames, CSRs made by the agent and parsed by the
 * hub WITH their signature checked (mbedtls_x509_csr_parse alone does not),
 * client certificates signed from a CSR, the CA pin ("sha256:" + hex of the
 * SubjectPublicKeyInfo DER, the same as
 * `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`),
 * and the fields the hub reads back from a certificate (CN, O, serial,
 * validity).
 *
 * Certificates cross this API as PEM text (what files, kubeconfigs and the
 * wire carry); keys, the CA and parsed CSRs are opaque handles. All PEM input
 * is taken as (pointer, length) with or without a trailing NUL, capped at
 * X509_PEM_MAX: the NUL mbed TLS insists on is added here.
 *
 * Serials are random, positive, 16 bytes, and are written everywhere
 * (x509_cert_info, httpd_req_peer_serial) as lowercase hex of the big-endian
 * bytes without leading zero bytes.
 *
 * Nothing here touches the event loop: key generation (a few ms) and signing
 * are synchronous and meant for the hub's request handlers and the CLI.
 *
 *   struct x509_ca *ca;
 *   struct x509_key *key;
 *   char *pem;
 *   x509_ca_create("nave-hub-ca", 10 * 365 * 86400, &ca, err);
 *   x509_key_generate(&key, err);
 *   struct x509_cert_spec spec = { .cn = "hub", .dns = names, .n_dns = 1,
 *                                  .usage = X509_USAGE_SERVER, .lifetime = 86400 };
 *   x509_ca_sign(ca, key, &spec, &pem, err);
 */
#ifndef NAVE_X509_H
#define NAVE_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "errbuf.h"

#define X509_PEM_MAX (64 * 1024)   /* cap on any PEM input (cert, key, CSR, chain) */
#define X509_NAME_MAX 64           /* cap on CN and O (RFC 5280 ub-common-name) */
#define X509_SERIAL_BYTES 16       /* serials we issue */
#define X509_SERIAL_HEX_MAX 40     /* longest serial we read back (20 bytes, RFC 5280) */
#define X509_PIN_LEN (7 + 64)      /* "sha256:" + 64 hex digits */
#define X509_SAN_MAX 32            /* cap on DNS names plus IP addresses in one certificate */
#define X509_DNS_NAME_MAX 253      /* cap on one DNS name */
#define X509_LIFETIME_MAX (100LL * 366 * 86400) /* cap on a certificate's lifetime, seconds */

/* An ECDSA key pair (or a public key alone, from a CSR). Opaque. */
struct x509_key;
/* A CA: its certificate and private key, checked to match. Opaque. */
struct x509_ca;
/* A parsed CSR whose signature has been verified. Opaque. */
struct x509_csr;

/* What a certificate grants, for extendedKeyUsage (bits; 0 = no extension). */
enum {
	X509_USAGE_SERVER = 1 << 0, /* id-kp-serverAuth */
	X509_USAGE_CLIENT = 1 << 1, /* id-kp-clientAuth */
};

/* What to put in a certificate the CA signs. Pointers are borrowed for the call. */
struct x509_cert_spec {
	const char *cn;          /* subject CN; with x509_ca_sign_csr NULL means the CSR's */
	const char *org;         /* subject O or NULL; with x509_ca_sign_csr NULL means the CSR's */
	const char *const *dns;  /* subjectAltName DNS names (n_dns of them) */
	size_t n_dns;
	const char *const *ips;  /* subjectAltName IP addresses, IPv4 or IPv6 text */
	size_t n_ips;
	unsigned usage;          /* X509_USAGE_* bits */
	int64_t lifetime;        /* seconds, 1..X509_LIFETIME_MAX: valid until now + lifetime
				    (or not_before + lifetime when not_before is set) */
	int64_t not_before;      /* unix seconds; 0 means now minus 5 minutes (clock skew) */
	const char *serial;      /* lowercase hex, 1..20 bytes, positive; NULL picks a
				    random one (read it back with x509_cert_info) */
};

/* What x509_cert_info reads back. */
struct x509_cert_info {
	char cn[X509_NAME_MAX + 1];               /* "" when the subject has no CN */
	char org[X509_NAME_MAX + 1];              /* "" when the subject has no O */
	char serial[X509_SERIAL_HEX_MAX + 1];     /* lowercase hex, no leading zero bytes */
	int64_t not_before;                       /* unix seconds */
	int64_t not_after;                        /* unix seconds */
	bool is_ca;
};

/* Keys ------------------------------------------------------------------ */

/* Generate an ECDSA P-256 key pair. Returns 0 or -EIO. Caller frees *ret_key
 * with x509_key_free. */
int x509_key_generate(struct x509_key **ret_key, struct errbuf *err);
/* Parse a PEM private key (SEC1 or PKCS#8, EC or RSA). Returns 0, -E2BIG
 * (over X509_PEM_MAX) or -EINVAL. Caller frees *ret_key with x509_key_free. */
int x509_key_parse(const char *pem, size_t len, struct x509_key **ret_key, struct errbuf *err);
/* x509_key_parse on the content of a file. Also -errno from reading it. */
int x509_key_load(const char *path, struct x509_key **ret_key, struct errbuf *err);
/* The private key as PEM (SEC1 "EC PRIVATE KEY" for EC keys). Returns 0 or
 * -EINVAL (a public key alone). Caller frees *ret_pem with free() (it holds a
 * secret: clear it first if it matters). */
int x509_key_pem(const struct x509_key *key, char **ret_pem, struct errbuf *err);
/* Free a key (zeroing it). Accepts NULL; returns NULL. */
struct x509_key *x509_key_free(struct x509_key *key);

/* The CA ------------------------------------------------------------------ */

/* Create a CA: a new P-256 key and a self-signed certificate with subject
 * CN=cn, basicConstraints CA:TRUE (critical), keyUsage keyCertSign|cRLSign
 * (critical), a random serial, valid from 5 minutes ago until now + lifetime.
 * Returns 0 or -EINVAL (bad cn or lifetime) / -EIO. Caller frees *ret_ca with
 * x509_ca_free. */
int x509_ca_create(const char *cn, int64_t lifetime, struct x509_ca **ret_ca, struct errbuf *err);
/* Load a CA from its certificate and key PEM; the key must match the
 * certificate and the certificate must be a CA. Returns 0, -E2BIG or -EINVAL.
 * Caller frees *ret_ca with x509_ca_free. */
int x509_ca_parse(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
		  struct x509_ca **ret_ca, struct errbuf *err);
/* x509_ca_parse on the content of two files. Also -errno from reading them. */
int x509_ca_load(const char *cert_path, const char *key_path, struct x509_ca **ret_ca,
		 struct errbuf *err);
/* The CA certificate as PEM. Borrowed; valid until x509_ca_free. */
const char *x509_ca_cert_pem(const struct x509_ca *ca);
/* The CA key. Borrowed; valid until x509_ca_free (write it out with x509_key_pem). */
const struct x509_key *x509_ca_key(const struct x509_ca *ca);
/* The CA pin, "sha256:<64 hex>", into out (X509_PIN_LEN + 1 bytes). */
void x509_ca_pin(const struct x509_ca *ca, char out[X509_PIN_LEN + 1]);
/* Sign a certificate for subject_key's public half as described by spec
 * (spec->cn required). Adds basicConstraints CA:FALSE, keyUsage
 * digitalSignature (critical), subjectAltName when spec has names,
 * extendedKeyUsage when spec->usage is set, subject and authority key
 * identifiers. The result is checked to chain to the CA. Returns 0, or -EINVAL
 * with a message naming the bad field, or -EIO. Caller frees *ret_pem with free(). */
int x509_ca_sign(const struct x509_ca *ca, const struct x509_key *subject_key,
		 const struct x509_cert_spec *spec, char **ret_pem, struct errbuf *err);
/* Sign a certificate for a verified CSR: its public key and, where spec->cn /
 * spec->org are NULL, its CN and O. Otherwise as x509_ca_sign. */
int x509_ca_sign_csr(const struct x509_ca *ca, const struct x509_csr *csr,
		     const struct x509_cert_spec *spec, char **ret_pem, struct errbuf *err);
/* Check that cert_pem (its first certificate) was issued by this CA and is
 * within its validity now. Returns 0, -EINVAL (unparsable) or -EKEYREJECTED
 * with mbed TLS's reasons in err. */
int x509_ca_verify(const struct x509_ca *ca, const char *cert_pem, size_t cert_len,
		   struct errbuf *err);
/* Free a CA (zeroing its key). Accepts NULL; returns NULL. */
struct x509_ca *x509_ca_free(struct x509_ca *ca);

/* CSRs -------------------------------------------------------------------- */

/* Make a CSR signed by key with subject CN=cn and, when org is not NULL, O=org
 * (each 1..X509_NAME_MAX printable ASCII characters without ,=+\"<>;#).
 * Returns 0 or -EINVAL. Caller frees *ret_pem with free(). */
int x509_csr_create(const struct x509_key *key, const char *cn, const char *org, char **ret_pem,
		    struct errbuf *err);
/* Parse a PEM CSR AND verify its self-signature. Refuses (-EINVAL) CSRs over
 * X509_PEM_MAX (-E2BIG), unparsable ones, keys other than EC P-256/P-384,
 * digests weaker than SHA-256, a missing, repeated or unprintable CN, a
 * repeated or unprintable O; and (-EBADMSG) a signature that does not verify.
 * Caller frees *ret_csr with x509_csr_free. */
int x509_csr_parse(const char *pem, size_t len, struct x509_csr **ret_csr, struct errbuf *err);
/* The CSR's subject CN. Borrowed; valid until x509_csr_free. */
const char *x509_csr_cn(const struct x509_csr *csr);
/* The CSR's subject O, or NULL. Borrowed; valid until x509_csr_free. */
const char *x509_csr_org(const struct x509_csr *csr);
/* Accepts NULL; returns NULL. */
struct x509_csr *x509_csr_free(struct x509_csr *csr);

/* Certificates ------------------------------------------------------------ */

/* Read CN, O, serial, validity and CA flag of the first certificate in pem.
 * Returns 0, -E2BIG or -EINVAL. */
int x509_cert_info(const char *pem, size_t len, struct x509_cert_info *ret_info,
		   struct errbuf *err);
/* The pin ("sha256:<hex of SubjectPublicKeyInfo DER>") of the first
 * certificate in pem, into out (X509_PIN_LEN + 1 bytes; untouched on failure).
 * Returns 0, -E2BIG or -EINVAL. */
int x509_cert_pin(const char *pem, size_t len, char out[X509_PIN_LEN + 1], struct errbuf *err);
/* Check that the first certificate of cert_pem chains to a certificate in
 * ca_pem (one or more PEM blocks) and is valid now. Returns 0, -E2BIG,
 * -EINVAL (unparsable) or -EKEYREJECTED with mbed TLS's reasons in err. */
int x509_verify(const char *ca_pem, size_t ca_len, const char *cert_pem, size_t cert_len,
		struct errbuf *err);
/* A fresh random serial (X509_SERIAL_BYTES, positive) as lowercase hex into
 * out (2 * X509_SERIAL_BYTES + 1 bytes). Returns 0 or -errno from getrandom. */
int x509_serial_random(char out[2 * X509_SERIAL_BYTES + 1]);

/* Files ------------------------------------------------------------------- */

/* Write len bytes to path atomically (a temporary file in the same directory,
 * fsync, rename) with the given mode: 0600 for keys, 0644 for certificates.
 * Returns 0 or -errno. */
int x509_file_write(const char *path, const void *data, size_t len, mode_t mode,
		    struct errbuf *err);
/* Read a whole file of at most max bytes. Returns 0, -E2BIG (larger than max)
 * or -errno. *ret_data is NUL-terminated (not counted in *ret_len); caller
 * frees it with free(). */
int x509_file_read(const char *path, size_t max, char **ret_data, size_t *ret_len,
		   struct errbuf *err);

#endif
