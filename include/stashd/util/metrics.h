/*
 * metrics: every figure stashd reports, declared once in STASHD_STATS
 * below, and the per-worker counters the table generates.
 *
 * One row per figure gives its source, its kind, the names it goes by in
 * memcached's `stats`, in Redis's INFO (with the section) and on the
 * Prometheus /metrics page, and one help text. cmd/ generates all three
 * outputs from the table (cmd/stats_render.c), so a figure cannot be
 * shown under one name and forgotten under another; util only generates
 * struct metrics from the W rows and names the rest as tokens (it includes
 * no upper layer: a store or cmd token means nothing here).
 *
 * X(src, id, kind, when, mc, sec, info, prom, labels, help)
 *
 * src     where the value comes from:
 *         W  a per-worker counter: id is a struct metrics field, declared
 *            by this row (one W row per field)
 *         V  the same per-worker field again, under other names (a figure
 *            that one output shows twice)
 *         S  id is a field of the store's struct store_stats
 *         F  a figure cmd/stats_render.c computes (id names it)
 *         K  a constant: id is its text
 * kind    COUNTER  only goes up; `stats reset` and CONFIG RESETSTAT rebase
 *                  it (see cmd/stats.h), /metrics never does
 *         GAUGE    a state or a setting: never rebased
 *         CLOCK    time that passes (uptime, CPU): only goes up, never
 *                  rebased (memcached's reset leaves it too)
 * when    ALWAYS; IDLE (only while idle_timeout is set, as memcached
 *         prints idle_kicks); TLS (only while TLS is served, as memcached
 *         -Z prints its ssl_* rows); TLS_CACHE (TLS with ssl_session_cache)
 * mc      memcached's `stats` name, or NULL. The rows with one come
 *         first, in memcached 1.6.18's order: the table's order IS the
 *         `stats` order (stashd's own figures follow memcached's).
 * sec     the INFO section (NONE, SERVER, CLIENTS, MEMORY, PERSISTENCE,
 *         STATS, REPLICATION, CPU, CLUSTER, KEYSPACE) and info the field
 *         name (NULL: not in INFO). INFO's rows are a block of their own at
 *         the end, in Redis 7's order; a figure `stats` also shows appears
 *         there again (V, S or F with the same id), so that neither
 *         output's order bends to the other's.
 * prom    the Prometheus series name, or NULL; labels its label pairs
 *         ("" for none). Rows may share a name (a family, written under
 *         one HELP/TYPE, whose help is STASHD_STATS_FAMILIES'); a text
 *         value (the version) is written as the label labels names, with
 *         the sample 1. Every name is on one row only.
 * help    what the figure means; for memcached's figures that stashd has
 *         no counterpart for (K "0" rows) it also says why it is 0.
 *
 * Per worker: each worker owns one struct metrics and is its only writer,
 * so increments are plain (relaxed atomic stores, no read-modify-write,
 * no lock); readers sum all workers with relaxed loads.
 */
#pragma once

#include <stdint.h>

// clang-format off
#define STASHD_STATS(X)                                                                            \
    /* memcached 1.6.18's `stats`, in its order */                                                 \
    X(F, pid, GAUGE, ALWAYS, "pid", NONE, NULL, NULL, "", "process id")                            \
    X(F, uptime, CLOCK, ALWAYS, "uptime", NONE, NULL, "memcached_uptime_seconds", "",              \
      "seconds since the server started")                                                          \
    X(F, time, GAUGE, ALWAYS, "time", NONE, NULL, "memcached_time_seconds", "",                    \
      "the server's Unix time")                                                                    \
    X(F, version, GAUGE, ALWAYS, "version", NONE, NULL, "memcached_version", "version",            \
      "memcached protocol level, then stashd's version")                                           \
    X(F, libevent, GAUGE, ALWAYS, "libevent", NONE, NULL, NULL, "",                                \
      "the event library: libuv and its version (memcached's is libevent)")                        \
    X(F, pointer_bits, GAUGE, ALWAYS, "pointer_size", NONE, NULL, NULL, "", "bits of a pointer")   \
    X(F, rusage_user, CLOCK, ALWAYS, "rusage_user", NONE, NULL,                                    \
      "memcached_process_user_cpu_seconds_total", "", "user CPU seconds used")                     \
    X(F, rusage_system, CLOCK, ALWAYS, "rusage_system", NONE, NULL,                                \
      "memcached_process_system_cpu_seconds_total", "", "system CPU seconds used")                 \
    X(F, max_connections, GAUGE, ALWAYS, "max_connections", NONE, NULL,                            \
      "memcached_max_connections", "", "connection limit (-c)")                                    \
    X(W, curr_connections, GAUGE, ALWAYS, "curr_connections", NONE, NULL,                          \
      "memcached_current_connections", "", "open client connections")                              \
    X(W, total_connections, COUNTER, ALWAYS, "total_connections", NONE, NULL,                      \
      "memcached_connections_total", "", "connections accepted")                                   \
    X(W, rejected_connections, COUNTER, ALWAYS, "rejected_connections", NONE, NULL,                \
      "memcached_connections_rejected_total", "", "connections refused over the connection limit") \
    X(F, connection_structures, GAUGE, ALWAYS, "connection_structures", NONE, NULL, NULL, "",      \
      "connection structures allocated: one per open connection (no idle spares)")                 \
    X(K, "0", COUNTER, ALWAYS, "response_obj_oom", NONE, NULL, NULL, "",                           \
      "memcached's response objects it could not allocate; stashd has none: 0")                    \
    X(K, "0", GAUGE, ALWAYS, "response_obj_count", NONE, NULL, NULL, "",                           \
      "memcached's response objects in use; stashd writes replies into buffers: 0")                \
    X(K, "0", GAUGE, ALWAYS, "response_obj_bytes", NONE, NULL, NULL, "",                           \
      "memcached's response object memory; stashd's reply buffers are in conn_buffer_bytes: 0")    \
    X(K, "0", GAUGE, ALWAYS, "read_buf_count", NONE, NULL, NULL, "",                               \
      "memcached's read buffers; stashd's are in conn_buffer_bytes, not counted: 0")               \
    X(K, "0", GAUGE, ALWAYS, "read_buf_bytes", NONE, NULL, NULL, "",                               \
      "memcached's read buffer memory; stashd's is in conn_buffer_bytes: 0")                       \
    X(K, "0", GAUGE, ALWAYS, "read_buf_bytes_free", NONE, NULL, NULL, "",                          \
      "memcached's idle read buffer memory; stashd's is in conn_buffer_bytes: 0")                  \
    X(K, "0", COUNTER, ALWAYS, "read_buf_oom", NONE, NULL, NULL, "",                               \
      "read buffers memcached could not allocate; stashd closes such a connection: 0")             \
    X(K, "0", GAUGE, ALWAYS, "reserved_fds", NONE, NULL, NULL, "",                                 \
      "descriptors memcached keeps in reserve; stashd keeps none: 0")                              \
    X(W, cmd_get, COUNTER, ALWAYS, "cmd_get", NONE, NULL, NULL, "",                                \
      "keys requested by retrieval commands")                                                      \
    X(W, cmd_set, COUNTER, ALWAYS, "cmd_set", NONE, NULL, "memcached_commands_total",              \
      "command=\"set\",status=\"hit\"", "storage commands")                                        \
    X(W, cmd_flush, COUNTER, ALWAYS, "cmd_flush", NONE, NULL, "memcached_commands_total",          \
      "command=\"flush\",status=\"hit\"", "flush_all commands")                                    \
    X(W, cmd_touch, COUNTER, ALWAYS, "cmd_touch", NONE, NULL, NULL, "", "touch and gat commands")  \
    X(W, cmd_meta, COUNTER, ALWAYS, "cmd_meta", NONE, NULL, NULL, "", "meta commands")             \
    X(W, get_hits, COUNTER, ALWAYS, "get_hits", NONE, NULL, "memcached_commands_total",            \
      "command=\"get\",status=\"hit\"", "keys found")                                              \
    X(W, get_misses, COUNTER, ALWAYS, "get_misses", NONE, NULL, "memcached_commands_total",        \
      "command=\"get\",status=\"miss\"", "keys not found")                                         \
    X(W, get_expired, COUNTER, ALWAYS, "get_expired", NONE, NULL, "memcached_commands_total",      \
      "command=\"get\",status=\"expired\"", "keys found expired")                                  \
    X(W, get_flushed, COUNTER, ALWAYS, "get_flushed", NONE, NULL, "memcached_commands_total",      \
      "command=\"get\",status=\"flushed\"", "keys found invalidated by flush_all")                 \
    X(W, delete_misses, COUNTER, ALWAYS, "delete_misses", NONE, NULL, "memcached_commands_total",  \
      "command=\"delete\",status=\"miss\"", "deletes of missing keys")                             \
    X(W, delete_hits, COUNTER, ALWAYS, "delete_hits", NONE, NULL, "memcached_commands_total",      \
      "command=\"delete\",status=\"hit\"", "deletes of present keys")                              \
    X(W, incr_misses, COUNTER, ALWAYS, "incr_misses", NONE, NULL, "memcached_commands_total",      \
      "command=\"incr\",status=\"miss\"", "incr of missing keys")                                  \
    X(W, incr_hits, COUNTER, ALWAYS, "incr_hits", NONE, NULL, "memcached_commands_total",          \
      "command=\"incr\",status=\"hit\"", "incr of present keys")                                   \
    X(W, decr_misses, COUNTER, ALWAYS, "decr_misses", NONE, NULL, "memcached_commands_total",      \
      "command=\"decr\",status=\"miss\"", "decr of missing keys")                                  \
    X(W, decr_hits, COUNTER, ALWAYS, "decr_hits", NONE, NULL, "memcached_commands_total",          \
      "command=\"decr\",status=\"hit\"", "decr of present keys")                                   \
    X(W, cas_misses, COUNTER, ALWAYS, "cas_misses", NONE, NULL, "memcached_commands_total",        \
      "command=\"cas\",status=\"miss\"", "cas of missing keys")                                    \
    X(W, cas_hits, COUNTER, ALWAYS, "cas_hits", NONE, NULL, "memcached_commands_total",            \
      "command=\"cas\",status=\"hit\"", "successful cas")                                          \
    X(W, cas_badval, COUNTER, ALWAYS, "cas_badval", NONE, NULL, "memcached_commands_total",        \
      "command=\"cas\",status=\"badval\"", "cas with a stale unique id")                           \
    X(W, touch_hits, COUNTER, ALWAYS, "touch_hits", NONE, NULL, "memcached_commands_total",        \
      "command=\"touch\",status=\"hit\"", "touches of present keys")                               \
    X(W, touch_misses, COUNTER, ALWAYS, "touch_misses", NONE, NULL, "memcached_commands_total",    \
      "command=\"touch\",status=\"miss\"", "touches of missing keys")                              \
    X(W, store_too_large, COUNTER, ALWAYS, "store_too_large", NONE, NULL,                          \
      "stashd_store_too_large_total", "", "stores refused: item too large")                        \
    X(W, store_no_memory, COUNTER, ALWAYS, "store_no_memory", NONE, NULL,                          \
      "stashd_store_no_memory_total", "", "stores refused: out of memory")                         \
    X(W, auth_cmds, COUNTER, ALWAYS, "auth_cmds", NONE, NULL, NULL, "", "authentication attempts") \
    X(W, auth_errors, COUNTER, ALWAYS, "auth_errors", NONE, NULL, NULL, "",                        \
      "failed authentications")                                                                    \
    X(V, conns_idle_closed, COUNTER, IDLE, "idle_kicks", NONE, NULL, NULL, "",                     \
      "connections closed by the idle timeout (memcached's name, shown while one is set)")         \
    X(W, bytes_read, COUNTER, ALWAYS, "bytes_read", NONE, NULL, "memcached_read_bytes_total", "",  \
      "bytes read from clients")                                                                   \
    X(W, bytes_written, COUNTER, ALWAYS, "bytes_written", NONE, NULL,                              \
      "memcached_written_bytes_total", "", "bytes written to clients")                             \
    X(S, limit_maxbytes, GAUGE, ALWAYS, "limit_maxbytes", NONE, NULL, "memcached_limit_bytes", "", \
      "item memory limit (-m, cache_memlimit, CONFIG SET maxmemory)")                              \
    X(F, accepting_conns, GAUGE, ALWAYS, "accepting_conns", NONE, NULL, NULL, "",                  \
      "1: stashd refuses connections over the limit but never stops accepting")                    \
    X(K, "0", COUNTER, ALWAYS, "listen_disabled_num", NONE, NULL, NULL, "",                        \
      "times memcached stopped listening at the limit; stashd never does: 0")                      \
    X(K, "0", COUNTER, ALWAYS, "time_in_listen_disabled_us", NONE, NULL, NULL, "",                 \
      "time memcached spent not listening; stashd never stops: 0")                                 \
    X(F, threads, GAUGE, ALWAYS, "threads", NONE, NULL, "stashd_threads", "", "worker threads")    \
    X(W, conn_yields, COUNTER, ALWAYS, "conn_yields", NONE, NULL, "stashd_conn_yields_total", "",  \
      "times a connection yielded to others (-R)")                                                 \
    X(F, hash_power_level, GAUGE, ALWAYS, "hash_power_level", NONE, NULL, NULL, "",                \
      "log2 of the hash buckets of all shards together")                                           \
    X(S, hash_bytes, GAUGE, ALWAYS, "hash_bytes", NONE, NULL, "stashd_hash_table_bytes", "",       \
      "hash table memory, outside the item limit")                                                 \
    X(S, hash_is_expanding, GAUGE, ALWAYS, "hash_is_expanding", NONE, NULL, NULL, "",              \
      "1 while some shard's hash table grows")                                                     \
    X(S, items_moved, COUNTER, ALWAYS, "slab_reassign_rescues", NONE, NULL,                        \
      "stashd_items_moved_total", "",                                                              \
      "live items compaction moved to keep them, as memcached's page mover rescues them")          \
    X(K, "0", COUNTER, ALWAYS, "slab_reassign_chunk_rescues", NONE, NULL, NULL, "",                \
      "chunked items memcached's page mover kept: 0 (see slab_reassign_rescues)")                  \
    X(K, "0", COUNTER, ALWAYS, "slab_reassign_evictions_nomem", NONE, NULL, NULL, "",              \
      "items memcached's page mover had no room to keep: 0 (see slab_reassign_rescues)")           \
    X(K, "0", COUNTER, ALWAYS, "slab_reassign_inline_reclaim", NONE, NULL, NULL, "",               \
      "pages memcached's mover freed inline: not counted, 0")                                      \
    X(K, "0", COUNTER, ALWAYS, "slab_reassign_busy_items", NONE, NULL, NULL, "",                   \
      "items memcached's mover found referenced; stashd items hold no references: 0")              \
    X(K, "0", COUNTER, ALWAYS, "slab_reassign_busy_deletes", NONE, NULL, NULL, "",                 \
      "deletes memcached's mover waited for: 0 (no references)")                                   \
    X(K, "0", GAUGE, ALWAYS, "slab_reassign_running", NONE, NULL, NULL, "",                        \
      "memcached's page mover at work; stashd moves a page within one allocation: 0")              \
    X(S, slabs_moved, COUNTER, ALWAYS, "slabs_moved", NONE, NULL, "memcached_slab_moves_total",    \
      "", "pages moved between slab classes")                                                      \
    X(F, lru_crawler_running, GAUGE, ALWAYS, "lru_crawler_running", NONE, NULL, NULL, "",          \
      "1 while an lru_crawler metadump streams")                                                   \
    X(F, lru_crawler_starts, COUNTER, ALWAYS, "lru_crawler_starts", NONE, NULL, NULL, "",          \
      "lru_crawler crawls and metadumps started")                                                  \
    X(K, "0", COUNTER, ALWAYS, "lru_maintainer_juggles", NONE, NULL, NULL, "",                     \
      "memcached's LRU maintainer passes; stashd's CLOCK needs none: 0")                           \
    X(K, "0", COUNTER, ALWAYS, "malloc_fails", NONE, NULL, NULL, "",                               \
      "failed allocations: not counted, 0")                                                        \
    X(F, log_worker_dropped, COUNTER, ALWAYS, "log_worker_dropped", NONE, NULL, NULL, "",          \
      "watch log lines dropped: a thread's log buffer was full")                                   \
    X(F, log_worker_written, COUNTER, ALWAYS, "log_worker_written", NONE, NULL, NULL, "",          \
      "watch log lines written by the threads")                                                    \
    X(F, log_watcher_skipped, COUNTER, ALWAYS, "log_watcher_skipped", NONE, NULL, NULL, "",        \
      "watch lines a watcher missed: it was behind on reading")                                    \
    X(F, log_watcher_sent, COUNTER, ALWAYS, "log_watcher_sent", NONE, NULL, NULL, "",              \
      "watch lines handed to watchers")                                                            \
    X(F, log_watchers, GAUGE, ALWAYS, "log_watchers", NONE, NULL, NULL, "",                        \
      "connections running `watch`")                                                               \
    /* TLS (memcached -Z): here, as memcached prints them                                      */  \
    X(W, ssl_new_sessions, COUNTER, TLS_CACHE, "ssl_new_sessions", NONE, NULL,                     \
      "stashd_ssl_new_sessions_total", "",                                                         \
      "TLS sessions added to the server-side session cache (with ssl_session_cache)")              \
    X(W, ssl_handshake_errors, COUNTER, TLS, "ssl_handshake_errors", NONE, NULL,                   \
      "stashd_ssl_handshake_errors_total", "", "TLS handshakes failed or timed out")               \
    X(F, cert_age, GAUGE, TLS, "time_since_server_cert_refresh", NONE, NULL, NULL, "",             \
      "seconds since the certificate, key and CA files were last loaded")                          \
    X(K, "0", COUNTER, ALWAYS, "unexpected_napi_ids", NONE, NULL, NULL, "",                        \
      "memcached -N's NAPI id misses; stashd has no -N: 0")                                        \
    X(K, "0", COUNTER, ALWAYS, "round_robin_fallback", NONE, NULL, NULL, "",                       \
      "memcached -N's fallbacks; stashd has no -N: 0")                                             \
    X(S, bytes, GAUGE, ALWAYS, "bytes", NONE, NULL, "memcached_current_bytes", "",                 \
      "bytes held by live items (header, key and value)")                                          \
    X(S, curr_items, GAUGE, ALWAYS, "curr_items", NONE, NULL, "memcached_current_items", "",       \
      "live items")                                                                                \
    X(S, total_items, COUNTER, ALWAYS, "total_items", NONE, NULL, "memcached_items_total", "",     \
      "items ever stored")                                                                         \
    X(K, "0", GAUGE, ALWAYS, "slab_global_page_pool", NONE, NULL, NULL, "",                        \
      "pages in memcached's unassigned pool; stashd's pool is not reported here: 0")               \
    X(S, expired_unfetched, COUNTER, ALWAYS, "expired_unfetched", NONE, NULL,                      \
      "memcached_item_expired_unfetched_total", "", "items expired without being read")            \
    X(S, evicted_unfetched, COUNTER, ALWAYS, "evicted_unfetched", NONE, NULL,                      \
      "memcached_item_evicted_unfetched_total", "", "items evicted without being read")            \
    X(K, "0", COUNTER, ALWAYS, "evicted_active", NONE, NULL, NULL, "",                             \
      "items memcached evicted though recently read; CLOCK never evicts those: 0")                 \
    X(S, evictions, COUNTER, ALWAYS, "evictions", NONE, NULL, "memcached_items_evicted_total", "", \
      "items evicted to make room")                                                                \
    X(S, reclaimed, COUNTER, ALWAYS, "reclaimed", NONE, NULL, "memcached_items_reclaimed_total",   \
      "", "expired items whose memory was reused or freed")                                        \
    X(K, "0", COUNTER, ALWAYS, "crawler_reclaimed", NONE, NULL, NULL, "",                          \
      "items memcached's crawler freed; stashd's reclaimer is counted in reclaimed: 0")            \
    X(K, "0", COUNTER, ALWAYS, "crawler_items_checked", NONE, NULL, NULL, "",                      \
      "items memcached's crawler looked at: not counted, 0")                                       \
    X(K, "0", COUNTER, ALWAYS, "lrutail_reflocked", NONE, NULL, NULL, "",                          \
      "referenced items memcached found at an LRU tail; stashd items hold no references: 0")       \
    X(K, "0", COUNTER, ALWAYS, "moves_to_cold", NONE, NULL, NULL, "",                              \
      "memcached's segmented-LRU moves; stashd's CLOCK has no segments: 0")                        \
    X(K, "0", COUNTER, ALWAYS, "moves_to_warm", NONE, NULL, NULL, "",                              \
      "memcached's segmented-LRU moves: 0 (see moves_to_cold)")                                    \
    X(K, "0", COUNTER, ALWAYS, "moves_within_lru", NONE, NULL, NULL, "",                           \
      "memcached's segmented-LRU bumps: 0 (see moves_to_cold)")                                    \
    X(K, "0", COUNTER, ALWAYS, "direct_reclaims", NONE, NULL, NULL, "",                            \
      "times a memcached worker had to evict for itself; every stashd eviction is inline: 0")      \
    X(K, "0", COUNTER, ALWAYS, "lru_bumps_dropped", NONE, NULL, NULL, "",                          \
      "memcached's dropped asynchronous LRU bumps; CLOCK bumps in place: 0")                       \
    /* stashd's own, after memcached's */                                                          \
    X(S, evicted_nonzero, COUNTER, ALWAYS, "evicted_nonzero", NONE, NULL, NULL, "",                \
      "evicted items that had an expiry set")                                                      \
    X(S, outofmemory, COUNTER, ALWAYS, "outofmemory", NONE, NULL, NULL, "",                        \
      "allocations that found no room")                                                            \
    X(S, total_malloced, GAUGE, ALWAYS, "total_malloced", NONE, NULL, "stashd_item_memory_bytes",  \
      "", "bytes of slab pages and large items held")                                              \
    X(S, hash_buckets, GAUGE, ALWAYS, "hash_buckets", NONE, NULL, NULL, "",                        \
      "hash buckets of all shards")                                                                \
    X(S, shards, GAUGE, ALWAYS, "shards", NONE, NULL, NULL, "", "store shards")                    \
    X(W, bytes_written_direct, COUNTER, ALWAYS, "bytes_written_direct", NONE, NULL,                \
      "stashd_written_direct_bytes_total", "",                                                     \
      "of bytes_written, value bytes written from item memory, not copied into a reply buffer")            \
    X(W, bytes_read_in_place, COUNTER, ALWAYS, "bytes_read_in_place", NONE, NULL,                  \
      "stashd_read_in_place_bytes_total", "",                                                      \
      "of bytes_read, value bytes written into their item as they arrived, not buffered whole")   \
    X(W, in_place_pending_bytes, GAUGE, ALWAYS, "in_place_pending_bytes", NONE, NULL,              \
      "stashd_in_place_pending_bytes", "",                                                         \
      "memory of items whose values are still arriving (within the memory limit)")                 \
    X(W, in_place_held_bytes, GAUGE, ALWAYS, "in_place_held_bytes", NONE, NULL,                    \
      "stashd_in_place_held_bytes", "",                                                            \
      "item memory kept from eviction for them: the whole segments they lie in, at most")          \
    /* the memory file (-e): what this start restored                                        */  \
    X(S, restart_warm, GAUGE, ALWAYS, "restart_warm", NONE, NULL, "stashd_restart_warm", "",       \
      "1 when this start restored the items of the memory file (-e)")                              \
    X(S, restart_items, GAUGE, ALWAYS, "restart_items", NONE, NULL, "stashd_restart_items", "",    \
      "items restored from the memory file at start")                                              \
    X(S, restart_dropped, GAUGE, ALWAYS, "restart_dropped", NONE, NULL, NULL, "",                  \
      "items in the memory file that had expired or were flushed at start")                        \
    /* memory and its parts: total_malloced (items) + hash_bytes + conn_buffer_bytes =         */  \
    /* memory_total; the resident set less that total is memory_other (code, stacks,           */  \
    /* allocator)                                                                              */  \
    X(W, conn_buffer_bytes, GAUGE, ALWAYS, "conn_buffer_bytes", NONE, NULL,                        \
      "stashd_conn_buffer_bytes", "", "read and reply buffer memory held by connections")          \
    X(F, memory_total, GAUGE, ALWAYS, "memory_total", NONE, NULL, NULL, "",                        \
      "memory stashd accounts for: items, hash tables and connection buffers")                     \
    X(F, memory_resident, GAUGE, ALWAYS, "memory_resident", NONE, NULL, "stashd_resident_bytes",   \
      "", "resident memory of the process")                                                        \
    X(F, memory_other, GAUGE, ALWAYS, "memory_other", NONE, NULL, NULL, "",                        \
      "resident memory beyond memory_total: code, stacks, allocator")                              \
    X(W, protocol_errors, COUNTER, ALWAYS, "protocol_errors", NONE, NULL,                          \
      "stashd_protocol_errors_total", "", "malformed requests answered with an error")             \
    X(W, conns_closed_output, COUNTER, ALWAYS, "conns_closed_output", NONE, NULL, NULL, "",        \
      "connections closed for unread output")                                                      \
    X(W, conns_idle_closed, COUNTER, ALWAYS, "conns_idle_closed", NONE, NULL, NULL, "",            \
      "connections closed by idle timeout")                                                        \
    /* What only /metrics shows */                                                                 \
    X(K, "1", GAUGE, ALWAYS, NULL, NONE, NULL, "memcached_up", "",                                 \
      "whether the server answers (always 1 here)")                                                \
    X(F, ready, GAUGE, ALWAYS, NULL, NONE, NULL, "stashd_ready", "",                               \
      "1 when ready to serve, 0 while starting or draining")                                       \
    /* Redis's INFO, section by section in Redis 7's order */                                      \
    X(F, redis_version, GAUGE, ALWAYS, NULL, SERVER, "redis_version", NULL, "",                    \
      "the Redis version whose replies stashd reproduces")                                        \
    X(K, STASHD_VERSION, GAUGE, ALWAYS, NULL, SERVER, "stashd_version", NULL, "",                 \
      "stashd's own version")                                                                      \
    X(K, "00000000", GAUGE, ALWAYS, NULL, SERVER, "redis_git_sha1", NULL, "", "not Redis: none")  \
    X(K, "0", GAUGE, ALWAYS, NULL, SERVER, "redis_git_dirty", NULL, "", "not Redis: none")        \
    X(K, "0", GAUGE, ALWAYS, NULL, SERVER, "redis_build_id", NULL, "", "not Redis: none")         \
    X(K, "standalone", GAUGE, ALWAYS, NULL, SERVER, "redis_mode", NULL, "", "no cluster mode")    \
    X(F, os, GAUGE, ALWAYS, NULL, SERVER, "os", NULL, "", "kernel name, release and machine")      \
    X(F, pointer_bits, GAUGE, ALWAYS, NULL, SERVER, "arch_bits", NULL, "", "bits of a pointer")    \
    X(K, "epoll", GAUGE, ALWAYS, NULL, SERVER, "multiplexing_api", NULL, "",                      \
      "how the event loop waits (libuv on Linux)")                                                 \
    X(K, "c11-builtin", GAUGE, ALWAYS, NULL, SERVER, "atomicvar_api", NULL, "",                   \
      "how atomics are done")                                                                      \
    X(F, gcc_version, GAUGE, ALWAYS, NULL, SERVER, "gcc_version", NULL, "",                        \
      "the compiler's version")                                                                    \
    X(F, pid, GAUGE, ALWAYS, NULL, SERVER, "process_id", NULL, "", "process id")                   \
    X(K, "no", GAUGE, ALWAYS, NULL, SERVER, "process_supervised", NULL, "",                        \
      "no supervision protocol")                                                                   \
    X(F, run_id, GAUGE, ALWAYS, NULL, SERVER, "run_id", NULL, "",                                  \
      "40 hex digits, stable for the life of the process")                                         \
    X(F, tcp_port, GAUGE, ALWAYS, NULL, SERVER, "tcp_port", NULL, "", "the main TCP port (-p)")    \
    X(F, server_time_usec, GAUGE, ALWAYS, NULL, SERVER, "server_time_usec", NULL, "",              \
      "the server's Unix time in microseconds")                                                    \
    X(F, uptime, CLOCK, ALWAYS, NULL, SERVER, "uptime_in_seconds", NULL, "",                       \
      "seconds since the server started")                                                          \
    X(F, uptime_days, CLOCK, ALWAYS, NULL, SERVER, "uptime_in_days", NULL, "",                     \
      "days since the server started")                                                             \
    X(K, "10", GAUGE, ALWAYS, NULL, SERVER, "hz", NULL, "", "Redis's timer frequency (nominal)")   \
    X(K, "10", GAUGE, ALWAYS, NULL, SERVER, "configured_hz", NULL, "", "as hz")                    \
    X(F, lru_clock, GAUGE, ALWAYS, NULL, SERVER, "lru_clock", NULL, "",                            \
      "the coarse clock, 24 bits")                                                                 \
    X(K, "", GAUGE, ALWAYS, NULL, SERVER, "executable", NULL, "", "not reported")                  \
    X(F, config_file, GAUGE, ALWAYS, NULL, SERVER, "config_file", NULL, "", "--config FILE")      \
    X(K, "0", GAUGE, ALWAYS, NULL, SERVER, "io_threads_active", NULL, "",                          \
      "Redis's I/O threads (stashd's workers are in threads)")                                     \
    X(F, threads, GAUGE, ALWAYS, NULL, SERVER, "threads", NULL, "", "worker threads")              \
    X(V, curr_connections, GAUGE, ALWAYS, NULL, CLIENTS, "connected_clients", NULL, "",            \
      "open client connections")                                                                   \
    X(K, "0", GAUGE, ALWAYS, NULL, CLIENTS, "cluster_connections", NULL, "", "no cluster bus")     \
    X(F, max_connections, GAUGE, ALWAYS, NULL, CLIENTS, "maxclients", NULL, "",                    \
      "connection limit (-c)")                                                                     \
    X(K, "0", GAUGE, ALWAYS, NULL, CLIENTS, "client_recent_max_input_buffer", NULL, "",            \
      "not measured")                                                                              \
    X(K, "0", GAUGE, ALWAYS, NULL, CLIENTS, "client_recent_max_output_buffer", NULL, "",           \
      "not measured")                                                                              \
    X(K, "0", GAUGE, ALWAYS, NULL, CLIENTS, "blocked_clients", NULL, "", "no blocking commands")   \
    X(K, "0", GAUGE, ALWAYS, NULL, CLIENTS, "tracking_clients", NULL, "", "no client tracking")    \
    X(K, "0", GAUGE, ALWAYS, NULL, CLIENTS, "clients_in_timeout_table", NULL, "",                  \
      "no blocking commands")                                                                      \
    X(F, memory_total, GAUGE, ALWAYS, NULL, MEMORY, "used_memory", NULL, "",                       \
      "memory stashd accounts for: items, hash tables and connection buffers")                     \
    X(F, memory_total_human, GAUGE, ALWAYS, NULL, MEMORY, "used_memory_human", NULL, "",           \
      "used_memory, in Redis's human form")                                                        \
    X(F, memory_resident, GAUGE, ALWAYS, NULL, MEMORY, "used_memory_rss", NULL, "",                \
      "resident memory of the process")                                                            \
    X(F, memory_resident_human, GAUGE, ALWAYS, NULL, MEMORY, "used_memory_rss_human", NULL, "",    \
      "used_memory_rss, in Redis's human form")                                                    \
    X(F, memory_total, GAUGE, ALWAYS, NULL, MEMORY, "used_memory_peak", NULL, "",                  \
      "used_memory (stashd keeps no peak)")                                                        \
    X(F, memory_total_human, GAUGE, ALWAYS, NULL, MEMORY, "used_memory_peak_human", NULL, "",      \
      "used_memory_peak, in Redis's human form")                                                   \
    X(F, memory_overhead, GAUGE, ALWAYS, NULL, MEMORY, "used_memory_overhead", NULL, "",           \
      "hash tables and connection buffers")                                                        \
    X(S, total_malloced, GAUGE, ALWAYS, NULL, MEMORY, "used_memory_dataset", NULL, "",             \
      "slab pages and large items")                                                                \
    X(V, conn_buffer_bytes, GAUGE, ALWAYS, NULL, MEMORY, "mem_clients_normal", NULL, "",           \
      "connection buffers")                                                                        \
    X(S, total_malloced, GAUGE, ALWAYS, NULL, MEMORY, "stashd_memory_items", NULL, "",             \
      "slab pages and large items")                                                                \
    X(S, hash_bytes, GAUGE, ALWAYS, NULL, MEMORY, "stashd_memory_hash_tables", NULL, "",           \
      "hash tables")                                                                               \
    X(V, conn_buffer_bytes, GAUGE, ALWAYS, NULL, MEMORY, "stashd_memory_conn_buffers", NULL, "",   \
      "connection buffers")                                                                        \
    X(F, memory_other, GAUGE, ALWAYS, NULL, MEMORY, "stashd_memory_other", NULL, "",               \
      "resident memory beyond used_memory: code, stacks, allocator")                               \
    X(S, bytes, GAUGE, ALWAYS, NULL, MEMORY, "stashd_item_bytes", NULL, "",                        \
      "bytes held by live items")                                                                  \
    X(S, limit_maxbytes, GAUGE, ALWAYS, NULL, MEMORY, "maxmemory", NULL, "", "item memory limit")  \
    X(F, maxmemory_human, GAUGE, ALWAYS, NULL, MEMORY, "maxmemory_human", NULL, "",                \
      "maxmemory, in Redis's human form")                                                          \
    X(F, maxmemory_policy, GAUGE, ALWAYS, NULL, MEMORY, "maxmemory_policy", NULL, "",              \
      "allkeys-lru, or noeviction under -M")                                                       \
    X(F, fragmentation, GAUGE, ALWAYS, NULL, MEMORY, "mem_fragmentation_ratio", NULL, "",          \
      "used_memory_rss / used_memory")                                                             \
    X(K, "jemalloc", GAUGE, ALWAYS, NULL, MEMORY, "mem_allocator", NULL, "", "the allocator")      \
    X(K, "0", GAUGE, ALWAYS, NULL, MEMORY, "lazyfree_pending_objects", NULL, "", "none")           \
    X(K, "0", GAUGE, ALWAYS, NULL, PERSISTENCE, "loading", NULL, "", "nothing to load")            \
    X(K, "0", GAUGE, ALWAYS, NULL, PERSISTENCE, "async_loading", NULL, "", "nothing to load")      \
    X(K, "0", GAUGE, ALWAYS, NULL, PERSISTENCE, "rdb_changes_since_last_save", NULL, "",           \
      "no persistence")                                                                            \
    X(K, "0", GAUGE, ALWAYS, NULL, PERSISTENCE, "rdb_bgsave_in_progress", NULL, "",                \
      "no persistence")                                                                            \
    X(F, started, GAUGE, ALWAYS, NULL, PERSISTENCE, "rdb_last_save_time", NULL, "",                \
      "the start, as if saved then (no persistence)")                                              \
    X(K, "ok", GAUGE, ALWAYS, NULL, PERSISTENCE, "rdb_last_bgsave_status", NULL, "",               \
      "no persistence")                                                                            \
    X(K, "-1", GAUGE, ALWAYS, NULL, PERSISTENCE, "rdb_last_bgsave_time_sec", NULL, "",             \
      "no persistence")                                                                            \
    X(S, restart_dropped, GAUGE, ALWAYS, NULL, PERSISTENCE, "rdb_last_load_keys_expired", NULL,    \
      "", "items in the memory file that had expired at start")                                    \
    X(S, restart_items, GAUGE, ALWAYS, NULL, PERSISTENCE, "rdb_last_load_keys_loaded", NULL, "",   \
      "items restored from the memory file at start")                                              \
    X(K, "0", GAUGE, ALWAYS, NULL, PERSISTENCE, "aof_enabled", NULL, "", "no persistence")         \
    X(K, "0", GAUGE, ALWAYS, NULL, PERSISTENCE, "aof_rewrite_in_progress", NULL, "",               \
      "no persistence")                                                                            \
    X(K, "0", GAUGE, ALWAYS, NULL, PERSISTENCE, "aof_rewrite_scheduled", NULL, "",                 \
      "no persistence")                                                                            \
    X(K, "ok", GAUGE, ALWAYS, NULL, PERSISTENCE, "aof_last_write_status", NULL, "",                \
      "no persistence")                                                                            \
    X(V, total_connections, COUNTER, ALWAYS, NULL, STATS, "total_connections_received", NULL, "",  \
      "connections accepted")                                                                      \
    X(F, commands_processed, COUNTER, ALWAYS, NULL, STATS, "total_commands_processed", NULL, "",   \
      "reads, stores, deletes, arithmetic, touches, flushes, meta and auth commands")              \
    X(K, "0", GAUGE, ALWAYS, NULL, STATS, "instantaneous_ops_per_sec", NULL, "", "not measured")   \
    X(V, bytes_read, COUNTER, ALWAYS, NULL, STATS, "total_net_input_bytes", NULL, "",              \
      "bytes read from clients")                                                                   \
    X(V, bytes_written, COUNTER, ALWAYS, NULL, STATS, "total_net_output_bytes", NULL, "",          \
      "bytes written to clients")                                                                  \
    X(V, rejected_connections, COUNTER, ALWAYS, NULL, STATS, "rejected_connections", NULL, "",     \
      "connections refused over the connection limit")                                             \
    X(S, expired, COUNTER, ALWAYS, NULL, STATS, "expired_keys", NULL, "",                          \
      "items that expired (rather than being flushed)")                                            \
    X(S, evictions, COUNTER, ALWAYS, NULL, STATS, "evicted_keys", NULL, "",                        \
      "items evicted to make room")                                                                \
    X(V, get_hits, COUNTER, ALWAYS, NULL, STATS, "keyspace_hits", NULL, "", "keys found")          \
    X(V, get_misses, COUNTER, ALWAYS, NULL, STATS, "keyspace_misses", NULL, "", "keys not found")  \
    X(K, "0", GAUGE, ALWAYS, NULL, STATS, "pubsub_channels", NULL, "", "no pub/sub")               \
    X(K, "0", GAUGE, ALWAYS, NULL, STATS, "pubsub_patterns", NULL, "", "no pub/sub")               \
    X(S, items_moved, COUNTER, ALWAYS, NULL, STATS, "active_defrag_hits", NULL, "",                \
      "live items compaction moved to reclaim dead space (Redis: values its defragmenter moved)")   \
    /* total_error_replies ends the section: every error reply, counted by
     * cmd/resp_cmdstats.c (INFO errorstats), appended by resp_info.c */                       \
    X(K, "master", GAUGE, ALWAYS, NULL, REPLICATION, "role", NULL, "", "no replication")           \
    X(K, "0", GAUGE, ALWAYS, NULL, REPLICATION, "connected_slaves", NULL, "", "no replication")    \
    X(K, "no-failover", GAUGE, ALWAYS, NULL, REPLICATION, "master_failover_state", NULL, "",       \
      "no replication")                                                                            \
    X(F, run_id, GAUGE, ALWAYS, NULL, REPLICATION, "master_replid", NULL, "", "the run id")        \
    X(K, "0", GAUGE, ALWAYS, NULL, REPLICATION, "master_repl_offset", NULL, "", "no replication")  \
    X(K, "0", GAUGE, ALWAYS, NULL, REPLICATION, "repl_backlog_active", NULL, "",                   \
      "no replication")                                                                            \
    X(F, rusage_system, CLOCK, ALWAYS, NULL, CPU, "used_cpu_sys", NULL, "",                        \
      "system CPU seconds used")                                                                   \
    X(F, rusage_user, CLOCK, ALWAYS, NULL, CPU, "used_cpu_user", NULL, "", "user CPU seconds used") \
    X(K, "0.000000", GAUGE, ALWAYS, NULL, CPU, "used_cpu_sys_children", NULL, "",                  \
      "no child processes")                                                                        \
    X(K, "0.000000", GAUGE, ALWAYS, NULL, CPU, "used_cpu_user_children", NULL, "",                 \
      "no child processes")                                                                        \
    X(K, "0", GAUGE, ALWAYS, NULL, CLUSTER, "cluster_enabled", NULL, "", "no cluster mode")        \
    X(F, keyspace, GAUGE, ALWAYS, NULL, KEYSPACE, "db0", NULL, "",                                 \
      "keys, and keys with an expiry; absent when there are none")
// clang-format on

/* Help for the Prometheus families whose rows share a name. */
#define STASHD_STATS_FAMILIES(X)                                                                   \
    X("memcached_commands_total", "commands processed, by command and outcome")

/* Rows of the table, for arrays indexed by row (cmd/stats.h baselines). */
#define STATS_ROW_ONE(...) +1
enum { STATS_NROWS = 0 STASHD_STATS(STATS_ROW_ONE) };
#undef STATS_ROW_ONE

/* struct metrics: the W rows. */
#define METRICS_FIELD(src, id, kind, when, mc, sec, info, prom, labels, help)                      \
    METRICS_FIELD_##src(id)
#define METRICS_FIELD_W(id) uint64_t id;
#define METRICS_FIELD_V(id)
#define METRICS_FIELD_S(id)
#define METRICS_FIELD_F(id)
#define METRICS_FIELD_K(id)
struct metrics {
    STASHD_STATS(METRICS_FIELD)
};

/* Single-writer update: the owning worker only. */
#define METRIC_ADD(m, f, n)                                                                        \
    __atomic_store_n(&(m)->f, __atomic_load_n(&(m)->f, __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define METRIC_INC(m, f) METRIC_ADD(m, f, 1)
#define METRIC_DEC(m, f) METRIC_ADD(m, f, (uint64_t)-1)

/* sum += m, field by field, with relaxed loads (any thread). */
void metrics_accumulate(struct metrics *sum, const struct metrics *m);
