#!/usr/bin/env bash
# Installs the tools the test suite drives for real, on a fresh machine:
#   kubectl      the sandbox API server's real client (image: google-cloud-sdk's kubectl;
#                fallback: Debian's kubernetes-client)
#   PostgreSQL   initdb, pg_ctl, postgres, psql for the real-database tests
#   schemathesis gateway conformance against openapi/gateway.yaml
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5

apt_packages=()
command -v kubectl >/dev/null 2>&1 || apt_packages+=(kubernetes-client)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt_packages+=(postgresql)
fi
command -v psql >/dev/null 2>&1 || apt_packages+=(postgresql-client)
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "installing Debian packages: ${apt_packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}"
fi

if ! command -v schemathesis >/dev/null 2>&1 \
  || [ "$(schemathesis --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1)" != "$SCHEMATHESIS_VERSION" ]; then
  python3 -m pip install --quiet "schemathesis==${SCHEMATHESIS_VERSION}"
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
fi

# The kubectl tests need a client that reads OpenAPI v3 (kubectl >= 1.27; developed against
# 1.32). Debian bookworm's kubernetes-client is 1.20: fail loudly rather than run stale tests.
kubectl_minor=$(kubectl version --client -o json 2>/dev/null \
  | python3 -c 'import json,sys; v=json.load(sys.stdin)["clientVersion"]; print(int("".join(c for c in v["minor"] if c.isdigit())))' \
  || echo 0)
if [ "${kubectl_minor}" -lt 27 ]; then
  echo "kubectl 1.27 or newer is required (found minor version ${kubectl_minor}); install it and put it on PATH (or set \$KUBECTL)" >&2
  exit 1
fi
kubectl version --client 2>/dev/null | head -n1
psql --version
schemathesis --version
