/* version.c - the protocol version string, parsing and negotiation; see version.h. */
#include "version.h"

#include <errno.h>

#define STR2(x) #x
#define STR(x) STR2(x)

const char *proto_version_string(void)
{
	return STR(PROTO_VERSION_MAJOR) "." STR(PROTO_VERSION_MINOR);
}

/* One decimal part at *p, ended by end; advances *p. */
static int parse_part(const char **p, char end, unsigned *ret)
{
	const char *s = *p;
	unsigned v = 0;
	int n = 0;

	if (s[0] == '0' && s[1] != end)
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++, n++) {
		v = v * 10 + (unsigned)(*s - '0');
		if (v > PROTO_VERSION_PART_MAX)
			return -EINVAL;
	}
	if (n == 0 || *s != end)
		return -EINVAL;
	*p = s;
	*ret = v;
	return 0;
}

int proto_version_parse(const char *s, unsigned *ret_major, unsigned *ret_minor)
{
	unsigned major, minor;

	if (!s || parse_part(&s, '.', &major) < 0)
		return -EINVAL;
	s++;
	if (parse_part(&s, '\0', &minor) < 0)
		return -EINVAL;
	*ret_major = major;
	*ret_minor = minor;
	return 0;
}

int proto_version_negotiate(unsigned peer_major, unsigned peer_minor, unsigned *ret_minor)
{
	/* Variables, not the macros: comparing an unsigned with 0 warns. */
	unsigned our_major = PROTO_VERSION_MAJOR, our_minor = PROTO_VERSION_MINOR;

	if (peer_major != our_major)
		return -EPROTONOSUPPORT;
	*ret_minor = peer_minor < our_minor ? peer_minor : our_minor;
	return 0;
}
