/*
 * healthcheck: `stashd --healthcheck [ADDR]`, a client mode for container
 * HEALTHCHECKs and exec probes, so an image needs no nc. It connects to
 * ADDR (host:port, [v6]:port, or a UNIX socket path; default
 * 127.0.0.1:11211), sends `version`, and exits 0 if a VERSION line comes
 * back within two seconds, else 1.
 */
#include "server/healthcheck.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HC_TIMEOUT_MS 2000

static int
wait_fd(int fd, short events, int ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int rc = poll(&p, 1, ms);
    return rc == 1 ? 0 : -1;
}

static int
connect_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static int
connect_tcp(const char *addr)
{
    char host[256] = "127.0.0.1", port[16] = "11211";
    const char *colon = strrchr(addr, ':');
    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');
        if (rb == NULL) {
            return -1;
        }
        snprintf(host, sizeof(host), "%.*s", (int)(rb - addr - 1), addr + 1);
        if (rb[1] == ':') {
            snprintf(port, sizeof(port), "%s", rb + 2);
        }
    } else if (colon != NULL) {
        snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
        snprintf(port, sizeof(port), "%s", colon + 1);
    } else if (addr[0] != '\0') {
        snprintf(host, sizeof(host), "%s", addr);
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0) {
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        int err = 0;
        socklen_t len = sizeof(err);
        if ((rc != 0 && errno != EINPROGRESS) ||
            (rc != 0 && (wait_fd(fd, POLLOUT, HC_TIMEOUT_MS) != 0 ||
                         getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0))) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

int
healthcheck_run(const char *addr)
{
    if (addr == NULL) {
        addr = "127.0.0.1:11211";
    }
    int fd = addr[0] == '/' ? connect_unix(addr) : connect_tcp(addr);
    if (fd < 0) {
        fprintf(stderr, "unhealthy: cannot connect to %s\n", addr);
        return 1;
    }
    static const char req[] = "version\r\n";
    if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
        close(fd);
        fprintf(stderr, "unhealthy: write failed\n");
        return 1;
    }
    char buf[128];
    size_t got = 0;
    while (got < sizeof(buf) - 1 && memchr(buf, '\n', got) == NULL) {
        if (wait_fd(fd, POLLIN, HC_TIMEOUT_MS) != 0) {
            break;
        }
        ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (got >= 8 && memcmp(buf, "VERSION ", 8) == 0) {
        return 0;
    }
    fprintf(stderr, "unhealthy: no VERSION reply from %s\n", addr);
    return 1;
}
