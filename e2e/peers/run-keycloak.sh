#!/usr/bin/env bash
# run-keycloak.sh: installs (if needed) and runs Keycloak in dev mode in the foreground with the
# test realm (testdata/keycloak/realm-gatewarden.json) on loopback, for trying envoy.yaml by hand.
# The e2e tests start their own Keycloak on free ports; this script is for people.
#
# Usage: e2e/peers/run-keycloak.sh [HTTP_PORT [MANAGEMENT_PORT]]   (defaults 8080 9000)
# Admin console: http://127.0.0.1:8080/admin (admin/admin). Readiness: :9000/health/ready.
# The database is in memory: every start imports the realm afresh, with new signing keys.
set -euo pipefail
port="${1:-8080}"
mgmt="${2:-9000}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
eval "$("$here/install-keycloak.sh" | sed 's/^/export /')"
mkdir -p "$KEYCLOAK_HOME/data/import"
cp "$repo/testdata/keycloak/realm-gatewarden.json" "$KEYCLOAK_HOME/data/import/"
export KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD=admin
exec "$KEYCLOAK_HOME/bin/kc.sh" start-dev --db=dev-mem \
  --http-host=127.0.0.1 --http-port="$port" --http-management-port="$mgmt" \
  --hostname="http://127.0.0.1:$port" --health-enabled=true --import-realm
