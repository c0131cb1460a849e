/* main.c - nave-hub's command line: init, serve, version.
 *
 * `init` (init.c) makes a hub's data directory; `serve` (serve.c) runs it.
 * Exit status: 0 success, 1 failure (the message says why), 2 usage errors.
 */
#include <stdio.h>
#include <string.h>

#include "hub_int.h"
#include "nave_config.h"
#include "version.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: nave-hub COMMAND [OPTIONS]\n"
		"\n"
		"The Nave hub: one binary that stores ManifestWorks, registers clusters and\n"
		"streams work to their agents.\n"
		"\n"
		"Commands:\n"
		"  init     create the CA, store and admin credential in a data directory\n"
		"  serve    serve the API (Kubernetes-style, registration, health, metrics)\n"
		"  version  print the version\n"
		"\n"
		"Run `nave-hub COMMAND --help` for a command's options.\n"
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
	if (strcmp(cmd, "init") == 0)
		return hub_init_main(argc - 1, argv + 1);
	if (strcmp(cmd, "serve") == 0)
		return hub_serve_main(argc - 1, argv + 1);
	fprintf(stderr, "nave-hub: unknown command '%s' (try --help)\n", cmd);
	return 2;
}
