/* simproc.h - start and stop nave-kubesim for an integration test.
 *
 * One cluster on a free loopback port (probed, retried if taken between the
 * probe and the bind), a temporary --dir, stdout and stderr to files in it;
 * started means its "ready" line was printed (polled with a deadline).
 * The binary is $NAVE_KUBESIM (meson sets it).
 */
#ifndef NAVE_TESTS_SIMPROC_H
#define NAVE_TESTS_SIMPROC_H

#include <stdbool.h>
#include <sys/types.h>

struct simproc {
	pid_t pid;
	int port;
	char *tmp;            /* owned: the temporary directory */
	char *dir;            /* owned: --dir */
	char *kubeconfig;     /* owned: <dir>/cluster-1/kubeconfig */
	char *incluster_dir;  /* owned: --in-cluster-dir, or NULL */
	char *log;            /* owned: stderr file */
};

/* Start one cluster. extra is a NULL-terminated list of more arguments (may
 * be NULL). Returns 0, -ENOENT when $NAVE_KUBESIM is not set or missing
 * (tests skip), or -EIO when it did not become ready (its log is printed). */
int simproc_start(struct simproc *s, bool in_cluster, const char *const *extra);
/* SIGTERM and wait (SIGKILL after 10 s); removes the directory unless
 * $KEEP_KUBESIM_TMP is set. Returns the exit status (0 on a clean exit). */
int simproc_stop(struct simproc *s);
/* Print the last lines of its log to stderr (on failures). */
void simproc_dump_log(const struct simproc *s);
/* A free TCP port on 127.0.0.1 right now (0 on failure). */
int simproc_free_port(void);

#endif
