#!/usr/bin/env bash
# Build the real auth image (images/auth) without a container registry, as root. Idempotent.
#
#   scripts/build-auth-image.sh              # base + image, each skipped when its inputs are unchanged
#   scripts/build-auth-image.sh --base-only  # just the base (needs no node_modules)
#   AUTHCTL_ENGINE=docker scripts/build-auth-image.sh   # the image in docker (built with podman, see 3.)
#   AUTHCTL_AUTH_BASE_FORCE=1 scripts/build-auth-image.sh   # remake the base anyway
# Concurrent runs wait for each other (flock): `npm test` starts one early and the suites that
# need the image call it again, which then only finds the tags.
#
# 1. Base localhost/authctl-base:bookworm-node-<hash>: a Debian 12 minbase rootfs made with
#    debootstrap (from Debian's mirror, reachable here), plus the host's node binary and npm,
#    `podman import`ed. The vendor CLIs need Node >= 20 (gemini-cli); Debian 12's nodejs is 18,
#    so the host's node (same glibc: the host is Debian 12 too) is copied in. <hash> covers the
#    recipe (make_base below), the node binary, npm's package.json, the extra CAs and the mirror,
#    so the tag names the content and an existing tag is reused.
# 2. Image: `authctl image build auth --base <base>`, whose tag hashes the context and the base
#    reference, so a second run finds the tag and builds nothing. It records the base in
#    $AUTHCTL_HOME/config.yaml (images.auth.base), so a later `authctl auth` runs this image.
# 3. Both are built with podman whenever podman answers, whichever engine asked: the isolated
#    dockerd of scripts/setup-container-engine.sh has no bridge, so its builds have no network
#    (apt: "Temporary failure resolving"). For another engine the image is then copied over
#    (`podman save | <engine> load`) under the same content tag. Without podman, the engine builds.
# Prints the image tag (with --base-only the base) as its last line (test/real-image.test.ts reads it).
set -euo pipefail

ENGINE=${AUTHCTL_ENGINE:-podman}
LABEL_KEY=org.authctl.base-inputs
MIRROR=${AUTHCTL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { echo "[build-auth-image] $*" >&2; }
die() { echo "[build-auth-image] ERROR: $*" >&2; exit 1; }

BASE_ONLY=
case "${1:-}" in
    "") ;;
    --base-only) BASE_ONLY=1 ;;
    *) die "unknown argument $1 (usage: build-auth-image.sh [--base-only])" ;;
esac

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap)"
exec 9>/run/lock/authctl-build-auth-image.lock
flock 9
command -v "$ENGINE" >/dev/null 2>&1 || die "container engine '$ENGINE' not found (AUTHCTL_ENGINE)"
BUILDER=$ENGINE
if [ "$(basename "$ENGINE")" != podman ] && command -v podman >/dev/null 2>&1 && podman version >/dev/null 2>&1; then
    BUILDER=podman
fi
# The builder is podman's own storage, never a socket another setting points at.
builder() { env -u DOCKER_HOST -u CONTAINER_HOST AUTHCTL_ENGINE="$BUILDER" "$@"; }
NODE=$(command -v node) || die "node not found on the host"
NODE=$(readlink -f "$NODE")
NPM_DIR=$(dirname "$(readlink -f "$(command -v npm)")")/..
[ -f "$NPM_DIR/package.json" ] || die "npm's package dir not found next to $(command -v npm)"

# make_base <stage dir> <tag> <inputs hash>: the base's recipe (its text is part of the hash).
make_base() {
    local stage=$1 base=$2 hash=$3 root=$1/rootfs
    debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$MIRROR" >"$stage/debootstrap.log" 2>&1 \
        || { tail -n 30 "$stage/debootstrap.log" >&2; die "debootstrap failed"; }
    install -m 0755 "$NODE" "$root/usr/local/bin/node"
    mkdir -p "$root/usr/local/lib/node_modules"
    cp -a "$NPM_DIR" "$root/usr/local/lib/node_modules/npm"
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
    ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
    # The machine's own extra CAs (e.g. a TLS-inspecting egress proxy's), so apt and npm inside the
    # build trust what this machine trusts; node reads them through NODE_EXTRA_CA_CERTS below.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
        chroot "$root" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates in the base failed"
    fi
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
    # The build's RUN steps get the engine's resolv.conf; an empty one keeps the host's out of the image.
    : >"$root/etc/resolv.conf"
    tar --numeric-owner -C "$root" -cf "$stage/rootfs.tar" .
    builder "$BUILDER" import \
        --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin' \
        --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["/bin/bash"]' \
        --change "LABEL $LABEL_KEY=$hash" \
        "$stage/rootfs.tar" "$base" >/dev/null || die "$BUILDER import failed"
}

inputs_hash=$(
    {
        declare -f make_base
        sha256sum <"$NODE"
        sha256sum <"$NPM_DIR/package.json"
        cat /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum
        echo "$MIRROR"
    } | sha256sum | cut -c1-64
)
BASE=localhost/authctl-base:bookworm-node-${inputs_hash:0:12}
if builder "$BUILDER" image inspect "$BASE" >/dev/null 2>&1 && [ -z "${AUTHCTL_AUTH_BASE_FORCE:-}" ]; then
    log "$BASE is up to date in $BUILDER (${inputs_hash:0:12})"
else
    if ! command -v debootstrap >/dev/null 2>&1; then
        log "installing debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq debootstrap >/dev/null \
            || { apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq debootstrap >/dev/null; } \
            || die "apt-get install debootstrap failed"
    fi
    start=$(date +%s)
    stage=$(mktemp -d "${TMPDIR:-/tmp}/authctl-auth-base.XXXXXX")
    trap 'rm -rf "$stage"' EXIT
    log "debootstrap bookworm (minbase) from $MIRROR, imported into $BUILDER"
    make_base "$stage" "$BASE" "$inputs_hash"
    rm -rf "$stage"
    trap - EXIT
    # Superseded bases (other input hashes) only take space; images built on them keep their layers.
    builder "$BUILDER" images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/authctl-base:bookworm-node-' | grep -vxF "$BASE" \
        | xargs -r env -u DOCKER_HOST -u CONTAINER_HOST "$BUILDER" rmi >/dev/null 2>&1 || true
    log "built $BASE in $(( $(date +%s) - start )) s"
fi

if [ -n "$BASE_ONLY" ]; then echo "$BASE"; exit 0; fi

cd "$REPO"
[ -f dist/cli/main.js ] || npm run build >/dev/null || die "npm run build failed"
start=$(date +%s)
tag=$(builder node dist/cli/main.js image build auth --base "$BASE") || die "authctl image build ($BUILDER) failed"
if [ "$BUILDER" != "$ENGINE" ]; then
    if "$ENGINE" image inspect "$tag" >/dev/null 2>&1; then
        log "$tag is already in $ENGINE"
    else
        # Same content tag, same layers: the tests on $ENGINE run exactly what podman built.
        podman save "$tag" | "$ENGINE" load >/dev/null || die "copying $tag from $BUILDER to $ENGINE failed (podman save | $ENGINE load)"
        log "copied $tag from $BUILDER into $ENGINE"
    fi
fi
log "image $tag ready in $ENGINE in $(( $(date +%s) - start )) s"
echo "$tag"
