/*
 * stashd-bench's command line. Every option is one row of a table in
 * options.c (name, letter, argument, how its value is parsed and where it
 * is stored, help), from which getopt's tables and --help are generated, so
 * the two cannot drift. options_parse() fills a struct options and checks
 * the combinations; a bad option or combination prints a message and exits
 * with status 2, before any connection is made.
 */
#pragma once

#include <sched.h> /* CPU_SETSIZE */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "keyspace.h"
#include "proto.h"

/* The run's configuration; const after options_parse(). */
struct options {
    const char *host;
    const char *port;
    enum proto_id proto;
    unsigned threads;
    unsigned conns;
    unsigned pipeline;
    unsigned preload_pipeline;
    double time_s;
    bool time_given;
    uint64_t requests;
    double rate; /* requests/s over all connections; 0: as fast as replies come */
    double warmup_s;
    bool preload;
    unsigned ratio_set;
    unsigned ratio_get;
    unsigned multiget; /* keys per get; resp-multi: commands per transaction */
    bool multiget_given;
    bool set_on_miss;
    uint64_t keys;
    uint64_t key_min;
    const char *key_prefix;
    size_t key_size;     /* 0: no padding */
    size_t key_size_max; /* > key_size: a range of key lengths */
    enum keyspace_dist dist;
    double zipf_s;
    size_t vmin;
    size_t vmax;
    bool vlog; /* --value-dist log: sizes log-uniform in [vmin, vmax] */
    const char *json;
    long server_pid;
    int cpus[CPU_SETSIZE];
    unsigned ncpus;
    double reply_timeout_s;
    double max_time_s;
    uint64_t seed;
    bool quiet;
    bool tls;             /* speak TLS (tls.c) */
    const char *tls_ca;   /* CA file; NULL: the system's */
    const char *tls_cert; /* client certificate chain (mutual TLS); NULL: none */
    const char *tls_key;  /* its key; NULL: in tls_cert's file */
    bool tls_insecure;    /* no verification of the server's certificate */
};

/* Sets every field to its documented default. */
void options_defaults(struct options *o);

/* Parses argv over the defaults already in *o; exits 0 after --help, 2
 * after a message on a usage error. Strings in *o point into argv. */
void options_parse(struct options *o, int argc, char **argv);

void options_usage(FILE *f);

/* "uniform", "sequential" or "zipf": the names --dist takes. */
const char *options_dist_name(enum keyspace_dist d);
