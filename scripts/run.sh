#!/usr/bin/env bash
# Installs the bot into ./.venv, applies the schema and starts long polling.
# Needs BOT_TOKEN and LLM_BASE_URL (in .env or the environment). Redis and Qdrant run embedded
# under ./data unless REDIS_URL / QDRANT_URL point at servers.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
install_into_venv .

.venv/bin/kb-bot migrate
exec .venv/bin/kb-bot run
