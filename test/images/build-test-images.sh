#!/usr/bin/env bash
# Build the local test images; never pulls anything.
#
#   test/images/build-test-images.sh            # podman
#   AUTHCTL_ENGINE=docker test/images/build-test-images.sh
#   AUTHCTL_TEST_IMAGE_FORCE=1 test/images/build-test-images.sh   # rebuild anyway
#
# Image: localhost/authctl-test-vendor:latest
#   busybox rootfs (static busybox + applet symlinks in /bin), users root and dev
#   (uid/gid 1000, HOME /home/dev), /usr/local/bin/fake-vendor (see fake-vendor.sh),
#   USER dev, WORKDIR /home/dev, ENV HOME=/home/dev.
# Rebuilt only when its inputs change: a sha256 over the busybox binary, fake-vendor.sh
# and this script is stored as the image label org.authctl.test-inputs.
set -euo pipefail

ENGINE=${AUTHCTL_ENGINE:-podman}
IMAGE=localhost/authctl-test-vendor:latest
LABEL_KEY=org.authctl.test-inputs
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FAKE_VENDOR=$HERE/fake-vendor.sh

log() { echo "[build-test-images] $*"; }
die() { echo "[build-test-images] ERROR: $*" >&2; exit 1; }

command -v "$ENGINE" >/dev/null 2>&1 || die "container engine '$ENGINE' not found (AUTHCTL_ENGINE)"
[ -r "$FAKE_VENDOR" ] || die "missing $FAKE_VENDOR"

BUSYBOX=${AUTHCTL_BUSYBOX:-}
if [ -z "$BUSYBOX" ]; then
    for c in /bin/busybox /usr/bin/busybox; do
        if [ -x "$c" ]; then BUSYBOX=$c; break; fi
    done
fi
[ -n "$BUSYBOX" ] && [ -x "$BUSYBOX" ] || die "static busybox not found (apt-get install busybox-static)"
if command -v ldd >/dev/null 2>&1 && ldd "$BUSYBOX" >/dev/null 2>&1; then
    die "$BUSYBOX is dynamically linked; install busybox-static"
fi

inputs_hash=$(
    {
        sha256sum <"$BUSYBOX"
        sha256sum <"$FAKE_VENDOR"
        sha256sum <"${BASH_SOURCE[0]}"
    } | sha256sum | cut -c1-64
)

current_hash=$("$ENGINE" image inspect --format "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$IMAGE" 2>/dev/null || true)
old_id=$("$ENGINE" image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
if [ "$current_hash" = "$inputs_hash" ] && [ -z "${AUTHCTL_TEST_IMAGE_FORCE:-}" ]; then
    log "$IMAGE is up to date (${inputs_hash:0:12})"
    exit 0
fi

start=$(date +%s%N)
log "building $IMAGE with $ENGINE (inputs ${inputs_hash:0:12})"

stage=$(mktemp -d "${TMPDIR:-/tmp}/authctl-test-image.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/rootfs
mkdir -p "$root"/{bin,sbin,etc,root,tmp,proc,sys,dev,run,var/tmp,usr/bin,usr/sbin,usr/local/bin,home/dev}
mkdir -p "$root"/home/dev/{.claude,.codex,.gemini,.config/gh}

cp "$BUSYBOX" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
while IFS= read -r applet; do
    [ -n "$applet" ] && [ "$applet" != busybox ] || continue
    ln -s busybox "$root/bin/$applet"
done < <("$BUSYBOX" --list)

install -m 0755 "$FAKE_VENDOR" "$root/usr/local/bin/fake-vendor"

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
dev:x:1000:1000:dev:/home/dev:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
dev:x:1000:
nogroup:x:65534:
EOF
printf 'authctl-test-vendor\n' >"$root/etc/hostname"
: >"$root/etc/hosts"
: >"$root/etc/resolv.conf"
chmod 0644 "$root"/etc/{passwd,group,hostname,hosts,resolv.conf}
chmod 0700 "$root/root"
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 0755 "$root/home/dev"
chmod 0700 "$root"/home/dev/{.claude,.codex,.gemini,.config/gh}

# Ownership is set in the archive, not on disk, so this works without root:
# everything root:root, then /home/dev appended as 1000:1000.
tar_common=(--numeric-owner --sort=name --mtime=@0 -C "$root")
tar "${tar_common[@]}" --owner=0 --group=0 --exclude=./home/dev -cf "$stage/rootfs.tar" .
tar "${tar_common[@]}" --owner=1000 --group=1000 -rf "$stage/rootfs.tar" ./home/dev

new_id=$("$ENGINE" import \
    --change 'USER dev' \
    --change 'ENV HOME=/home/dev' \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' \
    --change 'WORKDIR /home/dev' \
    --change 'CMD ["/bin/sh"]' \
    --change "LABEL $LABEL_KEY=$inputs_hash" \
    --change 'LABEL org.authctl.image=test-vendor' \
    "$stage/rootfs.tar" "$IMAGE" 2>"$stage/import.log" | tail -n1) \
    || { cat "$stage/import.log" >&2; die "$ENGINE import failed"; }

got=$("$ENGINE" image inspect --format "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$IMAGE" 2>/dev/null || true)
[ "$got" = "$inputs_hash" ] || die "imported $IMAGE but its label $LABEL_KEY is '$got' (expected $inputs_hash)"
user=$("$ENGINE" image inspect --format '{{.Config.User}}' "$IMAGE")
[ "$user" = dev ] || die "imported $IMAGE but its USER is '$user' (expected dev)"

# Drop the superseded image so rebuilds do not pile up dangling layers.
if [ -n "$old_id" ]; then
    cur_id=$("$ENGINE" image inspect --format '{{.Id}}' "$IMAGE")
    if [ "$old_id" != "$cur_id" ]; then
        "$ENGINE" image rm "$old_id" >/dev/null 2>&1 || true
    fi
fi

ms=$(( ($(date +%s%N) - start) / 1000000 ))
log "built $IMAGE ${new_id:0:19} in ${ms} ms"
