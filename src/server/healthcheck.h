/* healthcheck: the `stashd --healthcheck [ADDR]` client mode. */
#pragma once

/* 0 if the server at addr (NULL: 127.0.0.1:11211) answers `version`. */
int healthcheck_run(const char *addr);
