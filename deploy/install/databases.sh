#!/usr/bin/env bash
# Makes sure the local PostgreSQL and MariaDB servers the connector tests use are running (CI and dev machines
# with the Debian packages installed). Idempotent: a server that already answers is left alone.
#   PostgreSQL: 127.0.0.1:5432 (the installed cluster "main"), MariaDB: 127.0.0.1:3306.
set -euo pipefail

if command -v pg_isready >/dev/null 2>&1; then
  if ! pg_isready -q -h 127.0.0.1; then
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    echo "databases: starting PostgreSQL ${version}/main"
    pg_ctlcluster --skip-systemctl-redirect "${version}" main start
    for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 && break; sleep 0.5; done
  fi
  pg_isready -h 127.0.0.1
else
  echo "databases: pg_isready not found; PostgreSQL tests need a server (PGHOST etc.)" >&2
fi

if command -v mysqladmin >/dev/null 2>&1; then
  if ! mysqladmin -uroot status >/dev/null 2>&1; then
    echo "databases: starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    for _ in $(seq 1 60); do mysqladmin -uroot status >/dev/null 2>&1 && break; sleep 0.5; done
  fi
  mysqladmin -uroot status
else
  echo "databases: mysqladmin not found; MariaDB tests need a server (MYSQL_URL)" >&2
fi
