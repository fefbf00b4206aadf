"""Articles written for the tests: variants of the reference example, each a valid record."""

from __future__ import annotations

from conftest import EXAMPLE

EXAMPLE_ID = "media-2019-06-02-0001"


def article(
    i: int, *, newspaper: str = "大连晚报", date: str = "2019-06-02", title: str | None = None
) -> bytes:
    """A valid article with identifier ``media-t-{i:05d}``."""
    data = EXAMPLE.read_bytes().decode("utf-8")
    data = data.replace(EXAMPLE_ID, f"media-t-{i:05d}")
    data = data.replace("老码头的早市", title or f"老码头的早市 第{i}篇")
    data = data.replace("<title>大连晚报</title>", f"<title>{newspaper}</title>")
    data = data.replace(">2019-06-02<", f">{date}<")
    return data.encode("utf-8")


def record_id(i: int) -> str:
    return f"media-t-{i:05d}"
