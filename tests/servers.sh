# Throwaway PostgreSQL and Redis servers for one test run, on free loopback ports, in a temporary folder.
# Sourced by run-tests: start_test_servers exports TOKENPOOL_TEST_POSTGRES (an Npgsql connection string to
# the server's "postgres" database; tests create their own databases in it) and TOKENPOOL_TEST_REDIS (a
# StackExchange.Redis configuration string); stop_test_servers stops both and removes the folder.
# PostgreSQL refuses to run as root, so as root it runs as the unprivileged user "tokenpool-test".

test_servers_dir=""
test_postgres_bin=""
test_postgres_user=""

free_loopback_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

as_postgres_user() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u "$test_postgres_user" -- "$@"
  else
    "$@"
  fi
}

start_test_servers() {
  test_servers_dir="$(mktemp -d /tmp/tokenpool-test-servers.XXXXXX)"
  chmod 755 "$test_servers_dir"

  # PostgreSQL.
  test_postgres_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  if [[ -z "$test_postgres_bin" ]]; then
    echo "PostgreSQL is not installed (expected /usr/lib/postgresql/<version>/bin)." >&2
    return 1
  fi
  test_postgres_user="$(id -un)"
  if [[ "$(id -u)" == 0 ]]; then
    test_postgres_user="tokenpool-test"
    id -u "$test_postgres_user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$test_postgres_user"
  fi
  local pgdata="$test_servers_dir/postgres"
  mkdir -p "$pgdata"
  chown "$test_postgres_user" "$pgdata"
  local pgport
  pgport="$(free_loopback_port)"
  as_postgres_user "$test_postgres_bin/initdb" -D "$pgdata/data" -U postgres --auth=trust -E UTF8 --no-locale >"$pgdata/initdb.log" 2>&1 \
    || { cat "$pgdata/initdb.log" >&2; return 1; }
  as_postgres_user "$test_postgres_bin/pg_ctl" -D "$pgdata/data" -l "$pgdata/server.log" -w -t 60 \
    -o "-p $pgport -k $pgdata -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=500" \
    start >/dev/null || { cat "$pgdata/server.log" >&2; return 1; }
  export TOKENPOOL_TEST_POSTGRES="Host=127.0.0.1;Port=$pgport;Username=postgres;Database=postgres"

  # Redis.
  local redis_port
  redis_port="$(free_loopback_port)"
  mkdir -p "$test_servers_dir/redis"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$test_servers_dir/redis" \
    --daemonize yes --pidfile "$test_servers_dir/redis/redis.pid" --logfile "$test_servers_dir/redis/server.log" >/dev/null
  for _ in $(seq 50); do
    redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  export TOKENPOOL_TEST_REDIS="127.0.0.1:$redis_port"
  echo "Test servers: PostgreSQL on 127.0.0.1:$pgport, Redis on 127.0.0.1:$redis_port" >&2
}

stop_test_servers() {
  [[ -n "$test_servers_dir" && -d "$test_servers_dir" ]] || return 0
  if [[ -n "${TOKENPOOL_TEST_REDIS:-}" ]]; then
    redis-cli -h "${TOKENPOOL_TEST_REDIS%:*}" -p "${TOKENPOOL_TEST_REDIS##*:}" shutdown nosave >/dev/null 2>&1 || true
  fi
  if [[ -d "$test_servers_dir/postgres/data" ]]; then
    as_postgres_user "$test_postgres_bin/pg_ctl" -D "$test_servers_dir/postgres/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$test_servers_dir"
}
