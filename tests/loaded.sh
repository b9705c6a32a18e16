#!/bin/sh
# Run pytest with every core busy: one shell busy loop per core (nproc), started only once the
# test lock is held (waiting for the lock must not slow down someone else's run) and stopped on
# every way out: pass, failure, Ctrl-C, SIGTERM, even SIGKILL of this shell (each loop spins
# only while this shell is alive).
#
# Usage: tests/loaded.sh PYTHON [pytest arguments...]   (make test-loaded ARGS="tests/core")
set -u
py=${1:?usage: tests/loaded.sh PYTHON [pytest arguments...]}
shift
lock=/tmp/faultbox-test.lock
me=$$
pids=""
trap 'kill $pids 2>/dev/null' EXIT
trap 'exit 130' INT TERM HUP

exec 9>>"$lock"
# flock in the background and `wait`: a signal interrupts the wait (it would not interrupt a
# foreground flock), the lock stays with fd 9 of this shell once flock has it
flock 9 &
pids=$!
wait "$pids" || exit 1
pids=""
for _ in $(seq "$(nproc)"); do
    # fd 9 closed: a loop must never be what keeps the lock
    (exec 9>&-; while kill -0 "$me" 2>/dev/null; do :; done) &
    pids="$pids $!"
done
echo "loaded.sh: $(nproc) busy loops (pids$pids), lock $lock held"
# pytest without fd 9 as well: a process a test leaves behind cannot hold the lock either
"$py" -m pytest -q -p no:randomly "$@" 9>&-
exit $?
