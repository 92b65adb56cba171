#!/bin/sh
# NanoDNS benchmarks, run by hand: tests/bench/run.sh [BUILD_DIR] [options]
# (NanoDNS vs NSD and Knot, authoritative; --blocklist N adds NanoDNS with a list of N
# names loaded; with --startup or --startup-blocklist N, start-up time, peak memory and
# reload time instead) or tests/bench/run.sh --cache
# [BUILD_DIR] [options] (NanoDNS vs unbound, forwarded names from the cache).
# See tests/bench/README.md. /usr/bin/python3 on purpose: the pyenv python3 on
# PATH is not the system one (the scripts themselves need only the stdlib; bench.py
# --startup uses python3-dnspython if installed, else dig).
if [ "$1" = "--cache" ]; then
    shift
    exec /usr/bin/python3 "$(dirname "$0")/cache_bench.py" "$@"
fi
exec /usr/bin/python3 "$(dirname "$0")/bench.py" "$@"
