/*
 * stats_detail: memcached's `stats detail`, per-key-prefix counts (private
 * to cmd/). A key's prefix is what comes before its first ':' (memcached's
 * default -D delimiter); keys without one are not counted, as memcached
 * does. Counting runs only while `stats detail on` (STATS_WANT_DETAIL), so
 * the request path pays one relaxed load otherwise; while on, each
 * recorded operation takes this module's lock, as memcached's does.
 *
 * Bounded: at most STATS_DETAIL_MAX prefixes are kept (memcached keeps
 * every prefix it ever saw, so a client choosing keys could grow it
 * without end); operations on further prefixes are not counted.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct stats_detail;

#define STATS_DETAIL_MAX 4096

enum stats_detail_op { STATS_DETAIL_GET, STATS_DETAIL_SET, STATS_DETAIL_DEL };

int stats_detail_create(struct stats_detail **dp); /* 0 or -ENOMEM */
void stats_detail_destroy(struct stats_detail **dp);

/* Count one operation on key (a get, with whether it hit). Any thread. */
void stats_detail_record(struct stats_detail *d, const char *key, size_t nkey,
                         enum stats_detail_op op, bool hit);

/* Append "PREFIX <p> get <n> hit <n> set <n> del <n>\r\n" per prefix
 * (not the END); 0 or -ENOMEM. Any thread. */
int stats_detail_dump(struct stats_detail *d, struct buf *out);

/* Forget every prefix (`stats reset` does, as memcached's). */
void stats_detail_clear(struct stats_detail *d);
