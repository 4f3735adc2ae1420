"""Spend forecasts from the ledger (`modelmux usage forecast`).

Method, for the period (`monthly` by default, UTC calendar) that contains the `as_of` day (default today):
1. The observed series is the cost of each complete day of the period before `as_of` (days without
   rows count 0). `spent` is their exact sum; the `as_of` day itself is forecast, not observed.
2. Weekly seasonality, when at least 14 days are observed: the factor of a weekday is the mean of
   that weekday's days over the mean of all days (1 for every weekday when the mean is 0). Each day
   is divided by its factor (a day whose factor is 0 is left out of the fit).
3. Trend: ordinary least squares `y = a + b*x` over the (deseasonalized) days, `x` the day's index
   from the period's first day; one observed day gives a flat line at its value; none gives 0.
4. Each remaining day (from `as_of` to the period's end) is predicted as `max(0, a + b*x)` times its
   weekday's factor. `projected = spent + the sum of the predictions`.
`biggest_spenders` lists the models (upstream names) that cost most over the same observed days, each
with its cheaper equivalents (`modelmux.cost.equivalents`) priced on its actual token mix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from modelmux.cost.equivalents import Alternative, alternatives
from modelmux.cost.ledger import Ledger
from modelmux.cost.periods import day_start, days, period_bounds
from modelmux.cost.pricing import ZERO, Tokens, usd

SEASONAL_DAYS = 14


@dataclass(frozen=True, slots=True)
class Forecast:
    period: str
    start: date
    end: date  # exclusive
    as_of: date
    observed: list[tuple[date, Decimal]]
    spent: Decimal
    intercept: float
    slope: float
    factors: dict[int, float] | None  # weekday (Monday 0) -> factor, when seasonal
    predicted: list[tuple[date, float]]
    projected: Decimal
    budget: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Spender:
    model: str
    tokens: Tokens
    cost: Decimal
    alternatives: list[Alternative]


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares `(a, b)` of `y = a + b*x`; flat through the mean when `x` does not vary."""
    n = len(xs)
    if n == 0:
        return 0.0, 0.0
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return mean_y, 0.0
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    return mean_y - slope * mean_x, slope


def weekday_factors(observed: list[tuple[date, float]]) -> dict[int, float] | None:
    if len(observed) < SEASONAL_DAYS:
        return None
    mean = sum(y for _, y in observed) / len(observed)
    if mean == 0:
        return dict.fromkeys(range(7), 1.0)
    factors = {}
    for weekday in range(7):
        values = [y for day, y in observed if day.weekday() == weekday]
        factors[weekday] = (sum(values) / len(values)) / mean if values else 1.0
    return factors


def project(daily: Mapping[date, Decimal], period: str, as_of: date) -> Forecast:
    start_dt, end_dt = period_bounds(period, day_start(as_of))
    start, end = start_dt.date(), end_dt.date()
    observed = [(day, daily.get(day, ZERO)) for day in days(start, as_of)]
    series = [(day, float(value)) for day, value in observed]
    factors = weekday_factors(series)
    xs, ys = [], []
    for day, value in series:
        factor = factors[day.weekday()] if factors else 1.0
        if factor > 0:
            xs.append(float((day - start).days))
            ys.append(value / factor)
    intercept, slope = fit_line(xs, ys)
    predicted = []
    for day in days(as_of, end):
        factor = factors[day.weekday()] if factors else 1.0
        predicted.append((day, max(0.0, intercept + slope * (day - start).days) * factor))
    spent = sum((value for _, value in observed), ZERO)
    projected = spent + Decimal(repr(round(sum(v for _, v in predicted), 6)))
    return Forecast(period, start, end, as_of, observed, spent, intercept, slope, factors, predicted, projected)


def forecast_ledger(ledger: Ledger, period: str, as_of: date, budget: Decimal | None = None) -> Forecast:
    start, _ = period_bounds(period, day_start(as_of))
    daily = dict(ledger.daily(start, day_start(as_of)))
    return replace(project(daily, period, as_of), budget=budget)


def biggest_spenders(ledger: Ledger, forecast: Forecast, top: int = 5) -> list[Spender]:
    groups = ledger.grouped("upstream_model", day_start(forecast.start), day_start(forecast.as_of))
    found = []
    for group in groups[:top]:
        if group.group is None or group.cost <= 0:
            continue
        tokens = Tokens(group.prompt_tokens, group.completion_tokens, group.cached_tokens)
        found.append(Spender(group.group, tokens, group.cost, alternatives(group.group, tokens, group.cost)))
    return found


def forecast_dict(forecast: Forecast, spenders: list[Spender]) -> dict[str, object]:
    return {
        "period": forecast.period,
        "start": forecast.start.isoformat(),
        "end": forecast.end.isoformat(),
        "as_of": forecast.as_of.isoformat(),
        "observed_days": len(forecast.observed),
        "spent_usd": float(usd(forecast.spent)),
        "projected_usd": float(usd(forecast.projected)),
        "budget_usd": float(usd(forecast.budget)) if forecast.budget is not None else None,
        "over_budget": forecast.budget is not None and forecast.projected > forecast.budget,
        "trend": {"intercept": round(forecast.intercept, 6), "slope_per_day": round(forecast.slope, 6)},
        "weekday_factors": {str(k): round(v, 6) for k, v in forecast.factors.items()} if forecast.factors else None,
        "daily": [{"date": d.isoformat(), "cost_usd": float(usd(v))} for d, v in forecast.observed],
        "predicted": [{"date": d.isoformat(), "cost_usd": round(v, 6)} for d, v in forecast.predicted],
        "biggest_spenders": [_spender(s) for s in spenders],
    }


def _spender(spender: Spender) -> dict[str, object]:
    return {
        "model": spender.model,
        "cost_usd": float(usd(spender.cost)),
        "prompt_tokens": spender.tokens.prompt,
        "completion_tokens": spender.tokens.completion,
        "cached_tokens": spender.tokens.cached,
        "alternatives": [
            {"model": a.model, "cost_usd": float(usd(a.cost)), "saving_usd": float(usd(a.saving))}
            for a in spender.alternatives
        ],
    }
