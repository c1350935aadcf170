/*
 * resp_cmd: Redis commands (RESP2 and RESP3) executed against the store
 * (private to cmd/). session.c picks it for a connection whose first byte
 * was '*' (and for every connection of the RESP-only port); replies are Redis 7.0's, byte for byte,
 * checked against Debian's redis-server 7.0.15.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "stashd/cmd/session.h"

/*
 * session_process for a RESP connection (same contract): runs session_run
 * with the RESP step. Requests are arrays of bulk strings, or inline
 * commands ("PING\r\n"), whose escaped arguments are unescaped in place
 * (net/'s buffer is writable). A protocol error is answered, then the
 * connection closes, as after QUIT.
 *
 * Per-connection state (protocol version, client name, the argument
 * array) lives in s->proto_state, allocated on the first call and freed
 * by resp_session_fini.
 */
enum session_rc resp_cmd_process(struct session *s, const char *data, size_t len, size_t *consumed,
                                 size_t *need);

/* Free what resp_cmd_process allocated for s (s->proto_state); idempotent. */
void resp_session_fini(struct session *s);

/*
 * The largest request resp_cmd_process may need buffered whole: several
 * arguments of up to the item size limit each (MSET), bounded. net/
 * closes a connection that sends a larger one, as Redis does past its
 * client-query-buffer-limit.
 */
size_t resp_max_request(const struct session *s);
/* Bytes the connection's MULTI queue and watched keys hold:
 * session_held_bytes. */
size_t resp_session_held(const struct session *s);

struct resp_conn;
/* s's RESP state when s speaks RESP and has served a request, else NULL
 * (session.c knows the protocol). Read it only on s's worker. */
const struct resp_conn *resp_session_state(const struct session *s);
