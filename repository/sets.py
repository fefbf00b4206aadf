"""Which sets a record belongs to: its collection, and its newspaper (if any) within that collection.

Sets are hierarchical (``media`` ⊃ ``media:liaoningribao``) and a record is a member of
every level, so a harvester asking for the parent gets the children's records too. A
newspaper's set spec is its name in toneless pinyin (set specs must be ASCII), made with
pypinyin; names in Latin script are lower-cased with runs of other characters as '-'.
"""

from __future__ import annotations

import re
from functools import lru_cache

from . import collections
from .mods import Article

_NOT_SPEC = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=4096)
def newspaper_slug(name: str) -> str:
    from pypinyin import lazy_pinyin

    syllables = lazy_pinyin(name.strip(), errors=lambda s: [s])
    text = "".join(s if s.isascii() else "" for s in syllables)
    if not text:
        text = name
    slug = _NOT_SPEC.sub("-", text.lower()).strip("-")
    return slug or "unknown"


def sets_for(collection: str, article: Article) -> dict[str, str]:
    """{set spec: set name} for a record of ``collection``."""
    coll = collections.get(collection)
    out = {collection: coll.name("zh-Hans") if coll else collection}
    if article.host and article.host.title and article.host.genre == "newspaper":
        out[f"{collection}:{newspaper_slug(article.host.title)}"] = article.host.title
    return out
