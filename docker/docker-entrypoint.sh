#!/bin/sh
# As the official memcached image: if the first argument is a flag, run
# stashd with these arguments (so `docker run stashd -m 256` works), and
# listen on every address unless -l/--listen is given.
set -e
if [ "${1#-}" != "$1" ]; then
    case " $* " in
        *" -l "*|*" --listen"*|*" -l"[0-9]*) set -- stashd "$@" ;;
        *) set -- stashd -l 0.0.0.0 "$@" ;;
    esac
fi
exec "$@"
