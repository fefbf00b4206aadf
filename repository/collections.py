"""The library's local-documents databases, kept as data (``data/collections.json``).

Each database of the site's navigation is a collection of the repository and an
OAI-PMH set, whether or not it holds records yet; the navigation itself (with its
one non-database entry) is kept too, so the catalogue can show it as the library does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

LANGUAGES = ("zh-Hans", "zh-Hant", "en")


@dataclass(frozen=True)
class Collection:
    code: str
    names: dict[str, str]
    position: int
    kind: str = "database"
    profile: str | None = None
    short: dict[str, str] = field(default_factory=dict)

    def name(self, lang: str = "zh-Hans") -> str:
        return self.names.get(lang) or self.names["zh-Hans"]

    @property
    def is_collection(self) -> bool:
        return self.kind == "database"


@cache
def navigation() -> tuple[Collection, ...]:
    """Every entry of the site's navigation, in order."""
    raw = json.loads(resources.files(__package__).joinpath("data/collections.json").read_text("utf-8"))
    return tuple(
        Collection(
            code=e["code"],
            names=e["name"],
            position=e["position"],
            kind=e["kind"],
            profile=e.get("profile"),
            short=e.get("short", {}),
        )
        for e in raw["entries"]
    )


def collections() -> tuple[Collection, ...]:
    """The collections (databases) only."""
    return tuple(c for c in navigation() if c.is_collection)


@cache
def _by_code() -> dict[str, Collection]:
    return {c.code: c for c in collections()}


def get(code: str) -> Collection | None:
    return _by_code().get(code)


#: The collection legacy pages are imported into.
MEDIA = "media"
