/* main.c - nave-klusterlet's command line.
 *
 * The agent arrives with issue #6;
 * until then this binary answers --version and --help honestly and refuses the
 * commands it does not have yet, saying so, with exit status 2.
 */
#include <stdio.h>
#include <string.h>

#include "nave_config.h"
#include "version.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: nave-klusterlet COMMAND [OPTIONS]\n"
		"\n"
		"The Nave agent: joins a hub, applies the ManifestWorks it streams into this\n"
		"cluster and reports their status back.\n"
		"\n"
		"Commands:\n"
		"  join     register this cluster with a hub            (not built yet: issue #6)\n"
		"  run      join if needed, then apply works            (not built yet: issue #6)\n"
		"  version  print the version\n"
		"\n"
		"Options:\n"
		"  -h, --help     this help\n"
		"  -V, --version  print the version\n");
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd || strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return cmd ? 0 : 2;
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("nave-klusterlet %s (protocol %s)\n", NAVE_VERSION, proto_version_string());
		return 0;
	}
	if (strcmp(cmd, "join") == 0 || strcmp(cmd, "run") == 0) {
		fprintf(stderr, "nave-klusterlet: '%s' is not built yet (issue #6)\n", cmd);
		return 2;
	}
	fprintf(stderr, "nave-klusterlet: unknown command '%s' (try --help)\n", cmd);
	return 2;
}
