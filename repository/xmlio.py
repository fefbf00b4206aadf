"""The one place XML from outside is parsed and XML for the store is written.

Every record, upload and harvested document comes through :func:`parse`, so the
hardening in ``safety.md`` is decided once: no DTDs, no entities, no network,
no huge trees, and a DOCTYPE is refused outright rather than ignored (a
document that needs one is not a MODS record, and one that carries it is most
likely an attack).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from lxml import etree

#: Characters XML 1.0 forbids (lone surrogates included). No record can hold them, and PostgreSQL
#: cannot store a NUL in text: text from outside (a form, a query string) is kept without them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_chars(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (tabs and line breaks stay)."""
    return _NOT_XML.sub("", text)


#: Records are small (the largest real MODS in the corpus is 27 kB); 5 MB
#: leaves room for a large ``modsCollection`` while stopping memory attacks.
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class XMLInputError(Exception):
    """A document that cannot be accepted, with where it went wrong."""

    message: str
    source: str = "<input>"
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.message}"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=False,
        strip_cdata=True,
    )


# lxml parsers are not thread-safe; one per thread is the documented pattern.
_local = threading.local()


def parser() -> etree.XMLParser:
    """The hardened parser of this thread (also used to read the schemas)."""
    p = getattr(_local, "parser", None)
    if p is None:
        p = _local.parser = _parser()
    return p


def parse(data: bytes, source: str = "<input>") -> etree._ElementTree:
    """Parse untrusted bytes into a tree, or raise :class:`XMLInputError`."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise XMLInputError(f"document is {len(data):,} bytes; the limit is {MAX_DOCUMENT_BYTES:,}", source)
    if not data.strip():
        raise XMLInputError("document is empty", source)
    try:
        root = etree.fromstring(data, parser())
    except etree.XMLSyntaxError as exc:
        raise XMLInputError(_syntax_message(exc), source, exc.lineno or None) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XMLInputError("a DOCTYPE is not allowed (DTDs and entities are refused for safety)", source, 1)
    return tree


def _syntax_message(exc: etree.XMLSyntaxError) -> str:
    msg = exc.msg or str(exc)
    # lxml appends ", line N, column M"; the caller reports the line itself.
    if ", line " in msg:
        msg = msg.rsplit(", line ", 1)[0]
    return f"not well-formed XML: {msg}"


def c14n(node: etree._Element | etree._ElementTree) -> bytes:
    """Canonical XML (C14N 1.0, comments kept): equality of two records means this."""
    return etree.tostring(node, method="c14n", with_comments=True)


DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def to_bytes(
    node: etree._Element | etree._ElementTree, *, declaration: bool = True, pretty: bool = False
) -> bytes:
    """Serialize for storage: UTF-8, with the usual declaration unless asked not to.

    ``pretty`` indents a tree the repository built itself, for the files catalogers edit;
    records that arrived as XML are stored as they came and never re-indented.
    """
    if pretty:
        etree.indent(node, space="  ")
    body = etree.tostring(node, encoding="UTF-8")
    return DECLARATION + body + (b"\n" if pretty else b"") if declaration else body


def strip_declaration(data: bytes) -> bytes:
    """The document without its ``<?xml …?>`` line, ready to embed in another."""
    if data.startswith(b"<?xml"):
        end = data.find(b"?>")
        return data[end + 2 :].lstrip()
    return data
