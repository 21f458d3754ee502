#!/usr/bin/env bash
# install-keycloak.sh: installs Keycloak (the Quarkus distribution) from Maven Central
# (org.keycloak:keycloak-quarkus-dist, zip) into build/peers/keycloak-<version>. Maven keeps a
# copy of the zip in ~/.m2, so a rerun on the same machine needs no network. Idempotent: when
# the pinned version is unpacked it only prints the paths.
#
# Usage: e2e/peers/install-keycloak.sh
# Prints two lines on stdout: KEYCLOAK_HOME=<dir> and JAVA_HOME=<dir> (Keycloak 26 needs Java 21+;
# we use the Temurin 25 JDK in /usr/lib/jvm for Keycloak only).
# Env: KEYCLOAK_VERSION (default pinned below), PEERS_DIR (default <repo>/build/peers),
#      KEYCLOAK_JAVA_HOME (override the JDK).
set -euo pipefail

KEYCLOAK_VERSION="${KEYCLOAK_VERSION:-26.5.6}"
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
peers="${PEERS_DIR:-$repo/build/peers}"
home="$peers/keycloak-$KEYCLOAK_VERSION"

log() { echo "install-keycloak: $*" >&2; }

find_java() {
  if [[ -n "${KEYCLOAK_JAVA_HOME:-}" ]]; then echo "$KEYCLOAK_JAVA_HOME"; return; fi
  local d
  for d in /usr/lib/jvm/temurin-25-jdk* /usr/lib/jvm/temurin-21-jdk* /usr/lib/jvm/java-25-* /usr/lib/jvm/java-21-*; do
    if [[ -x "$d/bin/java" ]]; then echo "$d"; return; fi
  done
  log "no Java 21+ JDK in /usr/lib/jvm; install Temurin 25 (or set KEYCLOAK_JAVA_HOME)"
  exit 1
}
java_home="$(find_java)"

if [[ ! -x "$home/bin/kc.sh" ]]; then
  mkdir -p "$peers"
  zip="$peers/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip"
  if [[ ! -f "$zip" ]]; then
    command -v mvn >/dev/null || { log "mvn not found: apt-get install -y maven"; exit 1; }
    log "fetching org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip from Maven Central"
    mvn -B -q "$DEP_PLUGIN:copy" \
      "-Dartifact=org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip" \
      "-DoutputDirectory=$peers" >&2
  fi
  log "unpacking $zip"
  tmp="$(mktemp -d "$peers/.unzip.XXXXXX")"
  if command -v unzip >/dev/null; then
    unzip -q "$zip" -d "$tmp"
  else
    python3 -m zipfile -e "$zip" "$tmp"
    chmod +x "$tmp/keycloak-$KEYCLOAK_VERSION/bin/"*.sh
  fi
  rm -rf "$home"
  mv "$tmp/keycloak-$KEYCLOAK_VERSION" "$home"
  rm -rf "$tmp"
  rm -f "$zip" # ~/.m2 keeps a copy; a rerun copies it again without the network
fi

echo "KEYCLOAK_HOME=$home"
echo "JAVA_HOME=$java_home"
