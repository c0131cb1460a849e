/* navectl.c - navectl's entry point: global flags, commands, exit codes.
 *
 * The command word is the first argument that is neither a flag nor a global
 * flag's value, so `navectl --kubeconfig K get mcl` and `navectl get mcl
 * --kubeconfig K` both work, as with kubectl. Each command parses its own
 * argv with nctl_getopt(), which knows the global flags, names any unknown
 * flag in a usage error (exit 2) and answers --help.
 *
 * The commands live in navectl_get.c, navectl_apply.c and navectl_hub.c;
 * the connection and errors in navectl_client.c (see navectl.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "navectl.h"
#include "navectl_install.h"
#include "nave_config.h"
#include "version.h"

#define NCTL_MAX_OPTS 64 /* global plus one command's long options */

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: navectl [GLOBAL FLAGS] COMMAND [ARGS] [FLAGS]\n"
		"\n"
		"navectl: the command line for a Nave hub (clusters, tokens, works). It also\n"
		"works against any Kubernetes-style API server (get, apply, delete, describe).\n"
		"\n"
		"Commands:\n"
		"  token create|list|revoke     bootstrap tokens for joining clusters\n"
		"  cluster list|get|accept|deny|label\n"
		"                               registered clusters (ManagedClusters)\n"
		"  get KIND [NAME...]           list or show objects (-o wide|yaml|json|name, -w)\n"
		"  apply -f FILE|DIR|-          create or update objects (server-side apply)\n"
		"  delete KIND NAME... | -f F   delete objects\n"
		"  describe KIND NAME           a readable summary with conditions and status\n"
		"  version                      client and server versions\n"
		"  app ls|status|revisions|diff|rollback\n"
		"                               Applications (core.oam.dev) as vela shows them\n"
		"  workflow resume|suspend|terminate|restart APP\n"
		"                               drive an Application's workflow\n"
		"  rollout status|pause|resume|abort|rollback APP\n"
		"                               an Application's rollout across clusters\n"
		"  install klusterlet --cluster-name N\n"
		"                               print manifests installing the agent in a cluster\n"
		"\n"
		"Run `navectl COMMAND --help` for a command's flags.\n"
		"\n"
		"Global flags (accepted by every command, before or after it):\n"
		"  --kubeconfig FILE      the hub's admin kubeconfig (see below)\n"
		"  --context NAME         a context of the kubeconfig other than the current one\n"
		"  -n, --namespace NS     namespace for namespaced kinds (ManifestWorks live in\n"
		"                         the namespace named after their cluster)\n"
		"  --request-timeout DUR  per request (default 30s; 90, 90s, 5m, 1h)\n"
		"  -v, --verbose          log the client's requests to stderr\n"
		"  -h, --help             help\n"
		"  -V, --version          print the client's version\n"
		"\n"
		"Kubeconfig: --kubeconfig, else $KUBECONFIG (files joined by ':'), else\n"
		"~/.nave/admin.kubeconfig, else /var/lib/nave/admin.kubeconfig. `nave-hub init\n"
		"--data-dir D` writes D/admin.kubeconfig.\n"
		"\n"
		"Exit status:\n"
		"  0  success\n"
		"  1  the operation failed (NotFound, AlreadyExists, Conflict, Invalid, Forbidden...)\n"
		"  2  usage error (unknown command or flag, missing or bad argument)\n"
		"  3  cannot reach or authenticate to the hub (no kubeconfig, connection refused,\n"
		"     TLS failure, timeout, 401 Unauthorized, 503)\n");
}

int nctl_usage_error(const struct nctl *n, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", n->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see `%s --help`)\n", n->prog);
	return NCTL_EXIT_USAGE;
}

static const struct option global_opts[] = {
	{ "kubeconfig", required_argument, NULL, NCTL_OPT_KUBECONFIG },
	{ "context", required_argument, NULL, NCTL_OPT_CONTEXT },
	{ "namespace", required_argument, NULL, NCTL_OPT_NAMESPACE },
	{ "request-timeout", required_argument, NULL, NCTL_OPT_TIMEOUT },
	{ "verbose", no_argument, NULL, NCTL_OPT_VERBOSE },
	{ "help", no_argument, NULL, NCTL_OPT_HELP },
};

static int global_opt(struct nctl *n, int val, const char *arg)
{
	int64_t s;

	switch (val) {
	case NCTL_OPT_KUBECONFIG:
		if (!*arg)
			return nctl_usage_error(n, "--kubeconfig needs a file name");
		n->kubeconfig = arg;
		return 0;
	case NCTL_OPT_CONTEXT:
		n->context = arg;
		return 0;
	case NCTL_OPT_NAMESPACE:
	case 'n':
		if (!*arg)
			return nctl_usage_error(n, "-n/--namespace needs a namespace");
		n->namespace = arg;
		return 0;
	case NCTL_OPT_TIMEOUT:
		if (nctl_parse_duration(arg, &s) < 0 || s <= 0 || s > 86400)
			return nctl_usage_error(n, "--request-timeout: \"%s\" is not a duration of 1s..24h "
						   "(examples: 30, 30s, 5m)", arg);
		n->timeout_ms = (uint64_t)s * 1000;
		return 0;
	case NCTL_OPT_VERBOSE:
	case 'v':
		n->verbose = true;
		log_setup(LOG_LVL_DEBUG, LOG_FORMAT_TEXT);
		return 0;
	default:
		return -1;
	}
}

/* The flag getopt stopped at, for the message: "--foo", "-x". */
static void bad_flag_name(char **argv, int argc, char *out, size_t outlen)
{
	const char *a = (optind > 0 && optind - 1 < argc) ? argv[optind - 1] : "";

	if (!strncmp(a, "--", 2))
		snprintf(out, outlen, "%.*s", (int)strcspn(a, "="), a);
	else if (optopt > ' ' && optopt < 127)
		snprintf(out, outlen, "-%c", optopt);
	else
		snprintf(out, outlen, "%.40s", a);
}

int nctl_parse_duration(const char *s, int64_t *ret_s)
{
	char *end;
	long long v;
	int64_t mult = 1;

	if (!s || !*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || v < 0)
		return -EINVAL;
	if (!strcmp(end, "") || !strcmp(end, "s"))
		mult = 1;
	else if (!strcmp(end, "m"))
		mult = 60;
	else if (!strcmp(end, "h"))
		mult = 3600;
	else if (!strcmp(end, "d"))
		mult = 86400;
	else
		return -EINVAL;
	if (v > INT64_MAX / mult / 1000)
		return -EINVAL;
	*ret_s = (int64_t)v * mult;
	return 0;
}

/* getopt_long takes unique abbreviations of long options ("--force" for
 * "--force-conflicts"); a script written against one version could then
 * change meaning when a flag is added, so navectl wants names in full, as
 * kubectl does. Walks argv as getopt will, refusing abbreviated names. */
static int check_exact(struct nctl *n, int argc, char **argv, const char *sopts, const struct option *all)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--"))
			break;
		if (a[0] == '-' && a[1] == '-') {
			size_t len = strcspn(a + 2, "=");
			const struct option *o = NULL;

			for (size_t k = 0; all[k].name; k++)
				if (strlen(all[k].name) == len && !strncmp(all[k].name, a + 2, len))
					o = &all[k];
			if (!o)
				return nctl_usage_error(n, "unknown flag %.*s", (int)len + 2, a);
			if (o->has_arg == required_argument && !a[2 + len])
				i++; /* its value */
		} else if (a[0] == '-' && a[1]) {
			for (const char *c = a + 1; *c; c++) {
				const char *p = strchr(sopts + 1, *c);

				if (p && p[1] == ':') {
					if (!c[1])
						i++; /* "-o json": the value is the next argument */
					break;    /* "-ojson": the rest is the value */
				}
			}
		}
	}
	return 0;
}

int nctl_getopt(struct nctl *n, int argc, char **argv, const char *shortopts,
		const struct option *opts, int (*on_opt)(void *ud, int val, const char *arg), void *ud,
		const char *help_text, char ***ret_args, int *ret_nargs)
{
	struct option all[NCTL_MAX_OPTS + 1];
	char sopts[128];
	size_t k = 0;
	char **args = NULL;
	int nargs = 0, c, r = 0;
	bool help = false;

	for (size_t i = 0; i < sizeof(global_opts) / sizeof(global_opts[0]); i++)
		all[k++] = global_opts[i];
	for (size_t i = 0; opts && opts[i].name && k < NCTL_MAX_OPTS; i++)
		all[k++] = opts[i];
	memset(&all[k], 0, sizeof(all[k]));
	snprintf(sopts, sizeof(sopts), ":n:hv%s", shortopts ? shortopts : "");

	r = check_exact(n, argc, argv, sopts, all);
	if (r)
		goto out;
	optind = 0; /* glibc: full re-initialisation */
	opterr = 0;
	while ((c = getopt_long(argc, argv, sopts, all, NULL)) != -1) {
		char flag[64];

		if (c == '?') {
			bad_flag_name(argv, argc, flag, sizeof(flag));
			r = nctl_usage_error(n, "unknown flag %s", flag);
			goto out;
		}
		if (c == ':') {
			bad_flag_name(argv, argc, flag, sizeof(flag));
			r = nctl_usage_error(n, "flag %s needs a value", flag);
			goto out;
		}
		if (c == 'h' || c == NCTL_OPT_HELP) {
			help = true;
			continue;
		}
		r = global_opt(n, c, optarg);
		if (r >= 0) {
			if (r > 0)
				goto out;
			continue;
		}
		r = on_opt ? on_opt(ud, c, optarg) : nctl_usage_error(n, "unexpected flag");
		if (r)
			goto out;
	}
	if (help) {
		fputs(help_text, stdout);
		r = -1;
		goto out;
	}
	if (argc - optind > NCTL_MAX_ARGS) {
		r = nctl_usage_error(n, "too many arguments (at most %d)", NCTL_MAX_ARGS);
		goto out;
	}
	args = xcalloc((size_t)(argc - optind) + 1, sizeof(*args));
	for (int i = optind; i < argc; i++)
		args[nargs++] = argv[i];
	*ret_args = args;
	*ret_nargs = nargs;
	args = NULL;
	r = 0;
out:
	free(args);
	return r;
}

/* Global flags whose value is a separate argument ("--kubeconfig K"). */
static bool takes_value(const char *a)
{
	static const char *const with_value[] = { "--kubeconfig", "--context", "--namespace",
						  "--request-timeout", "-n" };

	for (size_t i = 0; i < sizeof(with_value) / sizeof(with_value[0]); i++)
		if (!strcmp(a, with_value[i]))
			return true;
	return false;
}

struct command {
	const char *name;
	int (*run)(struct nctl *n, int argc, char **argv);
};

static const struct command commands[] = {
	{ "get", nctl_cmd_get },
	{ "apply", nctl_cmd_apply },
	{ "delete", nctl_cmd_delete },
	{ "describe", nctl_cmd_describe },
	{ "token", nctl_cmd_token },
	{ "cluster", nctl_cmd_cluster },
	{ "version", nctl_cmd_version },
	{ "install", nctl_cmd_install },
	{ "app", nctl_cmd_app },
	{ "workflow", nctl_cmd_workflow },
	{ "rollout", nctl_cmd_rollout },
};

int main(int argc, char **argv)
{
	struct nctl n = { .prog = "navectl", .timeout_ms = NCTL_DEFAULT_TIMEOUT_MS };
	const struct command *cmd = NULL;
	char **sub = NULL;
	char prog[64];
	int at = -1, rc, k = 0;

	log_setup(LOG_LVL_ERROR, LOG_FORMAT_TEXT);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--"))
			break;
		if (a[0] == '-' && a[1]) {
			if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
				usage(stdout);
				return NCTL_EXIT_OK;
			}
			if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
				printf("navectl %s (protocol %s)\n", NAVE_VERSION, proto_version_string());
				return NCTL_EXIT_OK;
			}
			if (takes_value(a))
				i++;
			continue;
		}
		at = i;
		break;
	}
	if (at < 0) {
		usage(stderr);
		return NCTL_EXIT_USAGE;
	}
	if (!strcmp(argv[at], "help")) {
		if (at + 1 >= argc) {
			usage(stdout);
			return NCTL_EXIT_OK;
		}
		/* "navectl help get" is "navectl get --help" */
		char *hargv[] = { argv[at + 1], (char *)"--help", NULL };

		for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
			if (!strcmp(commands[c].name, argv[at + 1])) {
				snprintf(prog, sizeof(prog), "navectl %s", commands[c].name);
				n.prog = prog;
				return commands[c].run(&n, 2, hargv);
			}
		fprintf(stderr, "navectl: unknown command \"%s\" (see `navectl --help`)\n", argv[at + 1]);
		return NCTL_EXIT_USAGE;
	}
	for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
		if (!strcmp(commands[c].name, argv[at]))
			cmd = &commands[c];
	if (!cmd) {
		fprintf(stderr, "navectl: unknown command \"%s\" (see `navectl --help` for the commands)\n",
			argv[at]);
		return NCTL_EXIT_USAGE;
	}
	snprintf(prog, sizeof(prog), "navectl %s", cmd->name);
	n.prog = prog;

	/* The command's argv: its name first, then everything but the command word. */
	sub = xcalloc((size_t)argc + 1, sizeof(*sub));
	sub[k++] = argv[at];
	for (int i = 1; i < argc; i++)
		if (i != at)
			sub[k++] = argv[i];
	rc = cmd->run(&n, k, sub);
	nctl_close(&n);
	free(sub);
	return rc;
}
