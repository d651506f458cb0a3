#!/usr/bin/env bash
# Installs the bot into ./.venv and starts it. Needs BOT_TOKEN and LLM_BASE_URL (in .env or the
# environment): without them it stops at once with one line saying which. Redis and Qdrant run
# embedded under ./data unless REDIS_URL / QDRANT_URL point at servers; an empty store gets its
# schema on the first start (`kb-bot migrate` is only for upgrades).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
install_into_venv .

exec .venv/bin/kb-bot run
