/*
 * stashd's composition root: parse options, create the store, bind the
 * listeners, drop privileges, start the workers, and wait for a signal or
 * the shutdown command. Everything below is handed what it needs here;
 * nothing below reaches back up except through the callbacks given to it.
 *
 * The main thread runs a small libuv loop of its own: signals (read from
 * a signalfd), the clock tick (the cached clock every module reads) and
 * the shutdown request.
 * SIGHUP reloads the -Y auth file, as memcached does, and the TLS
 * certificates, as the refresh_certs command does. SIGTERM, SIGINT and
 * SIGUSR1 (memcached's graceful stop) drain, and with -e save the memory
 * file for the next start (store_save).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "server/config.h"
#include "server/healthcheck.h"
#include "server/malloc_conf.h"
#include "stashd/cmd/auth.h"
#include "stashd/cmd/stats.h"
#include "stashd/net/net.h"
#include "stashd/store/store.h"
#include "stashd/util/clock.h"
#include "stashd/util/hash.h"
#include "stashd/util/log.h"
#include "stashd/util/options.h"

/* The main loop's state; touched only by the main thread, except the
 * async handle that workers signal. */
struct server {
    struct options opts;
    struct store *store;
    struct auth *auth;
    struct stats *stats; /* reporting state: reset baseline, watch log */
    struct net *net;
    uv_loop_t *loop;
    int sigfd;         /* signalfd of the signals below (block_signals) */
    uv_poll_t sigpoll; /* ... watched by the loop */
    uv_timer_t clock_tick;
    uv_timer_t drain_timer; /* gives up on draining after drain_timeout */
    uv_timer_t drain_poll;  /* ends the drain when no connection is left */
    uv_async_t shutdown_async;
    int signals;            /* signals received */
    bool shutdown_graceful; /* set by a worker before shutdown_async */
    bool save;              /* a graceful stop: save the memory file (-e) at the end */
};

static void
server_stop(struct server *sv)
{
    net_stop(sv->net);
    uv_stop(sv->loop);
}

static void
on_drain_timeout(uv_timer_t *h)
{
    struct server *sv = h->data;
    log_warn("drain timeout: closing %lu connections", net_active_conns(sv->net));
    server_stop(sv);
}

static void
on_drain_poll(uv_timer_t *h)
{
    struct server *sv = h->data;
    if (net_active_conns(sv->net) == 0) {
        log_info("drained: every connection closed");
        server_stop(sv);
    }
}

/* Stop accepting, let clients finish what they sent, then stop. */
static void
server_drain(struct server *sv)
{
    if (sv->opts.drain_timeout == 0) {
        server_stop(sv);
        return;
    }
    net_drain(sv->net);
    uv_timer_start(&sv->drain_timer, on_drain_timeout, (uint64_t)sv->opts.drain_timeout * 1000, 0);
    uv_timer_start(&sv->drain_poll, on_drain_poll, 20, 20);
}

static void
on_signal(struct server *sv, int signum)
{
    if (++sv->signals > 1) {
        log_warn("second signal %d: exiting at once", signum);
        _exit(0);
    }
    log_info("signal %d: draining (up to %lds; a second signal exits at once)", signum,
             (long)sv->opts.drain_timeout);
    /* memcached saves its memory file on SIGUSR1; SIGTERM (how Kubernetes
     * and docker stop a container) and SIGINT save it too. */
    sv->save = true;
    server_drain(sv);
}

static void
on_sighup(struct server *sv)
{
    char err[512];
    if (auth_reload(sv->auth, err, sizeof(err)) != 0) {
        log_warn("SIGHUP: %s; keeping the users loaded before", err);
    } else if (sv->opts.auth_file[0] != '\0') {
        log_info("SIGHUP: reloaded the auth file %s", sv->opts.auth_file);
    }
    int rc = net_refresh_certs(sv->net, err, sizeof(err));
    if (rc == 0) {
        log_info("SIGHUP: TLS certificates reloaded");
    } else if (rc != -ENOTSUP) {
        log_error("SIGHUP: TLS certificates not reloaded (the old ones stay): %s", err);
    }
}

/* The signalfd is readable: take every signal queued on it. */
static void
on_signalfd(uv_poll_t *h, int status, int events)
{
    struct server *sv = h->data;
    struct signalfd_siginfo si;
    (void)status;
    (void)events;
    while (read(sv->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            on_sighup(sv);
        } else {
            on_signal(sv, (int)si.ssi_signo);
        }
    }
}

static void
on_shutdown_async(uv_async_t *h)
{
    struct server *sv = h->data;
    bool graceful = __atomic_load_n(&sv->shutdown_graceful, __ATOMIC_RELAXED);
    log_info("shutdown command: %s", graceful ? "draining" : "stopping");
    sv->save = graceful; /* as memcached: `shutdown graceful` saves, `shutdown` does not */
    if (graceful) {
        server_drain(sv);
    } else {
        server_stop(sv);
    }
}

/* Called by the shutdown command on a worker thread. */
static void
request_shutdown(void *ctx, bool graceful)
{
    struct server *sv = ctx;
    __atomic_store_n(&sv->shutdown_graceful, graceful, __ATOMIC_RELAXED);
    uv_async_send(&sv->shutdown_async);
}

static void
on_clock_tick(uv_timer_t *h)
{
    clock_update();
}

static int
drop_privileges(const struct options *o)
{
    if (getuid() != 0 && geteuid() != 0) {
        return 0;
    }
    if (o->user[0] == '\0') {
        fprintf(stderr, "can't run as root without the -u switch\n");
        return -EPERM;
    }
    struct passwd *pw = getpwnam(o->user);
    if (pw == NULL) {
        fprintf(stderr, "can't find the user %s to switch to\n", o->user);
        return -ENOENT;
    }
    if (pw->pw_uid == 0) {
        return 0; /* -u root: stay root, as memcached allows */
    }
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        fprintf(stderr, "failed to assume identity of user %s: %s\n", o->user, strerror(errno));
        return -EPERM;
    }
    return 0;
}

static int
daemonize(void)
{
    pid_t pid = fork();
    if (pid < 0) {
        return -errno;
    }
    if (pid > 0) {
        _exit(0);
    }
    if (setsid() < 0) {
        return -errno;
    }
    int mrc = malloc_after_daemon_fork();
    if (mrc != 0) {
        log_warn("could not restart the allocator's background threads after -d: %s",
                 strerror(mrc));
    }
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        if (fd > STDERR_FILENO) {
            close(fd);
        }
    }
    return 0;
}

static void
write_pid_file(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        log_error("could not open the pid file %s: %s", path, strerror(errno));
        return;
    }
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
}

/* --large-pages: the store decides auto (store.c, large_pages_auto). */
static enum store_large_pages
large_pages(const struct options *o)
{
    return strcmp(o->large_pages, "auto") == 0 ? STORE_LARGE_PAGES_AUTO
           : strcmp(o->large_pages, "on") == 0 ? STORE_LARGE_PAGES_ON
                                               : STORE_LARGE_PAGES_OFF;
}

static int
start_store(struct server *sv)
{
    const struct options *o = &sv->opts;
    struct store_config sc = {
        .memory_limit = o->memory_limit,
        .max_item_size = o->max_item_size,
        .growth_factor = o->growth_factor,
        .slab_min_size = (uint32_t)o->slab_min_size,
        .shards = (uint32_t)o->shards,
        .databases = (uint32_t)o->databases,
        .threads = (uint32_t)o->threads,
        .evictions = o->evictions,
        .cas_enabled = o->cas_enabled,
        .large_pages = large_pages(o),
        .on_evict = stats_log_evict, /* memcached's `watch evictions` */
        .evict_ctx = sv->stats,
        .memory_file = o->memory_file,
    };
    int rc = store_create(&sv->store, &sc);
    if (rc != 0) {
        log_error("cannot create the store: %s", strerror(-rc));
    }
    return rc;
}

/* The metadata is written beside the memory file at the stop, by the
 * user the server then runs as: say now if it will not be able to. */
static void
warn_if_unsavable(const struct options *o)
{
    if (o->memory_file[0] == '\0') {
        return;
    }
    char *copy = strdup(o->memory_file);
    if (copy != NULL && access(dirname(copy), W_OK) != 0) {
        log_warn("memory file %s: its directory is not writable (%s): a stop cannot save it",
                 o->memory_file, strerror(errno));
    }
    free(copy);
}

/* After a graceful stop, every thread but this one gone: write what the
 * next start needs to serve the memory file's items again. */
static void
save_memory_file(struct server *sv)
{
    uint64_t t0 = clock_mono_ns(), items = 0;
    int rc = store_save(sv->store, &items);
    if (rc != 0) {
        log_error("memory file %s: not saved (%s): the next start will be empty",
                  sv->opts.memory_file, strerror(-rc));
        return;
    }
    log_info("memory file %s: saved %llu items in %.3f s", sv->opts.memory_file,
             (unsigned long long)items, (double)(clock_mono_ns() - t0) / 1e9);
}

/*
 * The signals the main loop handles (SIGTERM, SIGINT, SIGHUP, SIGUSR1)
 * are blocked in every thread, from before the first thread starts (each
 * inherits the mask), and read from a signalfd that the loop watches: no
 * signal handler runs anywhere, and a signal sent before the loop runs is
 * held until it does. With libuv's signal handles (a handler that writes
 * to a pipe) a -t 4 server built with ThreadSanitizer now and then never
 * saw a SIGTERM, in about 1 run in 10 of the TSan integration tests: the
 * kernel had delivered it, and nothing was pending or blocked anywhere.
 */
static void
block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

static int
run(struct server *sv)
{
    char err[512];
    sigset_t sigs;
    block_signals(&sigs);
    int rc = auth_create(&sv->auth, &sv->opts, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "stashd: %s\n", err);
        return 1;
    }
    rc = stats_create(&sv->stats);
    if (rc != 0) {
        log_error("cannot create the stats state: %s", strerror(-rc));
        auth_destroy(&sv->auth);
        return 1;
    }
    rc = start_store(sv);
    if (rc != 0) {
        stats_destroy(&sv->stats);
        auth_destroy(&sv->auth);
        return 1;
    }
    struct net_config nc = {
        .opts = &sv->opts,
        .store = sv->store,
        .auth = sv->auth,
        .stats = sv->stats,
        .shutdown = request_shutdown,
        .shutdown_ctx = sv,
    };
    rc = net_create(&sv->net, &nc);
    if (rc != 0) {
        goto out_store;
    }
    rc = drop_privileges(&sv->opts);
    if (rc != 0) {
        goto out_net;
    }
    warn_if_unsavable(&sv->opts);
    if (sv->opts.daemonize && (rc = daemonize()) != 0) {
        goto out_net;
    }
    if (sv->opts.pid_file[0] != '\0') {
        write_pid_file(sv->opts.pid_file);
    }
    sv->loop = uv_default_loop();
    sv->sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sv->sigfd < 0) {
        rc = -errno;
        log_error("signalfd: %s", strerror(errno));
        goto out_net;
    }
    uv_poll_init(sv->loop, &sv->sigpoll, sv->sigfd);
    sv->sigpoll.data = sv;
    uv_poll_start(&sv->sigpoll, UV_READABLE, on_signalfd);
    uv_timer_init(sv->loop, &sv->clock_tick);
    uv_timer_start(&sv->clock_tick, on_clock_tick, 100, 100);
    uv_timer_init(sv->loop, &sv->drain_timer);
    uv_timer_init(sv->loop, &sv->drain_poll);
    sv->drain_timer.data = sv->drain_poll.data = sv;
    uv_async_init(sv->loop, &sv->shutdown_async, on_shutdown_async);
    sv->shutdown_async.data = sv;

    if ((rc = store_start_maintenance(sv->store)) != 0 || (rc = net_start(sv->net)) != 0) {
        net_stop(sv->net);
    } else {
        uv_run(sv->loop, UV_RUN_DEFAULT);
    }
    uv_close((uv_handle_t *)&sv->sigpoll, NULL);
    uv_close((uv_handle_t *)&sv->clock_tick, NULL);
    uv_close((uv_handle_t *)&sv->drain_timer, NULL);
    uv_close((uv_handle_t *)&sv->drain_poll, NULL);
    uv_close((uv_handle_t *)&sv->shutdown_async, NULL);
    uv_run(sv->loop, UV_RUN_NOWAIT);
    uv_loop_close(sv->loop);
    /* A late SIGTERM (a second one, after the drain ended) stays blocked:
     * the rest is torn down, and the exit stays clean. */
    close(sv->sigfd);
    if (sv->opts.pid_file[0] != '\0') {
        unlink(sv->opts.pid_file);
    }
out_net:
    net_destroy(&sv->net);
    store_stop_maintenance(sv->store);
    if (sv->save && sv->opts.memory_file[0] != '\0') {
        save_memory_file(sv);
    }
out_store:
    store_destroy(&sv->store);
    stats_destroy(&sv->stats); /* after every thread that logs has stopped */
    auth_destroy(&sv->auth);
    return rc == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
    static struct server sv;
    char err[512] = "";
    enum config_action action = CONFIG_RUN;

    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && strcmp(argv[1], "--healthcheck") == 0) {
        return healthcheck_run(argc >= 3 ? argv[2] : NULL);
    }
    clock_setup();
    hash_setup(0);
    options_init(&sv.opts);
    int prc = config_parse_args(&sv.opts, argc, argv, &action, err, sizeof(err));
    if (prc == 0) {
        /* before config_finish, which logs what -m auto chose */
        log_set_verbosity((int)sv.opts.verbosity);
        log_set_json(strcmp(sv.opts.log_format, "json") == 0);
    }
    if (prc != 0 || (action == CONFIG_RUN && config_finish(&sv.opts, err, sizeof(err)) != 0)) {
        fprintf(stderr, "stashd: %s\n", err);
        options_fini(&sv.opts);
        return 64; /* EX_USAGE, as memcached */
    }
    if (action == CONFIG_HELP) {
        config_print_help(stdout);
        options_fini(&sv.opts);
        return 0;
    }
    if (action == CONFIG_VERSION) {
        printf("stashd %s\n", STASHD_VERSION);
        options_fini(&sv.opts);
        return 0;
    }
    if ((getuid() == 0 || geteuid() == 0) && sv.opts.user[0] == '\0') {
        fprintf(stderr, "can't run as root without the -u switch\n");
        options_fini(&sv.opts);
        return 64;
    }
    int rc = run(&sv);
    options_fini(&sv.opts);
    return rc;
}
