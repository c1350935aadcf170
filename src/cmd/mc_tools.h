/*
 * mc_tools: the commands memcached's tooling uses beyond get and set
 * (private to cmd/; the text protocol dispatches to them):
 *
 *   lru_crawler metadump all|hash|<classes>   every item's metadata, one line each
 *   lru_crawler crawl|tocrawl|sleep|enable|disable
 *   stats cachedump <class> <limit>           keys of one class
 *   stats sizes, sizes_enable, sizes_disable  item size histogram
 *   stats detail on|off|dump                  per-prefix counts
 *   watch [fetchers|mutations|evictions|connevents|...]
 *
 * Dumps stream: a dump walks the store a slice at a time (store_scan, so
 * no shard lock is held for more than a bounded batch), appends what it
 * found, and gives the connection back (MC_TOOL_YIELD) or waits for its
 * replies to drain (MC_TOOL_PAUSE), with its place kept in s->dump; the
 * request stays at the front of the input until the dump ends. So a dump
 * of any size holds at most about SESSION_OUT_HIGH of replies, and other
 * connections of the worker are served between its slices.
 */
#pragma once

#include <stdbool.h>

#include "cmd/mc_stats.h"

struct buf;
struct mc_text_req;
struct session;
struct text_exec;

enum mc_tool_rc {
    MC_TOOL_DONE,  /* answered: consume the request */
    MC_TOOL_PAUSE, /* a dump paused on its replies: keep the request, call again */
    MC_TOOL_YIELD, /* a dump let others run: keep the request, call again */
};

/* Replies go to s->out; a failed append is recorded in *err. */
enum mc_tool_rc mc_tools_lru_crawler(struct session *s, const struct mc_text_req *r, int *err);

/* `stats <group> ...` for cachedump, sizes, sizes_enable, sizes_disable
 * and detail; false (nothing done) for any other group. */
bool mc_tools_stats(struct session *s, const struct mc_text_req *r, enum mc_tool_rc *rc, int *err);

/* `stats detail on|off` (on: true), for protocols that name it their
 * own way (binary); and the dump's lines, without END, appended to out
 * (0 or -ENOMEM). */
void mc_tools_detail_set(struct session *s, bool on);
int mc_tools_detail_dump(struct session *s, struct buf *out);

/* `stats sizes` in one go, as pairs (binary; the text protocol streams
 * it): "sizes_status disabled", or the histogram. */
void mc_tools_sizes_now(struct session *s, mc_stats_emit_fn emit, void *ctx);

/* `watch ...`: on success the session streams the log from now on. */
void mc_tools_watch(struct session *s, const struct mc_text_req *r, int *err);

/* The connection closes in the middle of a dump: forget it. */
void mc_tools_dump_end(struct session *s);
