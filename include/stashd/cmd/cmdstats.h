/*
 * cmdstats: Redis's per-command and per-error statistics (INFO
 * commandstats and errorstats), one set per worker. net/ creates one for
 * each worker, hands it to the worker's sessions (session.cmdstats) and
 * lists them all in cmd_env.cmdstats, which INFO sums. The worker is the
 * only writer of its set (plain relaxed stores, no read-modify-write
 * shared with anyone); readers sum all sets with relaxed loads.
 */
#pragma once

struct cmdstats;

/* 0 or -ENOMEM. */
int cmdstats_create(struct cmdstats **sp);
void cmdstats_destroy(struct cmdstats **sp);
