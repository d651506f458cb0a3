FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    FASTEMBED_CACHE_PATH=/app/data/fastembed
WORKDIR /app

# Issue 11: scans and photos are read by Tesseract (Debian's binary and its Russian and English models).
RUN apt-get update && apt-get install -y --no-install-recommends \
        tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY migrations ./migrations
# The fastembed folder exists in the image so the named volume mounted there inherits its owner.
RUN pip install . && useradd --create-home --uid 10001 kb \
    && mkdir -p /app/data/fastembed && chown -R kb /app/data
USER kb

ENTRYPOINT ["kb-bot"]
CMD ["run"]
