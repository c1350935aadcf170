/*
 * watch: the log behind memcached's `watch` (see cmd/watch.h).
 *
 * Rings. A thread's first event for a log allocates its ring and links it
 * into the log's list (under the lock, once per thread). The ring is a
 * byte ring of records, [struct rec][text], written by its thread only
 * (head, released after the bytes) and read by the collector only (tail,
 * released after reading), both positions counting bytes forever (the
 * ring index is the position modulo WATCH_RING_SIZE). A record that does
 * not fit is dropped and counted, per class, in the ring.
 *
 * Collecting. Whoever drains a watcher first collects: under the lock,
 * every ring's records are formatted once and appended to the queue of
 * each watcher that wants their class, and each ring's new drops become
 * skipped lines of the watchers that wanted that class. The lock is held
 * by watchers' connections only, never by a logging thread.
 */
#include "cmd/watch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "cmd/stats_state.h"
#include "stashd/cmd/stats.h"
#include "stashd/util/buf.h"

/* Record types, each belonging to one class (STATS_WANT_*). */
enum rec_type { REC_GET, REC_STORE, REC_EVICT, REC_CONN_NEW, REC_CONN_CLOSE, REC_TYPES };

static const unsigned rec_class[REC_TYPES] = {
    [REC_GET] = STATS_WANT_FETCHERS,          [REC_STORE] = STATS_WANT_MUTATIONS,
    [REC_EVICT] = STATS_WANT_EVICTIONS,       [REC_CONN_NEW] = STATS_WANT_CONNEVENTS,
    [REC_CONN_CLOSE] = STATS_WANT_CONNEVENTS,
};

/* Longest text a record carries: a key, or a connection's address. */
#define REC_TEXT_MAX 256

/* One event, as the logging thread saw it; text (a key, or for a
 * connection event its address) follows it in the ring. */
struct rec {
    uint8_t type;   /* enum rec_type */
    uint8_t status; /* get, store status; close reason */
    uint8_t cmd;    /* store: enum watch_store_cmd */
    uint8_t fetched;
    uint16_t ntext;
    uint16_t port;
    uint32_t cfd;
    uint32_t cls;
    uint32_t nbytes;
    uint32_t idle;
    int64_t ttl;
    int64_t ts_sec;
    int32_t ts_usec;
    int32_t family; /* conn: AF_INET, AF_INET6, or AF_UNIX */
};

struct ring {
    struct ring *next; /* the log's list; under the lock */
    uint64_t head;     /* written by the thread (release) */
    uint64_t tail;     /* written by the collector (release) */
    /* Written by the thread (single writer, relaxed), read by the
     * collector; the seen_ copies are the collector's (under the lock). */
    uint64_t written, dropped[REC_TYPES];
    uint64_t seen_written, seen_dropped[REC_TYPES];
    char data[WATCH_RING_SIZE];
};

struct watcher {
    unsigned flags;   /* STATS_WANT_* classes wanted */
    struct buf queue; /* formatted lines, at most WATCH_QUEUE_SIZE bytes */
    uint64_t skipped; /* lines lost since the last one delivered */
};

/* lock guards the ring list, the watchers, the queues and the counts
 * below; the rings' own positions are atomics (see struct ring). */
struct watch {
    uint64_t id; /* tells this log's rings from a destroyed log's (TLS) */
    struct stats *st;
    pthread_mutex_t lock;
    struct ring *rings;
    struct watcher *watchers[WATCH_MAX_WATCHERS];
    unsigned nwatchers;
    uint64_t gid;
    struct watch_counts counts; /* watchers: nwatchers */
};

/* The calling thread's ring for the log with id log_id. */
static __thread struct {
    uint64_t log_id;
    struct ring *ring;
} my;

static uint64_t next_log_id = 1;

int
watch_create(struct watch **wp, struct stats *st)
{
    struct watch *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return -ENOMEM;
    }
    w->id = __atomic_fetch_add(&next_log_id, 1, __ATOMIC_RELAXED);
    w->st = st;
    pthread_mutex_init(&w->lock, NULL);
    *wp = w;
    return 0;
}

void
watch_destroy(struct watch **wp)
{
    struct watch *w = *wp;
    if (w == NULL) {
        return;
    }
    for (unsigned i = 0; i < WATCH_MAX_WATCHERS; i++) {
        if (w->watchers[i] != NULL) {
            buf_fini(&w->watchers[i]->queue);
            free(w->watchers[i]);
        }
    }
    while (w->rings != NULL) {
        struct ring *r = w->rings;
        w->rings = r->next;
        free(r);
    }
    pthread_mutex_destroy(&w->lock);
    free(w);
    *wp = NULL;
}

/* --- the logging side (any thread) -------------------------------------- */

static struct ring *
my_ring(struct watch *w)
{
    if (my.log_id == w->id) {
        return my.ring;
    }
    struct ring *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&w->lock);
    r->next = w->rings;
    w->rings = r;
    pthread_mutex_unlock(&w->lock);
    my.log_id = w->id;
    my.ring = r;
    return r;
}

static void
ring_copy_in(struct ring *r, uint64_t pos, const void *p, size_t n)
{
    size_t at = (size_t)(pos % WATCH_RING_SIZE);
    size_t first = WATCH_RING_SIZE - at < n ? WATCH_RING_SIZE - at : n;
    memcpy(r->data + at, p, first);
    memcpy(r->data, (const char *)p + first, n - first);
}

static void
ring_copy_out(const struct ring *r, uint64_t pos, void *p, size_t n)
{
    size_t at = (size_t)(pos % WATCH_RING_SIZE);
    size_t first = WATCH_RING_SIZE - at < n ? WATCH_RING_SIZE - at : n;
    memcpy(p, r->data + at, first);
    memcpy((char *)p + first, r->data, n - first);
}

static void
put(struct watch *w, struct rec *h, const char *text, size_t ntext)
{
    struct ring *r = my_ring(w);
    if (r == NULL) {
        return;
    }
    if (ntext > REC_TEXT_MAX) {
        ntext = REC_TEXT_MAX;
    }
    h->ntext = (uint16_t)ntext;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h->ts_sec = ts.tv_sec;
    h->ts_usec = (int32_t)(ts.tv_nsec / 1000);
    uint64_t head = r->head; /* this thread's own */
    uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
    size_t need = sizeof(*h) + ntext;
    if (WATCH_RING_SIZE - (head - tail) < need) {
        __atomic_store_n(&r->dropped[h->type], r->dropped[h->type] + 1, __ATOMIC_RELAXED);
        return;
    }
    ring_copy_in(r, head, h, sizeof(*h));
    ring_copy_in(r, head + sizeof(*h), text, ntext);
    __atomic_store_n(&r->head, head + need, __ATOMIC_RELEASE);
    __atomic_store_n(&r->written, r->written + 1, __ATOMIC_RELAXED);
}

void
watch_log_get(struct watch *w, const char *key, size_t nkey, enum watch_get_status status,
              unsigned cls, unsigned cfd, uint32_t nbytes)
{
    struct rec h = {
        .type = REC_GET, .status = (uint8_t)status, .cls = cls, .cfd = cfd, .nbytes = nbytes};
    put(w, &h, key, nkey);
}

void
watch_log_store(struct watch *w, const char *key, size_t nkey, enum watch_store_status status,
                enum watch_store_cmd cmd, uint32_t ttl, unsigned cls, unsigned cfd, uint32_t nbytes)
{
    struct rec h = {.type = REC_STORE,
                    .status = (uint8_t)status,
                    .cmd = (uint8_t)cmd,
                    .ttl = ttl,
                    .cls = cls,
                    .cfd = cfd,
                    .nbytes = nbytes};
    put(w, &h, key, nkey);
}

void
watch_log_evict(struct watch *w, const char *key, size_t nkey, bool fetched, int64_t ttl,
                uint32_t idle, unsigned cls, uint32_t nbytes)
{
    struct rec h = {.type = REC_EVICT,
                    .fetched = fetched,
                    .ttl = ttl,
                    .idle = idle,
                    .cls = cls,
                    .nbytes = nbytes};
    put(w, &h, key, nkey);
}

void
watch_log_conn(struct watch *w, bool open, const struct sockaddr *peer, unsigned cfd,
               int close_reason)
{
    struct rec h = {.type = open ? REC_CONN_NEW : REC_CONN_CLOSE,
                    .status = (uint8_t)close_reason,
                    .cfd = cfd,
                    .family = AF_UNIX};
    char ip[INET6_ADDRSTRLEN] = "unix";
    if (peer != NULL && peer->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)peer;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        h.port = ntohs(in->sin_port);
        h.family = AF_INET;
    } else if (peer != NULL && peer->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)peer;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        h.port = ntohs(in6->sin6_port);
        h.family = AF_INET6;
    }
    put(w, &h, ip, strlen(ip));
}

/* --- the collecting side (under the lock) ------------------------------- */

/* A key, URI-encoded and terminated, into out (3 * REC_TEXT_MAX + 1). */
static void
uri_encode(const char *in, size_t n, char *out)
{
    out[stats_uri_encode(in, n, out)] = '\0';
}

/* memcached's line for a record; its length (< cap). */
static int
format(const struct rec *h, const char *text, uint64_t gid, char *line, size_t cap)
{
    static const char *const get_status[] = {"not_found", "found", "flushed", "expired"};
    static const char *const store_status[] = {"not_stored", "stored",    "exists",
                                               "not_found",  "too_large", "no_memory"};
    static const char *const store_cmd[] = {"null",   "add",     "set", "replace",
                                            "append", "prepend", "cas"};
    static const char *const reasons[] = {"error", "normal", "idle_timeout", "shutdown"};
    char key[3 * REC_TEXT_MAX + 1];
    int n = snprintf(line, cap, "ts=%lld.%d gid=%llu ", (long long)h->ts_sec, (int)h->ts_usec,
                     (unsigned long long)gid);
    if (n < 0 || (size_t)n >= cap) {
        return -1;
    }
    char *p = line + n;
    size_t left = cap - (size_t)n;
    int m = -1;
    switch ((enum rec_type)h->type) {
    case REC_GET:
        uri_encode(text, h->ntext, key);
        m = snprintf(p, left, "type=item_get key=%s status=%s clsid=%u cfd=%u size=%u\n", key,
                     get_status[h->status & 3], h->cls, h->cfd, h->nbytes);
        break;
    case REC_STORE:
        uri_encode(text, h->ntext, key);
        m = snprintf(
            p, left, "type=item_store key=%s status=%s cmd=%s ttl=%u clsid=%u cfd=%u size=%u\n",
            key, store_status[h->status < 6 ? h->status : 0], store_cmd[h->cmd < 7 ? h->cmd : 0],
            (unsigned)h->ttl, h->cls, h->cfd, h->nbytes);
        break;
    case REC_EVICT:
        uri_encode(text, h->ntext, key);
        m = snprintf(p, left, "type=eviction key=%s fetch=%s ttl=%lld la=%u clsid=%u size=%u\n",
                     key, h->fetched ? "yes" : "no", (long long)h->ttl, h->idle, h->cls, h->nbytes);
        break;
    case REC_CONN_NEW:
    case REC_CONN_CLOSE: {
        const char *transport = h->family == AF_UNIX ? "local" : "tcp";
        if (h->type == REC_CONN_NEW) {
            m = snprintf(p, left, "type=conn_new rip=%.*s rport=%u transport=%s cfd=%u\n",
                         (int)h->ntext, text, (unsigned)h->port, transport, h->cfd);
        } else {
            m = snprintf(
                p, left, "type=conn_close rip=%.*s rport=%u transport=%s reason=%s cfd=%u\n",
                (int)h->ntext, text, (unsigned)h->port, transport, reasons[h->status & 3], h->cfd);
        }
        break;
    }
    case REC_TYPES:
        break;
    }
    if (m < 0 || (size_t)m >= left) {
        return -1;
    }
    return n + m;
}

/* Lost lines are told before the next line that fits ("skipped=N\n", as
 * memcached); false when even that did not fit. */
static bool
tell_skipped(struct watcher *wr, size_t more)
{
    if (wr->skipped == 0) {
        return true;
    }
    char note[40];
    int n = snprintf(note, sizeof(note), "skipped=%llu\n", (unsigned long long)wr->skipped);
    if (buf_readable(&wr->queue) + (size_t)n + more > WATCH_QUEUE_SIZE ||
        buf_append(&wr->queue, note, (size_t)n) != 0) {
        return false;
    }
    wr->skipped = 0;
    return true;
}

static void
deliver(struct watch *w, struct watcher *wr, const char *line, size_t n)
{
    if (!tell_skipped(wr, n) || buf_readable(&wr->queue) + n > WATCH_QUEUE_SIZE ||
        buf_append(&wr->queue, line, n) != 0) {
        wr->skipped++;
        w->counts.watcher_skipped++;
        return;
    }
    w->counts.watcher_sent++;
}

static void
fan_out(struct watch *w, const struct rec *h, const char *text)
{
    unsigned cls = rec_class[h->type < REC_TYPES ? h->type : 0];
    char line[1024 + 3 * REC_TEXT_MAX];
    int n = -2; /* not formatted yet: only if someone wants it */
    uint64_t gid = ++w->gid;
    for (unsigned i = 0; i < WATCH_MAX_WATCHERS; i++) {
        struct watcher *wr = w->watchers[i];
        if (wr == NULL || !(wr->flags & cls)) {
            continue;
        }
        if (n == -2) {
            n = format(h, text, gid, line, sizeof(line));
        }
        if (n > 0) {
            deliver(w, wr, line, (size_t)n);
        }
    }
}

static void
collect_ring(struct watch *w, struct ring *r)
{
    uint64_t head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
    uint64_t tail = r->tail; /* only collectors write it, under the lock */
    while (head - tail >= sizeof(struct rec)) {
        struct rec h;
        char text[REC_TEXT_MAX];
        ring_copy_out(r, tail, &h, sizeof(h));
        ring_copy_out(r, tail + sizeof(h), text, h.ntext);
        tail += sizeof(h) + h.ntext;
        if (h.type < REC_TYPES) {
            fan_out(w, &h, text);
        }
    }
    __atomic_store_n(&r->tail, tail, __ATOMIC_RELEASE);
    uint64_t written = __atomic_load_n(&r->written, __ATOMIC_RELAXED);
    w->counts.worker_written += written - r->seen_written;
    r->seen_written = written;
    for (unsigned t = 0; t < REC_TYPES; t++) {
        uint64_t dropped = __atomic_load_n(&r->dropped[t], __ATOMIC_RELAXED);
        uint64_t lost = dropped - r->seen_dropped[t];
        r->seen_dropped[t] = dropped;
        if (lost == 0) {
            continue;
        }
        w->counts.worker_dropped += lost;
        for (unsigned i = 0; i < WATCH_MAX_WATCHERS; i++) {
            struct watcher *wr = w->watchers[i];
            if (wr != NULL && (wr->flags & rec_class[t])) {
                wr->skipped += lost;
                w->counts.watcher_skipped += lost;
            }
        }
    }
}

static void
collect_locked(struct watch *w)
{
    for (struct ring *r = w->rings; r != NULL; r = r->next) {
        collect_ring(w, r);
    }
}

/* The classes any watcher wants, into the stats object's wanted word. */
static void
publish_flags_locked(struct watch *w)
{
    unsigned flags = 0;
    for (unsigned i = 0; i < WATCH_MAX_WATCHERS; i++) {
        if (w->watchers[i] != NULL) {
            flags |= w->watchers[i]->flags;
        }
    }
    stats_want(w->st, flags & STATS_WANT_WATCH, STATS_WANT_WATCH & ~flags);
}

enum watch_add_rc
watch_add(struct watch *w, unsigned flags, struct watcher **out)
{
    struct watcher *wr = calloc(1, sizeof(*wr));
    if (wr == NULL) {
        return WATCH_FAILED;
    }
    wr->flags = flags;
    buf_init(&wr->queue);
    pthread_mutex_lock(&w->lock);
    unsigned slot = 0;
    while (slot < WATCH_MAX_WATCHERS && w->watchers[slot] != NULL) {
        slot++;
    }
    if (slot == WATCH_MAX_WATCHERS) {
        pthread_mutex_unlock(&w->lock);
        free(wr);
        return WATCH_TOO_MANY;
    }
    /* What was logged before goes to the watchers that were there. */
    collect_locked(w);
    w->watchers[slot] = wr;
    w->nwatchers++;
    publish_flags_locked(w);
    pthread_mutex_unlock(&w->lock);
    *out = wr;
    return WATCH_ADDED;
}

void
watch_remove(struct watch *w, struct watcher **wrp)
{
    struct watcher *wr = *wrp;
    if (wr == NULL) {
        return;
    }
    pthread_mutex_lock(&w->lock);
    for (unsigned i = 0; i < WATCH_MAX_WATCHERS; i++) {
        if (w->watchers[i] == wr) {
            w->watchers[i] = NULL;
            w->nwatchers--;
        }
    }
    publish_flags_locked(w);
    pthread_mutex_unlock(&w->lock);
    buf_fini(&wr->queue);
    free(wr);
    *wrp = NULL;
}

int
watch_drain(struct watch *w, struct watcher *wr, struct buf *out, size_t room)
{
    int rc = 0;
    pthread_mutex_lock(&w->lock);
    collect_locked(w);
    (void)tell_skipped(wr, 0);
    struct buf *q = &wr->queue;
    size_t n = buf_readable(q) < room ? buf_readable(q) : room;
    if (n > 0) {
        rc = buf_append(out, q->data + q->rpos, n);
        if (rc == 0) {
            q->rpos += n;
        }
    }
    if (buf_readable(q) == 0) {
        buf_reset(q);
        buf_shrink(q, 16 * 1024);
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

/* The counts as of now: what collection has seen, plus what the rings
 * have written and dropped since (a watcher that is not read collects
 * nothing, and its log's drops must still show). */
void
watch_counts(struct watch *w, struct watch_counts *c)
{
    pthread_mutex_lock(&w->lock);
    *c = w->counts;
    c->watchers = w->nwatchers;
    for (const struct ring *r = w->rings; r != NULL; r = r->next) {
        c->worker_written += __atomic_load_n(&r->written, __ATOMIC_RELAXED) - r->seen_written;
        for (unsigned t = 0; t < REC_TYPES; t++) {
            c->worker_dropped +=
                __atomic_load_n(&r->dropped[t], __ATOMIC_RELAXED) - r->seen_dropped[t];
        }
    }
    pthread_mutex_unlock(&w->lock);
}
