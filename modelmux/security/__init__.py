"""Security: API keys and JWTs (authentication), roles (authorization), PII detection and redaction, and
the hash-chained audit log. The request policies that use them live in modelmux.runtime.middleware."""
