/*
 * options: every stashd option, declared once in STASHD_OPTIONS below. The
 * table generates struct options, the defaults, --help, and the
 * descriptors (util/optdesc.h) through which the layers above read and
 * show options: server/ parses the command line (memcached's short and
 * long flags, -o key=value) and the YAML file (--config FILE, key = field
 * name), and cmd/ renders `stats settings`, so none of these can drift
 * apart. conf/stashd.yaml documents every key.
 *
 * An options struct is filled once at start-up and is const afterwards;
 * what changes at run time (the memory limit via cache_memlimit, the
 * verbosity) lives in the module that owns it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Option value types and the C type each is stored as. */
#define OPT_CTYPE_OPT_BOOL bool
#define OPT_CTYPE_OPT_INT int64_t   /* decimal, bounded by [min, max] */
#define OPT_CTYPE_OPT_OCTAL int64_t /* octal (unix socket mask) */
#define OPT_CTYPE_OPT_SIZE uint64_t /* bytes; accepts k/m/g suffix */
#define OPT_CTYPE_OPT_MB uint64_t   /* stored in bytes; plain number = MiB, k/m/g suffix accepted */
#define OPT_CTYPE_OPT_DOUBLE double
#define OPT_CTYPE_OPT_STR char *               /* owned, never NULL ("" when unset) */
#define OPT_CTYPE_OPT_LIST struct options_list /* repeatable and/or comma list */
#define OPT_CTYPE_OPT_COUNT int64_t            /* -v, -vv, -vvv count up */

/* An OPT_MB given as "auto" (memory_limit: from the cgroup limit) until
 * server/'s config_finish() resolves it. No number parses to it: a plain
 * number is a multiple of 1 MiB, a suffixed one of 1 KiB. */
#define OPTIONS_MB_AUTO UINT64_MAX

struct options_list {
    char **v; /* owned strings */
    size_t n;
};

/*
 * X(field, type, short_flag, long_flag, default, min, max, flag_value,
 *   stats_name, help)
 *
 * field       struct member and YAML key
 * short_flag  memcached's letter, or 0
 * long_flag   memcached's long option name (without "--")
 * default     as text, parsed like user input
 * min, max    bounds for numeric types (ignored for others)
 * flag_value  for OPT_BOOL: the value a bare flag sets ("-M" sets
 *             evictions=false); ignored for other types
 * stats_name  memcached's `stats settings` name, or NULL to omit
 */
#define STASHD_OPTIONS(X)                                                                          \
    X(port, OPT_INT, 'p', "port", "11211", 0, 65535, 0, "tcpport",                                 \
      "TCP port to listen on (0 = no TCP)")                                                        \
    X(listen, OPT_LIST, 'l', "listen", "127.0.0.1", 0, 0, 0, "inter",                              \
      "interface(s) to listen on; repeat or comma-separate; [::1] for IPv6")                       \
    X(unix_socket, OPT_STR, 's', "unix-socket", "", 0, 0, 0, "domain_socket",                      \
      "UNIX socket path to listen on (as memcached, disables TCP)")                                \
    X(unix_mask, OPT_OCTAL, 'a', "unix-mask", "0700", 0, 0777, 0, "umask",                         \
      "access mask for the UNIX socket, in octal")                                                 \
    X(memory_limit, OPT_MB, 'm', "memory-limit", "64", 1, 0, 0, "maxbytes",                        \
      "item memory in megabytes (or with k/m/g suffix; auto: from the cgroup limit)")              \
    X(conn_limit, OPT_INT, 'c', "conn-limit", "1024", 1, 1048576, 0, "maxconns",                   \
      "max simultaneous connections")                                                              \
    X(threads, OPT_INT, 't', "threads", "0", 0, 1024, 0, "num_threads",                            \
      "number of worker threads (0 = one per online CPU)")                                         \
    X(max_item_size, OPT_SIZE, 'I', "max-item-size", "1m", 1024, 1073741824, 0, "item_size_max",   \
      "largest item (key + value) stored; k/m suffix accepted")                                    \
    X(growth_factor, OPT_DOUBLE, 'f', "slab-growth-factor", "1.25", 0, 0, 0, "growth_factor",      \
      "chunk size growth factor between slab classes (> 1.0)")                                     \
    X(slab_min_size, OPT_INT, 'n', "slab-min-size", "48", 1, 1048576, 0, "chunk_size",             \
      "minimum space for key + value + flags in the smallest chunk")                               \
    X(large_pages, OPT_STR, 0, "large-pages", "auto", 0, 0, 0, NULL,                               \
      "item memory on transparent huge pages: auto (from -m 4 GiB, or 512 MiB x (threads + 1)), "  \
      "on or off")                                                                                 \
    X(evictions, OPT_BOOL, 'M', "disable-evictions", "true", 0, 0, false, "evictions",             \
      "evict items when memory is full (-M: return an error instead)")                             \
    X(cas_enabled, OPT_BOOL, 'C', "disable-cas", "true", 0, 0, false, "cas_enabled",               \
      "keep CAS unique ids (-C: disable)")                                                         \
    X(flush_enabled, OPT_BOOL, 'F', "disable-flush-all", "true", 0, 0, false, "flush_enabled",     \
      "allow flush_all (-F: disable)")                                                             \
    X(reqs_per_event, OPT_INT, 'R', "max-reqs-per-event", "20", 1, 1000000, 0, "reqs_per_event",   \
      "requests served from one connection before others get a turn")                              \
    X(backlog, OPT_INT, 'b', "listen-backlog", "1024", 1, 65535, 0, "tcp_backlog",                 \
      "listen backlog")                                                                            \
    X(protocol, OPT_STR, 'B', "protocol", "auto", 0, 0, 0, "binding_protocol",                     \
      "protocol: auto, ascii or binary")                                                           \
    X(udp_port, OPT_INT, 'U', "udp-port", "0", 0, 0, 0, "udpport",                                 \
      "UDP port; only 0 is accepted (stashd does not serve UDP)")                                  \
    X(verbosity, OPT_COUNT, 'v', "verbose", "0", 0, 3, 0, "verbosity",                             \
      "verbose logging; -vv more, -vvv most")                                                      \
    X(user, OPT_STR, 'u', "user", "", 0, 0, 0, NULL,                                               \
      "user to run as (required when started as root)")                                            \
    X(shutdown_enabled, OPT_BOOL, 'A', "enable-shutdown", "false", 0, 0, true, "shutdown_command", \
      "allow the shutdown command")                                                                \
    X(daemonize, OPT_BOOL, 'd', "daemon", "false", 0, 0, true, NULL, "run as a daemon")            \
    X(pid_file, OPT_STR, 'P', "pidfile", "", 0, 0, 0, NULL, "write the process id to this file")   \
    X(idle_timeout, OPT_INT, 0, "idle-timeout", "0", 0, 86400 * 365, 0, "idle_timeout",            \
      "close connections idle this many seconds (0 = never)")                                      \
    X(databases, OPT_INT, 0, "databases", "16", 1, 256, 0, "databases",                            \
      "Redis databases (SELECT 0..N-1); memcached's protocols use database 0")                     \
    X(shards, OPT_INT, 0, "shards", "0", 0, 65536, 0, "shards",                                    \
      "store shards, a power of two (0 = chosen from threads and memory)")                         \
    X(log_format, OPT_STR, 0, "log-format", "text", 0, 0, 0, NULL,                                 \
      "log line format: text or json")                                                             \
    X(drain_timeout, OPT_INT, 0, "drain-timeout", "10", 0, 3600, 0, "drain_timeout",               \
      "seconds to let clients finish after SIGTERM before closing them (0 = close at once)")       \
    X(resp_port, OPT_INT, 0, "resp-port", "0", 0, 65535, 0, "resp_port",                           \
      "TCP port for Redis clients only, inline commands included (0 = off)")                       \
    X(requirepass, OPT_STR, 0, "requirepass", "", 0, 0, 0, NULL,                                   \
      "password of user 'default'; any credential makes every connection authenticate")            \
    X(admin_port, OPT_INT, 0, "admin-port", "0", 0, 65535, 0, "admin_port",                        \
      "HTTP port for /metrics, /healthz and /readyz (0 = off)")                                    \
    X(admin_listen, OPT_STR, 0, "admin-listen", "127.0.0.1", 0, 0, 0, "admin_listen",              \
      "address the admin HTTP port binds (0.0.0.0 for Kubernetes probes)")                         \
    X(admin_token_file, OPT_STR, 0, "admin-token-file", "", 0, 0, 0, NULL,                         \
      "file holding a bearer token /metrics requires (probes stay open)")                          \
    X(metrics_hotkeys, OPT_BOOL, 0, "metrics-hotkeys", "false", 0, 0, true, NULL,                  \
      "show the most read key names on /metrics (keys may identify users)")                        \
    X(sasl, OPT_BOOL, 'S', "enable-sasl", "false", 0, 0, true, "auth_enabled_sasl",                \
      "require authentication against the SASL password file (every protocol)")                    \
    X(auth_file, OPT_STR, 'Y', "auth-file", "", 0, 0, 0, "auth_enabled_ascii",                     \
      "file of user:password lines (memcached -Y); reloaded on SIGHUP")                            \
    X(sasl_pwdb, OPT_STR, 0, "sasl-pwdb", "", 0, 0, 0, NULL,                                       \
      "file of user:password lines for -S (default: $MEMCACHED_SASL_PWDB)")                        \
    STASHD_TLS_OPTIONS(X)                                                                          \
    X(memory_file, OPT_STR, 'e', "memory-file", "", 0, 0, 0, "memory_file",                        \
      "keep item memory in this file (tmpfs); a restart after a clean stop keeps the cache")

/* TLS (memcached's -Z and its -o ssl_* keys, Redis's --tls-port); rows of
 * the table above, kept together. memcached prints every ssl_* setting in
 * `stats settings` whether TLS is on or not, and so does stashd. */
#define STASHD_TLS_OPTIONS(X)                                                                      \
    X(ssl_enabled, OPT_BOOL, 'Z', "enable-ssl", "false", 0, 0, true, "ssl_enabled",                \
      "TLS on the memcached port(s); -l notls:ADDR:PORT adds a plain listener")                    \
    X(ssl_chain_cert, OPT_STR, 0, "ssl-chain-cert", "", 0, 0, 0, "ssl_chain_cert",                 \
      "server certificate chain file (PEM), needed by -Z and --tls-port")                          \
    X(ssl_key, OPT_STR, 0, "ssl-key", "", 0, 0, 0, "ssl_key",                                      \
      "private key file (empty: the key is in ssl_chain_cert)")                                    \
    X(ssl_verify_mode, OPT_INT, 0, "ssl-verify-mode", "0", 0, 3, 0, "ssl_verify_mode",             \
      "client certificates: 0 not asked, 1 verified if sent, 2 required, 3 required once")         \
    X(ssl_keyformat, OPT_INT, 0, "ssl-keyformat", "1", 1, 2, 0, "ssl_keyformat",                   \
      "private key file format: 1 PEM, 2 DER")                                                     \
    X(ssl_ciphers, OPT_STR, 0, "ssl-ciphers", "", 0, 0, 0, "ssl_ciphers",                          \
      "OpenSSL cipher list for TLS 1.2 and older (empty: OpenSSL's default)")                      \
    X(ssl_ca_cert, OPT_STR, 0, "ssl-ca-cert", "", 0, 0, 0, "ssl_ca_cert",                          \
      "CA certificates (PEM) that client certificates must chain to")                              \
    X(ssl_wbuf_size, OPT_INT, 0, "ssl-wbuf-size", "16", 1, 1048576, 0, "ssl_wbuf_size",            \
      "memcached's TLS output buffer in KiB; accepted (stashd's grows as replies need)")           \
    X(ssl_session_cache, OPT_BOOL, 0, "ssl-session-cache", "false", 0, 0, true,                    \
      "ssl_session_cache", "server-side TLS session cache, for session-id resumption")             \
    X(ssl_kernel_tls, OPT_BOOL, 0, "ssl-kernel-tls", "false", 0, 0, true, "ssl_kernel_tls",        \
      "kernel TLS offload: accepted for memcached's command lines, not used")                      \
    X(ssl_min_version, OPT_INT, 0, "ssl-min-version", "2", 0, 3, 0, "ssl_min_version",             \
      "oldest TLS version accepted: 0 TLS 1.0, 1 TLS 1.1, 2 TLS 1.2, 3 TLS 1.3")                   \
    X(tls_port, OPT_INT, 0, "tls-port", "0", 0, 65535, 0, "tls_port",                              \
      "TLS port for Redis clients only, on the ssl_* certificates (0 = off)")

#define OPTIONS_FIELD(field, type, sf, lf, def, mn, mx, fv, sn, help) OPT_CTYPE_##type field;
struct options {
    STASHD_OPTIONS(OPTIONS_FIELD)
    char *config_file; /* --config FILE, or "" */
};
#undef OPTIONS_FIELD

/* Fill with the table's defaults. */
void options_init(struct options *o);
void options_fini(struct options *o);

/*
 * Check every scalar field against its row again (rule hooks, bounds), so
 * that a value set directly in the struct obeys the same rules as one
 * parsed from text. 0, or -EINVAL with a message naming the option.
 */
int options_validate(const struct options *o, char *err, size_t errlen);

/* One --help line per table row: "-p, --port=<num>  help (default: ..)". */
void options_print_help(FILE *out);
/* A line in the same columns, for the flags the table does not hold. */
void options_help_line(FILE *out, const char *left, const char *text, const char *def);
