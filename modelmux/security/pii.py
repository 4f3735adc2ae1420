"""Detection of personal data and secrets in text: emails, phone numbers, credit cards (Luhn-checked),
US social security numbers, IBANs (mod-97 checked), IP addresses and API keys or tokens.

Every pattern is compiled once, here. Candidates are checked (checksums, digit counts, entropy) to keep
false positives low, and overlapping candidates are resolved by priority (a secret beats an email, a card
beats a phone number), across every kind, before the kinds a config does not ask for are dropped; so an
IP address is never taken for a phone number just because `ip_address` is not enabled.
"""

from __future__ import annotations

import ipaddress
import math
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise

ENTITIES = ("email", "phone", "credit_card", "ssn", "iban", "ip_address", "api_key")


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int


_SECRET_PATTERNS = (
    r"sk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_\-]{20,}",
    r"(?:AKIA|ASIA)[0-9A-Z]{16}",
    r"gh[pousr]_[A-Za-z0-9]{36,}",
    r"github_pat_[A-Za-z0-9_]{22,}",
    r"xox[abposr]-[A-Za-z0-9\-]{10,}",
    r"AIza[0-9A-Za-z_\-]{35}",
    r"mm-[A-Za-z0-9_\-]{40,}",
    r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
    r"-----BEGIN[A-Z ]{0,20}PRIVATE KEY-----[\s\S]{1,8000}?-----END[A-Z ]{0,20}PRIVATE KEY-----",
)
SECRET = re.compile(r"(?<![A-Za-z0-9_\-])(?:" + "|".join(_SECRET_PATTERNS) + r")")
BEARER = re.compile(r"\b[Bb]earer\s+([A-Za-z0-9._~+/\-]{16,}=*)")
TOKEN = re.compile(r"(?<![A-Za-z0-9_+=/\-])[A-Za-z0-9_+\-]{32,}={0,2}(?![A-Za-z0-9_+=/\-])")
EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
)
CARD = re.compile(r"(?<![\d\-])[2-6]\d{3}(?:[ \-]?\d){9,15}(?![\d\-])")
SSN = re.compile(r"(?<![\d\-])(?!000|666|9\d\d)\d{3}([ \-])(?!00)\d{2}\1(?!0000)\d{4}(?![\d\-])")
IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])")
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
PHONE = re.compile(
    r"(?<![\w+\-])(?<!\d[ .])(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\d{2,4}[ .\-]\d{3,4}(?:[ .\-]?\d{3,4})?"
    r"(?![\w\-])(?![ .]\d)"
    r"|(?<![\w+])\+\d{8,15}(?!\w)"
)


def luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rotated = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rotated)) % 97 == 1


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _card(text: str) -> bool:
    digits = _digits(text)
    return 13 <= len(digits) <= 19 and luhn(digits)


def _phone(text: str) -> bool:
    count = len(_digits(text))
    return 8 <= count <= 15 if text.startswith("+") else 10 <= count <= 15


def _ip(text: str) -> bool:
    if ":" in text and sum(1 for group in text.split(":") if group) < 3:
        return False  # `Dead::Beef`, `a::b`: more likely code than an address
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _high_entropy(text: str) -> bool:
    """A long token that looks random: letters of both cases and digits, about 4 bits of entropy a
    character, and character classes that switch often (camelCase identifiers switch once a word)."""
    classes = [0 if c.islower() else 1 if c.isupper() else 2 if c.isdigit() else 3 for c in text]
    if not {0, 1, 2} <= set(classes):
        return False
    switches = sum(1 for a, b in pairwise(classes) if a != b) / (len(text) - 1)
    counts = Counter(text)
    entropy = -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())
    return switches >= 0.43 and entropy >= 3.7


def _ibans(text: str) -> Iterable[Finding]:
    """IBANs, shortened group by group when a trailing word was taken in. An IBAN-shaped run that fails
    the checksum is kept as a blocker (kind ""), so no card or phone number is found inside it."""
    for match in IBAN.finditer(text):
        candidate = match.group()
        while len(candidate.replace(" ", "")) >= 15 and not iban_valid(candidate):
            candidate = candidate[: max(candidate.rfind(" "), len(candidate) - 4)].rstrip()
        valid = len(candidate.replace(" ", "")) >= 15
        yield Finding("iban" if valid else "", match.start(), match.start() + len(candidate) if valid else match.end())


Check = Callable[[str], bool]
# (kind, pattern, check, group) in priority order: an earlier kind wins an overlap; IBANs come before cards.
_DETECTORS: tuple[tuple[str, re.Pattern[str], Check | None, int], ...] = (
    ("api_key", SECRET, None, 0),
    ("api_key", BEARER, None, 1),
    ("email", EMAIL, None, 0),
    ("credit_card", CARD, _card, 0),
    ("ssn", SSN, None, 0),
    ("ip_address", IPV4, _ip, 0),
    ("ip_address", IPV6, _ip, 0),
    ("phone", PHONE, _phone, 0),
    ("api_key", TOKEN, _high_entropy, 0),
)


def _candidates(text: str) -> Iterable[Finding]:
    for kind, pattern, check, group in _DETECTORS[:3]:
        yield from _matches(text, kind, pattern, check, group)
    yield from _ibans(text)
    for kind, pattern, check, group in _DETECTORS[3:]:
        yield from _matches(text, kind, pattern, check, group)


def _matches(text: str, kind: str, pattern: re.Pattern[str], check: Check | None, group: int) -> Iterable[Finding]:
    for match in pattern.finditer(text):
        if check is None or check(match.group(group)):
            yield Finding(kind, match.start(group), match.end(group))


def detect(text: str, kinds: frozenset[str] = frozenset(ENTITIES)) -> list[Finding]:
    """The entities of `kinds` in `text`, in order, none overlapping."""
    if not text:
        return []
    starts: list[int] = []
    accepted: list[Finding] = []  # sorted by start, none overlapping
    for finding in _candidates(text):
        at = bisect_left(starts, finding.start)
        if at > 0 and accepted[at - 1].end > finding.start:
            continue
        if at < len(accepted) and accepted[at].start < finding.end:
            continue
        starts.insert(at, finding.start)
        accepted.insert(at, finding)
    return [f for f in accepted if f.kind in kinds]
