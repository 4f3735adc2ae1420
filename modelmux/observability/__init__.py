"""Observability: Prometheus metrics, OpenTelemetry traces, structured logs and provider health.

`metrics` (the Prometheus families and `/metrics`), `tracing` (spans, opt-in; OpenTelemetry imported
lazily), `propagation` (traceparent onto upstream requests), `logging` (log set-up and the access
line), `bodies` and `redaction` (debug bodies with secrets and personal data removed), `summary` (one
request's facts, with bounded label values), `telemetry` (the per-process holder), `health`
(`/admin/providers`), `workers` (metrics across `--workers N`). The request-side policy is
`modelmux.runtime.middleware.observe`. Nothing is imported here, so importing a submodule stays cheap.
"""
