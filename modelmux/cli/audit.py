"""`modelmux audit verify PATH` and `modelmux audit purge PATH (--older-than DURATION | --user ID)`.

`verify` exits 0 when the chain holds and 1 naming the first bad line. `purge --older-than` drops the
entries older than the duration (a `retention` entry records it); `purge --user` removes one user's
entries for an erasure request (an `erasure` entry records it). Both keep the chain verifiable and
refuse a log that does not verify.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from modelmux.security.audit import AuditError, verify
from modelmux.security.audit_rewrite import erase_user, purge_older_than
from modelmux.units import UnitError, parse_duration


def run_verify(path: str) -> int:
    result = verify(Path(path))
    for event in result.events:
        sys.stdout.write(f"{event}\n")
    if not result.ok:
        where = f"line {result.bad_line}" if result.bad_line else path
        sys.stdout.write(f"{path}: {where}: {result.problem}\n")
        return 1
    head = "the head file matches" if result.head_checked else "no head file, so a cut-off end cannot be detected"
    sys.stdout.write(f"{path}: {result.entries} entries, chain intact; {head}\n")
    return 0


def run_purge(path: str, older_than: str | None, user: str | None) -> int:
    if (older_than is None) == (user is None):
        sys.stderr.write("modelmux audit purge: give exactly one of --older-than DURATION or --user ID\n")
        return 2
    try:
        if older_than is not None:
            cutoff = datetime.now(UTC) - timedelta(seconds=parse_duration(older_than))
            dropped = purge_older_than(Path(path), cutoff)
            sys.stdout.write(f"{path}: dropped {dropped} entries older than {cutoff.isoformat(timespec='seconds')}\n")
        else:
            assert user is not None
            removed = erase_user(Path(path), user)
            sys.stdout.write(f"{path}: removed {removed} entries of the user; the erasure is recorded\n")
    except UnitError as exc:
        sys.stderr.write(f"modelmux audit purge: --older-than: {exc}\n")
        return 2
    except (AuditError, OSError) as exc:
        sys.stderr.write(f"modelmux audit purge: {exc}\n")
        return 1
    return 0
