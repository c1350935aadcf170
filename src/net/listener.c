/*
 * listener: the listening sockets. Every worker gets its own TCP socket per
 * address, all bound to the same port with SO_REUSEPORT, so the kernel
 * spreads new connections over the workers and no accept lock exists.
 * The sockets are made, bound and accepted from here: a libuv poll handle
 * says when connections wait, and accept4(2) takes them, up to
 * ACCEPTS_PER_WAKE at a time (connections are served with recv and send
 * on a poll handle too, conn.c, so no libuv stream is involved). Before the group is
 * made, one plain bind probes the address, so a second stashd on the same
 * port fails with "address in use" instead of silently sharing it.
 *
 * A UNIX socket (-s) is bound once and every worker polls a dup of it.
 *
 * -l items are memcached's: ADDR, ADDR:PORT, [V6] or [V6]:PORT, each
 * optionally prefixed "notls:", which keeps that listener plain when -Z
 * makes the others TLS. The RESP-only ports (--resp-port plain,
 * --tls-port TLS) open on each distinct address of -l. UNIX sockets are
 * never TLS.
 *
 * Sockets are only bound here (net_create, still root where a privileged
 * port asks for it); listen() comes in listener_start, on each worker's
 * thread after net_start, so by the time a client can connect the server
 * has already dropped to -u's user.
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/net_internal.h"
#include "stashd/util/log.h"
#include "stashd/util/options.h"

/* Connections taken per readiness of a listening socket before the
 * loop's other work: a burst of them does not starve the ones served. */
#define ACCEPTS_PER_WAKE 64
/* Out of file descriptors, a listener stops accepting for this long
 * (the connections wait in its backlog) rather than spin on EMFILE. */
#define ACCEPT_RETRY_MS 100

static void on_acceptable(uv_poll_t *h, int status, int events);

static void
on_accept_retry(uv_timer_t *t)
{
    struct listener *l = t->data;
    if (uv_poll_start(&l->io, UV_READABLE, on_acceptable) != 0) {
        log_warn("accept on %s: cannot poll the socket again", l->addr);
    }
}

static void
on_acceptable(uv_poll_t *h, int status, int events)
{
    (void)events;
    struct listener *l = h->data;
    if (status < 0) { /* libuv stopped polling the socket: try again later */
        log_warn("accept on %s: %s; trying again in %d ms", l->addr, uv_strerror(status),
                 ACCEPT_RETRY_MS);
        uv_timer_start(&l->retry, on_accept_retry, ACCEPT_RETRY_MS, 0);
        return;
    }
    for (unsigned n = 0; n < ACCEPTS_PER_WAKE; n++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            l->starved = false;
            conn_accept(l, fd);
            continue;
        }
        switch (errno) {
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
            return;
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETUNREACH:
            continue; /* that one connection failed (accept(2)); the next may not */
        default:
            /* Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
             * ENOMEM), or an error that would come again at once: pause
             * rather than spin on the still readable socket. */
            if (!l->starved) { /* once, not every retry */
                log_warn("accept on %s: %s; trying again every %d ms", l->addr, strerror(errno),
                         ACCEPT_RETRY_MS);
                l->starved = true;
            }
            uv_poll_stop(&l->io);
            uv_timer_start(&l->retry, on_accept_retry, ACCEPT_RETRY_MS, 0);
            return;
        }
    }
}

static int
make_tcp_socket(const struct addrinfo *ai, bool reuseport)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (ai->ai_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

void
listener_format_addr(const struct sockaddr *sa, char *out, size_t cap)
{
    char host[64] = "?";
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        snprintf(out, cap, "tcp6:[%s]:%u", host, ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        snprintf(out, cap, "tcp:%s:%u", host, ntohs(a->sin_port));
    }
}

/* What a listener serves. */
struct listen_kind {
    bool resp_only; /* --resp-port, --tls-port */
    bool tls;
};

static int
attach(struct worker *w, int fd, bool is_unix, const char *addr, struct listen_kind kind)
{
    struct listener *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        close(fd);
        return -ENOMEM;
    }
    l->w = w;
    l->is_unix = is_unix;
    l->addr = addr;
    l->resp_only = kind.resp_only;
    l->tls = kind.tls;
    l->id = net_next_conn_id(w->net);
    l->fd = fd;
    int rc = uv_poll_init(&w->loop, &l->io, fd);
    if (rc != 0) {
        close(fd);
        free(l);
        return rc;
    }
    uv_timer_init(&w->loop, &l->retry);
    l->io.data = l;
    l->retry.data = l;
    l->handles = 2;
    pthread_mutex_lock(&w->conns_lock);
    l->next = w->listeners;
    w->listeners = l;
    pthread_mutex_unlock(&w->conns_lock);
    return 0;
}

/* One -l item, taken apart. */
struct listen_spec {
    char host[256]; /* for getaddrinfo: no brackets; "" or "*" = any */
    int port;       /* -1: none given (use -p) */
    bool notls;
};

/*
 * "[notls:]HOST[:PORT]": HOST is a name, an IPv4 address, "*", "[V6]", or
 * a bare IPv6 address (two or more colons, then no port can follow).
 * 0, or -EINVAL with a message logged.
 */
static int
parse_listen_spec(const char *spec, struct listen_spec *out)
{
    const char *p = spec;
    const char *port = NULL;
    size_t hlen;
    out->port = -1;
    out->notls = strncmp(p, "notls:", 6) == 0;
    if (out->notls) {
        p += 6;
    }
    if (p[0] == '[') {
        const char *close = strchr(p, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
            log_error("listen %s: expected [IPv6] or [IPv6]:port", spec);
            return -EINVAL;
        }
        p++;
        hlen = (size_t)(close - p);
        port = close[1] == ':' ? close + 2 : NULL;
    } else {
        const char *colon = strchr(p, ':');
        bool one_colon = colon != NULL && strchr(colon + 1, ':') == NULL;
        hlen = one_colon ? (size_t)(colon - p) : strlen(p);
        port = one_colon ? colon + 1 : NULL;
    }
    if (hlen >= sizeof(out->host)) {
        log_error("listen %s: address too long", spec);
        return -EINVAL;
    }
    memcpy(out->host, p, hlen);
    out->host[hlen] = '\0';
    if (port != NULL) {
        char *end;
        errno = 0;
        long v = strtol(port, &end, 10);
        if (port[0] < '0' || port[0] > '9' || *end != '\0' || errno != 0 || v > 65535) {
            log_error("listen %s: bad port '%s'", spec, port);
            return -EINVAL;
        }
        out->port = (int)v;
    }
    return 0;
}

static int
bind_tcp_address(const char *host, int port, struct worker *workers, unsigned nw,
                 struct listen_kind kind)
{
    char portstr[16];
    const char *spec = host;
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int g =
        getaddrinfo(strcmp(host, "*") == 0 || host[0] == '\0' ? NULL : host, portstr, &hints, &res);
    if (g != 0) {
        log_error("listen %s: %s", spec, gai_strerror(g));
        return -EINVAL;
    }
    int rc = 0;
    for (struct addrinfo *ai = res; ai != NULL && rc == 0; ai = ai->ai_next) {
        /* Probe: fails if any other socket (another server) holds it. */
        int probe = make_tcp_socket(ai, false);
        if (probe < 0) {
            log_error("failed to listen on %s port %d: %s", spec, port, strerror(-probe));
            rc = probe;
            break;
        }
        close(probe);
        char text[128];
        listener_format_addr(ai->ai_addr, text, sizeof(text));
        const char *addr = net_keep_addr(workers[0].net, text);
        if (addr == NULL) {
            rc = -ENOMEM;
            break;
        }
        for (unsigned i = 0; i < nw; i++) {
            int fd = make_tcp_socket(ai, true);
            if (fd < 0) {
                log_error("failed to listen on %s port %d: %s", spec, port, strerror(-fd));
                rc = fd;
                break;
            }
            rc = attach(&workers[i], fd, false, addr, kind);
            if (rc != 0) {
                break;
            }
        }
        if (rc == 0) {
            log_info("listening on %s port %d%s%s (%u workers)", spec, port,
                     kind.resp_only ? " for RESP" : "", kind.tls ? " with TLS" : "", nw);
        }
    }
    freeaddrinfo(res);
    return rc;
}

static int
bind_unix(const struct options *o, struct worker *workers, unsigned nw)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(o->unix_socket) >= sizeof(sa.sun_path)) {
        log_error("unix socket path too long: %s", o->unix_socket);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, o->unix_socket);
    struct stat st;
    if (lstat(o->unix_socket, &st) == 0 && S_ISSOCK(st.st_mode)) {
        unlink(o->unix_socket); /* stale socket from an earlier run */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -errno;
    }
    mode_t old = umask((mode_t)(~o->unix_mask & 0777));
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc != 0) {
        rc = -errno;
        log_error("failed to bind unix socket %s: %s", o->unix_socket, strerror(-rc));
        close(fd);
        return rc;
    }
    char text[128];
    snprintf(text, sizeof(text), "unix:%s", o->unix_socket);
    const char *addr = net_keep_addr(workers[0].net, text);
    if (addr == NULL) {
        close(fd);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < nw; i++) {
        int d = i + 1 < nw ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : fd;
        if (d < 0) {
            return -errno;
        }
        rc = attach(&workers[i], d, true, addr, (struct listen_kind){0});
        if (rc != 0) {
            return rc;
        }
    }
    log_info("listening on unix socket %s", o->unix_socket);
    return 0;
}

/* Whether an earlier -l item has the same host (the RESP ports open once
 * per address). */
static bool
host_seen_before(const struct options *o, size_t i, const char *host)
{
    for (size_t j = 0; j < i; j++) {
        struct listen_spec s;
        if (parse_listen_spec(o->listen.v[j], &s) == 0 && strcmp(s.host, host) == 0) {
            return true;
        }
    }
    return false;
}

/* --resp-port and --tls-port on each distinct -l address. */
static int
bind_resp_ports(const struct options *o, struct worker *workers, unsigned nw)
{
    int rc = 0;
    for (size_t i = 0; i < o->listen.n && rc == 0; i++) {
        struct listen_spec s;
        rc = parse_listen_spec(o->listen.v[i], &s);
        if (rc != 0 || host_seen_before(o, i, s.host)) {
            continue;
        }
        if (o->resp_port != 0) {
            struct listen_kind k = {.resp_only = true};
            rc = bind_tcp_address(s.host, (int)o->resp_port, workers, nw, k);
        }
        if (rc == 0 && o->tls_port != 0) {
            struct listen_kind k = {.resp_only = true, .tls = true};
            rc = bind_tcp_address(s.host, (int)o->tls_port, workers, nw, k);
        }
    }
    return rc;
}

/*
 * Every listener binds with SO_REUSEPORT (one socket per worker), so the
 * kernel would let a memcached port, --resp-port and --tls-port share a
 * number and then deal each new connection to one of them at random: a
 * memcached client would land on a RESP-only port now and then. Refuse
 * that at start, as a bind would without SO_REUSEPORT. 0, or -EADDRINUSE
 * with a message logged.
 */
static int
check_ports_distinct(const struct options *o)
{
    struct {
        const char *what;
        int port;
    } role[2] = {{"--resp-port", (int)o->resp_port}, {"--tls-port", (int)o->tls_port}};
    if (role[0].port != 0 && role[0].port == role[1].port) {
        log_error("--resp-port and --tls-port are both %d: each needs a port of its own",
                  role[0].port);
        return -EADDRINUSE;
    }
    if (o->unix_socket[0] != '\0') {
        return 0; /* no memcached TCP port */
    }
    for (size_t i = 0; i < o->listen.n; i++) {
        struct listen_spec s;
        if (parse_listen_spec(o->listen.v[i], &s) != 0) {
            return -EINVAL;
        }
        int port = s.port >= 0 ? s.port : (int)o->port;
        for (size_t r = 0; r < 2 && port != 0; r++) {
            if (role[r].port == port) {
                log_error("%s %d is also the memcached port of listen %s: each needs a port "
                          "of its own",
                          role[r].what, port, o->listen.v[i]);
                return -EADDRINUSE;
            }
        }
        /* -Z with a notls: address: a TLS and a plain listener on one
         * port would split the connections the same way */
        bool tls = o->ssl_enabled && !s.notls;
        for (size_t j = 0; j < i && port != 0; j++) {
            struct listen_spec t;
            if (parse_listen_spec(o->listen.v[j], &t) == 0 &&
                (t.port >= 0 ? t.port : (int)o->port) == port &&
                (o->ssl_enabled && !t.notls) != tls) {
                log_error("listen %s and listen %s share port %d, one with TLS and one "
                          "without: each needs a port of its own",
                          o->listen.v[j], o->listen.v[i], port);
                return -EADDRINUSE;
            }
        }
    }
    return 0;
}

int
listener_bind_all(struct net *n, struct worker *workers, unsigned nw)
{
    const struct options *o = net_opts(n);
    int rc = check_ports_distinct(o);
    if (rc != 0) {
        return rc;
    }
    if (o->unix_socket[0] != '\0') {
        /* As memcached: a UNIX socket replaces the memcached TCP port. */
        rc = bind_unix(o, workers, nw);
    } else {
        for (size_t i = 0; i < o->listen.n && rc == 0; i++) {
            struct listen_spec s;
            rc = parse_listen_spec(o->listen.v[i], &s);
            int port = s.port >= 0 ? s.port : (int)o->port;
            if (rc == 0 && port != 0) { /* as memcached: -p 0 turns TCP off */
                struct listen_kind k = {.tls = o->ssl_enabled && !s.notls};
                rc = bind_tcp_address(s.host, port, workers, nw, k);
            }
        }
    }
    /* The RESP-only ports open only when asked for, so two instances
     * started with memcached's flags never contend for them. */
    return rc == 0 ? bind_resp_ports(o, workers, nw) : rc;
}

int
listener_listen_all(struct worker *workers, unsigned nw)
{
    const struct options *o = net_opts(workers[0].net);
    for (unsigned i = 0; i < nw; i++) {
        for (struct listener *l = workers[i].listeners; l != NULL; l = l->next) {
            int rc = listen(l->fd, (int)o->backlog) != 0 ? -errno : 0;
            if (rc != 0) {
                log_error("failed to listen on %s: %s", l->addr, strerror(-rc));
                return rc;
            }
        }
    }
    return 0;
}

int
listener_start(struct worker *w)
{
    for (struct listener *l = w->listeners; l != NULL; l = l->next) {
        int rc = uv_poll_start(&l->io, UV_READABLE, on_acceptable);
        if (rc != 0) {
            log_error("listen: %s", uv_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static void
listener_free(uv_handle_t *h)
{
    struct listener *l = h->data;
    if (--l->handles == 0) {
        free(l);
    }
}

void
listener_close_all(struct worker *w)
{
    pthread_mutex_lock(&w->conns_lock);
    struct listener *l = w->listeners;
    w->listeners = NULL;
    pthread_mutex_unlock(&w->conns_lock);
    while (l != NULL) {
        struct listener *next = l->next;
        uv_close((uv_handle_t *)&l->io, listener_free); /* stops polling the socket at once */
        uv_close((uv_handle_t *)&l->retry, listener_free);
        close(l->fd);
        l = next;
    }
}
