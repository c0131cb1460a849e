/* main.c - navectl's command line.
 *
 * Its commands arrive with issue #5;
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
		"Usage: navectl COMMAND [OPTIONS]\n"
		"\n"
		"navectl: the command line for a Nave hub (clusters, tokens, works,\n"
		"applications, rollouts).\n"
		"\n"
		"Commands:\n"
		"  token    create, list and revoke bootstrap tokens    (not built yet: issue #5)\n"
		"  cluster  list, accept and deny clusters              (not built yet: issue #5)\n"
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
		printf("navectl %s (protocol %s)\n", NAVE_VERSION, proto_version_string());
		return 0;
	}
	if (strcmp(cmd, "token") == 0 || strcmp(cmd, "cluster") == 0) {
		fprintf(stderr, "navectl: '%s' is not built yet (issue #5)\n", cmd);
		return 2;
	}
	fprintf(stderr, "navectl: unknown command '%s' (try --help)\n", cmd);
	return 2;
}
