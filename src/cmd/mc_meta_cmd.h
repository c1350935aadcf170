/*
 * mc_meta_cmd: memcached's meta commands (mg ms md ma mn me) executed
 * against the store (private to cmd/). The text step (mc_text_cmd.c)
 * hands over each request mc_text_parse() read as a meta command;
 * replies are memcached 1.6.18's, byte for byte.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "stashd/cmd/session.h"
#include "stashd/proto/mc_meta.h"
#include "stashd/proto/mc_text.h"

/* What the text step does after a meta request. */
struct mc_meta_outcome {
    size_t consumed;      /* bytes of the request (line and data block) */
    uint64_t swallow;     /* bytes to discard after consumed ... */
    enum mc_meta_err due; /* ... then send this reply (memcached answers a refused
                           * ms only once its data is swallowed) */
    bool error;           /* the request was refused (a protocol error) */
};

/*
 * Serve the meta request mc_text_parse() parsed whole into line
 * (line->cmd is MC_TEXT_MG .. MC_TEXT_ME; line->meta, line->meta_rc).
 * Replies are appended to s->out; a failed append sets *err. An mg value
 * may be written to the socket with the replies before it
 * (session_direct); *unsent, the text step's mark of reply bytes counted
 * as written, shrinks by what left s->out.
 */
void mc_meta_cmd_serve(struct session *s, const struct mc_text_req *line, struct mc_meta_outcome *o,
                       int *err, size_t *unsent);
