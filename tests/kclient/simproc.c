/* simproc.c - nave-kubesim as a child process; see simproc.h. */
#include "simproc.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "timefmt.h"

#define SIM_READY_TIMEOUT_US (30 * INT64_C(1000000))

int simproc_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port = 0;

	if (fd < 0)
		return 0;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static bool file_has_ready(const char *path)
{
	char line[1024];
	bool ready = false;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "ready", 5) == 0)
			ready = true;
	fclose(f);
	return ready;
}

void simproc_dump_log(const struct simproc *s)
{
	char *cmd;

	if (!s->log)
		return;
	cmd = xasprintf("tail -n 30 '%s' >&2", s->log);
	if (system(cmd) != 0)
		fprintf(stderr, "(no log)\n");
	free(cmd);
}

static int try_start(struct simproc *s, bool in_cluster, const char *const *extra, const char *bin)
{
	char *out = xasprintf("%s/stdout", s->tmp);
	char port[16];
	const char *argv[64];
	int n = 0, status;
	int64_t deadline;

	s->port = simproc_free_port();
	snprintf(port, sizeof(port), "%d", s->port);
	argv[n++] = bin;
	argv[n++] = "--clusters";
	argv[n++] = "1";
	argv[n++] = "--base-port";
	argv[n++] = port;
	argv[n++] = "--dir";
	argv[n++] = s->dir;
	if (in_cluster) {
		argv[n++] = "--in-cluster-dir";
		argv[n++] = s->incluster_dir;
	}
	for (int i = 0; extra && extra[i] && n < 62; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;

	unlink(out);
	s->pid = fork();
	if (s->pid < 0) {
		free(out);
		return -errno;
	}
	if (s->pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int nul = open("/dev/null", O_RDONLY);

		dup2(nul, 0);
		dup2(o, 1);
		dup2(e, 2);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	deadline = time_mono_us() + SIM_READY_TIMEOUT_US;
	while (time_mono_us() < deadline) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		if (file_has_ready(out)) {
			free(out);
			return 0;
		}
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			break;
		}
		nanosleep(&ts, NULL); /* polling a file written by another process */
	}
	free(out);
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, &status, 0);
		s->pid = 0;
	}
	return -EIO;
}

int simproc_start(struct simproc *s, bool in_cluster, const char *const *extra)
{
	const char *bin = getenv("NAVE_KUBESIM");
	char tmpl[] = "/tmp/kclient-sim-XXXXXX";
	int r = -EIO;

	memset(s, 0, sizeof(*s));
	if (!bin || access(bin, X_OK) != 0)
		return -ENOENT;
	if (!mkdtemp(tmpl))
		return -errno;
	s->tmp = xstrdup(tmpl);
	s->dir = xasprintf("%s/clusters", s->tmp);
	s->log = xasprintf("%s/kubesim.log", s->tmp);
	s->kubeconfig = xasprintf("%s/cluster-1/kubeconfig", s->dir);
	if (in_cluster)
		s->incluster_dir = xasprintf("%s/incluster", s->tmp);
	for (int attempt = 0; attempt < 3 && r < 0; attempt++)
		r = try_start(s, in_cluster, extra, bin);
	if (r < 0) {
		fprintf(stderr, "nave-kubesim did not become ready:\n");
		simproc_dump_log(s);
	}
	return r;
}

int simproc_stop(struct simproc *s)
{
	int status = 0, rc = 0;

	if (s->pid > 0) {
		int64_t deadline = time_mono_us() + 10 * INT64_C(1000000);

		kill(s->pid, SIGTERM);
		for (;;) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			pid_t p = waitpid(s->pid, &status, WNOHANG);

			if (p == s->pid) {
				rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
				break;
			}
			if (time_mono_us() > deadline) {
				kill(s->pid, SIGKILL);
				waitpid(s->pid, &status, 0);
				rc = -1;
				break;
			}
			nanosleep(&ts, NULL);
		}
		s->pid = 0;
	}
	if (s->tmp && !getenv("KEEP_KUBESIM_TMP")) {
		char *cmd = xasprintf("rm -rf '%s'", s->tmp);

		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", s->tmp);
		free(cmd);
	}
	free(s->tmp);
	free(s->dir);
	free(s->kubeconfig);
	free(s->incluster_dir);
	free(s->log);
	memset(s, 0, sizeof(*s));
	return rc;
}
