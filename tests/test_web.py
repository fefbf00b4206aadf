"""The home page lists the collections and their records; record pages and forms answer."""

from __future__ import annotations

import re

from conftest import EXAMPLE

from repository.app import create_app

RID = "media-2019-06-02-0001"


def _client(repo):
    repo.save(
        repo.prepare(EXAMPLE.read_bytes(), fulltext="第一段。\n\n第二段。", source="x"), 0, who="t", why="t"
    )
    return create_app(repo).test_client()


def test_home_lists_every_collection_with_counts_and_records(repo) -> None:
    client = _client(repo)
    html = client.get("/").get_data(as_text=True)
    for name in ("大连百科数据库", "媒体上的大连专题数据库", "大连文学艺术数据库"):
        assert name in html
    assert "Dalian in the Media" in client.get("/?lang=en").get_data(as_text=True)
    assert "电子图书阅览器下载" in html  # the navigation entry, shown but not a collection
    assert "老码头的早市: 一条街的四十年" in html and f"/records/{RID}" in html
    assert re.search(r"\(1<span class=\"visually-hidden\">", html)


def test_record_page_text_and_forms(repo) -> None:
    client = _client(repo)
    page = client.get(f"/records/{RID}").get_data(as_text=True)
    assert "大连晚报" in page and "王晓" in page and "<p>第二段。</p>" in page
    assert client.get(f"/records/{RID}/text").get_data(as_text=True).startswith("第一段")
    assert client.get(f"/records/{RID}.mods.xml").data == EXAMPLE.read_bytes()
    assert b"oai_dc:dc" in client.get(f"/records/{RID}.dc.xml").data


def test_unknown_and_deleted_records(repo) -> None:
    client = _client(repo)
    assert client.get("/records/nope").status_code == 404
    assert client.get("/records/..%2Fetc").status_code == 404
    repo.delete(RID, who="t", why="t")
    assert client.get(f"/records/{RID}").status_code == 410


def test_record_routes_never_fail_on_odd_identifiers(repo) -> None:
    from urllib.parse import quote

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    client = _client(repo)
    suffixes = ["", "/text", ".mods.xml", ".dc.xml"]

    @settings(
        max_examples=200,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(st.text(min_size=1, max_size=200), st.sampled_from(suffixes))
    def probe(rid: str, suffix: str) -> None:
        response = client.get(f"/records/{quote(rid, safe='')}{suffix}")
        assert response.status_code in (200, 308, 404, 410), (rid, suffix, response.status_code)

    probe()
