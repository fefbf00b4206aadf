"""What changed between two versions of a record, in a form a cataloger reads.

Two views of one change: the fields the form knows (title, names, date … old → new), which is
what a cataloger asks first, and a line diff of the XML and of the full text with line numbers,
which shows everything else. Both come from the standard library's :mod:`difflib`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from .. import xmlio
from .fields import Fields, read_fields

#: Lines of unchanged context kept around each change.
CONTEXT = 3


@dataclass(frozen=True)
class Line:
    op: str  # " " same, "-" only in the old text, "+" only in the new one
    old: int | None  # line number in the old text
    new: int | None
    text: str


@dataclass(frozen=True)
class FieldChange:
    name: str
    old: str
    new: str


def line_diff(old: str, new: str, context: int = CONTEXT) -> list[list[Line]]:
    """The hunks of a line diff: runs of changed lines with ``context`` lines around them."""
    a, b = old.splitlines(), new.splitlines()
    hunks = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context):
        hunk: list[Line] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                hunk += [
                    Line(" ", i + 1, j + 1, a[i]) for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                ]
                continue
            hunk += [Line("-", i + 1, None, a[i]) for i in range(i1, i2)]
            hunk += [Line("+", None, j + 1, b[j]) for j in range(j1, j2)]
        hunks.append(hunk)
    return hunks


def _show(value: object) -> str:
    if isinstance(value, list):
        return "; ".join(
            " ".join(v for v in item if v) if isinstance(item, tuple) else str(item) for item in value
        )
    return str(value)


def field_changes(old_xml: bytes, new_xml: bytes) -> list[FieldChange]:
    """The form's fields that differ between two records (empty when either does not parse)."""
    try:
        old, new = (read_fields(xmlio.parse(x).getroot()) for x in (old_xml, new_xml))
    except xmlio.XMLInputError:
        return []
    changes = []
    for name in Fields.__dataclass_fields__:
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            changes.append(FieldChange(name, _show(before), _show(after)))
    return changes
