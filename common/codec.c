/* codec.c - base64, hex, UTF-8 decoding, SHA-256 and random bytes; see codec.h.
 *
 * Base64 is written here rather than taken from mbedtls_base64_decode because
 * Kubernetes data (kubeconfig *-data fields, Secret data pasted from files)
 * arrives wrapped at 64 or 76 columns and mbed TLS refuses some layouts of
 * that whitespace; one small table-driven codec behaves the same everywhere.
 * SHA-256 is mbed TLS 2.28's mbedtls_sha256_ret. random_bytes reads
 * getrandom(2), retrying on EINTR and short reads. All functions are
 * reentrant.
 */
#include "codec.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/sha256.h>

#include "alloc.h"

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const void *data, size_t len)
{
	const uint8_t *in = data;
	size_t groups = len / 3 + (len % 3 != 0);
	char *out, *o;

	if (groups > (SIZE_MAX - 1) / 4)
		groups = SIZE_MAX; /* xmalloc aborts on the impossible size */
	out = xmalloc(groups == SIZE_MAX ? SIZE_MAX : groups * 4 + 1);
	o = out;
	while (len >= 3) {
		uint32_t v = (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2];

		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = b64_alphabet[(v >> 6) & 63];
		*o++ = b64_alphabet[v & 63];
		in += 3;
		len -= 3;
	}
	if (len) {
		uint32_t v = (uint32_t)in[0] << 16 | (len == 2 ? (uint32_t)in[1] << 8 : 0);

		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = len == 2 ? b64_alphabet[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

int base64_char_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static bool b64_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int base64_decode(const char *s, size_t slen, uint8_t **ret_data, size_t *ret_len)
{
	uint8_t *out = NULL, *o;
	uint32_t acc = 0;
	size_t nchars = 0, npad = 0;
	int r = -EINVAL;

	if (!s && slen)
		return -EINVAL;
	/* The output is at most 3/4 of the input; one more byte for the NUL. */
	out = xmalloc(slen / 4 * 3 + 4);
	o = out;
	for (size_t i = 0; i < slen; i++) {
		unsigned char c = (unsigned char)s[i];
		int v;

		if (b64_space(c))
			continue;
		if (c == '=') {
			/* Padding only in the last two places of a group. */
			if (nchars % 4 < 2 || ++npad > 2)
				goto out;
			nchars++;
			continue;
		}
		if (npad)
			goto out; /* data after padding */
		v = base64_char_value(c);
		if (v < 0)
			goto out;
		acc = acc << 6 | (uint32_t)v;
		nchars++;
		if (nchars % 4 == 0) {
			*o++ = (uint8_t)(acc >> 16);
			*o++ = (uint8_t)(acc >> 8);
			*o++ = (uint8_t)acc;
			acc = 0;
		}
	}
	if (nchars % 4 != 0)
		goto out;
	if (npad) {
		/* The group with padding: 2 chars -> 1 byte, 3 chars -> 2 bytes. */
		if (npad == 2) {
			*o++ = (uint8_t)(acc >> 4);
		} else {
			*o++ = (uint8_t)(acc >> 10);
			*o++ = (uint8_t)(acc >> 2);
		}
	}
	*o = '\0';
	*ret_len = (size_t)(o - out);
	*ret_data = out;
	out = NULL;
	r = 0;
out:
	free(out);
	return r;
}

char *hex_encode(const void *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *in = data;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
	return out;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *s, uint8_t *out, size_t outlen)
{
	if (!s)
		return -EINVAL;
	/* Check everything before writing: out is untouched on failure. */
	for (size_t i = 0; i < 2 * outlen; i++)
		if (hex_value(s[i]) < 0)
			return -EINVAL;
	if (s[2 * outlen] != '\0')
		return -EINVAL;
	for (size_t i = 0; i < outlen; i++)
		out[i] = (uint8_t)(hex_value(s[2 * i]) << 4 | hex_value(s[2 * i + 1]));
	return 0;
}

void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
	/* Cannot fail for SHA-256 in software (2.28 returns 0 unless an
	 * alternative hardware implementation reports an error). */
	if (mbedtls_sha256_ret(data, len, out, 0) != 0)
		memset(out, 0, SHA256_LEN);
}

char *sha256_hex(const void *data, size_t len, char *out)
{
	uint8_t digest[SHA256_LEN];

	sha256(data, len, digest);
	return hex_encode(digest, sizeof(digest), out);
}

int memcmp_const(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *pa = a, *pb = b;
	uint8_t diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= pa[i] ^ pb[i];
	return diff != 0;
}

int random_bytes(void *out, size_t n)
{
	uint8_t *p = out;

	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *ret_cp)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80) {
		*ret_cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret_cp = cp;
	return len;
}

/* See codec.h. */
uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* See codec.h. */
uint64_t fnv1a_str(uint64_t h, const char *s)
{
	return fnv1a(h, s, strlen(s));
}
