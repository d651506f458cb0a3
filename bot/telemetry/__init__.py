"""Operations telemetry: Prometheus metrics and structured, redacted logs."""
