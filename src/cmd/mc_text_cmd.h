/*
 * mc_text_cmd: memcached text commands executed against the store (private
 * to cmd/). session.c picks this protocol for a connection and hands it the
 * connection's bytes; replies are memcached 1.6.18's, byte for byte.
 */
#pragma once

#include <stddef.h>

#include "stashd/cmd/session.h"

/* session_process for a text connection (same contract). */
enum session_rc mc_text_cmd_process(struct session *s, const char *data, size_t len,
                                    size_t *consumed, size_t *need);
