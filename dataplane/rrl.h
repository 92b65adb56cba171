/* Response rate limiting (issue 12, finding 12), as NSD's rrl-ratelimit and
 * Knot's mod-rrl: UDP answers to one address prefix (IPv4 /24, IPv6 /56)
 * for one kind of answer are limited to a rate per second; past it every
 * slip-th answer goes out truncated (TC=1, so a real client retries over
 * TCP) and the others are dropped. The table is allocated once
 * (rrl_new); a check allocates nothing and makes no system call. Loop
 * thread only. */
#ifndef NANODNS_RRL_H
#define NANODNS_RRL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Buckets in the table: flows beyond this share buckets (a collision
 * restarts the bucket, as in NSD). */
#define RRL_BUCKETS 65536

enum rrl_verdict {
    RRL_PASS, /* send the answer */
    RRL_SLIP, /* send it truncated: TC=1, no records */
    RRL_DROP, /* send nothing */
};

struct rrl;

/* A table whose hashes are keyed by salt (random, so that nobody can aim
 * at one bucket). NULL when out of memory. */
struct rrl *rrl_new(uint32_t salt);
void rrl_free(struct rrl *rrl);

/* One answer about to go to client: rcode (extended) and, for a positive
 * answer, its question (lowercase qname and qtype); errors, REFUSED and
 * NXDOMAIN are counted per prefix and rcode alone, as NSD counts them per
 * zone, so random names do not spread a flood over buckets. rate answers a
 * second pass; slip 0 drops all the rest, 1 truncates all, N truncates
 * every Nth. now_ms is a monotonic clock. */
enum rrl_verdict rrl_check(struct rrl *rrl, const struct sockaddr *client, const uint8_t *qname,
                           size_t qname_len, uint16_t qtype, uint16_t rcode, uint32_t rate,
                           uint32_t slip, uint64_t now_ms);

#endif
