/*
 * resp_cmd: Redis commands (RESP2 and RESP3) executed against the store
 * (private to cmd/). session.c hands it the bytes of a connection whose
 * first byte was '*' (or every connection of the RESP-only port, with
 * inline_ok); replies are Redis 7.0's, byte for byte, checked against
 * Debian's redis-server 7.0.15.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "stashd/cmd/session.h"

/*
 * session_process for a RESP connection (same contract): serve the
 * complete requests at the front of data[0..len), stopping with
 * SESSION_YIELD after opts->reqs_per_event requests, SESSION_PAUSE while
 * the output is over SESSION_OUT_HIGH, and SESSION_CLOSE after a protocol
 * error's reply or QUIT. data is not const: an inline argument with
 * escapes is unescaped in place. inline_ok accepts inline commands
 * ("PING\r\n") as well as arrays of bulk strings.
 *
 * Per-connection state (protocol version, authentication, client name,
 * the argument array) lives in s->proto_state, allocated on the first
 * call and freed by resp_session_fini.
 */
enum session_rc resp_process(struct session *s, char *data, size_t len, size_t *consumed,
                             size_t *need, bool inline_ok);

/* Free what resp_process allocated for s (s->proto_state); idempotent. */
void resp_session_fini(struct session *s);

/*
 * The largest request resp_process may need buffered whole: several
 * arguments of up to the item size limit each (MSET), bounded. net/
 * closes a connection that sends a larger one, as Redis does past its
 * client-query-buffer-limit.
 */
size_t resp_max_request(const struct session *s);
