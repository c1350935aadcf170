/*
 * One connection of stashd-bench: requests are generated (conn_pick: the
 * preload, a set after a miss, the SET:GET cycle), encoded into wbuf and
 * sent in one batch; replies are read into rbuf and parsed in place, each
 * matched against the head of the FIFO of requests in flight.
 *
 *   wbuf: [ sent ][ unsent requests ]           one send() per batch
 *                 ^ wpos              ^ wlen
 *   rbuf: [ parsed ][ unparsed replies ][ room ]
 *                   ^ rpos             ^ rlen
 *   fifo: ring of fifo_cap; head = oldest request in flight, count of them
 *
 * A connection belongs to one worker thread and is touched by it alone.
 */
#include "engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls.h"

#define RBUF_MIN (64u << 10)
#define READ_ROOM 4096 /* grow or compact the read buffer below this much room */
/* With TLS, room for a whole record's plaintext (16 KiB), so that one read
 * takes a record whole and none is left inside the SSL, out of epoll's
 * sight (conn_read_tls() drains such a rest all the same). */
#define TLS_READ_ROOM (16u << 10)
#define ERRORS_SHOWN 5 /* per worker, on stderr */

static void *
xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "stashd-bench: out of memory\n");
        exit(2);
    }
    return p;
}

static void *
xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL) {
        fprintf(stderr, "stashd-bench: out of memory\n");
        exit(2);
    }
    return p;
}

/* ---- errors ---- */

static void
show_error(struct worker *w, struct conn *c, const char *fmt, const char *detail)
{
    if (w->errors_shown >= ERRORS_SHOWN) {
        return;
    }
    w->errors_shown++;
    /* On a terminal with the progress line, start a line of its own. */
    fprintf(stderr, "%sstashd-bench: worker %u conn %u: %s%s%s\n", w->e->progress ? "\n" : "",
            w->id, c->gid, fmt, detail ? ": " : "", detail ? detail : "");
    if (w->errors_shown == ERRORS_SHOWN) {
        fprintf(stderr, "stashd-bench: worker %u: further errors not shown\n", w->id);
    }
}

void
conn_fail(struct conn *c, const char *why, const char *detail)
{
    struct worker *w = c->w;
    if (!c->open) {
        return;
    }
    show_error(w, c, why, detail);
    w->st.errors += c->count ? c->count : 1;
    w->st.closed++;
    epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    tls_close(&c->ssl, false);
    close(c->fd);
    c->fd = -1;
    c->open = false;
    c->count = 0;
}

/* ---- sending ---- */

bool
conn_has_more(const struct conn *c, uint64_t now)
{
    const struct engine *e = c->w->e;
    if (!c->open) {
        return false;
    }
    if (c->w->phase == PHASE_PRELOAD) {
        return c->preload_next < c->preload_end;
    }
    if (e->o->requests != 0) {
        return now < e->t_mstart || c->sent_measured < e->o->requests;
    }
    return now < e->t_mend;
}

bool
conn_can_send(const struct conn *c, uint64_t now)
{
    const struct engine *e = c->w->e;
    return atomic_load_explicit(&e->stop_ns, memory_order_relaxed) == 0 && now < e->t_deadline &&
           conn_has_more(c, now);
}

bool
conn_paced(const struct conn *c, uint64_t now)
{
    const struct engine *e = c->w->e;
    if (e->pace_ns == 0 || c->w->phase == PHASE_PRELOAD) {
        return true;
    }
    /* Requests go in whole pipelines, as an unpaced run sends them: the
     * pipeline that starts with request i may go at t_start + i * pace_ns
     * (an even rate from the start of the warm-up; a connection that fell
     * behind catches up no faster than its pipeline lets it). Pacing
     * request by request instead would cut the batches, and with them
     * the requests per read and write the server sees. */
    unsigned depth = e->o->pipeline;
    uint64_t first = c->sent_run - c->sent_run % depth;
    return (double)first * e->pace_ns <= (double)(now - e->t_start);
}

static size_t
pick_vlen(struct conn *c)
{
    const struct options *o = c->w->e->o;
    if (o->vmin == o->vmax) {
        return o->vmin;
    }
    if (o->vlog) {
        /* exp of a uniform draw in [log vmin, log (vmax + 1)): each
         * decade of sizes as likely as the next */
        double lo = log((double)o->vmin), hi = log((double)o->vmax + 1.0);
        size_t n = (size_t)exp(lo + rng_double(&c->rng) * (hi - lo));
        return n < o->vmin ? o->vmin : n > o->vmax ? o->vmax : n;
    }
    return o->vmin + (size_t)rng_below(&c->rng, o->vmax - o->vmin + 1);
}

/* Chooses the next request: a preload set, the set that follows a miss,
 * or the next of the SET:GET cycle; fills keys[] and *nkeys (1 for a set,
 * multiget for a get, but a resp-multi transaction names multiget keys
 * either way: proto_set_keys()) and returns its op. */
static enum proto_op
conn_pick(struct conn *c, uint64_t *keys, unsigned *nkeys)
{
    struct engine *e = c->w->e;
    const struct options *o = e->o;
    *nkeys = 1;
    if (c->w->phase == PHASE_PRELOAD) {
        keys[0] = c->preload_next++;
        return PROTO_OP_SET;
    }
    if (c->miss_count > 0) {
        keys[0] = c->miss_q[c->miss_head];
        c->miss_head = (c->miss_head + 1) % c->miss_cap;
        c->miss_count--;
        return PROTO_OP_SET;
    }
    uint64_t pos = c->cycle++ % (o->ratio_set + o->ratio_get);
    enum proto_op op = pos < o->ratio_set ? PROTO_OP_SET : PROTO_OP_GET;
    *nkeys = op == PROTO_OP_SET ? proto_set_keys(o->proto, o->multiget) : o->multiget;
    for (unsigned i = 0; i < *nkeys; i++) {
        keys[i] = keyspace_next(&e->ks, &c->rng, &c->seq);
    }
    return op;
}

/* Queues one request; the caller has checked conn_can_send() and room in
 * the FIFO. */
static void
conn_queue_one(struct conn *c, uint64_t now)
{
    struct worker *w = c->w;
    struct engine *e = w->e;
    const struct options *o = e->o;
    unsigned slot = (c->head + c->count) % c->fifo_cap;
    struct pending *pd = &c->fifo[slot];
    uint64_t *keys = &c->fifo_keys[(size_t)slot * o->multiget];
    unsigned nkeys;
    enum proto_op op = conn_pick(c, keys, &nkeys);

    if (c->wcap - c->wlen < e->max_req) {
        c->wcap = c->wlen + e->max_req * 2;
        c->wbuf = xrealloc(c->wbuf, c->wcap);
    }
    char *dst = c->wbuf + c->wlen;
    if (op == PROTO_OP_SET) {
        c->wlen +=
            proto_encode_set(o->proto, dst, &e->ks, &e->vg, keys, nkeys, pick_vlen(c), c->opaque);
    } else {
        c->wlen += proto_encode_get(o->proto, dst, &e->ks, keys, nkeys, c->opaque);
    }
    pd->nkeys = (uint16_t)nkeys;
    pd->op = (uint8_t)op;
    pd->opaque = c->opaque;
    c->opaque += pd->nkeys;
    pd->sent_ns = now;
    pd->measured = w->phase == PHASE_RUN && now >= e->t_mstart && now < e->t_mend;
    if (pd->measured) {
        c->sent_measured++;
    }
    if (w->phase == PHASE_RUN) {
        c->sent_run++;
    }
    if (c->count == 0) {
        c->last_rx_ns = now; /* the reply timeout runs from here */
    }
    c->count++;
}

void
conn_fill(struct conn *c, uint64_t now)
{
    const struct options *o = c->w->e->o;
    unsigned depth = c->w->phase == PHASE_PRELOAD ? o->preload_pipeline : o->pipeline;
    while (c->count < depth && conn_can_send(c, now) && conn_paced(c, now)) {
        conn_queue_one(c, now);
    }
}

static void
conn_set_out(struct conn *c, bool on)
{
    if (c->want_out == on) {
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = on;
}

/* What a send that moved no bytes asks for. */
enum send_wait {
    SEND_RETRY = 0,     /* interrupted: try again */
    SEND_WAIT_OUT = -1, /* when the socket is writable */
    SEND_WAIT_IN = -2,  /* when it is readable (TLS) */
    SEND_FAILED = -3,   /* the connection has been failed */
};

static ssize_t
conn_send_plain(struct conn *c)
{
    ssize_t n = send(c->fd, c->wbuf + c->wpos, c->wlen - c->wpos, MSG_NOSIGNAL);
    if (n > 0) {
        return n;
    }
    if (n < 0 && errno == EINTR) {
        return SEND_RETRY;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return SEND_WAIT_OUT;
    }
    conn_fail(c, "send failed", strerror(errno));
    return SEND_FAILED;
}

/* Everything queued in one SSL_write; one that had to wait is repeated
 * with the same length, as OpenSSL asks, and the rest follows it. */
static ssize_t
conn_send_tls(struct conn *c)
{
    size_t len = c->tls_wlen ? c->tls_wlen : c->wlen - c->wpos;
    ssize_t n = tls_send(c->ssl, c->wbuf + c->wpos, len);
    if (n > 0) {
        c->tls_wlen = 0;
        return n;
    }
    c->tls_wlen = len;
    if (n == TLS_WANT_WRITE) {
        return SEND_WAIT_OUT;
    }
    if (n == TLS_WANT_READ) {
        return SEND_WAIT_IN;
    }
    conn_fail(c, "TLS write failed", tls_last_error());
    return SEND_FAILED;
}

void
conn_flush(struct conn *c)
{
    while (c->open && c->wpos < c->wlen) {
        ssize_t n = c->ssl ? conn_send_tls(c) : conn_send_plain(c);
        if (n > 0) {
            c->wpos += (size_t)n;
        } else if (n == SEND_WAIT_OUT) {
            conn_set_out(c, true);
            return;
        } else if (n != SEND_RETRY) {
            return; /* SEND_WAIT_IN: any event on c retries; or failed */
        }
    }
    if (c->open) {
        c->wpos = c->wlen = 0;
        conn_set_out(c, c->read_wants_out);
    }
}

/* ---- receiving ---- */

static void
conn_complete(struct conn *c, const struct pending *pd, const struct proto_result *res)
{
    struct worker *w = c->w;
    const struct options *o = w->e->o;
    if (res->errors != 0) {
        w->st.errors += res->errors;
        show_error(w, c, c->parser.err, NULL);
    }
    w->st.refused += res->refused;
    if (w->phase == PHASE_PRELOAD) {
        w->st.preload_ops++;
        return;
    }
    if (pd->measured) {
        w->st.ops[pd->op]++;
        w->st.hits += res->hits;
        w->st.misses += res->misses;
        hist_record(&w->st.lat[pd->op], w->now - pd->sent_ns);
        w->st.last_done_ns = w->now;
    }
    if (o->set_on_miss && pd->op == PROTO_OP_GET && res->misses != 0 &&
        c->miss_count < c->miss_cap) {
        /* --set-on-miss implies --multiget 1: the one key missed. */
        unsigned slot = (unsigned)(pd - c->fifo);
        unsigned tail = (c->miss_head + c->miss_count) % c->miss_cap;
        c->miss_q[tail] = c->fifo_keys[(size_t)slot * o->multiget];
        c->miss_count++;
    }
}

/* Makes room to receive: compacts, and grows to what the parser needs. */
static void
conn_read_room(struct conn *c)
{
    size_t room = c->ssl ? TLS_READ_ROOM : READ_ROOM;
    size_t want = c->rneed + room;
    if (c->rpos > 0 && (c->rcap - c->rlen < room || c->rcap - c->rpos < want)) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    if (c->rcap < want || c->rcap - c->rlen < room) {
        size_t cap = c->rcap * 2;
        c->rcap = cap > want ? cap : want;
        c->rbuf = xrealloc(c->rbuf, c->rcap);
    }
}

static void
conn_parse(struct conn *c)
{
    const struct options *o = c->w->e->o;
    while (c->count > 0 && c->rpos < c->rlen) {
        struct pending *pd = &c->fifo[c->head];
        struct proto_req req = {
            .op = (enum proto_op)pd->op,
            .nkeys = pd->nkeys,
            .opaque = pd->opaque,
            .keys = &c->fifo_keys[(size_t)c->head * o->multiget],
        };
        size_t used = 0, need = 0;
        struct proto_result res;
        enum proto_rc rc =
            proto_parse(&c->parser, &req, c->rbuf + c->rpos, c->rlen - c->rpos, &used, &need, &res);
        c->rpos += used;
        if (rc == PROTO_MORE) {
            c->rneed = need;
            break;
        }
        if (rc == PROTO_DESYNC) {
            c->w->st.desyncs++;
            conn_fail(c, "protocol desync", c->parser.err);
            return;
        }
        c->rneed = 0;
        conn_complete(c, pd, &res);
        c->head = (c->head + 1) % c->fifo_cap;
        c->count--;
    }
    if (c->count == 0 && c->rpos < c->rlen) {
        c->w->st.desyncs++;
        conn_fail(c, "reply bytes with no request in flight", NULL);
        return;
    }
    if (c->rpos == c->rlen) {
        c->rpos = c->rlen = 0;
    }
}

/* New reply bytes are in rbuf: the clock is read once for all of them. */
static void
conn_received(struct conn *c)
{
    c->w->now = engine_now_ns();
    c->last_rx_ns = c->w->now;
    conn_parse(c);
}

static void
conn_read_plain(struct conn *c)
{
    conn_read_room(c);
    ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
    if (n == 0) {
        conn_fail(c, "server closed the connection", NULL);
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            conn_fail(c, "recv failed", strerror(errno));
        }
        return;
    }
    c->rlen += (size_t)n;
    conn_received(c);
}

/* Reads a record, and what is left decrypted inside the SSL: epoll would
 * not say it is there. Replies are parsed before a close is acted on. */
static void
conn_read_tls(struct conn *c)
{
    bool got = false;
    ssize_t n;
    c->read_wants_out = false;
    do {
        conn_read_room(c);
        n = tls_recv(c->ssl, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (n > 0) {
            c->rlen += (size_t)n;
            got = true;
        }
    } while (n > 0 && tls_pending(c->ssl) > 0);
    if (got) {
        conn_received(c);
    }
    if (n == TLS_CLOSED) {
        conn_fail(c, "server closed the connection", NULL);
    } else if (n == TLS_FAILED) {
        conn_fail(c, "TLS read failed", tls_last_error());
    } else if (n == TLS_WANT_WRITE && c->open) {
        c->read_wants_out = true; /* a TLS 1.3 key update, say */
        conn_set_out(c, true);
    }
}

void
conn_on_readable(struct conn *c)
{
    if (c->ssl) {
        conn_read_tls(c);
    } else {
        conn_read_plain(c);
    }
}

/* ---- set-up ---- */

static int
connect_one(const struct engine *e)
{
    for (const struct addrinfo *ai = e->addr; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            return fd;
        }
        close(fd);
    }
    return -errno;
}

static void
conn_alloc(struct conn *c, const struct engine *e)
{
    const struct options *o = e->o;
    c->fifo_cap = o->pipeline > o->preload_pipeline ? o->pipeline : o->preload_pipeline;
    c->fifo = xmalloc(sizeof(*c->fifo) * c->fifo_cap);
    c->fifo_keys = xmalloc(sizeof(uint64_t) * c->fifo_cap * o->multiget);
    c->rcap = RBUF_MIN;
    c->rbuf = xmalloc(c->rcap);
    c->wcap = e->max_req * c->fifo_cap + 4096;
    c->wbuf = xmalloc(c->wcap);
    if (o->set_on_miss) {
        c->miss_cap = c->fifo_cap;
        c->miss_q = xmalloc(sizeof(uint64_t) * c->miss_cap);
    }
}

int
conn_init(struct conn *c, struct worker *w, unsigned gid, unsigned total)
{
    const struct engine *e = w->e;
    const struct options *o = e->o;
    memset(c, 0, sizeof(*c));
    c->w = w;
    c->gid = gid;
    c->fd = -1;
    conn_alloc(c, e);
    proto_parser_init(&c->parser, o->proto, &e->ks, &e->vg);
    c->rng.s = o->seed * 0x9e3779b97f4a7c15ull + gid + 1;
    rng_next(&c->rng);
    /* Each connection starts its sequential walk, and preloads, its own
     * slice of the key space. */
    uint64_t lo = e->ks.count * gid / total, hi = e->ks.count * ((uint64_t)gid + 1) / total;
    c->seq = lo;
    c->preload_next = e->ks.key_min + lo;
    c->preload_end = e->ks.key_min + hi;
    int fd = connect_one(e);
    if (fd < 0) {
        fprintf(stderr, "stashd-bench: cannot connect to %s:%s: %s\n", o->host, o->port,
                strerror(-fd));
        return fd;
    }
    c->fd = fd;
    c->open = true;
    if (e->tls && tls_connect(e->tls, fd, o->host, o->reply_timeout_s, &c->ssl) != 0) {
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        return -errno;
    }
    return 0;
}

void
conn_fini(struct conn *c)
{
    tls_close(&c->ssl, c->open);
    if (c->open) {
        close(c->fd);
    }
    free(c->fifo);
    free(c->fifo_keys);
    free(c->rbuf);
    free(c->wbuf);
    free(c->miss_q);
}
