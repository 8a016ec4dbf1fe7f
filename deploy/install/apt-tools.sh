#!/usr/bin/env bash
# Installs the command-line tools the tests use, from Debian packages, when they are missing. Idempotent; needs
# root (CI runs as root) and apt. Usage: apt-tools.sh <command>:<package> ...
#   tsql:freetds-bin  FreeTDS, the independent TDS client the SQL Server wire tests cross-check the responder with
#   curl:curl         the ordinary HTTP client the streaming tests read a cut NDJSON body with (it must exit 18)
#   promtool:prometheus  checks and unit-tests the alert rules of deploy/monitoring (test/deploy/monitoring.test.ts)
#   systemd-analyze:systemd  verifies deploy/systemd's units (systemd need not be PID 1)
#   haproxy:haproxy   the load balancer of `npm run cluster`, and `haproxy -c` of deploy/haproxy
#   ip:iproute2       network namespaces for the cluster's partition test
#   wixl:wixl, msiinfo:msitools  build the Windows MSI (Debian ships wixl in its own package) and read its tables back (test/installer/msi.test.ts)
#   osslsigncode:osslsigncode        Authenticode-signs and verifies the Windows exe and MSI
set -euo pipefail
missing=()
for pair in "$@"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-tools: apt-get not found; install ${missing[*]} by hand (the tests need them)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
