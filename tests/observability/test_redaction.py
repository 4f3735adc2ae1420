"""The redaction helper: credentials and personal data never pass, ordinary text does."""

from __future__ import annotations

import pytest

from modelmux.observability.redaction import Redactor, credentials_in, scrub


@pytest.mark.parametrize(
    ("text", "secret", "kind"),
    [
        ("my key is sk-proj-Abcdefghijklmnop1234567890", "sk-proj-Abcdefghijklmnop1234567890", "api_key"),
        ("anthropic sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "api_key"),
        ("aws AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE", "api_key"),
        ("Authorization: Bearer abc.def-ghi_jkl123", "abc.def-ghi_jkl123", "token"),
        ('{"api_key": "hunter2-is-long"}', "hunter2-is-long", "secret"),
        ("password=correct-horse-battery", "correct-horse-battery", "secret"),
        ("write to jane.doe+ai@example.co.uk today", "jane.doe+ai@example.co.uk", "email"),
        ("card 4111 1111 1111 1111 exp 12/29", "4111 1111 1111 1111", "card"),
        ("card 4111-1111-1111-1111", "4111-1111-1111-1111", "card"),
        ("call +1 (415) 555-0134 now", "415) 555-0134", "phone"),
        ("call 415-555-0134 now", "415-555-0134", "phone"),
        ("uk +44 20 7946 0958", "20 7946 0958", "phone"),
        ("ssn 078-05-1120", "078-05-1120", "ssn"),
    ],
)
def test_secrets_and_personal_data_are_replaced(text: str, secret: str, kind: str) -> None:
    scrubbed = scrub(text)
    assert secret not in scrubbed
    assert f"[REDACTED:{kind}]" in scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "Say hello.",
        "gpt-4o-2024-08-06 answered in 250 ms on 2024-08-06",
        "version 1.2.3, 42 tokens, 3.14159",
        "order 1234 of 5678",
        "a number that fails Luhn: 4111 1111 1111 1112 is kept as a card",
    ],
)
def test_ordinary_text_passes(text: str) -> None:
    if "Luhn" in text:
        assert "[REDACTED:card]" not in scrub(text)
    else:
        assert scrub(text) == text


def test_exact_secrets_are_replaced_anywhere() -> None:
    redactor = Redactor(["provider-secret-value-1", "short"]).with_secrets(["callers-own-token"])
    text = redactor.text("x provider-secret-value-1y and callers-own-token! short")
    assert "provider-secret-value-1" not in text and "callers-own-token" not in text
    assert text.endswith("short")  # values under 8 characters are not treated as secrets


def test_json_drops_sensitive_keys_and_scrubs_strings() -> None:
    document = {
        "model": "gpt-4o",
        "max_tokens": 10,
        "api_key": "anything",
        "headers": {"Authorization": "Bearer zzz", "x-trace": "ok"},
        "messages": [{"role": "user", "content": "mail me at a@b.example"}],
        "usage": {"prompt_tokens": 19, "total_tokens": 29},
    }
    redacted = Redactor().json(document)
    assert redacted["api_key"] == "[REDACTED]"
    assert redacted["headers"] == {"Authorization": "[REDACTED]", "x-trace": "ok"}
    assert redacted["messages"][0]["content"] == "mail me at [REDACTED:email]"
    assert redacted["usage"] == {"prompt_tokens": 19, "total_tokens": 29}
    assert redacted["max_tokens"] == 10 and redacted["model"] == "gpt-4o"


def test_the_callers_credentials_are_found() -> None:
    assert "tok-123456789" in credentials_in({"authorization": "Bearer tok-123456789"})
    assert credentials_in({"api-key": "azure-style-key"}) == ["azure-style-key"]
    assert credentials_in({}) == []
