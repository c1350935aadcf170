// layer: util
/*
 * Fuzz target for the YAML config loader (util/options): the bytes are
 * written to a file and loaded over defaults; any input must give 0 or
 * -EINVAL with a message, never a crash or a leak.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stashd/util/log.h"
#include "stashd/util/options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (path[0] == '\0') {
        snprintf(path, sizeof(path), "/tmp/stashd-fuzz-config-%ld.yaml", (long)getpid());
        log_set_verbosity(-1); /* no warnings on stderr */
    }
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return 0;
    }
    if (size > 0 && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return 0;
    }
    fclose(f);
    struct options o;
    options_init(&o);
    char err[512];
    int rc = options_load_yaml(&o, path, err, sizeof(err));
    if (rc != 0 && err[0] == '\0') {
        abort(); /* every failure must say why */
    }
    options_fini(&o);
    return 0;
}
