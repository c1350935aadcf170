/*
 * mc_stats: memcached's `stats` groups (general, settings, items, slabs,
 * sizes, conns) as name/value pairs, in memcached's names and order where
 * stashd has the figure, stashd's own figures after them. Private to cmd/;
 * the text protocol prints the pairs as "STAT name value\r\n", a binary
 * protocol can send them as stat packets.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "stashd/util/bstr.h"

struct session;

/*
 * The version stashd reports (`version`, `stats` "version"): memcached's
 * protocol level first, because clients gate behaviour on it (memccapable
 * expects pre-1.6 errors from an older-looking server; libmemcached reads
 * major.minor.micro with strtol, so the suffix is ignored), then stashd's.
 */
#define MC_STATS_VERSION "1.6.18-stashd-" STASHD_VERSION

/* One pair; both views are valid only during the call. */
typedef void (*mc_stats_emit_fn)(void *ctx, struct bstr name, struct bstr value);

/*
 * Emit the pairs of a group ("" = general) for a request from session s.
 * Returns false, emitting nothing, when the group is unknown.
 */
bool mc_stats_render(const struct session *s, struct bstr group, mc_stats_emit_fn emit, void *ctx);
