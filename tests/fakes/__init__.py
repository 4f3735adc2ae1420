"""Fake upstreams for tests: a scriptable HTTP server and builders of realistic provider payloads."""

from tests.fakes.server import FakeServer, RecordedRequest, Reply

__all__ = ["FakeServer", "RecordedRequest", "Reply"]
