/*
 * mc_bin_cmd: memcached's binary protocol executed against the store
 * (private to cmd/). session.c picks it for a connection whose first byte
 * is 0x80 (or for every connection under -B binary); replies are memcached
 * 1.6.18's, byte for byte.
 */
#pragma once

#include <stddef.h>

#include "stashd/cmd/session.h"

/* session_process for a binary connection (same contract): runs
 * session_run with the binary step. */
enum session_rc mc_bin_cmd_process(struct session *s, const char *data, size_t len,
                                   size_t *consumed, size_t *need);

/* Frees the connection's binary state (s->proto_state). */
void mc_bin_cmd_fini(struct session *s);
