/* tcpproxy.h - a loopback TCP proxy on the test's libuv loop, to break the
 * network between a client and nave-kubesim on purpose.
 *
 *   down:   every connection is closed and new ones are closed on accept
 *           (a server restart, a cut cable);
 *   frozen: bytes stop flowing both ways but connections stay open (a
 *           partition: requests hang until their timeouts).
 * TLS passes through untouched (the client still verifies the server).
 */
#ifndef NAVE_TESTS_TCPPROXY_H
#define NAVE_TESTS_TCPPROXY_H

#include <stdbool.h>

#include <uv.h>

struct tcpproxy;

/* Listen on a free 127.0.0.1 port forwarding to 127.0.0.1:target_port. */
struct tcpproxy *tcpproxy_new(uv_loop_t *loop, int target_port, int *ret_port);
void tcpproxy_set_down(struct tcpproxy *p, bool down);
void tcpproxy_set_frozen(struct tcpproxy *p, bool frozen);
/* Connections accepted so far. */
unsigned tcpproxy_accepted(const struct tcpproxy *p);
/* Close everything; run the loop afterwards. */
void tcpproxy_free(struct tcpproxy *p);

#endif
