/* main.c - nave-klusterlet's command line: join, run, version.
 *
 * Parses the options into a struct agent_options (agent.h) and hands over;
 * everything else happens on the agent's loop. Exit status: 0 success, 1 a
 * failure reported on stderr, 2 a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "join.h"
#include "log.h"
#include "nave_config.h"
#include "version.h"

enum {
	OPT_HUB = 1000,
	OPT_TOKEN,
	OPT_CA_HASH,
	OPT_INSECURE,
	OPT_CLUSTER,
	OPT_AGENT,
	OPT_LABELS,
	OPT_KUBECONFIG,
	OPT_STATE_DIR,
	OPT_NAMESPACE,
	OPT_STORE,
	OPT_HEALTH,
	OPT_LEASE_NS,
	OPT_LEASE_NAME,
	OPT_IDENTITY,
	OPT_NO_LEADER,
	OPT_LEASE_DURATION,
	OPT_RENEW_DEADLINE,
	OPT_RETRY_PERIOD,
	OPT_RETRANSMIT,
	OPT_LEASE_SECONDS,
	OPT_RENEW_FRACTION,
	OPT_BACKOFF_BASE,
	OPT_BACKOFF_MAX,
	OPT_EVICTION_GRACE,
	OPT_FORCE,
	OPT_LOG_LEVEL,
	OPT_LOG_FORMAT,
};

static const struct option long_opts[] = {
	{ "hub", required_argument, NULL, OPT_HUB },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "ca-hash", required_argument, NULL, OPT_CA_HASH },
	{ "insecure-skip-ca-verification", no_argument, NULL, OPT_INSECURE },
	{ "cluster-name", required_argument, NULL, OPT_CLUSTER },
	{ "agent-name", required_argument, NULL, OPT_AGENT },
	{ "labels", required_argument, NULL, OPT_LABELS },
	{ "kubeconfig", required_argument, NULL, OPT_KUBECONFIG },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "namespace", required_argument, NULL, OPT_NAMESPACE },
	{ "store", required_argument, NULL, OPT_STORE },
	{ "health-listen", required_argument, NULL, OPT_HEALTH },
	{ "lease-namespace", required_argument, NULL, OPT_LEASE_NS },
	{ "lease-name", required_argument, NULL, OPT_LEASE_NAME },
	{ "identity", required_argument, NULL, OPT_IDENTITY },
	{ "no-leader-elect", no_argument, NULL, OPT_NO_LEADER },
	{ "leader-lease-duration", required_argument, NULL, OPT_LEASE_DURATION },
	{ "leader-renew-deadline", required_argument, NULL, OPT_RENEW_DEADLINE },
	{ "leader-retry-period", required_argument, NULL, OPT_RETRY_PERIOD },
	{ "status-retransmit", required_argument, NULL, OPT_RETRANSMIT },
	{ "lease-seconds", required_argument, NULL, OPT_LEASE_SECONDS },
	{ "cert-renew-fraction", required_argument, NULL, OPT_RENEW_FRACTION },
	{ "reconnect-backoff-base", required_argument, NULL, OPT_BACKOFF_BASE },
	{ "reconnect-backoff-max", required_argument, NULL, OPT_BACKOFF_MAX },
	{ "eviction-grace", required_argument, NULL, OPT_EVICTION_GRACE },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: nave-klusterlet COMMAND [OPTIONS]\n"
		"\n"
		"The Nave agent: joins a hub, applies the ManifestWorks it streams into this\n"
		"cluster and reports their status back.\n"
		"\n"
		"Commands:\n"
		"  join     register this cluster with a hub and store the credential\n"
		"  run      join if needed, then connect and apply works (the daemon)\n"
		"  version  print the version\n"
		"\n"
		"Bootstrap (join, and run when there is no valid credential yet):\n"
		"  --hub URL                   the hub, https://HOST:PORT\n"
		"  --token ID.SECRET           a bootstrap token (`navectl token create`)\n"
		"  --ca-hash sha256:HEX        the pin of the hub's CA (printed with the token);\n"
		"                              a CA that does not match is refused\n"
		"  --insecure-skip-ca-verification\n"
		"                              join without --ca-hash, trusting any CA (unsafe)\n"
		"  --cluster-name NAME         this cluster's name on the hub (DNS label)\n"
		"  --labels K=V,...            labels for the ManagedCluster\n"
		"  --agent-name NAME           the agent part of the certificate's CN (default random)\n"
		"  --force                     join even when a valid credential is stored\n"
		"\n"
		"Where things are:\n"
		"  --kubeconfig FILE           the spoke cluster (default $KUBECONFIG, in-cluster,\n"
		"                              ~/.kube/config)\n"
		"  --state-dir DIR             keep the credential and pending status in DIR (0700,\n"
		"                              files 0600); default in-cluster: Secrets of the\n"
		"                              namespace; otherwise ~/.nave/klusterlet\n"
		"                              (/var/lib/nave-klusterlet as root)\n"
		"  --store secret|dir          force Secrets of --namespace, or a state directory\n"
		"  --namespace NS              our namespace (Secrets, Lease); default the pod's\n"
		"\n"
		"run only:\n"
		"  --health-listen ADDR:PORT   serve /healthz and /readyz (JSON) over HTTP\n"
		"  --lease-namespace NS        the leader election Lease (default --namespace)\n"
		"  --lease-name NAME           (default nave-klusterlet)\n"
		"  --identity ID               this replica (default $POD_NAME, else host_random)\n"
		"  --no-leader-elect           do not elect: this process is the only agent\n"
		"  --leader-lease-duration DUR, --leader-renew-deadline DUR, --leader-retry-period DUR\n"
		"                              election timing (default 15s, 10s, 2s)\n"
		"  --lease-seconds N           cluster lease period (default the ManagedCluster's)\n"
		"  --status-retransmit DUR     resend unacknowledged status after (default 30s)\n"
		"  --reconnect-backoff-base DUR, --reconnect-backoff-max DUR\n"
		"                              reconnect backoff envelope (default 1s doubling to 60s)\n"
		"  --cert-renew-fraction F     renew after this fraction of the certificate's life\n"
		"                              (default a random 0.75..0.80)\n"
		"  --eviction-grace DUR        keep works the hub forgot for (default 60m)\n"
		"\n"
		"  --log-level LVL             debug, info (default), warn, error\n"
		"  --log-format FMT            text (default) or json\n"
		"  -h, --help                  this help\n"
		"\n"
		"Durations: 500ms, 90, 90s, 5m, 2h. SIGTERM or SIGINT stops run cleanly (the\n"
		"leader election Lease is released).\n");
}

/* "500ms", "90", "90s", "5m", "2h" -> milliseconds. */
static int parse_duration_ms(const char *s, uint64_t *ret_ms)
{
	char *end;
	double v;
	double mult = 1000;

	if (!s || !*s)
		return -EINVAL;
	v = strtod(s, &end);
	if (end == s || !(v >= 0) || v > 1e9)
		return -EINVAL;
	if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (*end == '\0' || strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "m") == 0)
		mult = 60000;
	else if (strcmp(end, "h") == 0)
		mult = 3600000;
	else
		return -EINVAL;
	*ret_ms = (uint64_t)(v * mult);
	return 0;
}

static const char *opt_name(int c)
{
	for (const struct option *o = long_opts; o->name; o++)
		if (o->val == c)
			return o->name;
	return "option";
}

static int bad(const char *opt, const char *val, const char *what)
{
	fprintf(stderr, "nave-klusterlet: %s \"%s\": %s\n", opt, val, what);
	return 2;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	struct agent_options o = { 0 };
	enum log_level level = LOG_LVL_INFO;
	enum log_format format = LOG_FORMAT_TEXT;
	json_t *labels = NULL;
	struct errbuf err = { "" };
	bool is_join;
	int c, code;

	if (!cmd || strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		usage(cmd ? stdout : stderr);
		return cmd ? 0 : 2;
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("nave-klusterlet %s (protocol %s)\n", NAVE_VERSION, proto_version_string());
		return 0;
	}
	if (strcmp(cmd, "join") != 0 && strcmp(cmd, "run") != 0) {
		fprintf(stderr, "nave-klusterlet: unknown command '%s' (try --help)\n", cmd);
		return 2;
	}
	is_join = strcmp(cmd, "join") == 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		uint64_t ms = 0;
		char *end;

		switch (c) {
		case OPT_HUB: o.hub_url = optarg; break;
		case OPT_TOKEN: o.token = optarg; break;
		case OPT_CA_HASH: o.ca_hash = optarg; break;
		case OPT_INSECURE: o.insecure_skip_ca = true; break;
		case OPT_CLUSTER: o.cluster_name = optarg; break;
		case OPT_AGENT: o.agent_name = optarg; break;
		case OPT_LABELS:
			json_decref(labels);
			labels = NULL;
			if (join_labels_parse(optarg, &err, &labels) < 0) {
				fprintf(stderr, "nave-klusterlet: %s\n", err.msg);
				return 2;
			}
			break;
		case OPT_KUBECONFIG: o.kubeconfig = optarg; break;
		case OPT_STATE_DIR: o.state_dir = optarg; break;
		case OPT_NAMESPACE: o.namespace = optarg; break;
		case OPT_STORE:
			if (strcmp(optarg, "secret") == 0)
				o.store_secret = true;
			else if (strcmp(optarg, "dir") != 0)
				return bad("--store", optarg, "expected secret or dir");
			break;
		case OPT_HEALTH: o.health_listen = optarg; break;
		case OPT_LEASE_NS: o.lease_namespace = optarg; break;
		case OPT_LEASE_NAME: o.lease_name = optarg; break;
		case OPT_IDENTITY: o.identity = optarg; break;
		case OPT_NO_LEADER: o.no_leader_elect = true; break;
		case OPT_FORCE: o.force_join = true; break;
		case OPT_LEASE_DURATION:
		case OPT_RENEW_DEADLINE:
		case OPT_RETRY_PERIOD:
		case OPT_RETRANSMIT:
		case OPT_BACKOFF_BASE:
		case OPT_BACKOFF_MAX:
		case OPT_EVICTION_GRACE:
			if (parse_duration_ms(optarg, &ms) < 0 || ms == 0)
				return bad(opt_name(c), optarg, "expected a duration (500ms, 90s, 5m, 2h)");
			if (c == OPT_LEASE_DURATION)
				o.lease_duration_ms = ms;
			else if (c == OPT_RENEW_DEADLINE)
				o.renew_deadline_ms = ms;
			else if (c == OPT_RETRY_PERIOD)
				o.retry_period_ms = ms;
			else if (c == OPT_RETRANSMIT)
				o.status_retransmit_ms = ms;
			else if (c == OPT_BACKOFF_BASE)
				o.backoff_base_ms = ms;
			else if (c == OPT_BACKOFF_MAX)
				o.backoff_max_ms = ms;
			else
				o.eviction_grace_ms = ms;
			break;
		case OPT_LEASE_SECONDS: {
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > 3600)
				return bad("--lease-seconds", optarg, "expected 1..3600");
			o.lease_seconds = (unsigned)v;
			break;
		}
		case OPT_RENEW_FRACTION:
			o.renew_fraction = strtod(optarg, &end);
			if (*end || !(o.renew_fraction > 0 && o.renew_fraction < 1))
				return bad("--cert-renew-fraction", optarg, "expected a number in (0, 1)");
			break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &level) < 0)
				return bad("--log-level", optarg, "expected debug, info, warn or error");
			break;
		case OPT_LOG_FORMAT:
			if (log_format_parse(optarg, &format) < 0)
				return bad("--log-format", optarg, "expected text or json");
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "nave-klusterlet: try `nave-klusterlet --help`\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "nave-klusterlet: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	o.labels = labels;
	o.one_shot_join = is_join;
	if (is_join) {
		if (!o.hub_url || !o.token || !o.cluster_name) {
			fprintf(stderr, "nave-klusterlet join: --hub, --token and --cluster-name are "
				"required (and --ca-hash: the pin `navectl token create` prints)\n");
			json_decref(labels);
			return 2;
		}
		if (!o.ca_hash && !o.insecure_skip_ca) {
			fprintf(stderr, "nave-klusterlet join: refusing to join without --ca-hash: "
				"without the pin of the hub's CA anyone between here and the hub could "
				"pose as it (--insecure-skip-ca-verification joins anyway)\n");
			json_decref(labels);
			return 2;
		}
	}
	if (o.ca_hash && join_pin_check_syntax(o.ca_hash, &err) < 0) {
		fprintf(stderr, "nave-klusterlet: %s\n", err.msg);
		json_decref(labels);
		return 2;
	}
	if (o.ca_hash && o.insecure_skip_ca) {
		fprintf(stderr, "nave-klusterlet: --ca-hash and --insecure-skip-ca-verification "
			"contradict each other\n");
		json_decref(labels);
		return 2;
	}
	log_setup(level, format);
	code = agent_main(&o);
	json_decref(labels);
	return code;
}
