#!/bin/sh
# As the official memcached image: if the first argument is a flag, run
# stashd with these arguments (so `docker run stashd -m 256` works), after
# the image's settings (/etc/stashd/stashd.yaml: every address, RESP on
# 6379), which the flags override; a --config of one's own replaces them.
set -e
if [ "${1#-}" != "$1" ]; then
    case " $* " in
        *" --config "*|*" --config="*) set -- stashd "$@" ;;
        *) set -- stashd --config /etc/stashd/stashd.yaml "$@" ;;
    esac
fi
exec "$@"
