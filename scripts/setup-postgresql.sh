#!/usr/bin/env bash
# PostgreSQL server binaries for the fleet suites (test/store-postgres/, the PostgreSQL store backend).
# Idempotent: installs only what is missing. The tests start their own cluster in a temp dir as
# the `postgres` account; no system cluster is created or started here.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && id postgres >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Debian's package would create and start a "main" cluster on port 5432: the tests do not use it.
mkdir -p /etc/postgresql-common
grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf ||
  echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || { echo "[setup-postgresql] initdb still missing after apt-get install postgresql" >&2; exit 1; }
echo "[setup-postgresql] $(ls -d /usr/lib/postgresql/*/bin | head -1)"
