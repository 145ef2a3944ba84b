#!/usr/bin/env bash
# ci-postgres.sh starts the local PostgreSQL 15 cluster (Debian layout), makes
# sure the role "sei" and the database "sei_test" exist, and prints the URL the
# store tests read from SEI_TEST_POSTGRES_URL:
#
#   export SEI_TEST_POSTGRES_URL="$(scripts/ci-postgres.sh)"
#
# Every step is idempotent: running it twice, or with the cluster already up,
# is fine. Progress goes to stderr; stdout carries only the URL.
set -euo pipefail

version="${PG_VERSION:-15}"
cluster="${PG_CLUSTER:-main}"
port="${PG_PORT:-5432}"
role="${PG_ROLE:-sei}"
password="${PG_PASSWORD:-sei}"
db="${PG_DATABASE:-sei_test}"

log() { echo "ci-postgres: $*" >&2; }

as_postgres() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		sudo -n -u postgres -- "$@"
	fi
}

psql_admin() {
	as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$port" "$@"
}

# prepare starts the cluster and makes the role and database. The caller
# captures stdout whole, so prepare runs with its stdout on stderr: nothing it
# or its commands print (pg_ctlcluster says "Removed stale pid file." after an
# unclean shutdown) can end up in the URL. A plain redirect rather than a saved
# descriptor, so the postgres daemon holds no pipe open and $(...) returns.
prepare() {
	if ! pg_lsclusters -h "$version" "$cluster" 2>/dev/null | awk '{print $4}' | grep -q online; then
		log "starting cluster $version/$cluster"
		if [ "$(id -u)" -eq 0 ]; then
			pg_ctlcluster "$version" "$cluster" start
		else
			sudo -n pg_ctlcluster "$version" "$cluster" start
		fi
	else
		log "cluster $version/$cluster already running"
	fi

	for _ in $(seq 1 60); do
		if as_postgres pg_isready -q -p "$port"; then
			break
		fi
		sleep 0.5
	done
	as_postgres pg_isready -q -p "$port" || { log "cluster $version/$cluster not ready on port $port"; exit 1; }

	# The role gets a password so the scram-sha-256 "host" lines of Debian's
	# default pg_hba.conf accept it on 127.0.0.1. CREATEDB is not needed: each
	# test creates its own schema inside the one database it owns.
	psql_admin -d postgres -v role="$role" -v password="$password" <<-'SQL'
	SELECT format('CREATE ROLE %I LOGIN', :'role')
	WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
	SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'role', :'password') \gexec
	SQL

	if [ "$(psql_admin -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != "1" ]; then
		log "creating database $db"
		psql_admin -d postgres -c "CREATE DATABASE \"$db\" OWNER \"$role\""
	fi
	psql_admin -d "$db" -c "GRANT ALL ON SCHEMA public TO \"$role\"" >/dev/null
}
prepare >&2

url="postgres://${role}:${password}@127.0.0.1:${port}/${db}?sslmode=disable"
PGPASSWORD="$password" psql -X -q -h 127.0.0.1 -p "$port" -U "$role" -d "$db" -tA -c 'SELECT 1' >/dev/null \
	|| { log "cannot connect as $role to 127.0.0.1:$port/$db (check pg_hba.conf)"; exit 1; }
log "ready"
echo "$url"
