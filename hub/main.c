/* main.c - nave-hub's command line.
 *
 * The hub's serving core (store, API, registration, CA) arrives with issue #5;
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
		"Usage: nave-hub COMMAND [OPTIONS]\n"
		"\n"
		"The Nave hub: one binary that stores Applications and ManifestWorks, registers\n"
		"clusters and streams work to their agents.\n"
		"\n"
		"Commands:\n"
		"  init     create the CA, store and admin credential   (not built yet: issue #5)\n"
		"  serve    serve the API and the agent stream          (not built yet: issue #5)\n"
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
		printf("nave-hub %s (protocol %s)\n", NAVE_VERSION, proto_version_string());
		return 0;
	}
	if (strcmp(cmd, "init") == 0 || strcmp(cmd, "serve") == 0) {
		fprintf(stderr, "nave-hub: '%s' is not built yet (issue #5)\n", cmd);
		return 2;
	}
	fprintf(stderr, "nave-hub: unknown command '%s' (try --help)\n", cmd);
	return 2;
}
