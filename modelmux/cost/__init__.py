"""Cost management: the price of every request, the usage ledger, budgets with alerts, reports and forecasts.

- `pricing`: usage to dollars from the price table (`modelmux.routing.pricing`), cached tokens included.
- `ledger`, `ledger_sqlite`, `ledger_postgres`, `migrations`, `writer`: one row per request, written in
  batches off the request path, in SQLite (the default) or PostgreSQL.
- `budgets`, `guard`, `alerts`, `destinations`: budgets per gateway, key, org, team and user, enforced
  through the state store's atomic counters; alerts by webhook and email.
- `reports`, `forecast`, `equivalents`, `scheduler`: `modelmux usage report|forecast` and scheduled reports.
- `runtime`: the per-process holder of all of it (`Services.costs`); `recorder`: a finished request's row.
The request-path policy is `modelmux.runtime.middleware.budget`. See docs/costs.md.
"""
