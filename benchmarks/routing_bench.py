"""Routing decision time with 10 and 1,000 rules, and rule predicate evaluation.

Run: .venv/bin/python -m benchmarks.routing_bench
Rules test `model ==`, so the plan's model index narrows 1,000 rules to the few that can match.
"""

from __future__ import annotations

import statistics
import timeit

from modelmux.compiler.compile import compile_file
from modelmux.dsl import RequestFacts, compile_rule
from modelmux.plan.models import Plan
from modelmux.routing import Router, RuntimeState


def plan_with_rules(rules: int) -> Plan:
    lines = ["providers:"]
    for i in range(10):
        lines += [f"  - name: p{i}", "    type: mock", '    models: ["*"]']
    lines += ["routing:", "  strategy: hybrid", "  rules:"]
    for i in range(rules):
        lines += [f'    - if: model == "m-{i}" and stream == false', f"      provider: p{i % 10}"]
    result = compile_file("bench.yaml", {}, text="\n".join(lines) + "\n")
    assert result.plan is not None, [d.render() for d in result.errors[:3]]
    return result.plan


def per_call(function: object, number: int) -> float:
    times = timeit.repeat(function, number=number, repeat=7)  # type: ignore[arg-type]
    return statistics.median(times) / number


def decision_times(rules: int) -> tuple[float, float]:
    plan = plan_with_rules(rules)
    router = Router(RuntimeState())
    hit = RequestFacts(model=f"m-{rules - 1}")
    miss = RequestFacts(model="unrouted-model")
    decision = router.decide(plan, hit)
    assert decision.rule is not None and decision.rule.index == rules - 1
    return per_call(lambda: router.decide(plan, hit), 20000), per_call(lambda: router.decide(plan, miss), 20000)


def main() -> None:
    for rules in (10, 1000):
        hit, miss = decision_times(rules)
        print(f"{rules:>5} rules: decide, last rule matches {hit * 1e6:.2f} µs; no rule matches {miss * 1e6:.2f} µs")
    rule = compile_rule('model == "gpt-4" and stream == false')
    facts = RequestFacts(model="gpt-4")
    evaluate = per_call(lambda: rule.predicate(facts), 200000)
    print(f'predicate `model == "gpt-4" and stream == false`: {evaluate * 1e9:.0f} ns')
    texts = [f'model == "m-{i}" and (latency < {i + 1}ms or metadata.tier in ["a", "b{i}"])' for i in range(2000)]
    start = timeit.default_timer()
    for text in texts:
        compile_rule(text + " ")  # a trailing space defeats the compile cache
    print(f"compile 2,000 distinct rules: {(timeit.default_timer() - start) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
