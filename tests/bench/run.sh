#!/bin/sh
# NanoDNS vs NSD benchmark, run by hand: tests/bench/run.sh [BUILD_DIR] [options]
# See tests/bench/README.md. /usr/bin/python3 on purpose: the pyenv python3 on
# PATH is not the system one (the script itself needs only the stdlib).
exec /usr/bin/python3 "$(dirname "$0")/bench.py" "$@"
