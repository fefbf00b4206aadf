"""Resumption tokens: stateless, signed, keyset-based.

A token carries everything the next page needs (the query, the harvest's own
snapshot bound, the last (datestamp, identifier) delivered, the cursor and the
list size) signed with the instance's key. So the server keeps no harvest state,
can restart mid-harvest, serves a replayed token the same page, and refuses a
token that was tampered with or has expired.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from itsdangerous import BadData, URLSafeSerializer

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


class TokenCodec:
    def __init__(self, secret: bytes, lifetime_hours: int):
        self._s = URLSafeSerializer(secret, salt="oai-pmh resumption token")
        self.lifetime = lifetime_hours * 3600

    def encode(self, token: Token) -> str:
        data = asdict(token)
        data["after"] = list(token.after)
        return self._s.dumps(data)

    def new_expiry(self) -> int:
        return int(time.time()) + self.lifetime

    def decode(self, value: str, verb: str) -> Token:
        try:
            data = self._s.loads(value)
            token = Token(**{**data, "after": tuple(data["after"])})
        except (BadData, TypeError, KeyError, ValueError):
            raise OAIError(
                "badResumptionToken", "the resumption token is not one this repository issued"
            ) from None
        if token.verb != verb:
            raise OAIError("badResumptionToken", f"the resumption token belongs to {token.verb}, not {verb}")
        if token.expires < time.time():
            raise OAIError("badResumptionToken", "the resumption token has expired; start the harvest again")
        return token
