"""Chinese search on real text: the seed and articles written for the tests, simplified and traditional."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from repository import xmlio
from repository.app import create_app
from repository.mods import Article, Host, Name, Subject, Title, build_mods
from repository.search import analysis
from repository.search.index import SearchIndex, SearchRequest

ROOT = Path(__file__).resolve().parent.parent
SEED_XML = next((ROOT / "records" / "media").glob("*.xml"))
SEED_ID = SEED_XML.stem

#: (id, title, authors, newspaper, date, script, full text, subjects)
ARTICLES = [
    (
        "media-s-001",
        "辽宁日报评论：振兴东北",
        ["刘德斌"],
        "辽宁日报",
        "2021-05-04",
        "Hans",
        "本报讯 东北全面振兴取得新进展。",
        ["东北振兴"],
    ),
    (
        "media-s-002",
        "遼寧日報專訪：港口發展",
        ["劉德斌"],
        "遼寧日報",
        "2020-01-15",
        "Hant",
        "記者從大連港集團獲悉，港口吞吐量穩步增長。",
        [],
    ),
    (
        "media-s-003",
        "金普新区的早市",
        ["王晓"],
        "大连晚报",
        "2019-06-02",
        "Hans",
        "清晨五点，大连金普新区的早市已经热闹起来。" * 3,
        ["早市"],
    ),
    (
        "media-s-004",
        "一条街的四十年",
        ["王晓", "李明"],
        "半岛晨报",
        "2022-09-30",
        "Hans",
        "这条街见证了城市的变迁。港口的汽笛声每天响起。",
        [],
    ),
    ("media-s-005", "港口", ["张伟"], "大连日报", "2023-03-09", "Hans", "一篇关于城市的文章。", []),
    (
        "media-s-006",
        "城市记忆",
        ["张伟"],
        "大连日报",
        "2023-07-01",
        "Hans",
        "港口 港口 港口 港口，海风吹过港口。",
        [],
    ),
    (
        "media-s-007",
        "ＡＢＣ全角标题２０２３",
        ["赵六"],
        "新商报",
        "2018-02-02",
        "Hans",
        "全角字母与数字。",
        [],
    ),
]


def article_bytes(rid: str, title: str, authors: list[str], paper: str, date: str, script: str,
                  subjects: list[str]) -> bytes:  # fmt: skip
    a = Article(
        identifier=rid,
        titles=[Title(title, lang="chi", script=script)],
        names=[Name(n) for n in authors],
        date_issued=date,
        host=Host(title=paper, date=date, page="A5"),
        language="chi",
        script=script,
        collection="media",
        collection_title="媒体上的大连专题数据库",
        subjects=[Subject(topic=s) for s in subjects],
        genres=["article"],
        type_of_resource="text",
        record_created="2024-01-01",
        content_source="大连图书馆",
    )
    return xmlio.to_bytes(build_mods(a))


def load(repo, extra: list | None = None) -> None:  # noqa: ANN001
    text = SEED_XML.with_suffix(".txt").read_text("utf-8")
    repo.save(repo.prepare(SEED_XML.read_bytes(), fulltext=text, source="seed"), 0, who="t", why="t")
    for rid, title, authors, paper, date, script, text, subjects in ARTICLES + (extra or []):
        xml = article_bytes(rid, title, authors, paper, date, script, subjects)
        repo.save(repo.prepare(xml, fulltext=text, source=rid), 0, who="t", why="t")


@pytest.fixture
def index(repo):  # noqa: ANN001, ANN201
    load(repo)
    ix = SearchIndex(repo)
    ix.catch_up()
    repo.listeners.append(ix.listen)
    return ix


def ids(ix: SearchIndex, text: str = "", **kw) -> list[str]:  # noqa: ANN003
    return ix.ids(SearchRequest(text=text, limit=100, **kw))


# --------------------------------------------------------------------------- analysis


def test_folding_is_character_for_character() -> None:
    for text in ("遼寧日報 劉德斌", "ＡＢＣ１２３，全角", "中華書局", "Dalian 大連"):
        assert len(analysis.fold(text)) == len(text)
    assert analysis.fold("遼寧日報") == "辽宁日报"
    assert analysis.fold("劉德斌") == "刘德斌"
    assert analysis.fold("ＡＢＣ１２３") == "abc123"
    assert analysis.fold_terms("遼寧ＡＢＣ") == "辽宁abc"


def test_query_words_keep_quoted_phrases() -> None:
    assert analysis.query_words('大连 "金普 新区" Port') == ["大连", "金普 新区", "port"]
    assert analysis.query_words("，。 ！") == []


def test_highlight_spans_are_offsets_in_the_original() -> None:
    text = "在大連港口，大连的早市"
    spans = analysis.highlight_spans(text, ["大连"])
    assert [text[s:e] for s, e in spans] == ["大連", "大连"]


# --------------------------------------------------------------------------- finding


def test_two_character_words_are_found_inside_running_text(index) -> None:  # noqa: ANN001
    assert "media-s-003" in ids(index, "早市")  # in the title and inside a sentence
    assert "media-s-004" in ids(index, "汽笛")  # only inside running text
    assert SEED_ID in ids(index, "金普")
    assert ids(index, "飞艇") == []


def test_simplified_and_traditional_find_each_other(index) -> None:  # noqa: ANN001
    assert set(ids(index, "遼寧日報")) >= {"media-s-001", "media-s-002"}
    assert set(ids(index, "辽宁日报")) >= {"media-s-001", "media-s-002"}
    assert set(ids(index, "劉德斌")) == {"media-s-001", "media-s-002"}
    assert set(ids(index, "刘德斌")) == {"media-s-001", "media-s-002"}
    assert "media-s-002" in ids(index, "大连港")  # 大連港 in the traditional full text


def test_full_width_and_half_width_fold(index) -> None:  # noqa: ANN001
    assert ids(index, "abc") == ["media-s-007"]
    assert ids(index, "ＡＢＣ") == ["media-s-007"]
    assert "media-s-007" in ids(index, "2023")  # ２０２３ in the title
    assert ids(index, "全角") == ["media-s-007"]


def test_every_word_must_match(index) -> None:  # noqa: ANN001
    assert set(ids(index, "港口 城市")) - {SEED_ID} == {"media-s-004", "media-s-005", "media-s-006"}
    assert ids(index, "港口 早市") == []


def test_single_characters_are_found(index) -> None:  # noqa: ANN001
    assert "media-s-004" in ids(index, "笛")


def test_title_outranks_body_text(index) -> None:  # noqa: ANN001
    ranked = ids(index, "港口")
    # media-s-005 has 港口 only in its title, once; media-s-006 five times, only in its body.
    assert ranked.index("media-s-005") < ranked.index("media-s-006")
    assert ranked.index("media-s-006") < ranked.index("media-s-004")  # five body matches beat one


#: Records for word-as-contiguous-text tests: the bigrams of 大连港口 apart, together, in traditional script.
PHRASE_ARTICLES = [
    (
        "media-p-001",
        "沿海公路的新变化",
        ["孙丽"],
        "大连日报",
        "2021-08-01",
        "Hans",
        "大连市民关心城市建设。沿海的连港公路正在修建。港口货物吞吐量稳步增长，港口，口岸管理更加规范。",
        [],
    ),
    (
        "media-p-002",
        "大连港口迎来新航线",
        ["周强"],
        "大连晚报",
        "2022-04-12",
        "Hans",
        "今年春天，一条新的集装箱航线开通。",
        [],
    ),
    (
        "media-p-003",
        "港區新貌",
        ["吳敏"],
        "半島晨報",
        "2020-11-20",
        "Hant",
        "記者走訪大連港口，貨輪往來如織。連港口岸的檢查站也在擴建。",
        [],
    ),
]


@pytest.fixture
def phrase_index(repo):  # noqa: ANN001, ANN201
    load(repo, PHRASE_ARTICLES)
    ix = SearchIndex(repo)
    ix.catch_up()
    return ix


def test_longer_words_match_only_as_contiguous_text(phrase_index) -> None:  # noqa: ANN001
    ix = phrase_index
    # media-p-001 holds 大连, 连港 and 港口, but never 大连港口 in one piece.
    assert {"media-p-001"} <= set(ids(ix, "大连")) & set(ids(ix, "连港")) & set(ids(ix, "港口"))
    assert set(ids(ix, "大连港口")) == {"media-p-002", "media-p-003"}  # a title; a traditional full text
    assert set(ids(ix, "大連港口")) == {"media-p-002", "media-p-003"}  # the query in traditional script
    assert ids(ix, "连港公路") == ["media-p-001"]
    assert ids(ix, "港口岸") == ["media-p-003"]  # not media-p-001's 港口，口岸: punctuation keeps them apart
    # Longer than four characters (a phrase of bigrams): 大連港口 and 連港口岸 are both in media-p-003,
    # every four-character piece of 大连港口岸 is, but not the word itself.
    assert ids(ix, "大连港口岸") == []
    assert ids(ix, "连港口岸的检查站") == ["media-p-003"]
    assert ids(ix, "大连港口 航线") == ["media-p-002"]


def test_totals_and_facets_count_only_contiguous_matches(phrase_index) -> None:  # noqa: ANN001
    result = phrase_index.search(SearchRequest(text="大连港口"))
    assert result.total == 2
    assert dict(result.facets["newspaper"]) == {"大连晚报": 1, "半岛晨报": 1}
    assert sum(count for _, count in result.years) == 2
    assert dict(result.facets["author"]) == {"周强": 1, "吴敏": 1}


def test_three_character_words_and_single_characters(phrase_index) -> None:  # noqa: ANN001
    assert ids(phrase_index, "集装箱") == ["media-p-002"]
    assert ids(phrase_index, "装箱集") == []
    assert "media-p-003" in ids(phrase_index, "輪")  # 貨輪: a traditional character, folded


def test_an_index_in_an_older_layout_is_rebuilt(repo, phrase_index) -> None:  # noqa: ANN001
    (phrase_index.path / "layout").write_text("1: n-gram terms without positions")
    reopened = SearchIndex(repo)
    assert len(reopened) == 0 and reopened.synced_seq() == 0
    reopened.catch_up()
    assert set(ids(reopened, "大连港口")) == {"media-p-002", "media-p-003"}


def test_bigram_stream_gives_each_pair_its_position() -> None:
    assert analysis.bigram_stream("大连港口") == "大连 连港 港口"
    assert analysis.bigram_stream("港") == "港" and analysis.bigram_stream("") == ""
    text = "在𠀀大連，港口 ab"  # a supplementary-plane character, punctuation, a space
    assert analysis.bigram_stream(text) == " ".join(text[i : i + 2] for i in range(len(text) - 1))


# --------------------------------------------------------------------------- facets, dates, sorting


def test_facets_count_combine_and_filter(index) -> None:  # noqa: ANN001
    result = index.search(SearchRequest(text="港口"))
    papers = dict(result.facets["newspaper"])
    assert papers["大连日报"] == 2 and papers["半岛晨报"] == 1
    assert dict(result.facets["author"])["张伟"] == 2
    assert dict(result.facets["collection"]) == {"media": result.total}
    narrowed = index.search(SearchRequest(text="港口", filters={"newspaper": ["大连日报"]}))
    assert narrowed.total == 2
    both = index.search(SearchRequest(text="港口", filters={"newspaper": ["大连日报"], "author": ["王晓"]}))
    assert both.total == 0


def test_date_range_and_year_histogram(index) -> None:  # noqa: ANN001
    result = index.search(SearchRequest())
    years = dict(result.years)
    assert years[2023] >= 2 and years[2019] == 1
    assert set(ids(index, date_from="2023", date_to="2023")) == {"media-s-005", "media-s-006", SEED_ID}
    assert set(ids(index, date_from="2023-03-09", date_to="2023-03-09")) == {"media-s-005", SEED_ID}
    assert ids(index, date_from="2030") == []


def test_sorting(repo, index) -> None:  # noqa: ANN001
    def dates(order: list[str]) -> list[str]:
        return [repo.store.get(i).date_issued for i in order]

    newest = ids(index, sort="date_desc")
    assert dates(newest) == sorted(dates(newest), reverse=True) and newest[-1] == "media-s-007"
    assert dates(ids(index, sort="date_asc")) == sorted(dates(newest))
    by_title = ids(index, sort="title")
    # by pinyin: chéng shì jì yì (城市记忆) < gǎng kǒu (港口) < jīn pǔ (金普…) < yī tiáo (一条街…)
    assert [i for i in by_title if i in ("media-s-006", "media-s-005", "media-s-003", "media-s-004")] == [
        "media-s-006",
        "media-s-005",
        "media-s-003",
        "media-s-004",
    ]


# --------------------------------------------------------------------------- following the records


def test_every_save_delete_and_restore_reaches_the_index_before_it_returns(repo, index) -> None:  # noqa: ANN001
    assert "media-s-004" in ids(index, "汽笛")
    repo.delete("media-s-004", who="t", why="test")
    assert "media-s-004" not in ids(index, "汽笛")
    repo.restore("media-s-004", who="t", why="test")
    assert "media-s-004" in ids(index, "汽笛")
    xml = article_bytes("media-s-008", "新的汽笛", ["钱七"], "大连日报", "2024-01-01", "Hans", [])
    repo.save(repo.prepare(xml, fulltext="", source="new"), 0, who="t", why="t")
    assert "media-s-008" in ids(index, "汽笛")


def test_a_change_the_index_missed_is_caught_up(repo, index) -> None:  # noqa: ANN001
    repo.listeners.clear()  # as if the process died between the two commits
    repo.delete("media-s-003", who="t", why="test")
    assert "media-s-003" in ids(index, "早市")
    assert index.behind() > 0
    index.ensure_current()
    assert "media-s-003" not in ids(index, "早市") and index.behind() == 0


def test_rebuild_recreates_the_same_index(index) -> None:  # noqa: ANN001
    before = ids(index, "港口")
    index.rebuild()
    assert ids(index, "港口") == before and len(index) == len(ARTICLES) + 1


# --------------------------------------------------------------------------- the pages


@pytest.fixture
def client(repo):  # noqa: ANN001, ANN201
    load(repo)
    app = create_app(repo)
    app.extensions["search"].catch_up()
    return app.test_client()


def test_search_page_shows_hits_snippets_facets_and_histogram(client) -> None:  # noqa: ANN001
    page = client.get("/search?q=汽笛").get_data(as_text=True)
    assert "media-s-004" in page and "<mark>汽笛</mark>" in page
    page = client.get("/search?q=港口").get_data(as_text=True)
    assert 'class="bars"' in page and "newspaper=%E5%A4%A7%E8%BF%9E%E6%97%A5%E6%8A%A5" in page
    filtered = client.get("/search?q=港口&newspaper=大连日报").get_data(as_text=True)
    assert "media-s-004" not in filtered and "media-s-005" in filtered
    assert 'class="remove"' in filtered and 'content="noindex,follow"' in filtered


def test_deep_pages_are_refused(client) -> None:  # noqa: ANN001
    assert client.get("/search?q=港口&page=50").status_code == 200
    assert client.get("/search?q=港口&page=51").status_code == 400
    assert client.get("/search?page=abc").status_code == 200


def test_hostile_search_parameters_never_fail(client) -> None:  # noqa: ANN001
    for query in ("q=%00", "q=" + "大" * 5000, "from=abcd&to=9999-99-99", "sort=x&newspaper=", 'q="', "q=*:*",
                  "author=" + "x" * 300, "q=AND OR NOT"):  # fmt: skip
        assert client.get(f"/search?{query}").status_code == 200, query
        assert client.get(f"/search.atom?{query}").status_code == 200, query


def test_atom_feed_for_a_search(client) -> None:  # noqa: ANN001
    response = client.get("/search.atom?q=港口")
    assert response.mimetype == "application/atom+xml"
    root = etree.fromstring(response.data)
    atom = "{http://www.w3.org/2005/Atom}"
    entries = root.findall(f"{atom}entry")
    assert len(entries) == len(set(ids_of_page(client, "港口"))) and root.find(f"{atom}id").text.endswith(
        "/search.atom?q=%E6%B8%AF%E5%8F%A3"
    )


def ids_of_page(client, q: str) -> list[str]:  # noqa: ANN001
    import re

    return re.findall(r'href="/records/([^"?]+)', client.get(f"/search?q={q}").get_data(as_text=True))


def test_sitemap_and_robots(client) -> None:  # noqa: ANN001
    index = etree.fromstring(client.get("/sitemap.xml").data)
    loc = index.find("{http://www.sitemaps.org/schemas/sitemap/0.9}sitemap/{*}loc").text
    urls = etree.fromstring(client.get("/" + loc.split("/", 3)[3]).data)
    assert len(urls) == len(ARTICLES) + 2  # the home page and every record
    robots = client.get("/robots.txt").get_data(as_text=True)
    assert "Disallow: /search" in robots and "Sitemap: http://repo.test/sitemap.xml" in robots


def test_record_page_metadata_for_machines(client) -> None:  # noqa: ANN001
    page = client.get("/records/media-s-004").get_data(as_text=True)
    assert '<link rel="canonical" href="http://repo.test/records/media-s-004">' in page
    assert '<meta name="citation_title" content="一条街的四十年">' in page
    assert page.count('name="citation_author"') == 2
    assert '<meta name="citation_publication_date" content="2022/09/30">' in page
    data = json.loads(page.split('<script type="application/ld+json">')[1].split("</script>")[0])
    assert data["@type"] == "NewsArticle" and data["isPartOf"]["name"] == "半岛晨报"
    assert "半岛晨报. 2022-09-30(A5)" in page.replace("，", ",") or "半岛晨报, 2022-09-30(A5)" in page


def test_citation_exports(client) -> None:  # noqa: ANN001
    ris = client.get("/records/media-s-004/cite.ris")
    assert (
        ris.mimetype == "application/x-research-info-systems"
        and "attachment" in ris.headers["Content-Disposition"]
    )
    assert "TI  - 一条街的四十年" in ris.get_data(as_text=True)
    assert "@article" in client.get("/records/media-s-004/cite.bib").get_data(as_text=True)
    assert json.loads(client.get("/records/media-s-004/cite.csl").data)[0]["type"] == "article-newspaper"
    assert client.get("/records/media-s-004/cite.doc").status_code == 404


def test_browse_pages(client) -> None:  # noqa: ANN001
    papers = client.get("/browse/newspaper").get_data(as_text=True)
    assert "大连日报" in papers and "newspaper=" in papers
    assert "2023" in client.get("/browse/year").get_data(as_text=True)
    assert client.get("/browse/nothing").status_code == 404
    assert client.get("/collections/media").status_code == 302
