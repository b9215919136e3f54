#!/usr/bin/env bash
# The servers the test suite needs, on their default ports: PostgreSQL on 127.0.0.1:5432 (trust
# auth for local connections) and Redis on 127.0.0.1:6379. Each is started if it is down, and
# installed first (Debian's packages) where this runs as root on Debian or Ubuntu; otherwise the
# exact command to run is printed. Exit status 1 when one of them still does not answer.
set -uo pipefail
PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_HOST=127.0.0.1 REDIS_PORT=6379
root_on_debian() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_install() {
  apt-get install -y -qq "$@" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$@" >/dev/null; }
}
wait_for() {  # wait_for SECONDS CMD...
  local secs=$1; shift
  for _ in $(seq "$secs"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  return 1
}
pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; }
redis_up() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }
failed=0

if ! pg_up 2>/dev/null; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1 && root_on_debian; then
    echo "installing PostgreSQL (Debian's postgresql) for the tests"
    apt_install postgresql postgresql-client
  fi
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    version=$(ls /etc/postgresql | sort -V | tail -n1)
    hba=/etc/postgresql/$version/main/pg_hba.conf
    if [ -w "$hba" ] && ! grep -q "arena-tests" "$hba"; then  # the tests connect as postgres
      sed -i '1i host all all 127.0.0.1/32 trust # arena-tests\nhost all all ::1/128 trust # arena-tests' "$hba"
    fi
    echo "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null ||
      pg_ctlcluster --skip-systemctl-redirect "$version" main reload 2>/dev/null || true
  fi
  if ! wait_for 30 pg_up; then
    echo "PostgreSQL does not answer on $PG_HOST:$PG_PORT. On Debian or Ubuntu:" >&2
    echo "  sudo apt-get install postgresql && sudo pg_ctlcluster \$(ls /etc/postgresql) main start" >&2
    echo "  and allow trust auth for 127.0.0.1 in pg_hba.conf (see README, 'Tests')" >&2
    failed=1
  fi
fi

if ! redis_up; then
  if ! command -v redis-server >/dev/null 2>&1 && root_on_debian; then
    echo "installing Redis (Debian's redis-server) for the tests"
    apt_install redis-server
  fi
  if command -v redis-server >/dev/null 2>&1; then
    echo "starting Redis"
    mkdir -p /tmp/arena-redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
      --appendonly no --dir /tmp/arena-redis --logfile /tmp/arena-redis/redis.log >/dev/null || true
  fi
  if ! wait_for 30 redis_up; then
    echo "Redis does not answer on $REDIS_HOST:$REDIS_PORT. On Debian or Ubuntu:" >&2
    echo "  sudo apt-get install redis-server   (it starts on 127.0.0.1:6379)" >&2
    failed=1
  fi
fi
exit $failed
