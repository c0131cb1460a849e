/* timefmt.h - RFC 3339 times as Kubernetes writes them.
 *
 * Time: "2026-11-27T05:11:35Z" (seconds, UTC). MicroTime: exactly six
 * fractional digits, "2026-11-27T05:11:35.000000Z". Parsing accepts any
 * fraction length and numeric offsets ("+00:00", "-07:00"), as Python clients
 * send them.
 */
#ifndef NAVE_TIMEFMT_H
#define NAVE_TIMEFMT_H

#include <stdint.h>
#include <time.h>

#define TIMEFMT_MAX 40 /* buffer size that holds any formatted time */

/* Microseconds since the epoch, from the wall clock. */
int64_t time_now_us(void);
/* Microseconds from a monotonic clock (for timeouts and durations). */
int64_t time_mono_us(void);
/* Format as RFC 3339 seconds, UTC, into out[TIMEFMT_MAX]. Returns out. */
char *time_format_rfc3339(int64_t us, char *out);
/* Format as MicroTime (six fractional digits), UTC. Returns out. */
char *time_format_micro(int64_t us, char *out);
/* Parse RFC 3339 (with or without fraction, Z or offset). Returns 0 or -EINVAL. */
int time_parse_rfc3339(const char *s, int64_t *ret_us);

#endif
