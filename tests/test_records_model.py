"""The record model: MODS in, a view out, MODS back, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLE, INVALID_SAMPLE, SAMPLES, valid_samples

from repository import xmlio
from repository.mods import Article, Host, Name, Title, build_mods, read_article
from repository.validation import Invalid, validate


def test_example_article_reads_into_the_view() -> None:
    a = read_article(xmlio.parse(EXAMPLE.read_bytes()))
    assert a.identifier == "media-2019-06-02-0001"
    assert a.title == "老码头的早市: 一条街的四十年"
    assert [(t.text, t.lang, t.script, t.transliteration) for t in a.titles] == [
        ("老码头的早市", "chi", "Hans", None),
        ("Lao matou de zaoshi", "chi", "Latn", "pinyin"),
    ]
    assert [(n.text, n.role) for n in a.names] == [("王晓", "aut"), ("李明", "pht")]
    assert [n.text for n in a.creators] == ["王晓"]
    assert a.date_issued == "2019-06-02"
    assert a.host == Host("大连晚报", "2019-06-02", "A6")
    assert (a.language, a.script, a.language_tag) == ("chi", "Hans", "zh-Hans")
    assert (a.collection, a.collection_title) == ("media", "媒体上的大连专题数据库")
    assert a.subjects[0].topic == "市场" and a.subjects[0].geographic == "大连"
    assert a.abstract.startswith("记者走访")


def _article() -> Article:
    return Article(
        identifier="media-2023-03-09-abc",
        titles=[Title("大连港口新闻", subtitle="第二行标题", lang="chi", script="Hans")],
        names=[Name("吕丽"), Name("新华社", type="corporate"), Name("张三", role="pht")],
        date_issued="2023-03-09",
        host=Host("辽宁日报", "2023-03-09", "A5"),
        language="chi",
        script="Hans",
        collection="media",
        collection_title="媒体上的大连专题数据库",
        genres=["article"],
        type_of_resource="text",
        urls=[("http://repo.test/records/media-2023-03-09-abc", None)],
        record_created="2026-11-24",
        content_source="大连图书馆",
        record_origin="test",
        cataloging_language="chi",
    )


def test_built_article_is_valid_mods_and_meets_the_profile() -> None:
    root = build_mods(_article())
    assert validate(root, "article") == []


def test_view_to_mods_and_back_is_lossless() -> None:
    a = _article()
    again = read_article(build_mods(a))
    assert again == a
    # and MODS → view → MODS is canonically stable for records the repository builds
    first = build_mods(a)
    assert xmlio.c14n(build_mods(read_article(first))) == xmlio.c14n(first)


@pytest.mark.parametrize("path", valid_samples(), ids=lambda p: p.name)
def test_every_valid_sample_is_stored_and_comes_back_canonically_equal(repo, path: Path) -> None:
    data = path.read_bytes()
    prepared = repo.prepare(
        data, record_id=path.stem.replace(".", "-"), collection="old-photos", source=path.name
    )
    repo.save(prepared, 0, who="test", why="round trip")
    stored = repo.store.version(prepared.record_id).xml
    assert xmlio.c14n(xmlio.parse(stored)) == xmlio.c14n(xmlio.parse(data))
    assert stored == data  # not only canonically: byte for byte


def test_the_invalid_sample_is_refused_with_its_reason(repo) -> None:
    data = (SAMPLES / INVALID_SAMPLE).read_bytes()
    with pytest.raises(Invalid) as err:
        repo.split(data, INVALID_SAMPLE)
    problem = err.value.problems[0]
    assert problem.line == 2 and problem.element == "modsCollection"
    assert "version" in problem.message and "not allowed" in problem.message
