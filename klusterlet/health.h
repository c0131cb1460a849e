/* health.h - the klusterlet's health endpoint (--health-listen ADDR:PORT).
 *
 * Plain HTTP through common/httpd.h on the agent's loop. Both paths answer
 * the same JSON document
 *   {"leader": bool, "connected": bool, "applying": bool,
 *    "lastHeartbeat": "<RFC 3339>" | null, "identity": "...", "cluster": "...",
 *    "pendingStatus": N}
 * (lastHeartbeat: the last event of any kind received from the hub):
 *  - GET /healthz (liveness): 200 while the loop runs;
 *  - GET /readyz (readiness): 200 when this replica is standing by (not the
 *    leader) or is the leader and its engine is applying; 503 while the
 *    leader is still starting (credential, join, engine load) or stopping.
 * The hub being away does not make the agent unready: it keeps applying.
 * Other paths: 404; other methods: 405.
 */
#ifndef NAVE_KLUSTERLET_HEALTH_H
#define NAVE_KLUSTERLET_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "errbuf.h"

struct agent_health_state {
	bool leader;
	bool connected;
	bool applying;
	bool ready;
	int64_t last_heartbeat_us;   /* 0: never */
	const char *identity;        /* borrowed */
	const char *cluster;         /* borrowed, may be NULL */
	size_t pending_status;
};

/* Fill *ret_state (called for every request, on the loop). */
typedef void (*agent_health_fn)(void *userdata, struct agent_health_state *ret_state);

struct agent_health;

/* Listen on listen ("ADDR:PORT", ":PORT" or "PORT"; port 0 picks one).
 * Returns 0, or -EINVAL (bad address) / the server's error with err set.
 * Caller frees with agent_health_free. */
int agent_health_new(uv_loop_t *loop, const char *listen, agent_health_fn fn, void *userdata,
		     struct errbuf *err, struct agent_health **ret_h);
/* The bound port. */
int agent_health_port(const struct agent_health *h);
/* Stop listening. Accepts NULL; returns NULL. Run the loop afterwards. */
struct agent_health *agent_health_free(struct agent_health *h);

/* Parse "ADDR:PORT", ":PORT" or "PORT" (ADDR an IP; "[v6]:PORT" too) into
 * *ret_addr (caller frees; NULL for all interfaces) and *ret_port. Returns 0
 * or -EINVAL. */
int agent_listen_parse(const char *s, char **ret_addr, int *ret_port);

#endif
