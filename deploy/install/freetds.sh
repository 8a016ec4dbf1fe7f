#!/usr/bin/env bash
# Installs FreeTDS's tsql (Debian package freetds-bin), the independent TDS client the SQL Server wire tests
# cross-check the test-only TDS responder with. Idempotent; needs root (CI runs as root) and apt.
set -euo pipefail
if command -v tsql >/dev/null 2>&1; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "freetds: apt-get not found; install FreeTDS tsql by hand (the tds cross-check test needs it when CI=true)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq freetds-bin >/dev/null
command -v tsql
