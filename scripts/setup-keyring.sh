#!/usr/bin/env bash
# A real Secret Service for test/keyring.test.ts: gnome-keyring plus dbus-run-session (Debian).
# Idempotent: installs only what is missing. The test starts its own session bus and daemon.
set -euo pipefail
if command -v gnome-keyring-daemon >/dev/null && command -v dbus-run-session >/dev/null; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends gnome-keyring dbus >/dev/null
