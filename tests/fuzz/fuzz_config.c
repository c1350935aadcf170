// layer: server
/*
 * Fuzz target for the YAML config loader (server/config_yaml): the bytes
 * are loaded over defaults from memory (the same parser as a file); any
 * input must give 0 or -EINVAL with a message, never a crash or a leak.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/config.h"
#include "stashd/util/log.h"
#include "stashd/util/options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        log_set_verbosity(-1); /* no warnings on stderr */
        quiet = 1;
    }
    struct options o;
    options_init(&o);
    char err[512];
    err[0] = '\0';
    int rc = config_load_yaml_buf(&o, "fuzz.yaml", data, size, err, sizeof(err));
    if (rc != 0 && err[0] == '\0') {
        abort(); /* every failure must say why */
    }
    options_fini(&o);
    return 0;
}
