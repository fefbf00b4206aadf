"""Validation: the official MODS schema, then the collection's application profile.

Both come back as one list of :class:`Problem`, each pinned to a line and an
element, so the CLI, the editor and the API show a cataloger the same thing.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from lxml import etree

from . import schemas
from .mods import MODS_NS, RECORD_ID
from .profile import load as load_profile

#: Application profiles by name; a collection names the one its records follow.
PROFILES = {"article": "mods-article-profile.sch"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a record, said so a cataloger can find and fix it."""

    message: str
    line: int | None = None
    element: str | None = None
    rule: str = "schema"  # "xml", "schema", a profile rule id, or "repository"
    source: str | None = None

    def __str__(self) -> str:
        where = self.source or ""
        if self.line:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        element = f" <{self.element}>" if self.element else ""
        prefix = f"{where}:{element} " if where else (f"{element.strip()} " if element else "")
        return f"{prefix}{self.message} [{self.rule}]"

    def to_dict(self) -> dict:
        return asdict(self)


class Invalid(Exception):
    """A record refused, with every problem found in it."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems[:5]))


_NS_BRACES = re.compile(r"\{[^}]*\}")


_ELEMENT_IN_MESSAGE = re.compile(r"^Element '(?:\{[^}]*\})?([^']+)'")


def _element(tree: etree._ElementTree | etree._Element, entry: etree._LogEntry) -> str | None:
    """The element a schema error is about: from the error's path, else from its message."""
    if entry.path:
        try:
            found = tree.xpath(entry.path)
        except etree.XPathError:
            found = []
        if found and isinstance(found[0], etree._Element):
            return etree.QName(found[0]).localname
    match = _ELEMENT_IN_MESSAGE.match(entry.message or "")
    return match.group(1) if match else None


def _friendly(message: str) -> str:
    message = message.replace(f"{{{MODS_NS}}}", "")
    return _NS_BRACES.sub("", message).strip()


def check_schema(tree: etree._ElementTree | etree._Element, source: str | None = None) -> list[Problem]:
    schema = schemas.mods_schema()
    if schema.validate(tree):
        return []
    return [
        Problem(_friendly(e.message), e.line or None, _element(tree, e), "schema", source)
        for e in schema.error_log
    ]


def profile_path(name: str) -> Path:
    return Path(schemas.schemas_dir()) / PROFILES[name]


def check_profile(
    tree: etree._ElementTree | etree._Element, profile: str, source: str | None = None
) -> list[Problem]:
    return [
        Problem(f.message, f.element.sourceline, etree.QName(f.element).localname, f.rule_id, source)
        for f in load_profile(profile_path(profile)).check(tree)
    ]


def check_identifier(record_id: str, source: str | None = None) -> list[Problem]:
    if RECORD_ID.match(record_id):
        return []
    return [
        Problem(
            f"record identifier {record_id!r} may hold only letters, digits, '.', '_' and '-' "
            "(at most 128), starting with a letter or digit",
            rule="record-id",
            source=source,
        )
    ]


def validate(
    tree: etree._ElementTree | etree._Element, profile: str | None = None, source: str | None = None
) -> list[Problem]:
    """Every problem at once, schema first: a cataloger fixes a record in one pass, not several."""
    problems = check_schema(tree, source)
    if profile:
        problems += check_profile(tree, profile, source)
    return problems
