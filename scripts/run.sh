#!/usr/bin/env bash
# Installs the bot into ./.venv, applies the schema and starts long polling.
# Needs BOT_TOKEN and LLM_BASE_URL (in .env or the environment). Redis and Qdrant run embedded
# under ./data unless REDIS_URL / QDRANT_URL point at servers.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet .

.venv/bin/kb-bot migrate
exec .venv/bin/kb-bot run
