"""OAI-PMH 2.0 requests: which arguments each verb takes, and the errors when they are wrong.

Everything a harvester can get wrong is decided here, before the store is
touched, so the provider only ever sees well-formed requests.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass

#: verb → (required arguments, optional arguments). ``resumptionToken`` is exclusive.
VERBS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "Identify": (frozenset(), frozenset()),
    "ListMetadataFormats": (frozenset(), frozenset({"identifier"})),
    "ListSets": (frozenset(), frozenset({"resumptionToken"})),
    "GetRecord": (frozenset({"identifier", "metadataPrefix"}), frozenset()),
    "ListIdentifiers": (
        frozenset({"metadataPrefix"}),
        frozenset({"from", "until", "set", "resumptionToken"}),
    ),
    "ListRecords": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set", "resumptionToken"})),
}

#: The syntax OAI-PMH.xsd gives these argument values (a value outside it is badArgument).
_PREFIX = re.compile(r"[A-Za-z0-9\-_.!~*'()]+\Z")
_SET_SPEC = re.compile(r"[A-Za-z0-9\-_.!~*'()]+(:[A-Za-z0-9\-_.!~*'()]+)*\Z")
_SYNTAX = {"metadataPrefix": _PREFIX, "set": _SET_SPEC}
#: What an echoed identifier may look like for the <request> element's xs:anyURI attribute:
#: no brackets, at most one fragment, %-escapes complete, and anything before the first colon a scheme.
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*\Z")


def echoable_uri(value: str) -> bool:
    """Whether ``value`` can be echoed as an xs:anyURI attribute (a conservative check).

    An identifier that is not a URI is answered with idDoesNotExist, as the protocol says
    ("unknown or illegal"), and is then left out of the echoed request rather than making
    the response invalid.
    """
    if "[" in value or "]" in value or value.count("#") > 1 or _BAD_PERCENT.search(value):
        return False
    head, colon, _ = value.partition(":")
    return not colon or bool(_SCHEME.match(head))


_DAY = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")
_SECOND = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z\Z")


class OAIError(Exception):
    """An OAI-PMH error condition: answered with HTTP 200 and an ``<error>`` element."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Request:
    verb: str
    args: dict[str, str]


def parse(pairs: list[tuple[str, str]]) -> Request:
    """A request from its (name, value) pairs, in order, repeats included."""
    verbs = [v for k, v in pairs if k == "verb"]
    if not verbs:
        raise OAIError("badVerb", "the request has no verb")
    if len(verbs) > 1:
        raise OAIError("badVerb", "the verb argument is repeated")
    verb = verbs[0]
    if verb not in VERBS:
        raise OAIError("badVerb", f"'{verb}' is not an OAI-PMH verb")
    required, optional = VERBS[verb]
    args: dict[str, str] = {}
    for key, value in pairs:
        if key == "verb":
            continue
        if key not in required and key not in optional:
            raise OAIError("badArgument", f"'{key}' is not an argument of {verb}")
        if key in args:
            raise OAIError("badArgument", f"the argument '{key}' is repeated")
        args[key] = value
    if "resumptionToken" in args:
        if len(args) > 1:
            raise OAIError("badArgument", "resumptionToken is an exclusive argument")
        return Request(verb, args)
    for key, pattern in _SYNTAX.items():
        if key in args and not pattern.match(args[key]):
            raise OAIError("badArgument", f"the value of {key} has an illegal syntax")
    missing = sorted(required - args.keys())
    if missing:
        raise OAIError("badArgument", f"{verb} needs the argument {', '.join(missing)}")
    if "from" in args or "until" in args:
        _check_range(args)
    return Request(verb, args)


def datestamp_bounds(value: str) -> tuple[str, str, str]:
    """(granularity, earliest second, latest second) of a from/until value, or badArgument."""
    m = _DAY.match(value)
    if m:
        _check_date(value, *map(int, m.groups()))
        return "day", f"{value}T00:00:00Z", f"{value}T23:59:59Z"
    m = _SECOND.match(value)
    if m:
        y, mo, d, h, mi, s = map(int, m.groups())
        _check_date(value, y, mo, d)
        if h > 23 or mi > 59 or s > 59:
            raise OAIError("badArgument", f"'{value}' is not a valid time")
        return "second", value, value
    raise OAIError(
        "badArgument",
        f"'{value}' is not a UTC datestamp of the form YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ",
    )


def _check_date(value: str, y: int, mo: int, d: int) -> None:
    if not (1 <= mo <= 12 and 1 <= d <= monthrange(max(y, 1), mo)[1]) or y < 1:
        raise OAIError("badArgument", f"'{value}' is not a valid date")


def _check_range(args: dict[str, str]) -> None:
    bounds = {k: datestamp_bounds(args[k]) for k in ("from", "until") if k in args}
    if len(bounds) == 2:
        if bounds["from"][0] != bounds["until"][0]:
            raise OAIError("badArgument", "from and until must have the same granularity")
        if bounds["from"][1] > bounds["until"][2]:
            raise OAIError("badArgument", "from is later than until")


def window(args: dict[str, str]) -> tuple[str, str]:
    """The inclusive (from, until) datestamp window of a list request."""
    lo = datestamp_bounds(args["from"])[1] if "from" in args else ""
    hi = datestamp_bounds(args["until"])[2] if "until" in args else "9999-12-31T23:59:59Z"
    return lo, hi
