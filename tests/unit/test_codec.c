/* Unit tests for common/codec: RFC 4648 base64 vectors, hex, FIPS 180-2 SHA-256
 * vectors, constant-time compare and random bytes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "codec.h"

/* RFC 4648 section 10. */
static const char *const b64_vectors[][2] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void test_base64_vectors(void **state)
{
	for (size_t i = 0; i < sizeof(b64_vectors) / sizeof(b64_vectors[0]); i++) {
		const char *plain = b64_vectors[i][0], *enc = b64_vectors[i][1];
		char *e = base64_encode(plain, strlen(plain));
		uint8_t *d = NULL;
		size_t dlen = 0;

		assert_string_equal(e, enc);
		free(e);
		assert_int_equal(base64_decode(enc, strlen(enc), &d, &dlen), 0);
		assert_int_equal(dlen, strlen(plain));
		assert_memory_equal(d, plain, dlen);
		assert_int_equal(d[dlen], 0);
		free(d);
	}
}

static void test_base64_binary_round_trip(void **state)
{
	uint8_t data[256];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(255 - i);
	for (size_t n = 0; n <= sizeof(data); n++) {
		char *e = base64_encode(data, n);
		uint8_t *d = NULL;
		size_t dlen = 0;

		assert_int_equal(strlen(e), (n + 2) / 3 * 4);
		assert_int_equal(base64_decode(e, strlen(e), &d, &dlen), 0);
		assert_int_equal(dlen, n);
		assert_memory_equal(d, data, n);
		free(d);
		free(e);
	}
	/* The whole alphabet, including + and /. */
	{
		static const uint8_t tail[] = { 0xfb, 0xff, 0xbf };
		char *e = base64_encode(tail, 3);

		assert_string_equal(e, "+/+/");
		free(e);
	}
}

static void test_base64_whitespace(void **state)
{
	/* Wrapped as PEM and kubeconfig data are. */
	const char *s = "Zm9v\nYmFy\r\n Zm9v\tYg=\n=\n";
	uint8_t *d = NULL;
	size_t dlen = 0;

	assert_int_equal(base64_decode(s, strlen(s), &d, &dlen), 0);
	assert_int_equal(dlen, 10);
	assert_memory_equal(d, "foobarfoob", 10);
	free(d);
	/* slen bounds the input: the rest is not read. */
	assert_int_equal(base64_decode("Zm9vYmFyGARBAGE", 8, &d, &dlen), 0);
	assert_int_equal(dlen, 6);
	free(d);
}

static void test_base64_rejects(void **state)
{
	static const char *const bad[] = {
		"Zg",       /* padding required */
		"Zg=",
		"Zm9",
		"Z===",
		"====",
		"Zg==Zg==", /* data after padding */
		"Zg=a",
		"Zm9v!",
		"Zm9v-_==", /* URL alphabet is not standard base64 */
		"Zm\0v",
	};
	uint8_t *d = (uint8_t *)"untouched";
	size_t dlen = 77;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = i == sizeof(bad) / sizeof(bad[0]) - 1 ? 4 : strlen(bad[i]);

		if (base64_decode(bad[i], n, &d, &dlen) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(dlen, 77);
		assert_string_equal((char *)d, "untouched");
	}
}

static void test_hex(void **state)
{
	static const uint8_t bytes[] = { 0x00, 0x01, 0xab, 0xcd, 0xef, 0xff };
	char out[2 * sizeof(bytes) + 1];
	uint8_t back[sizeof(bytes)];

	assert_string_equal(hex_encode(bytes, sizeof(bytes), out), "0001abcdefff");
	assert_int_equal(hex_decode("0001ABcdEFff", back, sizeof(back)), 0);
	assert_memory_equal(back, bytes, sizeof(bytes));
	assert_string_equal(hex_encode(bytes, 0, out), "");
	memset(back, 0x5a, sizeof(back));
	assert_int_equal(hex_decode("0001abcdeff", back, sizeof(back)), -EINVAL);  /* short */
	assert_int_equal(hex_decode("0001abcdefff0", back, sizeof(back)), -EINVAL); /* long */
	assert_int_equal(hex_decode("0001abcdefgf", back, sizeof(back)), -EINVAL);
	assert_int_equal(hex_decode(" 001abcdefff", back, sizeof(back)), -EINVAL);
	assert_int_equal(back[0], 0x5a); /* untouched on failure */
}

static void test_sha256_vectors(void **state)
{
	char hex[SHA256_HEX_LEN + 1];
	uint8_t raw[SHA256_LEN];
	char *million = xmalloc(1000000);

	assert_string_equal(sha256_hex("", 0, hex),
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_string_equal(sha256_hex("abc", 3, hex),
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_string_equal(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex),
			    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	memset(million, 'a', 1000000);
	assert_string_equal(sha256_hex(million, 1000000, hex),
			    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(million);
	sha256("abc", 3, raw);
	assert_int_equal(raw[0], 0xba);
	assert_int_equal(raw[31], 0xad);
}

static void test_memcmp_const(void **state)
{
	assert_int_equal(memcmp_const("abcdef", "abcdef", 6), 0);
	assert_int_not_equal(memcmp_const("abcdef", "abcdeg", 6), 0);
	assert_int_not_equal(memcmp_const("xbcdef", "abcdef", 6), 0);
	assert_int_equal(memcmp_const("abc", "xyz", 0), 0);
}

static void test_random_bytes(void **state)
{
	uint8_t a[64], b[64], zero[64] = { 0 };

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	assert_int_equal(random_bytes(a, sizeof(a)), 0);
	assert_int_equal(random_bytes(b, sizeof(b)), 0);
	/* Chance of a false failure: 2^-512. */
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_int_equal(random_bytes(a, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_base64_binary_round_trip),
		cmocka_unit_test(test_base64_whitespace),
		cmocka_unit_test(test_base64_rejects),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_memcmp_const),
		cmocka_unit_test(test_random_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
