"""Prometheus metrics (prometheus-client): what an operator watches, recorded where it happens.

The collectors live in prometheus-client's default registry, so `/metrics` also carries the process
collectors (CPU, memory, open files). Names follow Prometheus' conventions: a `kb_` prefix, `_total` on
counters, `_seconds` on durations.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter, Gauge, Histogram

QUESTIONS = Counter(
    "kb_questions_total", "Questions by outcome: answered, not_found, throttled, failed", ["outcome"]
)
# Seconds per stage of an answer: history, embed, search, pass1, pass2 (AnsweringService), render and
# send (Telegram); `answer` is the whole AnsweringService.answer call.
STAGE_SECONDS = Histogram(
    "kb_stage_seconds",
    "Latency of one stage of answering a question",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80),
)
PASS1 = Counter("kb_pass1_total", "Pass-1 requests (documents were found and shown to the model)")
PASS1_EMPTY = Counter(
    "kb_pass1_empty_total", "Pass-1 answers naming no relevant document (empty rate: this / kb_pass1_total)"
)
TOKENS = Counter("kb_llm_tokens_total", "Tokens the model server reported in `usage`", ["kind"])
MODEL_ERRORS = Counter("kb_model_errors_total", "Model requests that failed after retries", ["error"])
TELEGRAM_429 = Counter("kb_telegram_429_total", "Bot API calls refused by flood control", ["method"])
INGEST_JOBS = Counter(
    "kb_ingest_jobs_total",
    "Ingestion jobs by final state: done, failed, interrupted (gave up), released (handed back at stop)",
    ["state"],
)
INGEST_QUEUE = Gauge("kb_ingest_queue_jobs", "Jobs in the ingestion stream, by state", ["state"])
UPDATES_IN_FLIGHT = Gauge("kb_updates_in_flight", "Telegram updates being processed by this process")
DUPLICATE_UPDATES = Counter("kb_webhook_duplicate_updates_total", "Webhook updates another delivery took")


def observe_stages(timings: Mapping[str, float]) -> None:
    """Records stage durations in seconds, e.g. an answer's `{"embed": 0.02, "pass1": 0.8, ...}`."""
    for stage, seconds in timings.items():
        STAGE_SECONDS.labels(stage=stage).observe(seconds)


def record_usage(prompt_tokens: int, completion_tokens: int) -> None:
    TOKENS.labels(kind="prompt").inc(prompt_tokens)
    TOKENS.labels(kind="completion").inc(completion_tokens)


def record_pass1(relevant_ids: list[int]) -> None:
    PASS1.inc()
    if not relevant_ids:
        PASS1_EMPTY.inc()
