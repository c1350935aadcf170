/*
 * admin: the optional admin HTTP listener (--admin-port): GET /metrics
 * (Prometheus text), /healthz (alive) and /readyz (ready to serve; 503 while
 * starting or draining). It runs on a thread and loop of its own, so a
 * scrape never delays a request on a worker; it reads the workers' figures
 * the way `stats` does (relaxed loads, the store's own locks).
 *
 * HTTP is kept minimal on purpose: one request per connection, the request
 * head bounded at 8 KiB, the reply with Content-Length, then close.
 *
 * This port is a door of its own. /healthz and /readyz stay open for
 * probes; /metrics requires "Authorization: Bearer <token>" when
 * --admin-token-file names a file (its first line is the token, read again
 * at each scrape so that a rotated secret takes effect without a
 * restart). Hot-key names appear on /metrics only with --metrics-hotkeys.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/net_internal.h"
#include "stashd/cmd/prom.h"
#include "stashd/util/bstr.h"
#include "stashd/util/log.h"
#include "stashd/util/options.h"

#define ADMIN_HEAD_MAX 8192
#define ADMIN_TOKEN_MAX 1024

struct admin {
    struct net *net;
    const char *token_file; /* --admin-token-file, or "" */
    /* The last token read (admin thread only after start). */
    char token[ADMIN_TOKEN_MAX + 1];
    size_t token_len;
    pthread_t thread;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t stop_async;
    bool running;
};

struct admin_conn {
    uv_tcp_t tcp;
    struct admin *a;
    struct buf in;
    struct buf out;
    uv_write_t wreq;
    bool replied;
};

static void
admin_conn_free(uv_handle_t *h)
{
    struct admin_conn *c = h->data;
    buf_fini(&c->in);
    buf_fini(&c->out);
    free(c);
}

static void
on_written(uv_write_t *req, int status)
{
    struct admin_conn *c = req->data;
    uv_close((uv_handle_t *)&c->tcp, admin_conn_free);
}

static void
respond_with(struct admin_conn *c, int code, const char *reason, const char *headers,
             const char *ctype, const char *body, size_t blen)
{
    c->replied = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    buf_reset(&c->out);
    if (buf_appendf(&c->out,
                    "HTTP/1.1 %d %s\r\n%sContent-Type: %s\r\nContent-Length: %zu\r\n"
                    "Connection: close\r\n\r\n",
                    code, reason, headers, ctype, blen) != 0 ||
        buf_append(&c->out, body, blen) != 0) {
        uv_close((uv_handle_t *)&c->tcp, admin_conn_free);
        return;
    }
    uv_buf_t ub = uv_buf_init(c->out.data, (unsigned)buf_readable(&c->out));
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &ub, 1, on_written) != 0) {
        uv_close((uv_handle_t *)&c->tcp, admin_conn_free);
    }
}

static void
respond(struct admin_conn *c, int code, const char *reason, const char *ctype, const char *body,
        size_t blen)
{
    respond_with(c, code, reason, "", ctype, body, blen);
}

#define RESPOND_TEXT(c, code, reason, s)                                                           \
    respond((c), (code), (reason), "text/plain; charset=utf-8", (s), sizeof(s) - 1)

/* The token file's first line, without trailing blanks, into out (at
 * most ADMIN_TOKEN_MAX bytes). 0, or -errno (-EINVAL: empty or too long). */
static int
read_token(const char *path, char *out, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -errno;
    }
    char line[ADMIN_TOKEN_MAX + 2];
    size_t n = 0;
    if (fgets(line, sizeof(line), f) != NULL) {
        n = strlen(line);
    }
    fclose(f);
    bool whole = n > 0 && line[n - 1] == '\n';
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                     line[n - 1] == '\t')) {
        n--;
    }
    if (n == 0 || (!whole && n > ADMIN_TOKEN_MAX)) {
        explicit_bzero(line, sizeof(line));
        return -EINVAL;
    }
    memcpy(out, line, n);
    out[n] = '\0';
    *len = n;
    explicit_bzero(line, sizeof(line));
    return 0;
}

static bool
same_secret(const char *a, size_t alen, const char *b, size_t blen)
{
    return bstr_eq_secret((struct bstr){.data = a, .len = alen},
                          (struct bstr){.data = b, .len = blen});
}

/* Does the request head carry "Authorization: Bearer <the token>"? */
static bool
bearer_ok(struct admin_conn *c)
{
    struct admin *a = c->a;
    size_t len = 0;
    char fresh[ADMIN_TOKEN_MAX + 1];
    if (read_token(a->token_file, fresh, &len) == 0) {
        memcpy(a->token, fresh, len + 1);
        a->token_len = len;
        explicit_bzero(fresh, sizeof(fresh));
    } /* else: keep the last token read (a secret being rewritten) */
    const char *p = c->in.data, *end = p + buf_readable(&c->in);
    static const char field[] = "authorization:";
    for (const char *line = p; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        const char *le = eol != NULL ? eol : end;
        size_t n = (size_t)(le - line);
        if (n > sizeof(field) - 1 && strncasecmp(line, field, sizeof(field) - 1) == 0) {
            const char *v = line + sizeof(field) - 1;
            while (v < le && (*v == ' ' || *v == '\t')) {
                v++;
            }
            const char *ve = le;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) {
                ve--;
            }
            if ((size_t)(ve - v) > 7 && strncasecmp(v, "bearer ", 7) == 0) {
                v += 7;
                while (v < ve && *v == ' ') {
                    v++;
                }
                return same_secret(v, (size_t)(ve - v), a->token, a->token_len);
            }
            return false;
        }
        line = le + 1;
    }
    return false;
}

/* stashd_request_duration_seconds{command}: the workers' histograms merged. */
static int
render_latency(struct net *n, struct buf *b)
{
    struct net_latency sum;
    memset(&sum, 0, sizeof(sum));
    net_sum_latency(n, &sum);
    int rc = buf_appendf(b, "# HELP stashd_request_duration_seconds Time from the read that "
                            "brought a request to the write of its reply.\n"
                            "# TYPE stashd_request_duration_seconds histogram\n");
    for (unsigned f = 0; f < LAT_FAMILIES && rc == 0; f++) {
        uint64_t cum = 0;
        for (unsigned i = 0; i < LAT_BUCKETS && rc == 0; i++) {
            cum += sum.bucket[f][i];
            if (i < LAT_BUCKETS - 1) {
                rc = buf_appendf(b,
                                 "stashd_request_duration_seconds_bucket{command=\"%s\","
                                 "le=\"%g\"} %llu\n",
                                 lat_family_names[f], (double)lat_bounds_ns[i] / 1e9,
                                 (unsigned long long)cum);
            } else {
                rc = buf_appendf(b,
                                 "stashd_request_duration_seconds_bucket{command=\"%s\","
                                 "le=\"+Inf\"} %llu\n",
                                 lat_family_names[f], (unsigned long long)cum);
            }
        }
        rc = rc ? rc
                : buf_appendf(b, "stashd_request_duration_seconds_sum{command=\"%s\"} %.9f\n",
                              lat_family_names[f], (double)sum.sum_ns[f] / 1e9);
        rc = rc ? rc
                : buf_appendf(b, "stashd_request_duration_seconds_count{command=\"%s\"} %llu\n",
                              lat_family_names[f], (unsigned long long)cum);
    }
    return rc;
}

static void
serve_metrics(struct admin_conn *c)
{
    struct buf body;
    buf_init(&body);
    struct prom_net_figures nf = {.ready = net_ready(c->a->net) ? 1 : 0};
    const struct cmd_env *env = net_env(c->a->net);
    if (prom_render(env, &nf, &body) != 0 || render_latency(c->a->net, &body) != 0) {
        RESPOND_TEXT(c, 500, "Internal Server Error", "out of memory\n");
    } else {
        respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body.data,
                buf_readable(&body));
    }
    buf_fini(&body);
}

/* Route a complete request head. */
static void
serve(struct admin_conn *c)
{
    const char *p = c->in.data;
    size_t n = buf_readable(&c->in);
    const char *sp1 = memchr(p, ' ', n);
    const char *sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p)) : NULL;
    if (sp1 == NULL || sp2 == NULL) {
        RESPOND_TEXT(c, 400, "Bad Request", "bad request\n");
        return;
    }
    bool get = (sp1 - p == 3 && memcmp(p, "GET", 3) == 0);
    bool head = (sp1 - p == 4 && memcmp(p, "HEAD", 4) == 0);
    if (!get && !head) {
        RESPOND_TEXT(c, 405, "Method Not Allowed", "only GET\n");
        return;
    }
    size_t plen = (size_t)(sp2 - sp1 - 1);
    const char *path = sp1 + 1;
    const char *q = memchr(path, '?', plen);
    if (q != NULL) {
        plen = (size_t)(q - path);
    }
    if (plen == 8 && memcmp(path, "/metrics", 8) == 0) {
        if (c->a->token_file[0] != '\0' && !bearer_ok(c)) {
            static const char msg[] = "unauthorized\n";
            respond_with(c, 401, "Unauthorized", "WWW-Authenticate: Bearer realm=\"stashd\"\r\n",
                         "text/plain; charset=utf-8", msg, sizeof(msg) - 1);
            return;
        }
        serve_metrics(c);
    } else if (plen == 8 && memcmp(path, "/healthz", 8) == 0) {
        RESPOND_TEXT(c, 200, "OK", "ok\n");
    } else if (plen == 7 && memcmp(path, "/readyz", 7) == 0) {
        if (net_ready(c->a->net)) {
            RESPOND_TEXT(c, 200, "OK", "ready\n");
        } else {
            RESPOND_TEXT(c, 503, "Service Unavailable", "not ready\n");
        }
    } else {
        RESPOND_TEXT(c, 404, "Not Found", "not found\n");
    }
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    struct admin_conn *c = h->data;
    if (buf_reserve(&c->in, 1024, ADMIN_HEAD_MAX + 1) != 0) {
        *out = uv_buf_init(NULL, 0);
        return;
    }
    *out = uv_buf_init(c->in.data + c->in.wpos, (unsigned)buf_writable(&c->in));
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *ub)
{
    struct admin_conn *c = s->data;
    if (c->replied) {
        return;
    }
    if (nread < 0) {
        uv_close((uv_handle_t *)&c->tcp, admin_conn_free);
        return;
    }
    c->in.wpos += (size_t)nread;
    size_t n = buf_readable(&c->in);
    if (n >= 4 && memmem(c->in.data, n, "\r\n\r\n", 4) != NULL) {
        serve(c);
    } else if (memmem(c->in.data, n, "\n\n", 2) != NULL) {
        serve(c);
    } else if (n > ADMIN_HEAD_MAX) {
        RESPOND_TEXT(c, 431, "Request Header Fields Too Large", "too large\n");
    }
}

static void
on_connection(uv_stream_t *server, int status)
{
    struct admin *a = server->data;
    if (status < 0) {
        return;
    }
    struct admin_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return;
    }
    c->a = a;
    buf_init(&c->in);
    buf_init(&c->out);
    uv_tcp_init(&a->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        uv_close((uv_handle_t *)&c->tcp, admin_conn_free);
    }
}

static void
close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h)) {
        uv_close(h,
                 h->type == UV_TCP && h->data != NULL && h->data != arg ? admin_conn_free : NULL);
    }
}

static void
on_stop(uv_async_t *h)
{
    struct admin *a = h->data;
    uv_walk(&a->loop, close_walk, a);
}

static void *
admin_main(void *arg)
{
    struct admin *a = arg;
    uv_run(&a->loop, UV_RUN_DEFAULT);
    return NULL;
}

int
admin_create(struct admin **ap, struct net *n, const char *addr, int port)
{
    struct admin *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return -ENOMEM;
    }
    a->net = n;
    a->token_file = net_env(n)->opts->admin_token_file;
    if (a->token_file[0] != '\0') {
        int trc = read_token(a->token_file, a->token, &a->token_len);
        if (trc != 0) {
            log_error("--admin-token-file %s: %s", a->token_file,
                      trc == -EINVAL ? "no token on its first line (or over 1024 bytes)"
                                     : strerror(-trc));
            free(a);
            return trc;
        }
    }
    int rc = uv_loop_init(&a->loop);
    if (rc != 0) {
        free(a);
        return rc;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    if (getaddrinfo(addr[0] != '\0' ? addr : NULL, portstr, &hints, &res) != 0) {
        log_error("admin listener: cannot resolve %s", addr);
        rc = -EINVAL;
        goto fail_loop;
    }
    uv_tcp_init(&a->loop, &a->listener);
    a->listener.data = a;
    rc = uv_tcp_bind(&a->listener, res->ai_addr, 0);
    freeaddrinfo(res);
    rc = rc ? rc : uv_listen((uv_stream_t *)&a->listener, 128, on_connection);
    if (rc != 0) {
        log_error("admin listener on %s port %d: %s", addr, port, uv_strerror(rc));
        uv_close((uv_handle_t *)&a->listener, NULL);
        goto fail_loop;
    }
    uv_async_init(&a->loop, &a->stop_async, on_stop);
    a->stop_async.data = a;
    rc = pthread_create(&a->thread, NULL, admin_main, a);
    if (rc != 0) {
        rc = -rc;
        uv_close((uv_handle_t *)&a->listener, NULL);
        uv_close((uv_handle_t *)&a->stop_async, NULL);
        goto fail_loop;
    }
    a->running = true;
    log_info("admin HTTP on %s port %d", addr, port);
    *ap = a;
    return 0;

fail_loop:
    uv_run(&a->loop, UV_RUN_DEFAULT);
    uv_loop_close(&a->loop);
    free(a);
    return rc;
}

void
admin_destroy(struct admin **ap)
{
    struct admin *a = *ap;
    if (a == NULL) {
        return;
    }
    if (a->running) {
        uv_async_send(&a->stop_async);
        pthread_join(a->thread, NULL);
    }
    uv_loop_close(&a->loop);
    explicit_bzero(a->token, sizeof(a->token));
    free(a);
    *ap = NULL;
}
