/*
 * stashd-null: the floor. A server that stores nothing and answers every
 * request with a fixed, valid reply, parsing just enough to frame requests.
 * Whatever a real server costs beyond this is the price of its work.
 *
 * One epoll loop per thread (-t), each with its own listening socket on the
 * same port (SO_REUSEPORT). The protocol is sniffed per connection from its
 * first byte: 0x80 memcached binary, '*' RESP, anything else memcached text
 * (classic and meta commands). Replies to everything parsed from one read
 * are gathered and sent with one write; while a write is pending the
 * connection is not read (back-pressure).
 *
 *   text   set/add/replace/append/prepend/cas -> STORED (value skipped)
 *          get/gets/gat/gats -> END    ms -> HD    mg -> EN    mn -> MN
 *   binary GET/GETK/GAT/GATK -> status 1 (not found), header only;
 *          quiet opcodes -> nothing; anything else -> status 0
 *   RESP   SET -> +OK    GET -> $-1    MGET -> *N and N x $-1    PING -> +PONG
 *
 * With --hit-value N every get hits instead: the value of N bytes that
 * stashd-bench writes for the key (bench/value.h: the key's index is its
 * trailing digits), so that stashd-bench, which checks every value, and
 * memtier see a server that sends a hit's bytes. text: VALUE ... END;
 * meta mg: VA with the value when it asks for v (its other flags are not
 * answered), HD without;
 * binary GET/GETK/GAT/GATK: status 0, flags 0, the key for GETK/GATK;
 * RESP GET and MGET: bulk strings. A server that stores and returns values
 * is then measured against a floor that sends as many bytes as it does.
 * With --hit-keys K as well, the values of key indexes 0..K are filled once
 * into one packed array and each hit copies its own from there: the floor
 * of a store whose index is free but whose data is real, so that a hit
 * reads its bytes from memory (the cache misses of a 100k-key working set)
 * instead of from a pattern that never leaves the cache. Like stashd's
 * look-ahead, it prefetches every value a read asks for (up to 32) before
 * it copies the first.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "value.h"

#define RBUF_MIN (64u << 10)
#define RBUF_MAX (64u << 20) /* a request larger than this closes the connection */
#define MAX_LINE (64u << 10)
#define MAX_EVENTS 256
#define MAX_TOKENS 24

enum sniff {
    SNIFF_NONE,
    SNIFF_TEXT,
    SNIFF_BINARY,
    SNIFF_RESP,
};

struct nconn {
    int fd;
    enum sniff proto;
    bool blocked; /* a write is pending: EPOLLOUT only */
    char *rbuf;   /* unprocessed bytes are rbuf[0..rlen) */
    size_t rcap, rlen;
    size_t skip; /* bytes of a value still to discard */
    char *obuf;  /* unsent replies are obuf[opos..olen) */
    size_t ocap, opos, olen;
};

struct nworker {
    int ep;
    int lfd;
};

struct nconfig {
    const char *addr;
    int port;
    unsigned threads;
};

/* --hit-value: the length (0: every get misses) and the value maker. */
static size_t hit_len;
static struct value_gen hit_gen;
/* --hit-keys N: the values of key indexes 0..N, filled once and packed in
 * one array (hit_table + index * hit_len), so that every hit reads its
 * own bytes from memory as a store must; NULL: every hit is written from
 * the generator's pattern, which stays in cache. */
static char *hit_table;
static unsigned long long hit_keys;
/* The hit replies' fixed parts, formatted once (hit_len is fixed), so that
 * a hit costs no formatting: " 0 LEN\r\n" (text), " 0 LEN 1\r\n" (gets),
 * "VA LEN\r\n" (meta), "$LEN\r\n" (RESP). */
struct fixed {
    char s[40];
    size_t n;
};
static struct fixed hit_text, hit_text_cas, hit_va, hit_bulk;

static void
fixed_set(struct fixed *f, const char *fmt, size_t len)
{
    int n = snprintf(f->s, sizeof(f->s), fmt, len);
    f->n = n > 0 ? (size_t)n : 0;
}

/* ---- output ---- */

/* Room for n more reply bytes at obuf + olen. */
static char *
out_room(struct nconn *c, size_t n)
{
    if (c->ocap - c->olen < n) {
        size_t cap = c->ocap ? c->ocap * 2 : 4096;
        while (cap - c->olen < n) {
            cap *= 2;
        }
        char *b = realloc(c->obuf, cap);
        if (b == NULL) {
            abort(); /* a benchmark floor has no graceful way out of this */
        }
        c->obuf = b;
        c->ocap = cap;
    }
    return c->obuf + c->olen;
}

static void
out(struct nconn *c, const void *p, size_t n)
{
    memcpy(out_room(c, n), p, n);
    c->olen += n;
}

#define OUT_LIT(c, lit) out((c), (lit), sizeof(lit) - 1)

/* The key's index for bench/value.h: its trailing decimal digits. */
static uint64_t
key_index(const char *k, size_t n)
{
    size_t i = n;
    while (i > 0 && k[i - 1] >= '0' && k[i - 1] <= '9' && n - i < 19) {
        i--;
    }
    uint64_t v = 0;
    for (; i < n; i++) {
        v = v * 10 + (uint64_t)(k[i] - '0');
    }
    return v;
}

/* --hit-keys: hits whose copy waits, so that a pipelined read's values
 * are all prefetched before the first is copied (as stashd's look-ahead
 * does): out_value reserves the bytes and prefetches, drain copies. */
#define HIT_PENDING 32
struct hit_pending {
    size_t off; /* in obuf */
    const char *src;
};
static _Thread_local struct hit_pending pend[HIT_PENDING];
static _Thread_local unsigned npend;

static void
hit_drain(struct nconn *c)
{
    for (unsigned i = 0; i < npend; i++) {
        memcpy(c->obuf + pend[i].off, pend[i].src, hit_len);
    }
    npend = 0;
}

/* The hit value of key k, appended. */
static void
out_value(struct nconn *c, const char *k, size_t n)
{
    uint64_t i = key_index(k, n);
    if (hit_table != NULL && i <= hit_keys) {
        if (npend == HIT_PENDING) {
            hit_drain(c);
        }
        const char *src = hit_table + i * hit_len;
        /* every line of its first 256 bytes, the first line whole or not */
        size_t head = hit_len < 256 ? hit_len : 256;
        for (uintptr_t a = (uintptr_t)src & ~(uintptr_t)63; a < (uintptr_t)src + head; a += 64) {
            __builtin_prefetch((const void *)a);
        }
        out_room(c, hit_len);
        pend[npend++] = (struct hit_pending){.off = c->olen, .src = src};
    } else {
        value_fill(&hit_gen, i, out_room(c, hit_len), hit_len);
    }
    c->olen += hit_len;
}

/* --hit-keys: 0 or -1 (no memory, or the table's size overflows). */
static int
hit_table_fill(void)
{
    if (hit_keys == 0 || hit_len == 0) {
        return 0;
    }
    size_t n = (size_t)hit_keys + 1;
    if (n > SIZE_MAX / hit_len) {
        return -1;
    }
    hit_table = malloc(n * hit_len);
    if (hit_table == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        value_fill(&hit_gen, i, hit_table + i * hit_len, hit_len);
    }
    return 0;
}

/* ---- memcached text ---- */

static bool
tok_is(const char *t, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(t, lit, n) == 0;
}

static bool
parse_size(const char *t, size_t n, size_t *v)
{
    size_t x = 0;
    if (n == 0 || n > 12) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (t[i] < '0' || t[i] > '9') {
            return false;
        }
        x = x * 10 + (size_t)(t[i] - '0');
    }
    *v = x;
    return true;
}

/* Handles one text command at buf; returns bytes consumed, 0 when the line
 * is incomplete, or -1 to close the connection. */
static long
text_one(struct nconn *c, const char *buf, size_t len)
{
    const char *nl = memchr(buf, '\n', len);
    if (nl == NULL) {
        return len > MAX_LINE ? -1 : 0;
    }
    size_t n = (size_t)(nl - buf);
    long used = (long)n + 1;
    if (n > 0 && buf[n - 1] == '\r') {
        n--;
    }
    const char *tok[MAX_TOKENS];
    size_t tl[MAX_TOKENS];
    int nt = 0;
    for (size_t i = 0; i < n && nt < MAX_TOKENS;) {
        while (i < n && buf[i] == ' ') {
            i++;
        }
        size_t s = i;
        while (i < n && buf[i] != ' ') {
            i++;
        }
        if (i > s) {
            tok[nt] = buf + s;
            tl[nt++] = i - s;
        }
    }
    if (nt == 0) {
        OUT_LIT(c, "ERROR\r\n");
        return used;
    }
    const char *cmd = tok[0];
    size_t cl = tl[0];
    bool noreply = tok_is(tok[nt - 1], tl[nt - 1], "noreply");
    size_t bytes;
    if (tok_is(cmd, cl, "set") || tok_is(cmd, cl, "add") || tok_is(cmd, cl, "replace") ||
        tok_is(cmd, cl, "append") || tok_is(cmd, cl, "prepend") || tok_is(cmd, cl, "cas")) {
        if (nt < 5 || !parse_size(tok[4], tl[4], &bytes)) {
            OUT_LIT(c, "CLIENT_ERROR bad command line format\r\n");
            return used;
        }
        c->skip = bytes + 2;
        if (!noreply) {
            OUT_LIT(c, "STORED\r\n");
        }
    } else if (tok_is(cmd, cl, "get") || tok_is(cmd, cl, "gets") || tok_is(cmd, cl, "gat") ||
               tok_is(cmd, cl, "gats")) {
        bool cas = cmd[cl - 1] == 's';
        for (int i = cmd[1] == 'a' ? 2 : 1; hit_len > 0 && i < nt; i++) {
            const struct fixed *t = cas ? &hit_text_cas : &hit_text;
            OUT_LIT(c, "VALUE ");
            out(c, tok[i], tl[i]);
            out(c, t->s, t->n);
            out_value(c, tok[i], tl[i]);
            OUT_LIT(c, "\r\n");
        }
        OUT_LIT(c, "END\r\n");
    } else if (tok_is(cmd, cl, "ms") || tok_is(cmd, cl, "mg") || tok_is(cmd, cl, "md") ||
               tok_is(cmd, cl, "ma")) {
        bool quiet = false;
        for (int i = 2; i < nt; i++) {
            if (tok[i][0] == 'q') {
                quiet = true;
            }
        }
        if (cmd[1] == 's') {
            if (nt < 3 || !parse_size(tok[2], tl[2], &bytes)) {
                OUT_LIT(c, "CLIENT_ERROR bad command line format\r\n");
                return used;
            }
            c->skip = bytes + 2;
            if (!quiet) {
                OUT_LIT(c, "HD\r\n");
            }
        } else if (cmd[1] == 'g' && hit_len > 0 && nt >= 2) {
            bool v = false; /* flags other than v are not echoed */
            for (int i = 2; i < nt; i++) {
                v |= tok[i][0] == 'v';
            }
            if (v) {
                out(c, hit_va.s, hit_va.n);
                out_value(c, tok[1], tl[1]);
                OUT_LIT(c, "\r\n");
            } else if (!quiet) {
                OUT_LIT(c, "HD\r\n");
            }
        } else if (cmd[1] == 'g') {
            if (!quiet) {
                OUT_LIT(c, "EN\r\n");
            }
        } else {
            if (!quiet) {
                OUT_LIT(c, "NF\r\n");
            }
        }
    } else if (tok_is(cmd, cl, "mn")) {
        OUT_LIT(c, "MN\r\n");
    } else if (tok_is(cmd, cl, "delete") || tok_is(cmd, cl, "incr") || tok_is(cmd, cl, "decr") ||
               tok_is(cmd, cl, "touch")) {
        if (!noreply) {
            OUT_LIT(c, "NOT_FOUND\r\n");
        }
    } else if (tok_is(cmd, cl, "version")) {
        OUT_LIT(c, "VERSION 0.0.0-null\r\n");
    } else if (tok_is(cmd, cl, "stats")) {
        OUT_LIT(c, "END\r\n");
    } else if (tok_is(cmd, cl, "flush_all") || tok_is(cmd, cl, "verbosity")) {
        if (!noreply) {
            OUT_LIT(c, "OK\r\n");
        }
    } else if (tok_is(cmd, cl, "quit")) {
        return -1;
    } else {
        OUT_LIT(c, "ERROR\r\n");
    }
    return used;
}

/* ---- memcached binary ---- */

static bool
bin_quiet(uint8_t op)
{
    return op == 0x09 || op == 0x0d || (op >= 0x11 && op <= 0x1a) || op == 0x1e || op == 0x24;
}

static long
binary_one(struct nconn *c, const unsigned char *h, size_t len, bool *close_after)
{
    if (len < 24) {
        return 0;
    }
    if (h[0] != 0x80) {
        return -1;
    }
    uint8_t op = h[1];
    uint32_t body = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11];
    bool get = op == 0x00 || op == 0x0c || op == 0x1d || op == 0x23;
    if (hit_len > 0 && get) {
        if (len - 24 < body) {
            return 0; /* the key is needed: wait for the whole request */
        }
        size_t keylen = (size_t)h[2] << 8 | h[3], extlen = h[4];
        if (keylen + extlen > body) {
            return -1;
        }
        const char *key = (const char *)h + 24 + extlen;
        bool with_key = op == 0x0c || op == 0x23;
        size_t rkey = with_key ? keylen : 0;
        uint32_t rbody = (uint32_t)(4 + rkey + hit_len);
        unsigned char r[28] = {0};
        r[0] = 0x81;
        r[1] = op;
        r[2] = (unsigned char)(rkey >> 8);
        r[3] = (unsigned char)rkey;
        r[4] = 4;
        r[8] = (unsigned char)(rbody >> 24);
        r[9] = (unsigned char)(rbody >> 16);
        r[10] = (unsigned char)(rbody >> 8);
        r[11] = (unsigned char)rbody;
        memcpy(r + 12, h + 12, 4); /* opaque */
        r[23] = 1;                 /* cas 1 */
        out(c, r, sizeof(r));      /* header and 4 bytes of flags 0 */
        out(c, key, rkey);
        out_value(c, key, keylen);
        return (long)(24 + body);
    }
    c->skip = body;
    if (bin_quiet(op)) {
        return 24;
    }
    unsigned char r[24] = {0};
    r[0] = 0x81;
    r[1] = op;
    bool miss = op == 0x00 || op == 0x0c || op == 0x1d || op == 0x23 || op == 0x04 || op == 0x05 ||
                op == 0x06;
    r[7] = miss ? 0x01 : 0x00;
    memcpy(r + 12, h + 12, 4); /* opaque */
    out(c, r, sizeof(r));
    *close_after = op == 0x07;
    return 24;
}

/* ---- RESP ---- */

/* Reads "<c><number>\r\n" at p; returns its length, 0 if incomplete, -1 if
 * malformed. */
static long
resp_header(const char *p, size_t len, char type, long *v)
{
    const char *nl = memchr(p, '\n', len < 32 ? len : 32);
    if (nl == NULL) {
        return len >= 32 ? -1 : 0;
    }
    if (p[0] != type || nl == p + 1 || nl[-1] != '\r') {
        return -1;
    }
    long x = 0;
    for (const char *q = p + 1; q < nl - 1; q++) {
        if (*q < '0' || *q > '9' || x > (1L << 40)) {
            return -1;
        }
        x = x * 10 + (*q - '0');
    }
    *v = x;
    return (long)(nl - p) + 1;
}

/* One whole RESP command (array of bulk strings) at buf, or 0 / -1. */
static long
resp_one(struct nconn *c, const char *buf, size_t len)
{
    long argc;
    long pos = resp_header(buf, len, '*', &argc);
    if (pos <= 0) {
        return pos;
    }
    if (argc < 1 || argc > 1000000) {
        return -1;
    }
    const char *name = NULL;
    long nl = 0;
    const char *key = NULL; /* the first argument after the name */
    long kl = 0;
    for (long i = 0; i < argc; i++) {
        long blen;
        long h = resp_header(buf + pos, len - (size_t)pos, '$', &blen);
        if (h <= 0) {
            return h;
        }
        if (blen > (long)RBUF_MAX) {
            return -1;
        }
        if ((size_t)(pos + h + blen + 2) > len) {
            return 0;
        }
        if (i == 0) {
            name = buf + pos + h;
            nl = blen;
        } else if (i == 1) {
            key = buf + pos + h;
            kl = blen;
        }
        pos += h + blen + 2;
    }
    if (nl == 3 && strncasecmp(name, "SET", 3) == 0) {
        OUT_LIT(c, "+OK\r\n");
    } else if (nl == 3 && strncasecmp(name, "GET", 3) == 0) {
        if (hit_len > 0 && key != NULL) {
            out(c, hit_bulk.s, hit_bulk.n);
            out_value(c, key, (size_t)kl);
            OUT_LIT(c, "\r\n");
        } else {
            OUT_LIT(c, "$-1\r\n");
        }
    } else if (nl == 4 && strncasecmp(name, "MGET", 4) == 0) {
        char hdr[32];
        int hn = snprintf(hdr, sizeof(hdr), "*%ld\r\n", argc - 1);
        out(c, hdr, (size_t)hn);
        /* the keys again, from the top (the loop above kept only the first) */
        long at = resp_header(buf, len, '*', &argc);
        for (long i = 0; i < argc; i++) {
            long blen;
            long h = resp_header(buf + at, len - (size_t)at, '$', &blen);
            if (i > 0 && hit_len > 0) {
                out(c, hit_bulk.s, hit_bulk.n);
                out_value(c, buf + at + h, (size_t)blen);
                OUT_LIT(c, "\r\n");
            } else if (i > 0) {
                OUT_LIT(c, "$-1\r\n");
            }
            at += h + blen + 2;
        }
    } else if (nl == 4 && strncasecmp(name, "PING", 4) == 0) {
        OUT_LIT(c, "+PONG\r\n");
    } else if ((nl == 3 && strncasecmp(name, "DEL", 3) == 0) ||
               (nl == 6 && strncasecmp(name, "EXISTS", 6) == 0)) {
        OUT_LIT(c, ":0\r\n");
    } else {
        OUT_LIT(c, "+OK\r\n");
    }
    return pos;
}

/* ---- connections ---- */

static void
conn_close(struct nworker *w, struct nconn *c)
{
    epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->rbuf);
    free(c->obuf);
    free(c);
}

/* Frames and answers everything complete in rbuf; false to close. */
static bool
conn_process(struct nconn *c)
{
    size_t pos = 0;
    bool close_after = false;
    while (pos < c->rlen && !close_after) {
        if (c->skip) {
            size_t k = c->rlen - pos < c->skip ? c->rlen - pos : c->skip;
            pos += k;
            c->skip -= k;
            continue;
        }
        if (c->proto == SNIFF_NONE) {
            unsigned char b = (unsigned char)c->rbuf[pos];
            c->proto = b == 0x80 ? SNIFF_BINARY : b == '*' ? SNIFF_RESP : SNIFF_TEXT;
        }
        long used;
        switch (c->proto) {
        case SNIFF_BINARY:
            used = binary_one(c, (const unsigned char *)c->rbuf + pos, c->rlen - pos, &close_after);
            break;
        case SNIFF_RESP:
            used = resp_one(c, c->rbuf + pos, c->rlen - pos);
            break;
        default:
            used = text_one(c, c->rbuf + pos, c->rlen - pos);
            break;
        }
        if (used < 0) {
            hit_drain(c);
            return false;
        }
        if (used == 0) {
            break;
        }
        pos += (size_t)used;
    }
    hit_drain(c);
    memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
    c->rlen -= pos;
    return !close_after;
}

/* Sends pending replies; false on a dead connection. */
static bool
conn_flush(struct nworker *w, struct nconn *c)
{
    while (c->opos < c->olen) {
        ssize_t n = send(c->fd, c->obuf + c->opos, c->olen - c->opos, MSG_NOSIGNAL);
        if (n > 0) {
            c->opos += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->blocked) {
                struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
                epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
                c->blocked = true;
            }
            return true;
        } else {
            return false;
        }
    }
    c->opos = c->olen = 0;
    if (c->blocked) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->blocked = false;
    }
    return true;
}

static bool
conn_read(struct nworker *w, struct nconn *c)
{
    if (c->rcap - c->rlen < 1024) {
        if (c->rcap >= RBUF_MAX) {
            return false;
        }
        char *b = realloc(c->rbuf, c->rcap * 2);
        if (b == NULL) {
            return false;
        }
        c->rbuf = b;
        c->rcap *= 2;
    }
    ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
    if (n == 0) {
        return false;
    }
    if (n < 0) {
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    }
    c->rlen += (size_t)n;
    bool keep = conn_process(c);
    return conn_flush(w, c) && keep;
}

static void
accept_all(struct nworker *w)
{
    for (;;) {
        int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct nconn *c = calloc(1, sizeof(*c));
        if (c == NULL || (c->rbuf = malloc(RBUF_MIN)) == NULL) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->rcap = RBUF_MIN;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            free(c->rbuf);
            free(c);
            close(fd);
        }
    }
}

static void *
worker_main(void *arg)
{
    struct nworker *w = arg;
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(w->ep, evs, MAX_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            struct nconn *c = evs[i].data.ptr;
            if (c == NULL) {
                accept_all(w);
                continue;
            }
            bool ok = true;
            if (evs[i].events & EPOLLOUT) {
                ok = conn_flush(w, c);
            } else if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                ok = conn_read(w, c);
            }
            if (!ok) {
                conn_close(w, c);
            }
        }
    }
    return NULL;
}

static int
listen_on(const struct nconfig *cfg)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
    if (inet_pton(AF_INET, cfg->addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "stashd-null: bad IPv4 address %s\n", cfg->addr);
        return -EINVAL;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* A decimal count in [1, max], all of s. */
static bool
parse_count(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v == 0 || v > max) {
        return false;
    }
    *out = v;
    return true;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: stashd-null [-p PORT] [-l IPV4] [-t THREADS] [--hit-value BYTES]\n"
               "                  [--hit-keys N]\n"
               "  -p, --port PORT      TCP port (default 11211)\n"
               "  -l, --listen IPV4    address (default 127.0.0.1)\n"
               "  -t, --threads N      epoll threads, one SO_REUSEPORT socket each (default 1)\n"
               "  --hit-value BYTES    every get hits, with the value stashd-bench writes\n"
               "                       for its key at this size (default: every get misses)\n"
               "  --hit-keys N         with --hit-value: keep the values of key indexes 0..N\n"
               "                       in memory, one after another, and send each hit's\n"
               "                       from there (a store's data without its index)\n"
               "Answers memcached text/meta/binary and RESP with fixed replies; stores nothing.\n");
}

int
main(int argc, char **argv)
{
    struct nconfig cfg = {.addr = "127.0.0.1", .port = 11211, .threads = 1};
    static const struct option longs[] = {
        {.name = "port", .has_arg = required_argument, .val = 'p'},
        {.name = "listen", .has_arg = required_argument, .val = 'l'},
        {.name = "threads", .has_arg = required_argument, .val = 't'},
        {.name = "hit-value", .has_arg = required_argument, .val = 'v'},
        {.name = "hit-keys", .has_arg = required_argument, .val = 'k'},
        {.name = "help", .has_arg = no_argument, .val = 'h'},
        {0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "p:l:t:h", longs, NULL)) != -1) {
        switch (ch) {
        case 'p':
            cfg.port = atoi(optarg);
            break;
        case 'l':
            cfg.addr = optarg;
            break;
        case 't':
            cfg.threads = (unsigned)atoi(optarg);
            break;
        case 'v': {
            unsigned long long v;
            if (!parse_count(optarg, 1u << 20, &v)) {
                fprintf(stderr, "stashd-null: --hit-value takes 1 to 1048576 bytes\n");
                return 2;
            }
            hit_len = (size_t)v;
            if (value_gen_init(&hit_gen, hit_len) != 0) {
                return 1;
            }
            break;
        }
        case 'k':
            if (!parse_count(optarg, 1ull << 32, &hit_keys)) {
                fprintf(stderr, "stashd-null: --hit-keys takes 1 to 4294967296\n");
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (cfg.port < 1 || cfg.port > 65535 || cfg.threads < 1 || cfg.threads > 1024) {
        usage(stderr);
        return 2;
    }
    if (hit_keys > 0 && hit_len == 0) {
        fprintf(stderr, "stashd-null: --hit-keys needs --hit-value\n");
        return 2;
    }
    fixed_set(&hit_text, " 0 %zu\r\n", hit_len);
    fixed_set(&hit_text_cas, " 0 %zu 1\r\n", hit_len);
    fixed_set(&hit_va, "VA %zu\r\n", hit_len);
    fixed_set(&hit_bulk, "$%zu\r\n", hit_len);
    if (hit_table_fill() != 0) {
        fprintf(stderr, "stashd-null: no memory for --hit-keys\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    struct nworker *ws = calloc(cfg.threads, sizeof(*ws));
    if (ws == NULL) {
        return 1;
    }
    for (unsigned i = 0; i < cfg.threads; i++) {
        ws[i].lfd = listen_on(&cfg);
        if (ws[i].lfd < 0) {
            fprintf(stderr, "stashd-null: cannot listen on %s:%d: %s\n", cfg.addr, cfg.port,
                    strerror(-ws[i].lfd));
            return 1;
        }
        ws[i].ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        if (ws[i].ep < 0 || epoll_ctl(ws[i].ep, EPOLL_CTL_ADD, ws[i].lfd, &ev) != 0) {
            perror("stashd-null: epoll");
            return 1;
        }
    }
    for (unsigned i = 1; i < cfg.threads; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker_main, &ws[i]) != 0) {
            perror("stashd-null: pthread_create");
            return 1;
        }
    }
    worker_main(&ws[0]);
    return 0;
}
