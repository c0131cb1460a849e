/* codec.h - base64, hex, UTF-8 decoding and SHA-256 (mbedtls). */
#ifndef NAVE_CODEC_H
#define NAVE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64

/* Standard base64 with padding. Returns a NUL-terminated string the caller frees. */
char *base64_encode(const void *data, size_t len);
/* Decode standard base64 (padding required; whitespace/newlines ignored, as in
 * PEM and kubeconfig -data fields). Returns 0 or -EINVAL. *ret_data is
 * NUL-terminated (not counted in *ret_len); caller frees with free(). */
int base64_decode(const char *s, size_t slen, uint8_t **ret_data, size_t *ret_len);
/* Value 0..63 of one character of the standard base64 alphabet, or -1 for any
 * other byte (padding '=' and whitespace included). For decoders with their
 * own whitespace and padding rules (yaml.c's !!binary). */
int base64_char_value(unsigned char c);
/* Lowercase hex of len bytes into out (2*len+1 bytes). Returns out. */
char *hex_encode(const void *data, size_t len, char *out);
/* Decode hex (either case) of exactly 2*outlen digits. Returns 0 or -EINVAL. */
int hex_decode(const char *s, uint8_t *out, size_t outlen);
/* Decode the UTF-8 sequence at s (at most n bytes, n >= 1). Returns its
 * length 1..4 and sets *ret_cp to the code point, or returns 0 (ret_cp
 * untouched) when the bytes there are not valid UTF-8: a bad lead or
 * continuation byte, a truncated or overlong sequence, a surrogate, or a code
 * point above U+10FFFF. */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *ret_cp);
/* SHA-256 of data. */
void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);
/* SHA-256 as lowercase hex into out[SHA256_HEX_LEN + 1]. Returns out. */
char *sha256_hex(const void *data, size_t len, char *out);
/* FNV-1a (64 bits) of n bytes of data, continued from h: start with
 * FNV1A_INIT. A fast hash for tables and change detection, not for security. */
#define FNV1A_INIT 14695981039346656037ULL
uint64_t fnv1a(uint64_t h, const void *data, size_t n);
/* The same over a NUL-terminated string. */
uint64_t fnv1a_str(uint64_t h, const char *s);
/* Constant-time comparison of n bytes: 0 when equal. */
int memcmp_const(const void *a, const void *b, size_t n);
/* Fill out with n cryptographically random bytes (getrandom). Returns 0 or -errno. */
int random_bytes(void *out, size_t n);

#endif
