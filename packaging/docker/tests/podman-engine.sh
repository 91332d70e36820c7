#!/usr/bin/env bash
# Start (or stop) podman's Docker-compatible API service, so that the plain
# `docker` CLI -- and with it `edgesync-pack docker --build`, `./launch` and
# the opt-in test packaging/docker/tests/test_engine.py -- can build and run
# real OCI containers on a Debian 12 machine that has no Docker Engine and
# cannot reach Docker Hub (see docs packaging.md, section D.1).
#
#   eval "$(packaging/docker/tests/podman-engine.sh start)"
#   .venv/bin/python -m pytest -q packaging/docker/tests/test_engine.py -rs
#   packaging/docker/tests/podman-engine.sh stop
#
# Commands:
#   start   install what is missing, write a private podman configuration,
#           make the base image once, start the API service and wait for it;
#           prints `export ...` lines on standard output (progress goes to
#           standard error), so `eval "$(... start)"` sets up the shell.
#   env     print those `export ...` lines again (the service must be running).
#   status  say whether the service runs and answers `docker info`.
#   stop    stop the service. Its containers, volumes and images stay in the
#           state folder; `rm -rf` the state folder to forget them all.
#
# What this is and is not: a real OCI image build and real containers behind
# the Docker API (podman 4.3 answers as API 1.41), but NOT Docker Engine;
# BuildKit, Docker Hub base images and multi-arch stay unverified.
#
# Settings (environment variables):
#   EDGESYNC_PODMAN_DIR     state folder (default /tmp/edgesync-podman): the
#                           configuration, storage, socket, pid and log files.
#   EDGESYNC_PODMAN_IMAGE   the base image to make (default
#                           localhost/debian-python:bookworm).
#   EDGESYNC_PODMAN_MIRROR  the Debian mirror for mmdebstrap (default: the
#                           first `bookworm` mirror in /etc/apt/sources.list*).
#   EDGESYNC_PODMAN_WAIT    seconds to wait for the service (default 60).
#
# Quirks of podman 4.3 behind the Docker API, seen with this setup:
# - HEALTHCHECK never runs: podman schedules it with systemd timers, and
#   there is no systemd ("unable to get systemd connection to add
#   healthchecks" in the log); `docker inspect` shows Health "starting"
#   forever. `./launch create` polls GET /v1/health itself, so it is unaffected.
# - `docker ps` shows ports as "18443/tcp", without the host side.
# - `docker rmi -f IMAGE` also removes the containers made from IMAGE
#   (Docker refuses or only untags), so look for leftovers before it.
# - The classic builder keeps the first (build) stage as an untagged image,
#   about 250 MB each build with vfs: `docker image prune -f` (with
#   DOCKER_HOST set to this service) drops them.
# - Each `docker exec` leaves a conmon process for 5 minutes (its
#   --exit-delay); they end by themselves, even after `stop`.
set -euo pipefail

STATE=${EDGESYNC_PODMAN_DIR:-/tmp/edgesync-podman}
BASE_IMAGE=${EDGESYNC_PODMAN_IMAGE:-localhost/debian-python:bookworm}
WAIT=${EDGESYNC_PODMAN_WAIT:-60}
SOCK="$STATE/podman.sock"
PIDFILE="$STATE/service.pid"
LOG="$STATE/service.log"

# Every podman call below, and the service itself, must see the private
# configuration: these two variables replace /etc/containers/containers.conf
# and storage.conf (and the user ones) entirely for this process tree, so the
# machine's own podman setup, if any, is neither used nor changed.
export CONTAINERS_CONF="$STATE/containers.conf"
export CONTAINERS_STORAGE_CONF="$STATE/storage.conf"

say() { printf 'podman-engine: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# --- packages ------------------------------------------------------------------
# podman: the engine and its Docker API service; buildah: what podman builds
# with (Dockerfile RUN/COPY); runc: the OCI runtime we use instead of crun,
# which refuses this host's hybrid cgroup v1+v2 layout ("cgroups in hybrid
# mode not supported"); mmdebstrap: makes a Debian root file system from the
# Debian mirror, our base image, since Docker Hub is out of reach.
install_packages() {
    local missing=() tool package
    for pair in podman:podman buildah:buildah runc:runc mmdebstrap:mmdebstrap; do
        tool=${pair%%:*} package=${pair##*:}
        command -v "$tool" >/dev/null 2>&1 || missing+=("$package")
    done
    if ((${#missing[@]})); then
        [[ $(id -u) == 0 ]] || die "need root to install ${missing[*]} (apt-get)"
        say "installing ${missing[*]} (apt-get; the package lists are refreshed first)"
        apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            "${missing[@]}" >&2
    fi
    command -v docker >/dev/null 2>&1 || die "no 'docker' CLI on PATH (only the client is needed)"
}

# --- private configuration -----------------------------------------------------
write_config() {
    mkdir -p "$STATE/storage" "$STATE/run" "$STATE/tmp"
    # containers.conf:
    # - default_ulimits: podman's default nofile=1048576 fails with EPERM
    #   here (CAP_SYS_RESOURCE is not in our capability set, so the limit
    #   cannot be raised above the current hard limit); 4096 is plenty.
    # - runtime = "runc": see install_packages.
    # - cgroup_manager = "cgroupfs": there is no systemd to ask for cgroups.
    # - events_logger = "file": no journald either.
    # - tmp_dir: podman's own temporary state, next to the rest of ours.
    cat >"$CONTAINERS_CONF" <<EOF
# Written by podman-engine.sh; podman reads it through CONTAINERS_CONF.
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$STATE/tmp"
EOF
    # storage.conf: the vfs driver copies each layer in full (slow and big,
    # but needs no overlay or fuse support); graphroot holds images, volumes
    # and container file systems, runroot the running state.
    cat >"$CONTAINERS_STORAGE_CONF" <<EOF
# Written by podman-engine.sh; podman reads it through CONTAINERS_STORAGE_CONF.
[storage]
driver = "vfs"
graphroot = "$STATE/storage"
runroot = "$STATE/run"
EOF
}

# --- base image ----------------------------------------------------------------
# The first `bookworm` mirror of the apt sources, in either format:
#   deb822 (sources.list.d/*.sources):  URIs: URL / Suites: bookworm ...
#   one-line (sources.list, *.list):     deb URL bookworm main
debian_mirror() {
    if [[ -n ${EDGESYNC_PODMAN_MIRROR:-} ]]; then
        echo "$EDGESYNC_PODMAN_MIRROR"
        return
    fi
    local files=() file
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
                /etc/apt/sources.list.d/*.sources; do
        [[ -f $file ]] && files+=("$file")
    done
    ((${#files[@]})) || return 0
    awk '
        # deb822 stanzas: remember URIs and Suites until the blank line ending them
        /^URIs:/   { uris = $2 }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") hit = 1 }
        /^[[:space:]]*$/ { if (hit && uris) { print uris; done = 1; exit } uris = ""; hit = 0 }
        # one-line entries
        /^deb[[:space:]]/ {
            n = 2; if ($2 ~ /^\[/) { while ($n !~ /\]$/) n++; n++ }
            if ($(n + 1) == "bookworm") { print $n; done = 1; exit }
        }
        # (exit still runs END: print only if nothing was printed yet)
        END { if (!done && hit && uris) print uris }
    ' "${files[@]}" | head -n 1
}

# A minimal Debian 12 with Python 3.11 and what our Dockerfile needs:
# python3-venv (`python3 -m venv`), which brings python3-pip-whl, the pip
# wheel that ensurepip installs into the venv -- no network in the build.
make_base_image() {
    if podman image exists "$BASE_IMAGE"; then
        say "base image $BASE_IMAGE is there"
        return
    fi
    local mirror tarball
    mirror=$(debian_mirror)
    [[ -n $mirror ]] || die "no bookworm mirror in /etc/apt/sources.list*; set EDGESYNC_PODMAN_MIRROR"
    tarball="$STATE/pybase.tar"
    say "making $BASE_IMAGE with mmdebstrap from $mirror (about a minute)"
    mmdebstrap --variant=minbase --include=python3-minimal,python3,python3-venv \
        --mode=root bookworm "$tarball" "$mirror" >&2
    # `podman import` turns the root file system into a one-layer image.
    podman import "$tarball" "$BASE_IMAGE" >&2
    rm -f "$tarball"
}

# --- the service ---------------------------------------------------------------
running() {
    [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

answers() {
    DOCKER_HOST="unix://$SOCK" timeout 20 docker info >/dev/null 2>&1
}

print_env() {
    # DOCKER_BUILDKIT=0: the docker CLI here has no buildx plugin, so use the
    # classic builder API, which podman implements.
    cat <<EOF
export DOCKER_HOST=unix://$SOCK
export DOCKER_BUILDKIT=0
export EDGESYNC_TEST_BASE_IMAGE=$BASE_IMAGE
export EDGESYNC_CONTAINER_TESTS=1
EOF
}

start() {
    install_packages
    write_config
    make_base_image
    if running && answers; then
        say "the service already runs (pid $(cat "$PIDFILE"))"
    else
        if running; then
            say "pid $(cat "$PIDFILE") runs but does not answer; restarting it"
            stop
        fi
        rm -f "$SOCK"
        # --time=0: never exit for idleness. setsid + nohup: the service
        # outlives this script and the shell that ran it, and a Ctrl-C there
        # does not reach it. Its log is $LOG.
        setsid nohup podman system service --time=0 "unix://$SOCK" >"$LOG" 2>&1 </dev/null &
        echo $! >"$PIDFILE"
        say "started podman system service (pid $!, log $LOG)"
    fi
    local waited=0
    until answers; do
        running || die "the service stopped; its log ends:$(printf '\n'; tail -n 20 "$LOG")"
        ((waited < WAIT)) || die "no answer to 'docker info' after $WAIT s; see $LOG"
        sleep 1
        waited=$((waited + 1))
    done
    say "$(DOCKER_HOST="unix://$SOCK" docker version --format \
        'ready: {{(index .Server.Components 0).Name}} {{.Server.Version}} (Docker API {{.Server.APIVersion}})' \
        2>/dev/null || echo ready)"
    print_env
}

stop() {
    if ! [[ -f $PIDFILE ]]; then
        say "not running (no $PIDFILE)"
        return
    fi
    local pid
    pid=$(cat "$PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        # Give it 10 s to close, then force.
        for _ in $(seq 1 20); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "pid $pid did not stop; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        say "stopped the service (pid $pid)"
    else
        say "pid $pid was not running"
    fi
    rm -f "$PIDFILE" "$SOCK"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    env)
        answers || die "the service does not answer at $SOCK; run '$0 start'"
        print_env
        ;;
    status)
        if running && answers; then
            say "running (pid $(cat "$PIDFILE")) at unix://$SOCK"
        else
            say "not running"
            exit 1
        fi
        ;;
    *)
        echo "usage: $0 start|env|status|stop   (state in \$EDGESYNC_PODMAN_DIR, default /tmp/edgesync-podman)" >&2
        exit 2
        ;;
esac
