"""Front doors: other APIs' request formats in front of the same plan and pipeline.

ModelMux's canonical request is the OpenAI chat request. A front door translates a foreign request
into it, runs the plan's pipeline unchanged, and translates the OpenAI answer (JSON or SSE) back.

- `anthropic_request`: an Anthropic Messages request -> an OpenAI chat request.
- `anthropic_response`: an OpenAI chat completion -> an Anthropic `message`; Anthropic error bodies.
- `anthropic_stream`: OpenAI chunk SSE -> Anthropic Messages SSE events, incrementally.
"""

from modelmux.frontdoor.anthropic_request import estimate_input_tokens, to_openai_messages, to_openai_request
from modelmux.frontdoor.anthropic_response import (
    anthropic_error_body,
    anthropic_error_type,
    new_message_id,
    to_anthropic_message,
)
from modelmux.frontdoor.anthropic_stream import AnthropicStreamTranslator, anthropic_events, message_events

__all__ = [
    "AnthropicStreamTranslator",
    "anthropic_error_body",
    "anthropic_error_type",
    "anthropic_events",
    "estimate_input_tokens",
    "message_events",
    "new_message_id",
    "to_anthropic_message",
    "to_openai_messages",
    "to_openai_request",
]
