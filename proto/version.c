/* version.c - the protocol version string. */
#include "version.h"

#define STR2(x) #x
#define STR(x) STR2(x)

const char *proto_version_string(void)
{
	return STR(PROTO_VERSION_MAJOR) "." STR(PROTO_VERSION_MINOR);
}
