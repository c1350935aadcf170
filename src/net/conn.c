/*
 * conn: one client connection on one worker.
 *
 * Reading: input lands in rbuf (storage borrowed from the worker's pool
 * while the connection has unparsed bytes, so idle connections hold no
 * buffer). Every read is handed to the session at once, which parses in
 * place and appends replies to out[active]. A connection that yields
 * (-R requests served, more buffered) stops reading until the ready list
 * has served what it holds: input is back-pressured like output.
 *
 * Writing: replies are not written per request. A connection with replies
 * goes on the worker's dirty list and the worker's check handle flushes it
 * once per loop turn, after every read of that turn has been parsed: one
 * non-blocking send (conn_send) for however many pipelined requests arrived. A
 * connection whose replies fill a large buffer (over CONN_OUT_SMALL: one
 * from the worker's pool) writes them as soon as its read is served
 * instead, so that the buffer is back in the pool for the next
 * connection of the same turn. What the
 * kernel does not take at once is sent from that buffer as the socket
 * takes it, while the session fills the other one (double buffering, no
 * copy).
 *
 * The socket: the listener accepts it (listener.c), a libuv poll handle
 * (io) says when it is readable or writable, and the reads and writes are
 * recv(2) and send(2) here. A libuv stream would read with read(2), whose
 * trip through the VFS layer (fdget_pos, rw_verify_area, fsnotify) costs
 * ~0.2 us a call more than recv on this kernel: 1-3% of a pipelined
 * request's CPU (bench/README, "Where a pipelined get's instructions
 * go"). A poll handle is also 88 bytes smaller than a TCP stream.
 *
 * Back-pressure: the session pauses when out[active] passes
 * SESSION_OUT_HIGH; the connection then stops reading until its writes
 * drain, so a client that never reads costs at most two bounded buffers.
 * Many such clients together are bounded by the worker's conn_budget:
 * past it, the connections holding unsent replies are closed, largest
 * first, and counted in conns_closed_output (shed_output). What a session
 * holds between requests (a RESP MULTI queue: session_held_bytes) counts
 * too, and such a connection may be closed the same way.
 *
 * TLS (net/tls.h): libuv reads ciphertext into the worker's scratch
 * buffer; tls_read() decrypts all of it into rbuf at once and the session
 * runs as above. Replies go to pout, and a flush first encrypts pout onto
 * out[active] in one SSL_write (tls_seal), then writes out[] exactly as
 * for a plain connection, so batching, double buffering and back-pressure
 * are the same code. A close_notify from the client is an EOF that waits
 * until the requests before it are answered (peer_eof).
 *
 * Lifetime: conn_close() closes the poll handle and the socket; the
 * struct is freed in on_close(). A write in flight is dropped with it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/net_internal.h"
#include "net/tls.h"
#include "stashd/cmd/stats.h"
#include "stashd/util/clock.h"
#include "stashd/util/log.h"
#include "stashd/util/options.h"

/* A drained reply buffer up to CONN_OUT_SMALL stays with its connection;
 * a larger one goes to the worker's pool, cut to CONN_OUT_KEEP (see
 * out_drained). */
#define CONN_OUT_SMALL (16 * 1024)
#define CONN_OUT_KEEP (64 * 1024)
/* A connection idle this many seconds gives back its reply buffers
 * (conn_sweep): an idle connection holds its struct and, with TLS, its
 * OpenSSL session, not the buffers of its last replies. 10,000 plain
 * connections that each had one reply: 2.4 -> 1.2 KiB of RSS each (0.9
 * since the struct lost its write request); TLS, 1000 connections: 17.2
 * KiB each instead of 19.7. Busy connections keep theirs: no allocation
 * per batch. */
#define CONN_IDLE_RELEASE 2

/* Connection structs and fresh reply buffers in different jemalloc size
 * classes (util/buf.h, BUF_MIN_CAP). */
_Static_assert(sizeof(struct conn) < BUF_MIN_CAP_CLASS_LO || sizeof(struct conn) > BUF_MIN_CAP,
               "struct conn shares reply buffers' first size class");

static void conn_run(struct conn *c);
static void conn_flush(struct conn *c);

static void
set_state(struct conn *c, const char *state)
{
    __atomic_store_n(&c->state, state, __ATOMIC_RELAXED);
}

static void conn_close(struct conn *c, enum stats_close_reason why);
static void on_io(uv_poll_t *h, int status, int events);

/*
 * The worker's connection buffers passed its budget: close connections
 * whose clients are behind on reading (a write in flight: the kernel did
 * not take all of their replies) or whose sessions hold state between
 * requests (a MULTI queue), largest first, until the rest fits.
 * A client that reads what it asked for is never closed here; its buffers
 * are bounded per connection (a request, and SESSION_OUT_HIGH of replies
 * plus one item). Closed connections free their buffers in on_close, so
 * they are subtracted here instead. Runs only over budget: O(connections)
 * per close.
 */
static void
shed_output(struct worker *w)
{
    for (;;) {
        uint64_t held = __atomic_load_n(&w->metrics.conn_buffer_bytes, __ATOMIC_RELAXED);
        struct conn *worst = NULL;
        for (struct conn *c = w->conns; c != NULL; c = c->next) {
            if (c->closed) {
                held -= c->accounted;
            } else if ((c->writing || c->held > CONN_OUT_KEEP) &&
                       (worst == NULL || c->accounted > worst->accounted)) {
                worst = c;
            }
        }
        if (held <= w->conn_budget || worst == NULL) {
            return;
        }
        char a[CONN_ADDR_MAX];
        log_verbose("closing %s: %zu bytes of unread replies, connection buffers over %" PRIu64
                    " bytes",
                    conn_format_addr(worst, a), worst->accounted, w->conn_budget);
        METRIC_INC(&w->metrics, conns_closed_output);
        conn_close(worst, STATS_CLOSE_ERROR);
    }
}

/* Keep the worker's conn_buffer_bytes gauge equal to what its
 * connections hold: called after anything that may resize a buffer. */
static void
account(struct conn *c)
{
    c->held = session_held_bytes(&c->sess);
    size_t now = c->rbuf.cap + c->out[0].cap + c->out[1].cap + c->pout.cap + c->held;
    if (now != c->accounted) {
        struct worker *w = c->w;
        METRIC_ADD(&w->metrics, conn_buffer_bytes, (uint64_t)now - (uint64_t)c->accounted);
        bool grew = now > c->accounted;
        c->accounted = now;
        if (grew &&
            __atomic_load_n(&w->metrics.conn_buffer_bytes, __ATOMIC_RELAXED) > w->conn_budget) {
            shed_output(w);
        }
    }
}

/* --- latency --------------------------------------------------------- */

const char *const lat_family_names[LAT_FAMILIES] = {"get", "set", "delete", "incr_decr", "touch"};
_Static_assert(LAT_BUCKETS == 16, "lat_record searches 15 bounds in four steps");
const uint64_t lat_bounds_ns[LAT_BUCKETS - 1] = {
    10000,   25000,    50000,    100000,   250000,    500000,    1000000,    2500000,
    5000000, 10000000, 25000000, 50000000, 100000000, 250000000, 1000000000,
};

/* Requests per family so far on this worker (cmd_get counts keys). */
static void
lat_snapshot(const struct metrics *m, uint64_t out[LAT_FAMILIES])
{
    out[LAT_GET] = m->cmd_get;
    out[LAT_SET] = m->cmd_set;
    out[LAT_DELETE] = m->delete_hits + m->delete_misses;
    out[LAT_ARITH] = m->incr_hits + m->incr_misses + m->decr_hits + m->decr_misses;
    out[LAT_TOUCH] = m->cmd_touch;
}

/* The replies of the pending batch are all written: record their latency. */
static void
lat_record(struct conn *c)
{
    if (c->batch_ns == 0) {
        return;
    }
    uint64_t ns = clock_mono_ns() - c->batch_ns;
    /* The bounds ns is over (0..15), in four steps over the 15 ascending
     * bounds rather than a walk up them (~20 instructions a batch less). */
    const uint64_t *lb = lat_bounds_ns;
    unsigned b = ns > lb[7] ? 8 : 0;
    b += ns > lb[b + 3] ? 4 : 0;
    b += ns > lb[b + 1] ? 2 : 0;
    b += ns > lb[b] ? 1 : 0;
    struct net_latency *l = &c->w->lat;
    for (unsigned f = 0; f < LAT_FAMILIES; f++) {
        uint32_t n = c->lat_pending[f];
        if (n != 0) {
            METRIC_ADD(l, bucket[f][b], n);
            METRIC_ADD(l, sum_ns[f], ns * n);
            c->lat_pending[f] = 0;
        }
    }
    c->batch_ns = 0;
}

/* --- read-buffer pool ---------------------------------------------- */

static void
rbuf_borrow(struct conn *c)
{
    struct worker *w = c->w;
    bool pooled = w->rpool_n > 0;
    char *p = pooled ? w->rpool[--w->rpool_n] : malloc(NET_RBUF_SIZE);
    if (pooled) {
        METRIC_ADD(&w->metrics, conn_buffer_bytes, (uint64_t)0 - NET_RBUF_SIZE);
        if (w->rpool_n < w->rpool_low) {
            w->rpool_low = w->rpool_n;
        }
    }
    if (p != NULL) {
        c->rbuf.data = p;
        c->rbuf.cap = NET_RBUF_SIZE;
        c->rbuf.rpos = c->rbuf.wpos = 0;
    }
}

/* Give the read buffer back once everything in it has been parsed. */
static void
rbuf_release_if_empty(struct conn *c)
{
    struct buf *b = &c->rbuf;
    struct worker *w = c->w;
    if (b->data == NULL || buf_readable(b) != 0) {
        return;
    }
    if (b->cap == NET_RBUF_SIZE && w->rpool_n < w->rpool_cap) {
        w->rpool[w->rpool_n++] = b->data;
        METRIC_ADD(&w->metrics, conn_buffer_bytes, NET_RBUF_SIZE); /* now the pool's */
        buf_init(b);
    } else {
        buf_fini(b);
    }
}

/* --- reply-buffer pool --------------------------------------------- */

/*
 * A reply buffer was just written out (empty, not in flight). Up to
 * CONN_OUT_SMALL it stays with the connection. A larger one goes to the
 * worker's pool, at most CONN_OUT_KEEP of it, or is freed when the pool is
 * full; the connection takes a pooled one back before it next serves
 * requests (out_borrow). A worker serves one connection at a time and a
 * loopback write usually completes at once, so a few pooled buffers serve
 * every connection that asks for large replies: churn at -m 64, 24
 * connections with 50-key gets of 10 B-500 kB values held 1.5 MiB of
 * reply buffers (64 KiB per idle connection) and now about 0.4, and a
 * client that asks for 50 kB replies does not regrow its buffer per
 * request (which cutting buffers to 16 KiB on every drain cost: +11% CPU).
 */
static void
out_drained(struct conn *c, struct buf *b)
{
    if (b->cap <= CONN_OUT_SMALL || buf_readable(b) != 0) {
        return;
    }
    struct worker *w = c->w;
    if (w->opool_n == NET_OPOOL_MAX) {
        buf_shrink(b, 0);
        return;
    }
    buf_shrink(b, CONN_OUT_KEEP); /* in place: jemalloc shrinks large extents */
    w->opool[w->opool_n].data = b->data;
    w->opool[w->opool_n].cap = b->cap;
    w->opool_n++;
    METRIC_ADD(&w->metrics, conn_buffer_bytes, b->cap); /* now the pool's */
    buf_init(b);
}

/* Before serving: a connection without a reply buffer takes a pooled one. */
static void
out_borrow(struct conn *c)
{
    struct buf *b = c->sess.out;
    struct worker *w = c->w;
    if (b->data != NULL || w->opool_n == 0) {
        return;
    }
    struct net_obuf *ob = &w->opool[--w->opool_n];
    if (w->opool_n < w->opool_low) {
        w->opool_low = w->opool_n;
    }
    b->data = ob->data;
    b->cap = ob->cap;
    b->rpos = b->wpos = 0;
    METRIC_ADD(&w->metrics, conn_buffer_bytes, (uint64_t)0 - ob->cap); /* now c's: account */
}

/* --- lists ---------------------------------------------------------- */

static void
mark_dirty(struct conn *c)
{
    if (!c->dirty && !c->closed) {
        c->dirty = true;
        c->next_dirty = c->w->dirty;
        c->w->dirty = c;
    }
}

static void
on_ready_idle(uv_idle_t *h)
{
    conn_run_ready(h->data);
}

static void
mark_ready(struct conn *c)
{
    if (!c->ready && !c->closed) {
        c->ready = true;
        c->next_ready = c->w->ready;
        c->w->ready = c;
        uv_idle_start(&c->w->ready_idle, on_ready_idle);
    }
}

static void
unlink_from(struct conn **head, struct conn *c, size_t next_off)
{
    for (struct conn **pp = head; *pp != NULL; pp = (struct conn **)((char *)*pp + next_off)) {
        if (*pp == c) {
            *pp = *(struct conn **)((char *)c + next_off);
            return;
        }
    }
}

/* --- close ---------------------------------------------------------- */

static void
on_close(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct worker *w = c->w;
    if (c->dirty) {
        unlink_from(&w->dirty, c, offsetof(struct conn, next_dirty));
    }
    if (c->ready) {
        unlink_from(&w->ready, c, offsetof(struct conn, next_ready));
    }
    if (c->streaming) {
        unlink_from(&w->streams, c, offsetof(struct conn, next_stream));
    }
    struct stats *st = net_env(w->net)->stats;
    if (stats_wanted(st) & STATS_WANT_CONNEVENTS) {
        stats_log_conn(st, false, c->is_unix ? NULL : &c->peer.sa, c->id,
                       (enum stats_close_reason)c->close_reason);
    }
    pthread_mutex_lock(&w->conns_lock);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        w->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    pthread_mutex_unlock(&w->conns_lock);
    METRIC_DEC(&w->metrics, curr_connections);
    net_conn_release(w->net);
    session_fini(&c->sess);
    c->rbuf.rpos = c->rbuf.wpos; /* discard unparsed input */
    rbuf_release_if_empty(c);
    buf_fini(&c->out[0]);
    buf_fini(&c->out[1]);
    buf_fini(&c->pout);
    account(c);
    tls_conn_destroy(&c->tls);
    free(c);
}

/* Close; why is what `watch connevents` reports (memcached's reasons). */
static void
conn_close(struct conn *c, enum stats_close_reason why)
{
    if (c->closed) {
        return;
    }
    c->closed = true;
    c->close_reason = (uint8_t)why;
    set_state(c, "conn_closing");
    c->reading = false;
    c->writing = false;
    uv_close((uv_handle_t *)&c->io, on_close); /* stops polling the socket at once */
    close(c->fd);
}

/*
 * Poll for what the connection waits for: input while reading, room in
 * the socket while a write is in flight. A connection that yielded
 * (c->ready) stops reading only until the next loop turn serves it, a
 * turn that does not wait (the ready list's idle handle), so its poll
 * stays as it is: changing what a libuv poll handle watches costs two
 * epoll_ctl calls (uv_poll_start deletes the descriptor at once and adds
 * it back at the next poll), and a pipeline deeper than -R yields on
 * every read. on_io ignores input while not reading.
 */
static void
io_update(struct conn *c)
{
    bool in = c->reading || (c->ready && !c->paused && !c->closing);
    uint8_t want = (uint8_t)((in ? UV_READABLE : 0) | (c->writing ? UV_WRITABLE : 0));
    if (want == c->io_events || c->closed) {
        return;
    }
    c->io_events = want;
    int rc = want != 0 ? uv_poll_start(&c->io, want, on_io) : uv_poll_stop(&c->io);
    if (rc != 0) {
        conn_close(c, STATS_CLOSE_ERROR);
    }
}

/* --- reading -------------------------------------------------------- */

/* Where the next read goes: out->len 0 when no buffer could be had. */
static void
read_into(struct conn *c, uv_buf_t *out)
{
    struct buf *b = &c->rbuf;
    if (c->tls != NULL) {
        /* Decrypted into rbuf by tls_read before the next read of any
         * connection of this worker. */
        *out = uv_buf_init(c->w->tls_scratch, NET_TLS_SCRATCH);
        return;
    }
    *out = uv_buf_init(NULL, 0);
    if (c->sess.sink != NULL && (b->data == NULL || buf_readable(b) == 0)) {
        /* A large value stored in place: read it into its item, no copy
         * (only once everything before it is parsed: nothing is then). */
        char *dst;
        size_t room = session_sink_room(&c->sess, &dst);
        if (room > 0) {
            c->into_sink = true;
            *out = uv_buf_init(dst, room > (1u << 30) ? (1u << 30) : (unsigned)room);
            return;
        }
    }
    if (b->data == NULL) {
        rbuf_borrow(c);
        if (b->data == NULL) {
            return; /* on_read gets UV_ENOBUFS and closes */
        }
    }
    size_t have = buf_readable(b);
    size_t want = 4096;
    if (c->need > have && c->need - have > want) {
        want = c->need - have; /* a large value: read it in one piece */
    }
    if (buf_writable(b) < want &&
        buf_reserve(b, want, session_max_request(&c->sess) + NET_RBUF_SIZE) != 0) {
        return;
    }
    *out = uv_buf_init(b->data + b->wpos, (unsigned)buf_writable(b));
}

static void
stop_reading(struct conn *c)
{
    c->reading = false;
    io_update(c); /* also when not reading: a yielded one may be closing now */
}

static void tls_read(struct conn *c, size_t nread);

/* Not while yielded (c->ready): the input already buffered is served
 * first, so a client that pipelines faster than -R lets it be served
 * is held back by TCP instead of growing rbuf past its bound. */
static void
start_reading(struct conn *c)
{
    if (!c->reading && !c->closed && !c->closing && !c->paused && !c->ready) {
        if (c->peer_eof) {
            /* The TLS client said close_notify: its EOF, now that what it
             * sent before is served. */
            c->closing = true;
            mark_dirty(c);
            return;
        }
        c->reading = true;
        io_update(c);
    }
}

/* What one read brought: nread bytes, or a libuv error (UV_EOF). */
static void
on_read(struct conn *c, ssize_t nread)
{
    bool into_sink = c->into_sink;
    c->into_sink = false;
    if (into_sink && nread > 0) {
        METRIC_ADD(&c->w->metrics, bytes_read, (uint64_t)nread);
        session_sink_wrote(&c->sess, (size_t)nread);
        __atomic_store_n(&c->last_active, clock_now(), __ATOMIC_RELAXED);
        char *dst;
        if (session_sink_room(&c->sess, &dst) == 0) {
            /* The value is all in: a binary set is complete (text's
             * closing "\r\n" comes through rbuf and completes it there). */
            if (c->batch_ns == 0) {
                c->batch_ns = clock_mono_ns();
            }
            conn_run(c);
        }
        return;
    }
    if (nread < 0) {
        /* EOF or error: answer what was already asked, then close. */
        stop_reading(c);
        if (nread == UV_EOF && !c->closed) {
            c->closing = true;
            mark_dirty(c);
        } else {
            conn_close(c, STATS_CLOSE_ERROR);
        }
        return;
    }
    if (nread == 0) {
        rbuf_release_if_empty(c);
        account(c);
        return;
    }
    METRIC_ADD(&c->w->metrics, bytes_read, (uint64_t)nread);
    if (c->tls != NULL) {
        tls_read(c, (size_t)nread);
        return;
    }
    c->rbuf.wpos += (size_t)nread;
    if (c->batch_ns == 0) {
        c->batch_ns = clock_mono_ns();
    }
    conn_run(c);
}

/* Reads per readiness: as libuv's stream, a read that fills its buffer
 * is followed by another, up to this many, before other sockets' turn. */
#define CONN_READS_PER_WAKE 32

/* The socket is readable: read until it is empty, the connection stops
 * reading, or CONN_READS_PER_WAKE reads filled their buffers. */
static void
read_ready(struct conn *c)
{
    for (unsigned n = 0; n < CONN_READS_PER_WAKE && c->reading; n++) {
        uv_buf_t b;
        read_into(c, &b);
        if (b.len == 0) {
            on_read(c, UV_ENOBUFS);
            return;
        }
        ssize_t r;
        do {
            r = recv(c->fd, b.base, b.len, MSG_DONTWAIT);
        } while (r < 0 && errno == EINTR);
        if (r < 0) {
            bool again = errno == EAGAIN || errno == EWOULDBLOCK;
            on_read(c, again ? 0 : uv_translate_sys_error(errno));
            return;
        }
        on_read(c, r == 0 ? UV_EOF : r);
        if ((size_t)r < b.len) {
            return; /* the socket is empty: no second read to learn it */
        }
    }
}

static void write_more(struct conn *c);

static void
on_io(uv_poll_t *h, int status, int events)
{
    struct conn *c = h->data;
    if (status < 0) {
        /* An error on the socket (a reset, say); libuv stopped polling
         * it. What the client sent before the error is still queued and
         * is served first, as memcached does: recv reports the error once
         * that is read. A write in flight cannot finish. */
        c->io_events = 0;
        if (c->reading) {
            read_ready(c);
        }
        if (c->writing) {
            conn_close(c, STATS_CLOSE_ERROR);
        } else {
            io_update(c); /* poll again while (or once) it reads */
        }
        return;
    }
    if ((events & UV_WRITABLE) && c->writing) {
        write_more(c);
    }
    if ((events & UV_READABLE) && c->reading) {
        read_ready(c);
    }
}

/* --- streams (memcached's watch) ----------------------------------------- */

static void
on_stream_tick(uv_timer_t *h)
{
    struct worker *w = h->data;
    for (struct conn *c = w->streams; c != NULL; c = c->next_stream) {
        /* a watcher still writing what it was given gets nothing more:
         * the log keeps it (bounded) or tells it what it skipped */
        if (c->closed || c->closing || c->writing) {
            continue;
        }
        if (session_stream(&c->sess) == SESSION_CLOSE) {
            c->closing = true;
        }
        if (buf_readable(c->sess.out) > 0 || c->closing) {
            conn_flush(c);
        }
        account(c);
    }
    if (w->streams == NULL) {
        uv_timer_stop(&w->stream_tick);
    }
}

/* The session became a stream: serve it from the worker's stream timer. */
static void
stream_start(struct conn *c)
{
    struct worker *w = c->w;
    c->streaming = true;
    set_state(c, "conn_watch");
    c->next_stream = w->streams;
    w->streams = c;
    if (!uv_is_active((uv_handle_t *)&w->stream_tick)) {
        uv_timer_start(&w->stream_tick, on_stream_tick, SESSION_STREAM_MS, SESSION_STREAM_MS);
    }
}

/*
 * Serve what rbuf holds until the session wants more input, yields, pauses
 * on a full reply buffer, or asks to close.
 */
static void
conn_run(struct conn *c)
{
    if (c->closed || c->paused) {
        return;
    }
    set_state(c, "conn_parse_cmd");
    out_borrow(c);
    uint64_t before[LAT_FAMILIES], after[LAT_FAMILIES];
    lat_snapshot(&c->w->metrics, before);
    for (;;) {
        struct buf *b = &c->rbuf;
        size_t consumed = 0, need = 0;
        const char *data = b->data != NULL ? b->data + b->rpos : "";
        enum session_rc rc = session_process(&c->sess, data, buf_readable(b), &consumed, &need);
        b->rpos += consumed;
        c->need = need;
        if (consumed > 0) {
            __atomic_store_n(&c->last_active, clock_now(), __ATOMIC_RELAXED);
        }
        if (rc == SESSION_OK) {
            break;
        }
        if (rc == SESSION_YIELD) {
            METRIC_INC(&c->w->metrics, conn_yields);
            mark_ready(c);
            stop_reading(c); /* until conn_run_ready has served what is here */
            break;
        }
        if (rc == SESSION_CLOSE) {
            c->closing = true;
            stop_reading(c);
            break;
        }
        /* SESSION_PAUSE: write now; go on only if it all went out. */
        conn_flush(c);
        if (c->closed) {
            return;
        }
        if (c->writing) {
            c->paused = true;
            set_state(c, "conn_mwrite");
            stop_reading(c);
            break;
        }
    }
    if (!c->streaming && session_streaming(&c->sess)) {
        stream_start(c);
    }
    lat_snapshot(&c->w->metrics, after);
    for (unsigned f = 0; f < LAT_FAMILIES; f++) {
        c->lat_pending[f] += (uint32_t)(after[f] - before[f]);
    }
    if (buf_readable(&c->rbuf) == 0) {
        c->rbuf.rpos = c->rbuf.wpos = 0;
        rbuf_release_if_empty(c);
        if (!c->paused) {
            set_state(c, "conn_waiting");
        }
        if (c->w->draining && !c->paused && !c->ready && !session_sink_active(&c->sess)) {
            /* Draining: nothing half-sent is left; close after replies. */
            c->closing = true;
            stop_reading(c);
        }
    }
    if (buf_readable(c->sess.out) > 0 && !c->closing && !c->writing && c->tls == NULL &&
        c->sess.out->cap > CONN_OUT_SMALL) {
        /* A large reply buffer (one from the pool, or grown): written now
         * rather than at the end of the loop turn, so that, drained, it is
         * back in the pool for the next connection this turn serves. At
         * the turn's end, every connection served in it held one: 24
         * clients of 50-key gets of 10 B-500 kB values kept the pool at
         * 18-23 buffers of 64 KiB. */
        conn_flush(c);
        if (c->closed) {
            return;
        }
    }
    if (buf_readable(c->sess.out) > 0 || c->closing) {
        mark_dirty(c);
    } else if (!c->writing && buf_readable(&c->rbuf) == 0) {
        lat_record(c); /* served with nothing to send (noreply) */
    }
    account(c);
}

/*
 * TLS: decrypt the ciphertext just read into rbuf and serve it. What TLS
 * answers by itself (handshake, alerts, tickets) is on out[active] and
 * goes with the next flush. A failure sends that alert and closes,
 * dropping any requests decrypted with it.
 */
static void
tls_read(struct conn *c, size_t nread)
{
    struct buf *b = &c->rbuf;
    if (b->data == NULL) {
        rbuf_borrow(c);
        if (b->data == NULL) {
            conn_close(c, STATS_CLOSE_ERROR);
            return;
        }
    }
    /* One read's plaintext may come on top of the largest request. */
    size_t max = session_max_request(&c->sess) + NET_RBUF_SIZE + NET_TLS_SCRATCH;
    struct buf *tx = &c->out[c->active];
    size_t plain = 0;
    enum tls_rc rc = tls_conn_input(c->tls, c->w->tls_scratch, nread, b, max, tx, &plain);
    if (buf_readable(tx) > 0) {
        mark_dirty(c);
    }
    /* Only TLS's own messages reach tx here (replies are sealed at flush
     * time), so much of it means a peer that makes TLS talk and never
     * reads: close it like one that fails. */
    if (rc == TLS_FAIL || rc == TLS_LIMIT || buf_readable(tx) > SESSION_OUT_HIGH) {
        stop_reading(c);
        b->rpos = b->wpos;
        buf_reset(&c->pout);
        c->closing = true;
        mark_dirty(c);
        rbuf_release_if_empty(c);
        account(c);
        return;
    }
    if (plain > 0) {
        if (c->batch_ns == 0) {
            c->batch_ns = clock_mono_ns();
        }
        conn_run(c);
    } else {
        rbuf_release_if_empty(c);
        account(c);
    }
    if (rc == TLS_EOF) {
        c->peer_eof = true;
        stop_reading(c);
        start_reading(c); /* the EOF, unless yielded or paused: then after */
    }
}

/* --- writing -------------------------------------------------------- */

/*
 * TLS: encrypt the replies gathered since the last flush onto out[active]
 * in one SSL_write, then the close_notify if the connection is closing.
 * Called only while no write is in flight, so out[active] is not being
 * written. -1 when the connection was closed.
 */
static int
tls_seal(struct conn *c)
{
    struct buf *o = &c->out[c->active];
    if (buf_readable(&c->pout) > 0) {
        if (tls_conn_output(c->tls, &c->pout, o) != 0) {
            conn_close(c, STATS_CLOSE_ERROR);
            return -1;
        }
        out_drained(c, &c->pout);
        account(c);
    }
    if (c->closing) {
        tls_conn_shutdown(c->tls, o);
    }
    return 0;
}

/* The write in flight ended: its buffer is drained (status 0), or the
 * socket failed (status < 0). What waited for it goes on. */
static void
write_done(struct conn *c, int status)
{
    c->writing = false;
    struct buf *done = &c->out[c->active ^ 1];
    if (status < 0) {
        conn_close(c, STATS_CLOSE_ERROR);
        return;
    }
    io_update(c);
    buf_reset(done);
    out_drained(c, done);
    account(c);
    conn_flush(c);
    if (c->closed || c->writing) {
        return;
    }
    if (c->paused) {
        c->paused = false;
        conn_run(c);
        start_reading(c);
    }
}

static ssize_t conn_send(struct conn *c, const uv_buf_t *b, unsigned n);

/* The socket has room: send more of the write in flight (out[!active]). */
static void
write_more(struct conn *c)
{
    struct buf *o = &c->out[c->active ^ 1];
    size_t n = buf_readable(o);
    uv_buf_t ub = uv_buf_init(o->data + o->rpos, (unsigned)n);
    ssize_t r = conn_send(c, &ub, 1);
    if (r < 0) {
        write_done(c, (int)r);
        return;
    }
    METRIC_ADD(&c->w->metrics, bytes_written, (uint64_t)r);
    o->rpos += (size_t)r;
    if ((size_t)r == n) {
        write_done(c, 0);
    }
}

/*
 * Send what b[0..n) (n 1 or 2) holds on c's socket now, without waiting:
 * the bytes the kernel took, 0 when the socket is full, or a negative
 * libuv error. send(2) and sendmsg(2) rather than write(2) and writev(2),
 * which go through the VFS layer (fdget_pos, vfs_write, fsnotify): on
 * this kernel a loopback send of a batch's replies costs ~100-160 ns less
 * than its write. A new batch only while no write is in flight
 * (c->writing), so that bytes leave in order.
 */
static ssize_t
conn_send(struct conn *c, const uv_buf_t *b, unsigned n)
{
    ssize_t r;
    do {
        if (n == 1) {
            r = send(c->fd, b[0].base, b[0].len, MSG_DONTWAIT | MSG_NOSIGNAL);
        } else {
            struct iovec iov[2] = {{.iov_base = b[0].base, .iov_len = b[0].len},
                                   {.iov_base = b[1].base, .iov_len = b[1].len}};
            struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
            r = sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
    } while (r < 0 && errno == EINTR);
    if (r >= 0) {
        return r;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        return 0;
    }
    return uv_translate_sys_error(errno);
}

static void
conn_flush(struct conn *c)
{
    if (c->writing || c->closed) {
        return;
    }
    if (c->tls != NULL && tls_seal(c) != 0) {
        return;
    }
    struct buf *o = &c->out[c->active];
    size_t n = buf_readable(o);
    if (n == 0) {
        lat_record(c); /* an async write just finished the batch */
        if (c->closing) {
            conn_close(c, STATS_CLOSE_NORMAL);
        }
        return;
    }
    uv_buf_t ub = uv_buf_init(o->data + o->rpos, (unsigned)n);
    ssize_t r = conn_send(c, &ub, 1);
    if (r < 0) {
        conn_close(c, STATS_CLOSE_ERROR);
        return;
    }
    METRIC_ADD(&c->w->metrics, bytes_written, (uint64_t)r);
    o->rpos += (size_t)r;
    if ((size_t)r == n) {
        buf_reset(o);
        out_drained(c, o);
        account(c);
        lat_record(c);
        if (c->closing) {
            conn_close(c, STATS_CLOSE_NORMAL);
        }
        return;
    }
    /* The kernel took part of it: send the rest from this buffer as the
     * socket drains, and let the session fill the other one meanwhile. */
    c->active ^= 1;
    if (c->tls == NULL) {
        c->sess.out = &c->out[c->active]; /* TLS sessions write to pout */
    }
    c->writing = true;
    io_update(c);
}

/*
 * session.write_now: a large value straight from item memory, with the
 * replies before it (cmd/session.h). Only while no write is in flight,
 * so bytes leave in order; a refusal or an error takes nothing, and the
 * flush that follows reports the error.
 */
static size_t
write_now(void *ctx, const char *a, size_t alen, const char *b, size_t blen)
{
    struct conn *c = ctx;
    if (c->writing || c->closed || c->closing) {
        return 0;
    }
    uv_buf_t ub[2] = {uv_buf_init((char *)a, (unsigned)alen),
                      uv_buf_init((char *)b, (unsigned)blen)};
    ssize_t r = alen > 0 ? conn_send(c, ub, 2) : conn_send(c, ub + 1, 1);
    if (r <= 0) {
        return 0;
    }
    METRIC_ADD(&c->w->metrics, bytes_written, (uint64_t)r);
    return (size_t)r;
}

void
conn_flush_dirty(struct worker *w)
{
    struct conn *list = w->dirty;
    w->dirty = NULL;
    while (list != NULL) {
        struct conn *c = list;
        list = c->next_dirty;
        c->dirty = false;
        conn_flush(c);
    }
}

void
conn_run_ready(struct worker *w)
{
    struct conn *list = w->ready;
    w->ready = NULL;
    while (list != NULL) {
        struct conn *c = list;
        list = c->next_ready;
        c->ready = false;
        conn_run(c);
        start_reading(c); /* a no-op if it yielded again, paused or closes */
    }
    if (w->ready == NULL) {
        uv_idle_stop(&w->ready_idle);
    }
    /* The check handle runs only after the next poll, which may block:
     * flush what this turn produced now. */
    conn_flush_dirty(w);
}

/* --- accept --------------------------------------------------------- */

/* Copy a socket address into c's compact form; AF_UNSPEC if it is
 * neither IPv4 nor IPv6. */
static void
keep_sockaddr(union conn_sockaddr *dst, const struct sockaddr_storage *ss)
{
    memset(dst, 0, sizeof(*dst));
    if (ss->ss_family == AF_INET) {
        memcpy(&dst->in, ss, sizeof(dst->in));
    } else if (ss->ss_family == AF_INET6) {
        memcpy(&dst->in6, ss, sizeof(dst->in6));
    } else {
        dst->sa.sa_family = AF_UNSPEC;
    }
}

/* The client's address, and this end's when the listener takes every
 * address (one getsockname at accept): kept as addresses, formatted when
 * asked (conn_format_addr). */
static void
describe_ends(struct conn *c)
{
    memset(&c->peer, 0, sizeof(c->peer));
    memset(&c->local, 0, sizeof(c->local));
    if (c->is_unix) {
        return;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == 0) {
        keep_sockaddr(&c->peer, &ss);
    }
    const char *l = c->listen_addr != NULL ? c->listen_addr : "";
    bool wildcard = strncmp(l, "tcp:0.0.0.0:", 12) == 0 || strncmp(l, "tcp6:[::]:", 10) == 0;
    len = sizeof(ss);
    if (wildcard && getsockname(c->fd, (struct sockaddr *)&ss, &len) == 0) {
        keep_sockaddr(&c->local, &ss);
    }
}

const char *
conn_format_addr(const struct conn *c, char *out)
{
    if (c->is_unix) {
        snprintf(out, CONN_ADDR_MAX, "unix:%s",
                 ((const struct options *)net_opts(c->w->net))->unix_socket);
    } else if (c->peer.sa.sa_family != AF_UNSPEC) {
        listener_format_addr(&c->peer.sa, out, CONN_ADDR_MAX);
    } else {
        snprintf(out, CONN_ADDR_MAX, "tcp:?");
    }
    return out;
}

const char *
conn_format_local(const struct conn *c, char *out)
{
    if (c->local.sa.sa_family != AF_UNSPEC) {
        listener_format_addr(&c->local.sa, out, CONN_ADDR_MAX);
    } else {
        snprintf(out, CONN_ADDR_MAX, "%s", c->listen_addr != NULL ? c->listen_addr : "");
    }
    return out;
}

/* A connection turned away before it is served: memcached's answer when
 * the server is full (not over TLS: the client could not read it). */
static void
reject(struct worker *w, int fd, bool full, bool tls)
{
    if (full) {
        static const char msg[] = "ERROR Too many open connections\r\n";
        if (!tls) {
            (void)send(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        METRIC_INC(&w->metrics, rejected_connections);
    }
    close(fd);
}

/* A connection on a TLS listener: its SSL object, and the worker's
 * scratch read buffer the first time. 0 or -ENOMEM. */
static int
tls_accept(struct conn *c)
{
    struct worker *w = c->w;
    if (w->tls_scratch == NULL && (w->tls_scratch = malloc(NET_TLS_SCRATCH)) == NULL) {
        return -ENOMEM;
    }
    return tls_conn_create(&c->tls, net_tls(w->net), &w->metrics);
}

/* fd: a connected, non-blocking socket that l accepted; c owns it. */
void
conn_accept(struct listener *l, int fd)
{
    struct worker *w = l->w;
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        reject(w, fd, false, false);
        return;
    }
    c->w = w;
    c->is_unix = l->is_unix;
    c->fd = fd;
    if (l->tls && tls_accept(c) != 0) {
        reject(w, fd, false, true);
        free(c);
        return;
    }
    if (!net_conn_admit(w->net)) {
        reject(w, fd, true, c->tls != NULL);
        tls_conn_destroy(&c->tls);
        free(c);
        return;
    }
    if (uv_poll_init(&w->loop, &c->io, fd) != 0) {
        net_conn_release(w->net);
        reject(w, fd, false, c->tls != NULL);
        tls_conn_destroy(&c->tls);
        free(c);
        return;
    }
    c->io.data = c;
    if (!l->is_unix) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    c->id = net_next_conn_id(w->net);
    c->listen_addr = l->addr;
    describe_ends(c);
    buf_init(&c->rbuf);
    buf_init(&c->out[0]);
    buf_init(&c->out[1]);
    buf_init(&c->pout);
    session_init(&c->sess, net_env(w->net), &w->metrics, c->tls != NULL ? &c->pout : &c->out[0]);
    c->sess.hot = w->hot;
    c->sess.cmdstats = w->cstats;
    c->sess.id = c->id;
    if (c->tls == NULL) {
        c->sess.write_now = write_now; /* TLS encrypts from a copy */
        c->sess.write_ctx = c;
        c->sess.direct_min = SESSION_DIRECT_MIN;
    }
    if (l->resp_only) {
        session_set_resp_only(&c->sess);
    }
    c->last_active = clock_now();
    c->state = "conn_new_cmd";
    pthread_mutex_lock(&w->conns_lock);
    c->next = w->conns;
    if (w->conns != NULL) {
        w->conns->prev = c;
    }
    w->conns = c;
    pthread_mutex_unlock(&w->conns_lock);
    METRIC_INC(&w->metrics, curr_connections);
    METRIC_INC(&w->metrics, total_connections);
    struct stats *st = net_env(w->net)->stats;
    if (stats_wanted(st) & STATS_WANT_CONNEVENTS) {
        stats_log_conn(st, true, c->is_unix ? NULL : &c->peer.sa, c->id, STATS_CLOSE_NORMAL);
    }
    start_reading(c);
}

void
conn_close_all(struct worker *w)
{
    /* Only this worker mutates its list, so walking it unlocked is safe;
     * the structs stay valid until their close callbacks run. */
    for (struct conn *c = w->conns; c != NULL; c = c->next) {
        conn_close(c, STATS_CLOSE_SHUTDOWN);
    }
}

void
conn_drain_all(struct worker *w)
{
    for (struct conn *c = w->conns; c != NULL; c = c->next) {
        conn_run(c); /* closes it if it has nothing in flight */
    }
}

void
conn_sweep_idle(struct worker *w, uint32_t now, uint32_t idle_timeout)
{
    for (struct conn *c = w->conns; c != NULL; c = c->next) {
        uint32_t last = __atomic_load_n(&c->last_active, __ATOMIC_RELAXED);
        /* a watcher sends nothing and is not idle: memcached's logger
         * owns its watchers, out of the idle timeout's reach */
        if (!c->closed && !c->writing && !c->streaming && now - last > idle_timeout) {
            METRIC_INC(&w->metrics, conns_idle_closed);
            conn_close(c, STATS_CLOSE_IDLE_TIMEOUT);
        }
    }
}

/* --- CLIENT KILL ----------------------------------------------------- */

void
conn_kill(struct worker *w, struct kill_req *r)
{
    /* Only this worker changes its list, and closing only marks: walking
     * it unlocked is safe (as conn_close_all). */
    for (struct conn *c = w->conns; c != NULL; c = c->next) {
        if (c->closed) {
            continue;
        }
        char a[CONN_ADDR_MAX], la[CONN_ADDR_MAX];
        struct cmd_conn_info ci = {
            .addr = conn_format_addr(c, a),
            .state = c->state,
            .id = c->id,
            .listen_addr = c->listen_addr,
            .local_addr = conn_format_local(c, la),
            .sess = &c->sess,
        };
        if (!r->match(r->fnctx, &ci)) {
            continue;
        }
        r->killed++;
        if (&c->sess == r->self) {
            r->self_matched = true; /* closed by its own step, after its reply */
        } else {
            log_verbose("closing %s: CLIENT KILL", a);
            conn_close(c, STATS_CLOSE_SHUTDOWN); /* closed by the server */
        }
    }
}

void
conn_kill_serve(struct worker *w)
{
    pthread_mutex_lock(&w->kill_lock);
    struct kill_req *q = w->kill_q;
    w->kill_q = NULL;
    pthread_mutex_unlock(&w->kill_lock);
    if (q == NULL) {
        return;
    }
    for (struct kill_req *r = q; r != NULL; r = r->next) {
        conn_kill(w, r);
    }
    /* done is read under the lock by the waiting requesters; after it is
     * set, a request (on its requester's stack) is not touched again. */
    pthread_mutex_lock(&w->kill_lock);
    while (q != NULL) {
        struct kill_req *next = q->next;
        q->done = true;
        q = next;
    }
    pthread_cond_broadcast(&w->kill_cond);
    pthread_mutex_unlock(&w->kill_lock);
}

void
conn_sweep(struct worker *w, uint32_t now)
{
    /* Read buffers that stayed in the pool since the last sweep. */
    for (unsigned spare = w->rpool_low; spare > 0 && w->rpool_n > 0; spare--) {
        free(w->rpool[--w->rpool_n]);
        METRIC_ADD(&w->metrics, conn_buffer_bytes, (uint64_t)0 - NET_RBUF_SIZE);
    }
    w->rpool_low = w->rpool_n;
    for (unsigned spare = w->opool_low; spare > 0 && w->opool_n > 0; spare--) {
        struct net_obuf *ob = &w->opool[--w->opool_n];
        free(ob->data);
        METRIC_ADD(&w->metrics, conn_buffer_bytes, (uint64_t)0 - ob->cap);
    }
    w->opool_low = w->opool_n;
    for (struct conn *c = w->conns; c != NULL; c = c->next) {
        if (c->closed) {
            continue;
        }
        /* last_active is the accept time until a request is served, and no
         * request is served before a TLS handshake completes. */
        uint32_t idle = now - __atomic_load_n(&c->last_active, __ATOMIC_RELAXED);
        if (c->tls != NULL && !tls_conn_established(c->tls) && idle > TLS_HANDSHAKE_TIMEOUT) {
            char a[CONN_ADDR_MAX];
            log_verbose("closing %s: no TLS handshake within %d s", conn_format_addr(c, a),
                        TLS_HANDSHAKE_TIMEOUT);
            if (!c->closing) { /* a failed one was counted already */
                tls_conn_count_handshake_error(c->tls);
            }
            conn_close(c, STATS_CLOSE_ERROR);
        } else if (idle >= CONN_IDLE_RELEASE && !c->writing &&
                   c->out[0].cap + c->out[1].cap + c->pout.cap != 0 &&
                   buf_readable(&c->pout) == 0 && buf_readable(&c->out[0]) == 0 &&
                   buf_readable(&c->out[1]) == 0) {
            buf_shrink(&c->pout, 0);
            buf_shrink(&c->out[0], 0);
            buf_shrink(&c->out[1], 0);
            account(c);
        }
    }
}
