/* The transport a query arrived over and its answer leaves by: what sets
 * the size limits (answer.c, relay.c) and the counters. A leaf header:
 * plain values, no state, includes nothing. */
#ifndef NANODNS_TRANSPORT_H
#define NANODNS_TRANSPORT_H

/* Named for the answer (answer_query takes it first), and kept so: the
 * answer and relay tests spell it this way. */
enum answer_transport { ANSWER_UDP, ANSWER_TCP };

#endif
