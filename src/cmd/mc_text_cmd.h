/*
 * mc_text_cmd: memcached text and meta commands executed against the
 * store (private to cmd/). session.c picks this protocol for a connection;
 * session_run's loop (step.h) calls its step for each request. Replies
 * are memcached 1.6.18's, byte for byte.
 */
#pragma once

#include <stddef.h>

#include "stashd/cmd/session.h"

/* session_process for a text connection (same contract): runs session_run
 * with the text step. */
enum session_rc mc_text_cmd_process(struct session *s, const char *data, size_t len,
                                    size_t *consumed, size_t *need);
