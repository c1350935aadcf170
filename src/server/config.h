/*
 * config: how stashd's options are read at start-up, all of it over the
 * table in util/options.h, whose descriptors (util/optdesc.h) convert and
 * check every value:
 *
 *     config_cli.c   the command line: memcached's flags, long forms,
 *                    -o key=value lists, the memcached flags and -o keys
 *                    accepted and ignored, memcached's refusal messages
 *     config_yaml.c  --config FILE (the only file that includes yaml.h)
 *     config.c       checks across options, -m auto (cgroup.c), --help
 *
 * Start-up only, single-threaded (getopt's globals).
 */
#pragma once

#include <stddef.h>
#include <stdio.h>

#include "stashd/util/options.h"

/* The number of table rows, as a constant for arrays indexed like it
 * (optdesc_index()). */
#define CONFIG_ROW_(f, t, sf, lf, df, mn, mx, fv, sn, hp) +1
enum { CONFIG_NOPTS = 0 STASHD_OPTIONS(CONFIG_ROW_) };

/* What the command line asked for beyond running. */
enum config_action { CONFIG_RUN, CONFIG_HELP, CONFIG_VERSION };

/*
 * Parse argv (memcached's flags, long forms, -o key=value,..., --config
 * FILE) over the values already in o. A --config file anywhere on the
 * line is loaded first, then the command line overrides it. 0, or -EINVAL
 * (-ENOMEM) with a message naming the option (and the YAML key and line)
 * in err.
 */
int config_parse_args(struct options *o, int argc, char **argv, enum config_action *action,
                      char *err, size_t errlen);

/* Load a YAML file of `key: value` pairs (keys are field names). An
 * unknown key or a bad value fails with the key and line in err. */
int config_load_yaml(struct options *o, const char *path, char *err, size_t errlen);

/* The same over a buffer already in memory (no NUL needed); name stands
 * for the file's path in messages. */
int config_load_yaml_buf(struct options *o, const char *name, const void *data, size_t len,
                         char *err, size_t errlen);

/*
 * Once everything is read: every value against its row again, derived
 * defaults (threads = online CPUs), memory_limit "auto" resolved from the
 * cgroup memory limit (cgroup.h) less what connections may hold (net.h),
 * and the checks across options (-I at most half of -m). 0 or -EINVAL
 * with the reason in err.
 */
int config_finish(struct options *o, char *err, size_t errlen);

/* --help: usage, every table row, then the command line's own flags. */
void config_print_help(FILE *out);

/* config_cli.c: the flags outside the table, for --help. */
void config_cli_print_help(FILE *out);
