"""Validation: problems come back as a list with line, element and a message a cataloger understands."""

from __future__ import annotations

import pytest
from conftest import EXAMPLE

from repository import xmlio
from repository.validation import Invalid, validate


def _example(replace: tuple[bytes, bytes] | None = None) -> bytes:
    data = EXAMPLE.read_bytes()
    if replace:
        assert replace[0] in data
        data = data.replace(*replace)
    return data


def test_the_reference_example_is_valid_against_schema_and_profile() -> None:
    assert validate(xmlio.parse(_example()), "article") == []


def test_schema_problem_has_line_and_element() -> None:
    data = _example(
        (b"<typeOfResource>text</typeOfResource>", b"<typeOfResource>text</typeOfResource>\n  <bogus/>")
    )
    problems = validate(xmlio.parse(data), "article")
    bogus = [p for p in problems if p.element == "bogus"]
    assert bogus and bogus[0].line == 22 and bogus[0].rule == "schema"
    assert "bogus" in bogus[0].message and "{http" not in bogus[0].message


def test_profile_problems_name_the_rule_line_and_element() -> None:
    data = _example(
        (
            b'<dateIssued encoding="w3cdtf" keyDate="yes">2019-06-02</dateIssued>',
            b'<dateIssued encoding="w3cdtf" keyDate="yes">2019-6-2</dateIssued>',
        )
    )
    problems = validate(xmlio.parse(data), "article")
    assert [(p.rule, p.line, p.element) for p in problems] == [("w3cdtf-date", 24, "dateIssued")]
    assert "YYYY-MM-DD" in problems[0].message


@pytest.mark.parametrize(
    "old, new, rule",
    [
        (b'<relatedItem type="host">', b'<relatedItem type="series">', "newspaper"),  # the newspaper
        (b'<languageTerm type="code" authority="iso639-2b">chi</languageTerm>', b"", "language"),
        (b'<identifier type="local">media</identifier>', b"", "collection"),
        (b'<recordIdentifier source="local">media-2019-06-02-0001</recordIdentifier>', b"", "identifier"),
        (b'<genre authority="marcgt">article</genre>', b"", "genre"),
        (b"<typeOfResource>text</typeOfResource>", b"<typeOfResource>still image</typeOfResource>", "type"),
    ],
)
def test_each_profile_requirement_is_enforced(old: bytes, new: bytes, rule: str) -> None:
    data = EXAMPLE.read_bytes()
    assert old in data
    assert rule not in {p.rule for p in validate(xmlio.parse(data), "article")}
    data = data.replace(old, new, 1)
    assert rule in {p.rule for p in validate(xmlio.parse(data), "article")}


def test_a_malformed_identifier_is_refused() -> None:
    data = _example(
        (
            b'<recordIdentifier source="local">media-2019-06-02-0001',
            b'<recordIdentifier source="local">media 2019/06',
        )
    )
    rules = {p.rule for p in validate(xmlio.parse(data), "article")}
    assert "identifier-form" in rules


def test_invalid_record_is_refused_by_the_save_path_and_nothing_is_stored(repo) -> None:
    data = _example(
        (
            b"<title>\xe8\x80\x81\xe7\xa0\x81\xe5\xa4\xb4\xe7\x9a\x84\xe6\x97\xa9\xe5\xb8\x82</title>",
            b"<title></title>",
        )
    )
    with pytest.raises(Invalid) as err:
        repo.prepare(data, record_id="media-2019-06-02-0001", collection="media", source="a.xml")
    assert [(p.rule, p.line, p.element) for p in err.value.problems] == [("title-text", 7, "title")]
    assert all(p.source == "a.xml" for p in err.value.problems)
    assert repo.store.get("media-2019-06-02-0001") is None


def test_filed_identifier_must_match_the_record(repo) -> None:
    with pytest.raises(Invalid) as err:
        repo.prepare(_example(), record_id="media-other", collection="media", source="media/media-other.xml")
    assert any("filed as 'media-other'" in p.message for p in err.value.problems)
