"""MODS → oai_dc: valid for every record, and mapped as records.md says."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLE, valid_samples

from repository import schemas, xmlio
from repository.crosswalk import dc_values, to_oai_dc


@pytest.mark.parametrize("path", [*valid_samples(), EXAMPLE], ids=lambda p: p.name)
def test_oai_dc_is_schema_valid(path: Path) -> None:
    dc = to_oai_dc(xmlio.parse(path.read_bytes()).getroot(), "rec-1", "http://repo.test/records/rec-1")
    schema = schemas.oai_dc_schema()
    assert schema.validate(dc), schema.error_log


def test_article_mapping_follows_the_project_choices() -> None:
    values = dc_values(
        xmlio.parse(EXAMPLE.read_bytes()).getroot(),
        "media-2019-06-02-0001",
        "http://repo.test/records/media-2019-06-02-0001",
    )
    by = {}
    for k, v in values:
        by.setdefault(k, []).append(v)
    assert by["title"] == ["老码头的早市: 一条街的四十年", "Lao matou de zaoshi"]
    assert by["creator"] == ["王晓"]
    assert by["contributor"] == ["李明"]  # a photographer is not a creator
    assert by["source"] == ["大连晚报, 2019-06-02, A6"]
    assert by["relation"] == ["媒体上的大连专题数据库"]
    assert by["type"] == ["Text", "article"]
    assert by["language"] == ["chi"]
    assert by["date"] == ["2019-06-02"]
    assert by["identifier"][:2] == ["http://repo.test/records/media-2019-06-02-0001", "media-2019-06-02-0001"]
    assert by["subject"] == ["市场"]
    assert by["coverage"] == ["大连"]
    assert by["description"] == ["记者走访老码头早市,记录摊主们四十年的变化。"]
    assert by["format"] == ["electronic", "text/plain"]


def test_ranges_and_rights_and_subject_names() -> None:
    doc = b"""<mods xmlns="http://www.loc.gov/mods/v3"><titleInfo><title>T</title></titleInfo>
    <originInfo><dateCreated point="start" qualifier="approximate">1850</dateCreated>
    <dateCreated point="end">1860</dateCreated></originInfo>
    <subject><name><namePart>Smith, John</namePart></name><hierarchicalGeographic><country>China</country>
    <city>Dalian</city></hierarchicalGeographic></subject>
    <accessCondition type="use and reproduction">CC BY 4.0</accessCondition></mods>"""
    values = dict(dc_values(xmlio.parse(doc).getroot(), "r", "http://x/records/r"))
    assert values["date"] == "1850/1860"
    assert values["subject"] == "Smith, John"
    assert values["coverage"] == "China -- Dalian"
    assert values["rights"] == "CC BY 4.0"
