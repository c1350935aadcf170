/*
 * watch: memcached's log watchers (`watch fetchers mutations ...`), private
 * to cmd/. Any thread logs an event (a read, a store, an eviction, a
 * connection opening or closing) into a buffer of its own; a watcher's
 * connection, on its own worker, collects what every thread logged, turns
 * it into memcached's lines and takes its share.
 *
 *   thread A ring --\                        /--> watcher 1 queue --> its connection
 *   thread B ring ----> collect (any watcher) ---> watcher 2 queue --> its connection
 *   store (evict) --/   under the log's lock   \--> ...
 *
 * Cost and bounds:
 *  - nobody watching: the request path reads stats_wanted() (one relaxed
 *    load) and logs nothing; no lock, no syscall;
 *  - watching: a logging thread copies a small record into its own ring
 *    (single producer, single consumer: no lock, no syscall, no shared
 *    counter); a full ring drops the record and counts it
 *    (log_worker_dropped), and the watchers that wanted it are told it was
 *    skipped;
 *  - each watcher's queue is bounded (WATCH_QUEUE_SIZE): a watcher that
 *    does not read loses lines (log_watcher_skipped) and is told so with
 *    memcached's "skipped=N" line; it never slows the threads that log.
 *
 * Lines are memcached 1.6.18's ("ts=... gid=... type=item_get key=..."),
 * keys URI-encoded. gid numbers lines in the order they were collected
 * (memcached numbers them as they are logged, with an atomic counter
 * shared by every thread, which stashd does not put on the request path).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct sockaddr;
struct stats;
struct watch;
struct watcher;

#define WATCH_MAX_WATCHERS 20         /* memcached's WATCHER_LIMIT */
#define WATCH_RING_SIZE (64 * 1024)   /* per logging thread (memcached's worker_logbuf_size) */
#define WATCH_QUEUE_SIZE (256 * 1024) /* per watcher (memcached's watcher_logbuf_size) */

/* st's wanted word follows the watchers' classes (STATS_WANT_*). */
int watch_create(struct watch **wp, struct stats *st); /* 0 or -ENOMEM */
/* After every thread that logs has stopped, and every watcher is gone. */
void watch_destroy(struct watch **wp);

enum watch_add_rc { WATCH_ADDED, WATCH_TOO_MANY, WATCH_FAILED };

/* A new watcher of the classes in flags (STATS_WANT_* bits). */
enum watch_add_rc watch_add(struct watch *w, unsigned flags, struct watcher **out);
/* The watcher's connection is closing. */
void watch_remove(struct watch *w, struct watcher **wr);

/* Collect what every thread logged, then move up to room bytes of wr's
 * lines to out. 0 or -ENOMEM. Any thread (the watcher's worker). */
int watch_drain(struct watch *w, struct watcher *wr, struct buf *out, size_t room);

/* memcached's log_* stats. */
struct watch_counts {
    uint64_t worker_dropped, worker_written, watcher_skipped, watcher_sent, watchers;
};
void watch_counts(struct watch *w, struct watch_counts *c);

/* What a read found (memcached's order). */
enum watch_get_status {
    WATCH_GET_NOT_FOUND,
    WATCH_GET_FOUND,
    WATCH_GET_FLUSHED,
    WATCH_GET_EXPIRED,
};

/* How a store ended (memcached's order). */
enum watch_store_status {
    WATCH_STORE_NOT_STORED,
    WATCH_STORE_STORED,
    WATCH_STORE_EXISTS,
    WATCH_STORE_NOT_FOUND,
    WATCH_STORE_TOO_LARGE,
    WATCH_STORE_NO_MEMORY,
};

/* The storage command (memcached's order; 0 is its "null"). */
enum watch_store_cmd {
    WATCH_CMD_NULL,
    WATCH_CMD_ADD,
    WATCH_CMD_SET,
    WATCH_CMD_REPLACE,
    WATCH_CMD_APPEND,
    WATCH_CMD_PREPEND,
    WATCH_CMD_CAS,
};

/* Producers: any thread, only when the class is wanted. cfd is the
 * connection's number; nbytes the value's length; cls its slab class
 * (0: none). */
void watch_log_get(struct watch *w, const char *key, size_t nkey, enum watch_get_status status,
                   unsigned cls, unsigned cfd, uint32_t nbytes);
/* ttl: seconds left, 0 for none. */
void watch_log_store(struct watch *w, const char *key, size_t nkey, enum watch_store_status status,
                     enum watch_store_cmd cmd, uint32_t ttl, unsigned cls, unsigned cfd,
                     uint32_t nbytes);
/* ttl: seconds left, -1 for none; idle: seconds since the last access. */
void watch_log_evict(struct watch *w, const char *key, size_t nkey, bool fetched, int64_t ttl,
                     uint32_t idle, unsigned cls, uint32_t nbytes);
/* close_reason: enum stats_close_reason when !open. */
void watch_log_conn(struct watch *w, bool open, const struct sockaddr *peer, unsigned cfd,
                    int close_reason);
