"""The compiled profile evaluator agrees with lxml's ISO Schematron on every document we have."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLE, SAMPLES
from lxml import etree, isoschematron

from repository import xmlio
from repository.profile import Profile, ProfileError
from repository.validation import profile_path

SVRL = "{http://purl.oclc.org/dsdl/svrl}"

MUTATIONS = [
    (b"<typeOfResource>text</typeOfResource>", b""),
    (b'keyDate="yes">2019-06-02', b'keyDate="yes">2019-6-2'),
    (b'<relatedItem type="host">', b'<relatedItem type="series">'),
    (b"<namePart>\xe7\x8e\x8b\xe6\x99\x93</namePart>", b""),
    (b'<roleTerm type="code" authority="marcrelator">aut</roleTerm>', b""),
    (b'source="local">media-2019-06-02-0001<', b'source="local">bad id!<'),
    (b'encoding="w3cdtf">2024-01-02<', b">2024-01-02<"),
    (b'iso639-2b">chi<', b'iso639-2b">Chinese<'),
    (b'iso15924">Hans<', b'iso15924">hans<'),
]


def _documents() -> list[tuple[str, bytes]]:
    docs = [("example", EXAMPLE.read_bytes())]
    docs += [(f"mutation-{i}", EXAMPLE.read_bytes().replace(a, b, 1)) for i, (a, b) in enumerate(MUTATIONS)]
    docs += [(p.name, p.read_bytes()) for p in sorted(SAMPLES.glob("*.xml"))]
    return docs


def _reference(tree: etree._ElementTree) -> set[tuple[str, int]]:
    sch = isoschematron.Schematron(etree.parse(str(profile_path("article"))), store_report=True)
    sch.validate(tree)
    out = set()
    for fa in sch.validation_report.iter(f"{SVRL}failed-assert"):
        node = tree.xpath(fa.get("location"))[0]
        out.add((fa.get("id"), node.sourceline))
    return out


@pytest.mark.parametrize("name, data", _documents(), ids=[n for n, _ in _documents()])
def test_compiled_profile_agrees_with_iso_schematron(name: str, data: bytes) -> None:
    tree = xmlio.parse(data)
    ours = {(f.rule_id, f.element.sourceline) for f in Profile(profile_path("article")).check(tree)}
    assert ours == _reference(tree)
    if name.startswith("mutation"):
        assert ours, "each mutation breaks the profile"


def test_unsupported_schematron_is_refused(tmp_path: Path) -> None:
    sch = tmp_path / "p.sch"
    sch.write_text(
        '<schema xmlns="http://purl.oclc.org/dsdl/schematron"><pattern>'
        '<rule context="a"><assert test="key(\'k\', .)">x</assert></rule></pattern></schema>'
    )
    with pytest.raises(ProfileError):
        Profile(sch)
