"""PII detection: each entity type with its checksum or shape, the usual false positives left alone,
and redaction with consistent typed placeholders."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelmux.security.pii import ENTITIES, detect, iban_valid, luhn
from modelmux.security.redaction import Redactor, rewrite_completion, rewrite_request

ALL = frozenset(ENTITIES)


def found(text: str, kinds: frozenset[str] = ALL) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start : f.end]) for f in detect(text, kinds)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to bob.smith+news@example.co.uk today", ("email", "bob.smith+news@example.co.uk")),
        ("call +1 415-555-2671 now", ("phone", "+1 415-555-2671")),
        ("call (415) 555-2671 now", ("phone", "(415) 555-2671")),
        ("call +442079460958 now", ("phone", "+442079460958")),
        ("card 4111 1111 1111 1111 ok", ("credit_card", "4111 1111 1111 1111")),
        ("card 5500-0000-0000-0004 ok", ("credit_card", "5500-0000-0000-0004")),
        ("ssn 123-45-6789 ok", ("ssn", "123-45-6789")),
        ("iban DE89 3704 0044 0532 0130 00 ok", ("iban", "DE89 3704 0044 0532 0130 00")),
        ("iban GB82WEST12345698765432.", ("iban", "GB82WEST12345698765432")),
        ("from 192.168.10.200 today", ("ip_address", "192.168.10.200")),
        ("from 2001:db8::8a2e:370:7334 today", ("ip_address", "2001:db8::8a2e:370:7334")),
        ("key sk-proj-abcdefghijklmnopqrstuvwxyz012345 ok", ("api_key", "sk-proj-abcdefghijklmnopqrstuvwxyz012345")),
        ("aws AKIAIOSFODNN7EXAMPLE ok", ("api_key", "AKIAIOSFODNN7EXAMPLE")),
        ("gh ghp_" + "a1B2" * 9 + " ok", ("api_key", "ghp_" + "a1B2" * 9)),
        ("slack xoxb-1234567890-abcdefghij ok", ("api_key", "xoxb-1234567890-abcdefghij")),
        ("Authorization: Bearer abcdef1234567890abcdef", ("api_key", "abcdef1234567890abcdef")),
        ("token Zx9Kq2LmN8pR4tV6wY1aB3cD5eF7gH0jQ end", ("api_key", "Zx9Kq2LmN8pR4tV6wY1aB3cD5eF7gH0jQ")),
    ],
)
def test_each_entity_is_found(text: str, expected: tuple[str, str]) -> None:
    assert found(text) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails the Luhn check",
        "iban DE89 3704 0044 0532 0130 01 fails mod-97",
        "ssn 000-12-3456 and 666-12-3456 are never issued",
        "dates 2024-01-15 and 15.01.2024, version 1.2.3, a count of 1234567, 100 000 000 people",
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "uuid 123e4567-e89b-12d3-a456-426614174000",
        "C++ std::vector and Dead::Beef and 10:30:45",
        "identifiers ThisIsAVeryLongCamelCaseIdentifierName2 and get_user_account_settings_for_organization",
        "an address 999.1.1.1 is not an IP",
        "price $12,345.67 and order #123456789",
    ],
)
def test_common_false_positives_are_left_alone(text: str) -> None:
    assert found(text) == []


def test_an_ip_is_not_taken_for_a_phone_when_ip_address_is_not_enabled() -> None:
    assert found("host 192.168.100.200 is up", frozenset({"phone"})) == []


def test_checksums() -> None:
    assert luhn("4111111111111111") and not luhn("4111111111111112")
    assert iban_valid("GB82 WEST 1234 5698 7654 32") and not iban_valid("GB82 WEST 1234 5698 7654 33")


def test_placeholders_are_typed_and_consistent_within_a_request() -> None:
    redactor = Redactor(ALL)
    first = redactor("mail a@example.com, then b@example.com, then a@example.com again; call 415-555-2671")
    assert first == "mail [EMAIL_1], then [EMAIL_2], then [EMAIL_1] again; call [PHONE_1]"
    assert redactor("reply to a@example.com") == "reply to [EMAIL_1]"
    assert dict(redactor.found) == {"email": 4, "phone": 1}


def test_only_the_configured_entities_are_redacted() -> None:
    redactor = Redactor(frozenset({"email"}))
    assert redactor("a@example.com 415-555-2671") == "[EMAIL_1] 415-555-2671"


def test_request_text_is_rewritten_everywhere_a_model_reads_it() -> None:
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Operator: ops@example.com"},
            {"role": "user", "content": [{"type": "text", "text": "I am a@example.com"}, {"type": "image_url"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"to": "a@example.com"}'}}
                ],
            },
        ],
    }
    out = rewrite_request(body, Redactor(ALL))
    assert out["messages"][0]["content"] == "Operator: [EMAIL_1]"
    assert out["messages"][1]["content"][0]["text"] == "I am [EMAIL_2]"
    assert out["messages"][1]["content"][1] == {"type": "image_url"}
    assert out["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"to": "[EMAIL_2]"}'
    assert body["messages"][0]["content"] == "Operator: ops@example.com"  # the original is not changed
    assert rewrite_request({"input": ["a@example.com", 7]}, Redactor(ALL))["input"] == ["[EMAIL_1]", 7]


def test_completions_are_rewritten() -> None:
    document = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ssn 123-45-6789"}}]}
    assert rewrite_completion(document, Redactor(ALL))["choices"][0]["message"]["content"] == "ssn [SSN_1]"


@given(st.text(max_size=300))
def test_detection_never_fails_and_findings_do_not_overlap(text: str) -> None:
    findings = detect(text)
    for before, after in pairwise(findings):
        assert before.end <= after.start
    assert all(0 <= f.start < f.end <= len(text) for f in findings)
