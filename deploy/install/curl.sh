#!/usr/bin/env bash
# Installs curl, the ordinary HTTP client the streaming tests read a cut NDJSON body with (it must exit 18).
# Idempotent; needs root (CI runs as root) and apt.
set -euo pipefail
if command -v curl >/dev/null 2>&1; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "curl: apt-get not found; install curl by hand (the NDJSON stream tests need it)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq curl >/dev/null
command -v curl
