#!/bin/sh
# The Docker engine and the local images that tests/containers needs (docs/containers.md).
#
#   tests/containers.sh up      engine answering (start dockerd if none does) + images built
#   tests/containers.sh down    stop the dockerd that `up` started (none started: nothing to do)
#   tests/containers.sh images  build (or keep) the images only
#
# No registry is reachable here, so every image is built locally: a Debian bookworm base made
# with debootstrap from the machine's own apt mirror and `docker import`ed, then small
# Dockerfiles (tests/containers/images/<name>/) that apt-get their packages. An image is rebuilt
# only when its content hash (label faultbox.content-hash) changed. The engine we start has no
# bridge and no iptables rules (--bridge=none --iptables=false --ip-forward=false): containers
# use the host's network, so nothing leaves loopback.
#
# Where no engine can run (no root, no docker.io), `up` says why in $FAULTBOX_DOCKER_STATUS
# (default /tmp/faultbox-docker-status) and exits 0: the container tests then skip with that
# reason and the rest of the suite runs.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
images="$here/tests/containers/images"
status=${FAULTBOX_DOCKER_STATUS:-/tmp/faultbox-docker-status}
pidfile=/tmp/faultbox-dockerd.pid          # present only while a dockerd we started runs
base=faultbox-test/debian:bookworm

say() { echo "containers.sh: $*" >&2; }
unavailable() { say "no Docker engine: $*"; echo "$*" >"$status"; exit 0; }

engine_answers() { docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

ensure_engine() {
    rm -f "$status"
    if ! command -v docker >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] || unavailable "docker.io is not installed and we are not root"
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker.io debootstrap; } \
            >/dev/null 2>&1 || unavailable "apt-get install docker.io failed"
    fi
    engine_answers && return 0
    [ -z "${DOCKER_HOST:-}" ] || unavailable "DOCKER_HOST=$DOCKER_HOST does not answer"
    [ "$(id -u)" = 0 ] || unavailable "no engine answers and only root can start dockerd"
    say "starting dockerd (host networking only; stopped by 'tests/containers.sh down')"
    dockerd --bridge=none --iptables=false --ip-forward=false --pidfile "$pidfile.engine" \
        >/tmp/faultbox-dockerd.log 2>&1 &
    echo $! >"$pidfile"
    i=0
    until engine_answers; do
        i=$((i + 1))
        if [ $i -gt 60 ] || ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            reason="dockerd did not start: $(tail -n 1 /tmp/faultbox-dockerd.log 2>/dev/null)"
            stop_engine
            unavailable "$reason"
        fi
        sleep 1
    done
}

stop_engine() {
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 30 ]; do i=$((i + 1)); sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile" "$pidfile.engine"
}

# The apt mirror this machine uses (one-line or deb822 sources), for debootstrap.
mirror() {
    m=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n 1)
    [ -n "$m" ] || m=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
        awk '{for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' | grep -v security | head -n 1)
    echo "${m:-http://deb.debian.org/debian}"
}

label_of() {
    docker image inspect -f '{{index .Config.Labels "faultbox.content-hash"}}' "$1" 2>/dev/null || true
}

build_base() {
    m=$(mirror)
    hash=$(printf 'minbase bookworm %s v1' "$m" | sha256sum | cut -c1-16)
    [ "$(label_of "$base")" = "$hash" ] && return 0
    command -v debootstrap >/dev/null 2>&1 || apt-get install -y -qq debootstrap >/dev/null
    say "building $base with debootstrap from $m"
    root=$(mktemp -d /tmp/faultbox-rootfs-XXXXXX)
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase bookworm "$root" "$m" >/tmp/faultbox-debootstrap.log 2>&1 ||
        { say "debootstrap failed (see /tmp/faultbox-debootstrap.log)"; exit 1; }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | docker import \
        --change "LABEL faultbox.content-hash=$hash" --change 'CMD ["/bin/bash"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        - "$base" >/dev/null
    rm -rf "$root"
    trap - EXIT
}

# build_image NAME TAG: tests/containers/images/NAME built as TAG, with the files its
# `context` list names (relative to the repository) and what its `context.sh` copies.
build_image() {
    name=$1 tag=$2
    shift 2
    dir="$images/$name"
    ctx=$(mktemp -d /tmp/faultbox-ctx-XXXXXX)
    cp -a "$dir/." "$ctx/"
    if [ -f "$dir/context" ]; then
        while read -r f; do [ -n "$f" ] && cp -aL "$here/$f" "$ctx/"; done <"$dir/context"
    fi
    # shellcheck disable=SC1091
    [ -f "$dir/context.sh" ] && . "$dir/context.sh"
    rm -f "$ctx/context" "$ctx/context.sh"
    hash=$( (cd "$ctx" && find . -type f | LC_ALL=C sort | xargs sha256sum; label_of "$base") |
        sha256sum | cut -c1-16)
    if [ "$(label_of "$tag")" != "$hash" ]; then
        say "building $tag"
        docker build -q --network host --label "faultbox.content-hash=$hash" -t "$tag" "$ctx" \
            >/tmp/faultbox-build-"$name".log 2>&1 ||
            { say "docker build $tag failed:"; tail -n 20 /tmp/faultbox-build-"$name".log >&2; rm -rf "$ctx"; exit 1; }
    fi
    rm -rf "$ctx"
    for alias in "$@"; do docker tag "$tag" "$alias"; done
}

build_images() {
    start=$(date +%s)
    build_base
    build_image postgres faultbox-test/postgres:15
    build_image redis faultbox-test/redis:7
    build_image app faultbox-test/app:latest
    if [ -x "$here/.venv/bin/tansu" ]; then
        build_image kafka faultbox-test/kafka:tansu
    else
        say "no .venv/bin/tansu (tests/servers.sh links it): faultbox-test/kafka:tansu not built"
    fi
    say "images ready in $(($(date +%s) - start)) s"
}

case "${1:-up}" in
up) ensure_engine; build_images ;;
images) build_images ;;
down) stop_engine ;;
*) say "usage: tests/containers.sh up|down|images"; exit 2 ;;
esac
