"""Resumption tokens: stateless, signed, keyset-based.

A token carries everything the next page needs (the query, the harvest's own
snapshot bound, the last (datestamp, identifier) delivered, the cursor and the
list size) signed with the instance's key. So the server keeps no harvest state,
can restart mid-harvest, serves a replayed token the same page, and refuses a
token that was tampered with or has expired.

The format is ``base64url(JSON list) "." base64url(HMAC-SHA256[:16])``: every page
of a harvest decodes one token and signs another, so the codec is kept to the
standard library's C code (json, hmac, base64) with a key derived once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from .protocol import OAIError


@dataclass(frozen=True)
class Token:
    verb: str
    prefix: str
    set_spec: str | None
    from_: str
    until: str
    bound: int  # the store's change sequence when the harvest began
    after: tuple[str, str]  # (datestamp, record id) of the last record delivered
    cursor: int  # records delivered before the page this token asks for
    total: int  # completeListSize
    expires: int  # UNIX time


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


#: The largest number a token field may hold: the stores' change numbers are 64-bit.
_MAX_NUMBER = 2**63 - 1


def _well_typed(f: object) -> bool:
    """Whether decoded fields are a token's: the right count, strings and numbers where they belong.

    A signed token is ours, but it may come from another version of the repository (tokens
    survive a restart, and so an upgrade): its fields are checked, not trusted.
    """
    if not isinstance(f, list) or len(f) != 11:
        return False
    texts = [f[0], f[1], f[3], f[4], f[6], f[7]] + ([] if f[2] is None else [f[2]])
    numbers = [f[5], f[8], f[9], f[10]]
    return all(isinstance(t, str) and "\x00" not in t for t in texts) and all(
        type(n) is int and 0 <= n <= _MAX_NUMBER for n in numbers
    )


class TokenCodec:
    def __init__(self, secret: bytes, lifetime_hours: int):
        self._key = hashlib.sha256(b"oai-pmh resumption token\0" + secret).digest()
        self.lifetime = lifetime_hours * 3600

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest()[:16])

    def encode(self, t: Token) -> str:
        fields = [
            t.verb,
            t.prefix,
            t.set_spec,
            t.from_,
            t.until,
            t.bound,
            *t.after,
            t.cursor,
            t.total,
            t.expires,
        ]
        payload = _b64(json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        return f"{payload}.{self._mac(payload)}"

    def new_expiry(self) -> int:
        return int(time.time()) + self.lifetime

    def decode(self, value: str, verb: str) -> Token:
        bad = OAIError("badResumptionToken", "the resumption token is not one this repository issued")
        payload, dot, mac = value.partition(".")
        if not dot or not (payload + mac).isascii() or not hmac.compare_digest(mac, self._mac(payload)):
            raise bad
        try:
            f = json.loads(_unb64(payload))
        except (ValueError, binascii.Error):
            raise bad from None
        if not _well_typed(f):
            raise bad
        token = Token(f[0], f[1], f[2], f[3], f[4], f[5], (f[6], f[7]), f[8], f[9], f[10])
        if token.verb != verb:
            raise OAIError("badResumptionToken", f"the resumption token belongs to {token.verb}, not {verb}")
        if token.expires < time.time():
            raise OAIError("badResumptionToken", "the resumption token has expired; start the harvest again")
        return token
