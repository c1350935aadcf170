/*
 * mc_settings: memcached's `stats settings` group, rendered from the
 * option table (util/optdesc.h): every row with a stats name, in table
 * order, in memcached's value formats. Private to cmd/ (mc_stats.c).
 */
#pragma once

struct options;

/* One pair; both strings are valid only during the call. */
typedef void (*mc_settings_emit_fn)(void *ctx, const char *name, const char *value);

void mc_settings_render(const struct options *o, mc_settings_emit_fn emit, void *ctx);
