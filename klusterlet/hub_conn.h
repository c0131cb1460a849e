/* hub_conn.h - the klusterlet's websocket to the hub (docs/protocol.md,
 * "Transport and connection"), kept up forever.
 *
 * What it does:
 *  - wss://HUB/agent/v1/stream (PROTO_WS_PATH) with subprotocol
 *    cloudevents.json, ALPN http/1.1, mutual TLS with the client
 *    certificate; only the hub CA of the credential is trusted (the OS
 *    store is not loaded) and the hub's name is checked;
 *  - sends hello first and nothing else until the hub's hello (10 s at
 *    most), negotiates the version (a major mismatch closes with 1002);
 *  - heartbeats every heartbeatSeconds (from the hub's hello) and closes
 *    with 1001 when no event at all came for 3 x heartbeatSeconds;
 *  - one event per text message, messages reassembled up to max_event_bytes
 *    (more: discarded, answered with TooLarge); binary messages close 1003;
 *    undecodable events are answered with an error event (a fatal one
 *    closes 1002), events from the wrong direction with Forbidden;
 *  - a bounded outgoing queue (bytes and events); when it overflows the
 *    connection is closed with 1013 (the resync of the next connection
 *    makes up for what was dropped);
 *  - reconnects forever: exponential backoff from 1 s doubling to 60 s
 *    with full jitter (a uniform draw below the envelope), 5 minutes as the
 *    cap after a close with 1008 or an upgrade refused with HTTP 401/403
 *    (denied, revoked or unknown certificate; counted in stats.refusals),
 *    reset by a completed hello. It never retries on a flat interval and
 *    never gives up.
 * Everything else of the protocol (resync, status, acks, lease, renewal) is
 * the caller's (agent.c), through the callbacks.
 *
 * One lws context per connection attempt, on the caller's libuv loop, so
 * new credentials (a renewed certificate) are simply used by the next
 * attempt; a finished context is destroyed in two stages from a uv timer
 * (lws on a foreign loop closes its handles asynchronously; see
 * common/httpd.c).
 */
#ifndef NAVE_KLUSTERLET_HUB_CONN_H
#define NAVE_KLUSTERLET_HUB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "errbuf.h"
#include "proto.h"

#define HUB_CONN_BACKOFF_BASE_MS 1000
#define HUB_CONN_BACKOFF_MAX_MS 60000
#define HUB_CONN_BACKOFF_DENIED_MS 300000
#define HUB_CONN_HELLO_TIMEOUT_MS 10000
#define HUB_CONN_MAX_QUEUE_BYTES (32u << 20)
#define HUB_CONN_MAX_QUEUE_EVENTS 50000
#define HUB_CONN_CLOSE_NORMAL 1000
#define HUB_CONN_CLOSE_GOING_AWAY 1001
#define HUB_CONN_CLOSE_PROTOCOL 1002
#define HUB_CONN_CLOSE_UNSUPPORTED 1003
#define HUB_CONN_CLOSE_POLICY 1008
#define HUB_CONN_CLOSE_TOO_BIG 1009
#define HUB_CONN_CLOSE_TRY_AGAIN 1013

struct hub_conn;

struct hub_conn_config {
	const char *url;             /* required: https://HOST[:PORT] (wss is implied) */
	const char *cluster_name;    /* required: our clustername and source suffix */
	const char *ca_pem;          /* required: the hub CA */
	const char *cert_pem;        /* required: our client certificate */
	const char *key_pem;         /* required: its key */
	uint64_t backoff_base_ms;    /* 0: HUB_CONN_BACKOFF_BASE_MS */
	uint64_t backoff_max_ms;     /* 0: HUB_CONN_BACKOFF_MAX_MS */
	uint64_t backoff_denied_ms;  /* 0: HUB_CONN_BACKOFF_DENIED_MS */
	uint64_t hello_timeout_ms;   /* 0: HUB_CONN_HELLO_TIMEOUT_MS */
	size_t max_queue_bytes;      /* 0: HUB_CONN_MAX_QUEUE_BYTES */
	size_t max_queue_events;     /* 0: HUB_CONN_MAX_QUEUE_EVENTS */
	const struct proto_limits *limits; /* NULL: proto_limits_default (copied) */
	const char *software;        /* for the hello; NULL: "nave-klusterlet <version>" */
};

struct hub_conn_callbacks {
	/* The hellos are exchanged: the connection is usable. heartbeat_s is the
	 * interval the hub chose, minor the negotiated protocol minor. */
	void (*up)(void *userdata, unsigned heartbeat_s, unsigned minor);
	/* One event from the hub, decoded and checked (not hello, not heartbeat).
	 * ev is borrowed for the call. */
	void (*event)(void *userdata, const struct proto_event *ev);
	/* The connection is gone (only after up). code is the close code (ours
	 * or the hub's; 1006 when none), why a short text. A reconnect follows
	 * unless hub_conn_stop was called. */
	void (*down)(void *userdata, int code, const char *why);
};

/* Make a connection manager on loop (borrowed). cfg and cb are copied. Does
 * not connect yet. Returns 0 or -EINVAL with err naming the bad field.
 * Caller frees *ret_hc with hub_conn_free. */
int hub_conn_new(uv_loop_t *loop, const struct hub_conn_config *cfg,
		 const struct hub_conn_callbacks *cb, void *userdata, struct errbuf *err,
		 struct hub_conn **ret_hc);

/* Connect now and keep connected until hub_conn_stop. */
void hub_conn_start(struct hub_conn *hc);

/* Close with code (1000 normally) and stay down. down is not called for a
 * stop. hub_conn_start may be called again. */
void hub_conn_stop(struct hub_conn *hc, int code);

/* Close the current connection with code and connect again at once
 * (backoff reset), e.g. after a certificate renewal. */
void hub_conn_reconnect(struct hub_conn *hc, int code);

/* New TLS material (copied) for the next connection attempts. Returns 0 or
 * -EINVAL (a NULL field). */
int hub_conn_set_credentials(struct hub_conn *hc, const char *ca_pem, const char *cert_pem,
			     const char *key_pem);

/* Encode ev (proto_event_encode) and queue it. Returns 0, -ENOTCONN (not up:
 * nothing queued), -ENOBUFS (the queue overflowed: the connection is being
 * closed with 1013), or encode's code (-EINVAL, -E2BIG, -EMSGSIZE) with err
 * set. */
int hub_conn_send(struct hub_conn *hc, const struct proto_event *ev, struct errbuf *err);

/* Queue an already encoded event (copied). Same returns as hub_conn_send. */
int hub_conn_send_text(struct hub_conn *hc, const char *json, size_t len);

/* Whether the hellos are exchanged on an open connection. */
bool hub_conn_is_up(const struct hub_conn *hc);

/* Our event source: "nave-klusterlet/<cluster>" (borrowed). */
const char *hub_conn_source(const struct hub_conn *hc);

struct hub_conn_stats {
	uint64_t attempts;         /* connection attempts */
	uint64_t ups;              /* hellos completed */
	uint64_t events_in;        /* events received (all kinds) */
	uint64_t events_out;       /* events written */
	uint64_t heartbeats_in;
	uint64_t heartbeats_out;
	uint64_t dead_peer_closes; /* closes for silence */
	uint64_t errors_sent;      /* error events we answered with */
	size_t queued_bytes;       /* now */
	size_t queued_events;
	int64_t last_rx_us;        /* wall clock of the last event received; 0: none */
	uint64_t next_retry_ms;    /* the last backoff delay chosen */
	int last_close_code;
	unsigned refusals;         /* attempts in a row that ended with 1008 or an HTTP 401/403
				      (denied, revoked, unknown certificate); 0 after a hello */
};
void hub_conn_get_stats(const struct hub_conn *hc, struct hub_conn_stats *ret_stats);

/* Free. Closes the connection without callbacks. Run the loop afterwards
 * until it has no more handles of ours (lws closes asynchronously). Accepts
 * NULL; returns NULL. Not from inside a hub_conn callback. */
struct hub_conn *hub_conn_free(struct hub_conn *hc);

#endif
