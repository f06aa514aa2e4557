#!/usr/bin/env bash
# Prepare podman and docker on a fresh Debian 12 machine (CI), as root. Idempotent.
#
#   sudo scripts/setup-container-engine.sh
#   AUTHCTL_SKIP_DOCKER=1 sudo scripts/setup-container-engine.sh   # podman only
#
# 1. apt-get install podman runc busybox-static iptables curl procps docker.io (skipped when present)
# 2. /etc/containers/containers.conf: runc, cgroupfs, file events, ulimits this host allows
# 3. Docker-compatible API on unix:///run/podman/podman.sock (podman system service),
#    restarted when the conf changed, left alone when it already answers _ping
# 4. builds the local test image (test/images/build-test-images.sh) and runs it
# 5. dockerd on unix:///var/run/docker.sock, isolated (no iptables, no bridge), started by hand
#    (never as a systemd service), left alone when it already answers _ping; the test image is
#    copied over with `podman save | docker load` and run once
#
# Afterwards: DOCKER_HOST=unix:///run/podman/podman.sock for dockerode/testcontainers
# (plus TESTCONTAINERS_RYUK_DISABLED=true). Nothing is ever pulled.
#
# Environment: AUTHCTL_PODMAN_WAIT_SECS (default 30) and AUTHCTL_DOCKER_WAIT_SECS (default 300) bound the waits for the sockets.
set -euo pipefail

SOCK=/run/podman/podman.sock
SOCK_URL=unix://$SOCK
CONF=/etc/containers/containers.conf
PIDFILE=/run/podman/authctl-podman-service.pid
SERVICE_LOG=/tmp/podman-service.log
WAIT_SECS=${AUTHCTL_PODMAN_WAIT_SECS:-30}
# dockerd answers in ~0.2 s on a fresh data root, but after an unclean stop with images in it
# (the 1.26 GB auth image) it was measured re-initialising for ~3 min before its API came up.
DOCKER_WAIT_SECS=${AUTHCTL_DOCKER_WAIT_SECS:-300}
PACKAGES=(podman runc busybox-static iptables curl procps docker-registry apache2-utils)  # procps: pgrep/ps for the signal tests; docker-registry + htpasswd: the docker credential helper's test
WITH_DOCKER=1
[ -z "${AUTHCTL_SKIP_DOCKER:-}" ] || WITH_DOCKER=0
[ "$WITH_DOCKER" -eq 0 ] || PACKAGES+=(docker.io)
DOCKER_SOCK=/var/run/docker.sock
DOCKER_PIDFILE=/run/authctl-dockerd.pid
DOCKER_LOG=/tmp/dockerd.log
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=localhost/authctl-test-vendor:latest

log() { echo "[setup-container-engine] $*"; }
die() { echo "[setup-container-engine] ERROR: $*" >&2; exit 1; }

# wait_until_ready PING_FN PID LOG WHAT SOCKET SECS: polls PING_FN until it succeeds; dies with the
# log's tail when the service (PID) exits first or SECS pass.
wait_until_ready() {
    local ping_fn=$1 pid=$2 service_log=$3 what=$4 socket=$5 secs=$6
    local deadline=$(( $(date +%s) + secs ))
    until "$ping_fn"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$service_log" >&2 || true
            die "$what exited before answering _ping"
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            tail -n 20 "$service_log" >&2 || true
            die "$what did not answer _ping on $socket within ${secs}s"
        fi
        sleep 0.1
    done
}
trap 'rc=$?; [ $rc -eq 0 ] || echo "[setup-container-engine] FAILED (exit $rc)" >&2' EXIT

[ "$(id -u)" -eq 0 ] || die "must run as root"

# --- 1. packages --------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    log "packages already installed: ${PACKAGES[*]}"
else
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt_opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)
    apt-get "${apt_opts[@]}" update -qq || die "apt-get update failed"
    # policy-rc.d 101: the packages' services are never started (dockerd is started below, by hand).
    apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null || die "apt-get install failed"
    log "packages installed"
fi
for b in podman runc curl; do
    command -v "$b" >/dev/null 2>&1 || die "$b not on PATH after install"
done

# --- 2. containers.conf ---------------------------------------------------------
nofile=$(ulimit -Hn)
if [ "$nofile" = unlimited ]; then nofile=1048576; fi
[[ "$nofile" =~ ^[0-9]+$ ]] || die "cannot read the hard nofile limit (got '$nofile')"
conf_body=$(cat <<EOF
# Written by authctl scripts/setup-container-engine.sh; rerunning it rewrites this file.
# crun refuses hybrid cgroups (use runc); no systemd (cgroupfs); no journald (file);
# ulimits must not exceed this host's hard limits (root lacks CAP_SYS_RESOURCE).
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
)
conf_changed=0
if [ -f "$CONF" ] && [ "$(cat "$CONF")" = "$conf_body" ]; then
    log "$CONF already up to date (nofile=$nofile)"
else
    mkdir -p "$(dirname "$CONF")"
    if [ -f "$CONF" ] && ! grep -q 'authctl scripts/setup-container-engine.sh' "$CONF"; then
        cp -p "$CONF" "$CONF.authctl-backup"
        log "saved previous $CONF to $CONF.authctl-backup"
    fi
    printf '%s\n' "$conf_body" >"$CONF.tmp.$$"
    mv -f "$CONF.tmp.$$" "$CONF"
    conf_changed=1
    log "wrote $CONF (nofile=$nofile, nproc=4096, runc, cgroupfs, file events)"
fi

# --- 3. API service -------------------------------------------------------------
ping_ok() {
    [ -S "$SOCK" ] && [ "$(curl -s --max-time 2 --unix-socket "$SOCK" http://d/_ping 2>/dev/null)" = OK ]
}

# PID of a running service on our socket: our pidfile first, else the exact command line.
service_pid() {
    local pid
    if [ -f "$PIDFILE" ]; then
        pid=$(cat "$PIDFILE")
        if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "system service .*$SOCK_URL"; then
            echo "$pid"
            return 0
        fi
    fi
    pgrep -x -f "podman system service --time=0 $SOCK_URL" | head -n1
}

stop_service() {
    local pid
    pid=$(service_pid || true)
    [ -n "$pid" ] || return 0
    log "stopping podman API service (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
}

if ping_ok && [ "$conf_changed" -eq 0 ]; then
    log "podman API already answering on $SOCK_URL"
else
    if [ "$conf_changed" -eq 1 ]; then
        stop_service
    elif pid=$(service_pid) && [ -n "$pid" ]; then
        # Running but not answering: replace it.
        stop_service
    fi
    if ping_ok; then
        die "$SOCK answers _ping but is not a service this script can restart; stop it and rerun"
    fi
    mkdir -p "$(dirname "$SOCK")"
    rm -f "$SOCK"
    log "starting podman API service on $SOCK_URL (log $SERVICE_LOG)"
    nohup setsid podman system service --time=0 "$SOCK_URL" </dev/null >>"$SERVICE_LOG" 2>&1 &
    echo $! >"$PIDFILE"
    svc_pid=$!
    wait_until_ready ping_ok "$svc_pid" "$SERVICE_LOG" "podman system service" "$SOCK" "$WAIT_SECS"
    log "podman API ready (pid $svc_pid)"
fi

# --- 4. prove the engine works ---------------------------------------------------
AUTHCTL_ENGINE=podman "$REPO/test/images/build-test-images.sh" || die "building the test image failed"

out=$(podman run --rm "$IMAGE" sh -c 'echo "uid=$(id -u) home=$HOME"' 2>&1) \
    || { echo "$out" >&2; die "podman run $IMAGE failed"; }
[ "$out" = "uid=1000 home=/home/dev" ] || die "unexpected output from podman run: $out"
log "podman run ok ($out)"

code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --unix-socket "$SOCK" \
    "http://d/v1.41/images/$IMAGE/json" || true)
[ "$code" = 200 ] || die "API does not see $IMAGE (HTTP $code)"
log "API sees $IMAGE; use DOCKER_HOST=$SOCK_URL"

# --- 5. docker ---------------------------------------------------------------------
docker_ping_ok() {
    [ -S "$DOCKER_SOCK" ] && [ "$(curl -s --max-time 2 --unix-socket "$DOCKER_SOCK" http://d/_ping 2>/dev/null)" = OK ]
}

if [ "$WITH_DOCKER" -eq 1 ]; then
    command -v dockerd >/dev/null 2>&1 || die "dockerd not on PATH after installing docker.io"
    if docker_ping_ok; then
        log "dockerd already answering on unix://$DOCKER_SOCK"
    else
        # Isolated: no iptables rules and no bridge, so podman's networking and the host stay as they are.
        log "starting dockerd on unix://$DOCKER_SOCK (log $DOCKER_LOG)"
        rm -f "$DOCKER_SOCK"
        nohup setsid dockerd --host "unix://$DOCKER_SOCK" --iptables=false --ip6tables=false --bridge=none \
            --pidfile "$DOCKER_PIDFILE" </dev/null >>"$DOCKER_LOG" 2>&1 &
        dockerd_pid=$!
        wait_until_ready docker_ping_ok "$dockerd_pid" "$DOCKER_LOG" dockerd "$DOCKER_SOCK" "$DOCKER_WAIT_SECS"
        log "dockerd ready (pid $dockerd_pid)"
    fi
    # Same image, same id: copied from podman rather than rebuilt (the build script skips it when current).
    want=$(podman image inspect --format '{{ index .Config.Labels "org.authctl.test-inputs" }}' "$IMAGE")
    have=$(DOCKER_HOST=unix://$DOCKER_SOCK docker image inspect --format '{{ index .Config.Labels "org.authctl.test-inputs" }}' "$IMAGE" 2>/dev/null || true)
    if [ "$want" != "$have" ]; then
        podman save "$IMAGE" | DOCKER_HOST=unix://$DOCKER_SOCK docker load -q >/dev/null || die "podman save | docker load of $IMAGE failed"
        log "copied $IMAGE into docker"
    fi
    out=$(DOCKER_HOST=unix://$DOCKER_SOCK docker run --rm "$IMAGE" sh -c 'echo "uid=$(id -u) home=$HOME"' 2>&1) \
        || { echo "$out" >&2; die "docker run $IMAGE failed"; }
    [ "$out" = "uid=1000 home=/home/dev" ] || die "unexpected output from docker run: $out"
    log "docker run ok ($out)"
fi
log "done"
