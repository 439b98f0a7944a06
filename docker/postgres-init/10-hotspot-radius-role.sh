#!/bin/bash
# Runs once, when the postgres container initialises an empty data volume (the image runs
# every script in /docker-entrypoint-initdb.d as the superuser). The server connects as a
# role without superuser rights that owns its database: it can migrate (create tables,
# functions and triggers in its own database) and nothing else.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v role="$HOTSPOT_DB_USER" -v password="$HOTSPOT_DB_PASSWORD" -v db="$HOTSPOT_DB_NAME" <<'SQL'
CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"role";
SQL
# pg_stat_statements (the compose file preloads it) lets an operator see the SQL per login.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$HOTSPOT_DB_NAME" \
    -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements'
