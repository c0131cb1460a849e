/* stream.h - the agent stream: nave-hub's side of docs/protocol.md.
 *
 * Agents connect to wss://HUB/agent/v1/stream (PROTO_WS_PATH, subprotocol
 * cloudevents.json) on the hub's HTTPS port with their cluster client
 * certificate. The stream authenticates them by that certificate alone,
 * exchanges hellos, resyncs specs and statuses, pushes every ManifestWork
 * change of the cluster, persists status updates into the ManifestWork's
 * status and acknowledges them once committed, renews the cluster's lease and
 * certificate, and closes connections of denied or revoked clusters.
 *
 * Tuning (environment of `nave-hub serve`; each has a documented cap and a
 * bad value stops the hub with a message naming it):
 *   NAVE_HUB_STREAM_MAX_CONNECTIONS    open agent connections, 1..1000000
 *                                      (default: 10000, lowered to fit the
 *                                      process's file descriptor limit)
 *   NAVE_HUB_STREAM_QUEUE_BYTES        bytes queued per connection before
 *                                      pushes are held back, 1114112..1073741824
 *                                      (default 4 MiB)
 *   NAVE_HUB_STREAM_HEARTBEAT_SECONDS  heartbeatSeconds told to agents, 1..300
 *                                      (default 10)
 *
 * Life cycle, from serve.c: stream_prepare() before the HTTPS server exists
 * (raises the file descriptor limit that libwebsockets sizes its tables
 * from), stream_start() once it listens, stream_stop() after the last group
 * commit and before the server is freed. One stream per process.
 */
#ifndef NAVE_HUB_STREAM_H
#define NAVE_HUB_STREAM_H

#include "buf.h"
#include "errbuf.h"

struct hub;
struct httpd;

/* Read the tuning variables and raise RLIMIT_NOFILE's soft limit towards its
 * hard limit (at most STREAM_NOFILE_MAX). Returns 0 or -EINVAL naming the
 * variable. */
int stream_prepare(struct errbuf *err);
/* Serve the agent endpoint on httpd (owned by h): load the works, subscribe
 * to changes, start the timers. Returns 0 or a negative errno with err set. */
int stream_start(struct hub *h, struct httpd *httpd, struct errbuf *err);
/* Close every agent connection (1001, "hub shutting down"), drop the
 * subscription, release everything (handles close as the loop runs).
 * Accepts a hub without a stream; safe to call twice. */
void stream_stop(struct hub *h);
/* Append the stream's metrics (Prometheus text) to b; nothing when no
 * stream runs. */
void stream_metrics(struct buf *b);

#endif
