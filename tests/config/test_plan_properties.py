"""Properties of the compiled plan: immutable, a stable fingerprint, and secrets never printed."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from modelmux.cli.render import github_report, json_report, text_report
from modelmux.compiler.compile import CompileResult, compile_file
from modelmux.plan.models import Plan

REPO = Path(__file__).resolve().parents[2]
MODELMUX = Path(sys.executable).with_name("modelmux")
SECRET = "sk-secret-value-123"
ENV = {"OPENAI_API_KEY": "sk-test-openai", "ANTHROPIC_API_KEY": "sk-ant-test"}

RICH = """\
version: 1
server:
  port: 8080
  max_body_size: 10MB
  admin_token: ${ADMIN_TOKEN:-admin-default}
providers:
  - name: openai
    type: openai
    api_key: ${OPENAI_API_KEY}
    models: ["gpt-4", "gpt-3.5-turbo"]
    timeout: 30s
    headers: {X-Team: platform}
    pricing:
      gpt-4: {input: $30, output: $60}
  - name: anthropic
    type: anthropic
    api_key: ${ANTHROPIC_API_KEY}
    models: {claude: claude-3-opus-20240229}
    rate_limit: {rpm: 60}
routing:
  strategy: hybrid
  base: latency
  rules:
    - if: model == "gpt-4" and not stream
      provider: openai
    - if: latency < 100ms
      providers: [anthropic, openai]
  fallback: {enabled: true, max_retries: 3, backoff: linear, on: [429, 503, timeout]}
caching:
  backend: memory
  ttl: 5m
  rules:
    - cache_if: deterministic == true
regions:
  us-east-1: {providers: [openai]}
  eu-west-1: {providers: [anthropic]}
auth:
  roles:
    dev: {models: ["gpt-3.5-turbo"]}
  api_keys:
    - name: ci
      key: ${CI_KEY:-ci-default-key}
      role: dev
pii: {mode: redact, entities: [email, phone]}
"""

# The same config: keys in another order, flow instead of block style, other quoting, comments.
RICH_REORDERED = """\
# the same config, written differently
pii:
  entities: ["email", "phone"]
  mode: 'redact'
auth:
  api_keys: [{role: dev, key: "${CI_KEY:-ci-default-key}", name: ci}]
  roles: {dev: {models: [gpt-3.5-turbo]}}
regions:
  eu-west-1:
    providers: [anthropic]
  us-east-1:
    providers:
      - openai
caching: {rules: [{cache_if: "deterministic == true"}], ttl: 5m, backend: memory}
routing:
  fallback:
    on: [429, 503, timeout]
    backoff: linear
    max_retries: 3
    enabled: true
  rules:
    - provider: openai
      if: 'model == "gpt-4" and not stream'
    - providers: [anthropic, openai]
      if: latency < 100ms
  base: latency
  strategy: hybrid
providers:
  - models: ["gpt-4", "gpt-3.5-turbo"]
    pricing: {gpt-4: {output: $60, input: $30}}
    headers:
      X-Team: "platform"
    timeout: "30s"
    api_key: "${OPENAI_API_KEY}"
    type: openai
    name: openai
  - rate_limit: {rpm: 60}
    models:
      claude: "claude-3-opus-20240229"
    api_key: ${ANTHROPIC_API_KEY}
    type: anthropic
    name: anthropic
server: {admin_token: "${ADMIN_TOKEN:-admin-default}", max_body_size: 10MB, port: 8080}
version: 1
"""


def compile_text(tmp_path: Path, text: str, env: dict[str, str] | None = None, name: str = "c.yaml") -> Any:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return compile_file(path, ENV if env is None else env)


@pytest.fixture
def plan(tmp_path: Path) -> Plan:
    result = compile_text(tmp_path, RICH)
    assert result.plan is not None, [d.render() for d in result.diagnostics]
    return result.plan


# --- immutability ---------------------------------------------------------------------------------


def test_plan_fields_cannot_be_assigned(plan: Plan) -> None:
    targets: list[tuple[object, str, object]] = [
        (plan, "fingerprint", "0" * 16),
        (plan, "providers", ()),
        (plan, "routing", None),
        (plan.providers[0], "name", "other"),
        (plan.providers[0], "timeout", 1.0),
        (plan.providers[0], "api_key", None),
        (plan.routing, "strategy", "round_robin"),
        (plan.routing, "rules", ()),
        (plan.routing.fallback, "max_retries", 99),
        (plan.routing.rules[0], "providers", ("anthropic",)),
        (plan.server, "port", 1),
    ]
    assert plan.caching is not None
    targets.append((plan.caching, "ttl", 0.0))
    for obj, name, value in targets:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, name, value)
        with pytest.raises((dataclasses.FrozenInstanceError, AttributeError, TypeError)):
            delattr(obj, name)


def test_plan_objects_take_no_new_attributes(plan: Plan) -> None:
    for obj in (plan, plan.providers[0], plan.routing, plan.server):
        with pytest.raises((dataclasses.FrozenInstanceError, AttributeError, TypeError)):
            obj.extra = 1  # type: ignore[attr-defined]


def _mappings(plan: Plan) -> list[tuple[str, Any]]:
    provider = plan.providers[0]
    auth = plan.sections["auth"]
    return [
        ("provider_index", plan.provider_index),
        ("models", plan.models),
        ("regions", plan.regions),
        ("sections", plan.sections),
        ("sections.auth", auth),
        ("sections.auth.roles", auth["roles"]),
        ("sections.auth.api_keys[0]", auth["api_keys"][0]),
        ("sections.pii", plan.sections["pii"]),
        ("routing.rules_by_model", plan.routing.rules_by_model),
        ("providers[0].pricing", provider.pricing),
        ("providers[0].options", provider.options),
    ]


def test_plan_mappings_are_read_only(plan: Plan) -> None:
    for label, mapping in _mappings(plan):
        assert len(mapping) > 0, label
        key = next(iter(mapping))
        with pytest.raises(TypeError):
            mapping[key] = None
        with pytest.raises(TypeError):
            mapping["new-key"] = None
        with pytest.raises(TypeError):
            del mapping[key]


def test_plan_sequences_are_tuples(plan: Plan) -> None:
    assert isinstance(plan.providers, tuple)
    assert isinstance(plan.files, tuple)
    assert isinstance(plan.routing.rules, tuple)
    assert isinstance(plan.routing.rules[1].providers, tuple)
    assert all(isinstance(v, tuple) for v in plan.models.values())
    assert isinstance(plan.providers[0].models, tuple)
    assert isinstance(plan.sections["auth"]["api_keys"], tuple)
    assert isinstance(plan.sections["pii"]["entities"], tuple)
    assert isinstance(plan.routing.fallback.retry_statuses, frozenset)


def _walk(value: Any, path: str = "plan") -> list[tuple[str, Any]]:
    """Every value reachable from the plan's sections (where user data lands)."""
    found = [(path, value)]
    if hasattr(value, "items"):
        for key, item in value.items():
            found += _walk(item, f"{path}[{key!r}]")
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            found += _walk(item, f"{path}[{index}]")
    return found


def test_no_mutable_container_is_left_in_the_sections(plan: Plan) -> None:
    for path, value in _walk(plan.sections, "sections"):
        assert not isinstance(value, dict | list | set), f"{path} is a mutable {type(value).__name__}"


# --- fingerprint ----------------------------------------------------------------------------------


def test_fingerprint_ignores_key_order_and_formatting(tmp_path: Path) -> None:
    first = compile_text(tmp_path, RICH, name="a.yaml")
    second = compile_text(tmp_path, RICH_REORDERED, name="b.yaml")
    assert first.plan is not None and second.plan is not None
    assert first.plan.fingerprint == second.plan.fingerprint


def test_fingerprint_ignores_comments_and_blank_lines(tmp_path: Path) -> None:
    plain = compile_text(tmp_path, RICH, name="a.yaml")
    commented = compile_text(
        tmp_path,
        "# header\n\n" + RICH.replace("\n  - name: anthropic", "\n\n  # second\n  - name: anthropic"),
    )
    assert plain.plan is not None and commented.plan is not None
    assert plain.plan.fingerprint == commented.plan.fingerprint


def test_fingerprint_is_16_hex_digits(plan: Plan) -> None:
    assert len(plan.fingerprint) == 16
    int(plan.fingerprint, 16)


@pytest.mark.parametrize(
    "old, new",
    [
        pytest.param("timeout: 30s", "timeout: 31s", id="duration"),
        pytest.param("port: 8080", "port: 8081", id="port"),
        pytest.param("base: latency", "base: round_robin", id="base-strategy"),
        pytest.param('model == "gpt-4" and not stream', 'model == "gpt-4" and stream', id="rule-text"),
        pytest.param("providers: [anthropic, openai]", "providers: [openai, anthropic]", id="list-order"),
        pytest.param("max_retries: 3", "max_retries: 4", id="fallback"),
        pytest.param("ttl: 5m", "ttl: 6m", id="cache-ttl"),
        pytest.param("{input: $30, output: $60}", "{input: $30, output: $61}", id="price"),
        pytest.param("mode: redact", "mode: block", id="pii"),
        pytest.param("X-Team: platform", "X-Team: research", id="header"),
        pytest.param("  us-east-1: {providers: [openai]}\n", "", id="region-removed"),
    ],
)
def test_fingerprint_changes_when_a_value_changes(tmp_path: Path, old: str, new: str) -> None:
    assert RICH.count(old) == 1
    base = compile_text(tmp_path, RICH, name="a.yaml")
    changed = compile_text(tmp_path, RICH.replace(old, new), name="b.yaml")
    assert base.plan is not None and changed.plan is not None, [d.render() for d in changed.diagnostics]
    assert base.plan.fingerprint != changed.plan.fingerprint


def test_fingerprint_of_equal_unit_literals_is_equal(tmp_path: Path) -> None:
    seconds = compile_text(tmp_path, RICH.replace("ttl: 5m", "ttl: 300s"), name="a.yaml")
    minutes = compile_text(tmp_path, RICH, name="b.yaml")
    assert seconds.plan is not None and minutes.plan is not None
    assert seconds.plan.fingerprint == minutes.plan.fingerprint


def test_fingerprint_depends_on_the_config_not_the_file_name(tmp_path: Path) -> None:
    first = compile_text(tmp_path, RICH, name="a.yaml")
    second = compile_text(tmp_path, RICH, name="other-name.yaml")
    assert first.plan.fingerprint == second.plan.fingerprint


FINGERPRINT_SCRIPT = """
import sys
from modelmux.compiler.compile import compile_file
env = {"OPENAI_API_KEY": "sk-test-openai", "ANTHROPIC_API_KEY": "sk-ant-test"}
for path in sys.argv[1:]:
    print(compile_file(path, env).plan.fingerprint)
"""


@pytest.mark.parametrize("seed", ["0", "1", "4242", "random"])
def test_fingerprint_is_stable_across_processes(tmp_path: Path, seed: str) -> None:
    (tmp_path / "rich.yaml").write_text(RICH, encoding="utf-8")
    paths = [str(tmp_path / "rich.yaml"), str(REPO / "configs/demo.yaml")]
    here = [compile_file(p, ENV).plan.fingerprint for p in paths]  # type: ignore[union-attr]
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-c", FINGERPRINT_SCRIPT, *paths],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.split() == here


# --- secrets --------------------------------------------------------------------------------------

SECRET_ENV = {"OPENAI_API_KEY": SECRET, "ANTHROPIC_API_KEY": "sk-ant-test"}

SECRETS_EVERYWHERE = """\
server:
  admin_token: ${OPENAI_API_KEY}
providers:
  - name: openai
    type: openai
    api_key: ${OPENAI_API_KEY}
    models: ["gpt-4"]
    headers:
      X-Api-Key: ${OPENAI_API_KEY}
  - name: anthropic
    type: anthropic
    api_key: ${ANTHROPIC_API_KEY}
    models: ["claude-3-opus"]
caching:
  backend: redis
  url: redis://:${OPENAI_API_KEY}@localhost:6379/0
auth:
  api_keys:
    - name: ci
      key: ${OPENAI_API_KEY}
analytics:
  cost_tracking:
    storage: postgresql://usage:${OPENAI_API_KEY}@db/usage
  usage_reports:
    destinations: [webhook]
    webhook:
      url: https://hooks.example.com/notify
      headers: {Authorization: "Bearer ${OPENAI_API_KEY}"}
"""

SECRET_IN_URL = """\
providers:
  - name: local
    type: openai_compatible
    base_url: http://user:${OPENAI_API_KEY}@localhost:8000/v1
"""


def run_plan(tmp_path: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "secret.yaml"
    path.write_text(text, encoding="utf-8")
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "NO_COLOR": "1", **SECRET_ENV}
    return subprocess.run(
        [str(MODELMUX), "plan", str(path), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "text, key, template",
    [
        pytest.param(SECRETS_EVERYWHERE, "api_key", "${OPENAI_API_KEY}", id="secrets-everywhere"),
        pytest.param(SECRET_IN_URL, "base_url", "http://user:${OPENAI_API_KEY}@localhost:8000/v1", id="url"),
    ],
)
def test_plan_json_never_shows_a_secret(tmp_path: Path, text: str, key: str, template: str) -> None:
    result = run_plan(tmp_path, text, "--format", "json")
    assert result.returncode == 0, result.stderr
    document = orjson.loads(result.stdout)
    assert SECRET not in result.stdout + result.stderr
    assert document["config"]["providers"][0][key] == template


def test_plan_text_never_shows_a_secret(tmp_path: Path) -> None:
    result = run_plan(tmp_path, SECRETS_EVERYWHERE)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "key=${OPENAI_API_KEY}" in result.stdout


def test_plan_text_never_shows_a_secret_in_a_base_url(tmp_path: Path) -> None:
    result = run_plan(tmp_path, SECRET_IN_URL)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr


def _every_rendering(path: str, result: CompileResult) -> str:
    parts = [text_report(path, result), json_report([(path, result)]), github_report(path, result)]
    parts += [repr(d) for d in result.diagnostics]
    return "\n".join(parts)


OPENAI_HEAD = """\
providers:
  - name: openai
    type: openai
    api_key: ${OPENAI_API_KEY}
    models: ["gpt-4"]
"""

OTHER_ERRORS = OPENAI_HEAD + "    timeout: 30\nserver:\n  admin_token: ${OPENAI_API_KEY}\n"

SECRET_DIAGNOSTIC_CASES: list[Any] = [
    pytest.param(SECRETS_EVERYWHERE + "  bogus: 1\n", id="unknown-key-beside-secrets"),
    pytest.param(OTHER_ERRORS, id="other-errors"),
    pytest.param(OPENAI_HEAD + "server:\n  port: ${OPENAI_API_KEY}\n", id="port"),
    pytest.param(
        OPENAI_HEAD + "auth:\n  api_keys:\n    - name: ci\n      key_sha256: ${OPENAI_API_KEY}\n",
        id="key-sha256",
    ),
    pytest.param(OPENAI_HEAD + "caching:\n  url: ${OPENAI_API_KEY}\n", id="cache-url"),
    pytest.param(
        OPENAI_HEAD + "    base_url: ${OPENAI_API_KEY}\n",
        id="base-url",
    ),
    pytest.param(
        OPENAI_HEAD + "    timeout: ${OPENAI_API_KEY}\n",
        id="duration",
    ),
    pytest.param(
        OPENAI_HEAD + "routing:\n  strategy: ${OPENAI_API_KEY}\n",
        id="strategy",
    ),
    pytest.param(
        OPENAI_HEAD + "routing:\n  rules:\n    - if: stream\n      provider: ${OPENAI_API_KEY}\n",
        id="rule-target",
    ),
]


@pytest.mark.parametrize("text", SECRET_DIAGNOSTIC_CASES)
def test_no_diagnostic_shows_a_secret(tmp_path: Path, text: str) -> None:
    result = compile_text(tmp_path, text, SECRET_ENV)
    assert result.diagnostics, "each case is meant to produce a diagnostic"
    assert SECRET not in _every_rendering(str(tmp_path / "c.yaml"), result)


def test_a_missing_variable_is_named_not_guessed(tmp_path: Path) -> None:
    # The did-you-mean for a missing variable offers variable NAMES, never their values.
    text = OPENAI_HEAD.replace("${OPENAI_API_KEY}", "${OPENAI_API_KY}")
    result = compile_text(tmp_path, text, SECRET_ENV)
    rendered = _every_rendering("c.yaml", result)
    assert "OPENAI_API_KY is not set" in rendered
    assert "did you mean `OPENAI_API_KEY`?" in rendered
    assert SECRET not in rendered


def test_public_config_shows_templates(tmp_path: Path) -> None:
    result = compile_text(tmp_path, SECRETS_EVERYWHERE, SECRET_ENV)
    assert result.ok
    assert SECRET not in orjson.dumps(result.public).decode()
    assert result.public["server"]["admin_token"] == "${OPENAI_API_KEY}"
    assert result.public["auth"]["api_keys"][0]["key"] == "${OPENAI_API_KEY}"
    assert result.public["providers"][0]["headers"]["X-Api-Key"] == "${OPENAI_API_KEY}"
