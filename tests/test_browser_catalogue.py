"""The catalogue as a reader uses it: headless Chromium over the real app on a live HTTP server.

One server for the module, over a fresh repository holding the seed record (records/media) and 25
articles written here: simplified and traditional script, four Chinese newspapers and one English one,
2019–2024, several authors. Every test leaves a screenshot in ``tests/artifacts/``.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import bibtexparser
import pytest
import rispy
from bibtexparser import middlewares
from browser import (
    PHONE,
    WAIT,
    Keys,
    Select,
    css,
    css_all,
    emulate,
    focused,
    follow,
    missing,
    next_page,
    press,
    screenshot,
    xpath,
    xpath_all,
)
from lxml import etree

from repository import xmlio
from repository.app import create_app
from repository.mods import Article, Host, Name, Title, build_mods
from repository.service import Repository

pytestmark = pytest.mark.skipif(missing() is not None, reason=missing() or "")

ROOT = Path(__file__).resolve().parent.parent
SEED_RECORDS = ROOT / "records" / "media"


# --------------------------------------------------------------------------- the records


@dataclass
class Doc:
    id: str
    newspaper: str
    date: str
    title: str
    authors: tuple[str, ...]
    text: str
    page: str | None = "A3"
    script: str | None = "Hans"
    language: str = "chi"


def _zh(topic: str, place: str) -> str:
    return (
        f"{place}{topic}取得明显成效,为大连全面振兴新突破注入强劲动能。\n\n"
        f"记者在{place}看到,码头上集装箱堆放整齐、桥吊忙碌作业。“我们将继续抓好{topic},"
        f"确保早开工、早投产、早见效。”负责人说。\n\n据了解,大连今年推进{topic}项目十二个。\n"
    )


DOCS: list[Doc] = [
    # 大连日报: nine articles, 2019–2024
    Doc("media-2019-03-05-t01", "大连日报", "2019-03-05", "大连港冷链物流跑出加速度", ("王晓明",),
        _zh("冷链物流", "大窑湾")),
    Doc("media-2020-01-20-t02", "大连日报", "2020-01-20", "星海广场的冬泳人", ("李静",),
        _zh("全民健身", "星海广场")),
    Doc("media-2020-07-14-t03", "大连日报", "2020-07-14", "金普新区优化营商环境", ("张伟",),
        _zh("营商环境", "金普新区")),
    Doc("media-2021-02-08-t04", "大连日报", "2021-02-08", "老码头的早市", ("王晓明",),
        _zh("城市更新", "老码头")),
    Doc("media-2021-09-27-t05", "大连日报", "2021-09-27", "长兴岛绿色石化基地建设提速", ("陈丽",),
        _zh("石化产业", "长兴岛")),
    Doc("media-2022-04-11-t06", "大连日报", "2022-04-11", "旅顺口区樱桃种植再上新台阶", ("赵磊",),
        _zh("樱桃种植", "旅顺口区")),
    Doc("media-2023-06-19-t07", "大连日报", "2023-06-19", "大连湾海底隧道通车一年", ("李静",),
        _zh("交通建设", "大连湾")),
    Doc("media-2024-02-26-t08", "大连日报", "2024-02-26", "高新区数字经济按下快进键", ("孙浩然",),
        _zh("数字经济", "高新区")),
    Doc("media-2024-10-08-t09", "大连日报", "2024-10-08", "国际徒步大会吸引万人参加", ("周婷婷",),
        _zh("滨海旅游", "滨海路")),
    # 半岛晨报: seven
    Doc("media-2019-05-16-t10", "半岛晨报", "2019-05-16", "赏槐会开幕", ("杨帆",),
        _zh("文化旅游", "西岗区")),
    Doc("media-2020-10-03-t11", "半岛晨报", "2020-10-03", "金石滩游客创新高", ("黄雪梅",),
        _zh("滨海旅游", "金石滩")),
    Doc("media-2021-06-22-t12", "半岛晨报", "2021-06-22", "地铁五号线跨海段贯通", ("杨帆",),
        _zh("地铁线路", "梭鱼湾")),
    Doc("media-2022-01-12-t13", "半岛晨报", "2022-01-12", "老旧小区改造惠及万户", ("吴鹏飞",),
        _zh("老旧小区改造", "沙河口区")),
    Doc("media-2022-08-02-t14", "半岛晨报", "2022-08-02", "国际啤酒节重启", ("徐宁",),
        _zh("夜间经济", "星海广场")),
    Doc("media-2023-11-21-t15", "半岛晨报", "2023-11-21", "獐子岛海洋牧场", ("黄雪梅",),
        _zh("海洋牧场", "长海县")),
    Doc("media-2024-05-30-t16", "半岛晨报", "2024-05-30", "大连马拉松鸣枪开跑", ("朱立新",),
        _zh("体育赛事", "中山区")),
    # 大连晚报: four
    Doc("media-2019-08-09-t17", "大连晚报", "2019-08-09", "天津街的老字号", ("郭海波",),
        _zh("老字号品牌", "天津街")),
    Doc("media-2021-12-15-t18", "大连晚报", "2021-12-15", "东港的夜景", ("何欣怡",),
        _zh("夜间经济", "东港")),
    Doc("media-2023-04-25-t19", "大连晚报", "2023-04-25", "夏家河子湿地的候鸟", ("郭海波",),
        _zh("湿地保护", "夏家河子")),
    Doc("media-2024-07-17-t20", "大连晚报", "2024-07-17", "棒棰岛的夏天", ("马俊博",),
        _zh("滨海旅游", "棒棰岛")),
    # 辽宁日报 by 刘德斌 (simplified), and one in traditional script
    Doc("media-2019-11-04-t21", "辽宁日报", "2019-11-04", "大连造船产业扬帆远航", ("刘德斌",),
        _zh("造船产业", "大连湾"), page="04"),
    Doc("media-2022-03-08-t22", "辽宁日报", "2022-03-08", "东北亚国际航运中心建设正当其时", ("刘德斌",),
        _zh("港航物流", "大连港"), page="05"),
    Doc("media-2024-09-12-t23", "辽宁日报", "2024-09-12", "自贸试验区大连片区五周年", ("刘德斌", "吕丽"),
        _zh("对外开放", "金普新区"), page="03"),
    Doc("media-2021-05-18-t24", "遼寧日報", "2021-05-18", "大連港口岸通關再提速", ("劉德斌",),
        "大連港口岸通關再提速,進出口貨物通關時間大幅壓縮。\n\n大連海關負責人說,今年將繼續優化營商環境。\n",
        page="02", script="Hant"),
    # English
    Doc("media-2023-08-15-t25", "China Daily", "2023-08-15", "Dalian port expands cold-chain logistics",
        ("Zhou Hui",),
        "Dalian is boosting cold-chain logistics and container shipping, local officials said.\n\n"
        "The port of Dalian has expanded its cold storage, drawing investors from Japan and South Korea.\n",
        page="05", script=None, language="eng"),
]  # fmt: skip
BY_ID = {d.id: d for d in DOCS}
SEED_ID = "media-2023-03-09-d8383197ff"
#: Records whose text has 大连 (or 大連): every Chinese one, the seed too.
DALIAN = {d.id for d in DOCS if d.language == "chi"} | {SEED_ID}
TOTAL = len(DOCS) + 1


def _mods(d: Doc) -> bytes:
    tag = "eng" if d.language == "eng" else "chi"
    article = Article(
        identifier=d.id,
        titles=[Title(d.title, lang=tag, script=d.script)],
        names=[Name(a) for a in d.authors],
        date_issued=d.date,
        host=Host(d.newspaper, date=d.date, page=d.page),
        language=d.language,
        script=d.script,
        collection="media",
        collection_title="媒体上的大连专题数据库",
        genres=["article"],
        type_of_resource="text",
        content_source="大连图书馆",
        record_origin="written for the browser tests, not a real article",
        cataloging_language="chi",
    )
    return xmlio.to_bytes(build_mods(article))


@pytest.fixture(scope="module")
def site(live_server, tmp_path_factory) -> Iterator[SimpleNamespace]:
    """The app over the seed and the articles above, served on 127.0.0.1 for the whole module."""
    repo = Repository(tmp_path_factory.mktemp("browser") / "instance", base_url=live_server.url)
    for xml in sorted(SEED_RECORDS.glob("*.xml")):
        text = xml.with_suffix(".txt").read_text("utf-8")
        repo.save(repo.prepare(xml.read_bytes(), fulltext=text, source=xml.name), 0, who="test", why="test")
    for d in DOCS:
        repo.save(repo.prepare(_mods(d), fulltext=d.text, source=d.id), 0, who="test", why="test")
    app = create_app(repo)
    app.extensions["search"].catch_up()
    live_server.start(app)
    yield SimpleNamespace(url=live_server.url, repo=repo, app=app)
    repo.close()


# --------------------------------------------------------------------------- reading the pages


def submit_search(driver: Any, text: str) -> None:
    """Type ``text`` into the header's search box and press Enter, as a reader does."""
    box = css(driver, "#q")
    box.clear()
    with next_page(driver):
        box.send_keys(text, Keys.ENTER)


def number(text: str) -> int:
    found = re.search(r"\d+", text)
    assert found, f"no number in {text!r}"
    return int(found.group())


def hit_count(driver: Any) -> int:
    """The 'N records found' line of a results page."""
    return number(css(driver, ".results .count").text)


def hit_ids(driver: Any) -> list[str]:
    return [urlsplit(a.get_attribute("href")).path.rsplit("/", 1)[1] for a in css_all(driver, ".hits h3 a")]


def hit_dates(driver: Any) -> list[str]:
    return [t.get_attribute("datetime") for t in css_all(driver, ".hits .meta time")]


def marked_titles(driver: Any) -> dict[str, list[str]]:
    """Each hit's title with the words highlighted in it."""
    titles = css_all(driver, ".hits h3 a")
    return {a.text: [m.text for m in a.find_elements("css selector", "mark")] for a in titles}


def hit_newspapers(driver: Any) -> list[str]:
    return [p.text.split(" · ")[0] for p in css_all(driver, ".hits .meta")]


def params(driver: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(driver.current_url).query)


def html_lang(driver: Any) -> str:
    return css(driver, "html").get_attribute("lang")


def facet_link(driver: Any, facet: str, value: str) -> Any:
    return xpath(driver, f"//ul[@aria-labelledby='facet-{facet}']//a[normalize-space()='{value}']")


def facet_values(driver: Any, facet: str) -> dict[str, int]:
    """What a facet lists: each value as shown (link or, when selected, bold) with its count."""
    out: dict[str, int] = {}
    for li in css_all(driver, f"ul[aria-labelledby='facet-{facet}'] > li"):
        label = li.find_element("css selector", "a, strong").text.strip()
        assert label not in out, f"{facet} facet lists {label!r} twice"
        out[label] = number(li.find_element("css selector", ".count").get_attribute("textContent"))
    return out


def selected_filters(driver: Any) -> list[str]:
    return [a.get_attribute("textContent").strip() for a in css_all(driver, ".selected a.remove")]


def remove_filter(driver: Any, containing: str) -> None:
    follow(driver, xpath(driver, f"//section[@class='selected']//a[contains(., '{containing}')]"))


def fields(driver: Any) -> dict[str, str]:
    """The record page's field list: label → value."""
    labels = css_all(driver, "dl.fields > dt")
    values = css_all(driver, "dl.fields > dd")
    assert len(labels) == len(values) > 0
    return {dt.text.strip(): dd.text.strip() for dt, dd in zip(labels, values, strict=True)}


def switch_language(driver: Any, code: str) -> None:
    follow(driver, css(driver, f"nav.languages a[hreflang='{code}']"))


def fetch(url: str) -> tuple[str, str]:
    """(content type, body) of a link the page gives, downloaded as a reference manager would."""
    with urllib.request.urlopen(url, timeout=WAIT) as response:
        assert response.status == 200, url
        return response.headers.get("Content-Type", ""), response.read().decode("utf-8")


# --------------------------------------------------------------------------- the tests


def test_home_page_collections_recent_additions_and_a_search(site, browser) -> None:
    browser.get(site.url + "/")
    assert html_lang(browser) == "zh-Hans"  # the browser asks for zh-CN; the library's default too
    collections = {
        a.text.strip(): number(a.find_element("xpath", "following-sibling::span[@class='count']").text)
        for a in css_all(browser, "nav.collections li > a")
    }
    assert len(collections) == 21  # every database of the library's navigation, each with its count
    assert collections["媒体上的大连专题数据库"] == TOTAL
    assert sum(collections.values()) == TOTAL
    assert number(css(browser, "p.total").text) == TOTAL
    recent = css_all(browser, "section.recent li > a")
    assert len(recent) == 10
    recent_ids = [urlsplit(a.get_attribute("href")).path.rsplit("/", 1)[1] for a in recent]
    assert set(recent_ids) <= set(BY_ID) | {SEED_ID}
    assert "media-2024-10-08-t09" in recent_ids  # the newest article
    assert recent[0].text == BY_ID[recent_ids[0]].title
    screenshot(browser, "01-home")

    submit_search(browser, "大连")
    assert urlsplit(browser.current_url).path == "/search" and params(browser)["q"] == ["大连"]
    assert css(browser, "#q").get_attribute("value") == "大连"  # the box keeps the query
    assert "大连" in css(browser, "main h1").text
    assert hit_count(browser) == len(DALIAN)
    assert len(hit_ids(browser)) == 20 and set(hit_ids(browser)) <= DALIAN
    marks = css_all(browser, ".hits .snippet mark")
    assert len(marks) >= 20 and {m.text for m in marks} == {"大连", "大連"}  # the 遼寧日報 article too
    assert all(s.find_elements("css selector", "mark") for s in css_all(browser, ".hits .snippet"))
    # the match shows: a highlighted word is styled, not only wrapped
    assert marks[0].value_of_css_property("background-color") not in ("rgba(0, 0, 0, 0)", "transparent")
    screenshot(browser, "01-search-results")


def test_simplified_and_traditional_find_each_other(site, browser) -> None:
    liaoning = {"media-2019-11-04-t21", "media-2022-03-08-t22", "media-2024-09-12-t23"}
    traditional = "media-2021-05-18-t24"  # 遼寧日報, by 劉德斌, catalogued in traditional script
    browser.get(site.url + "/")
    submit_search(browser, "遼寧日報")
    assert set(hit_ids(browser)) == liaoning | {traditional, SEED_ID}
    assert hit_count(browser) == 5
    submit_search(browser, "辽宁日报")
    assert set(hit_ids(browser)) == liaoning | {traditional, SEED_ID}
    submit_search(browser, "劉德斌")
    assert set(hit_ids(browser)) == liaoning | {traditional}
    submit_search(browser, "刘德斌")
    assert set(hit_ids(browser)) == liaoning | {traditional}
    # a traditional query highlights the simplified text it found, and the reverse
    submit_search(browser, "大連港")
    titles = marked_titles(browser)
    assert titles["大连港冷链物流跑出加速度"] == ["大连港"]
    submit_search(browser, "大连港")
    titles = marked_titles(browser)
    assert titles["大連港口岸通關再提速"] == ["大連港"]
    screenshot(browser, "02-simplified-traditional")


def test_facets_narrow_combine_and_are_removed(site, browser) -> None:
    browser.get(site.url + "/search?q=大连")
    everything = hit_count(browser)
    assert everything == len(DALIAN) and selected_filters(browser) == []
    shown = facet_values(browser, "newspaper")["大连日报"]

    follow(browser, facet_link(browser, "newspaper", "大连日报"))
    daily = [d for d in DOCS if d.newspaper == "大连日报"]
    assert hit_count(browser) == shown == len(daily) < everything
    assert params(browser)["newspaper"] == ["大连日报"] and params(browser)["q"] == ["大连"]
    assert set(hit_newspapers(browser)) == {"大连日报"}
    [chip] = selected_filters(browser)
    assert "大连日报" in chip
    assert "大连日报" in facet_values(browser, "newspaper")  # now shown as chosen, not as a link
    assert not xpath_all(browser, "//ul[@aria-labelledby='facet-newspaper']//a[normalize-space()='大连日报']")

    remove_filter(browser, "大连日报")
    assert hit_count(browser) == everything and selected_filters(browser) == []
    assert "newspaper" not in params(browser)

    # newspaper and year together: the year from the histogram's bar
    follow(browser, facet_link(browser, "newspaper", "大连日报"))
    bar = xpath(browser, "//ol[@class='bars']//a[starts-with(@title, '2021:')]")
    assert number(bar.get_attribute("title").split(":")[1]) == 2
    follow(browser, bar)
    assert params(browser)["from"] == ["2021"] and params(browser)["to"] == ["2021"]
    assert params(browser)["newspaper"] == ["大连日报"]
    assert sorted(hit_ids(browser)) == ["media-2021-02-08-t04", "media-2021-09-27-t05"]
    assert hit_count(browser) == 2 and len(selected_filters(browser)) == 2
    screenshot(browser, "03-facets-newspaper-and-year")
    remove_filter(browser, "大连日报")  # the year stays
    in_2021 = {d.id for d in DOCS if d.date.startswith("2021") and d.id in DALIAN}
    assert set(hit_ids(browser)) == in_2021 and hit_count(browser) == len(in_2021)
    assert len(selected_filters(browser)) == 1

    # another newspaper with a range typed into the from/to form
    browser.get(site.url + "/search?q=大连")
    follow(browser, facet_link(browser, "newspaper", "半岛晨报"))
    form = css(browser, "form.range")
    form.find_element("name", "from").send_keys("2020")
    form.find_element("name", "to").send_keys("2022")
    follow(browser, form.find_element("css selector", "button"))
    expected = {d.id for d in DOCS if d.newspaper == "半岛晨报" and "2020" <= d.date[:4] <= "2022"}
    assert set(hit_ids(browser)) == expected and hit_count(browser) == len(expected) == 4
    assert all("2020" <= d[:4] <= "2022" for d in hit_dates(browser))
    assert params(browser)["newspaper"] == ["半岛晨报"]
    screenshot(browser, "03-facets-newspaper-and-range")
    remove_filter(browser, "半岛晨报")
    remove_filter(browser, "2020")
    assert hit_count(browser) == everything and selected_filters(browser) == []


def test_sort_by_date_and_pages(site, browser) -> None:
    browser.get(site.url + "/search?q=")
    assert hit_count(browser) == TOTAL  # the empty query lists everything
    dates = hit_dates(browser)
    assert len(dates) == 20 and dates == sorted(dates, reverse=True)  # newest first by default

    Select(css(browser, "form.sort select")).select_by_value("date_asc")
    follow(browser, css(browser, "form.sort button"))
    assert params(browser)["sort"] == ["date_asc"]
    dates = hit_dates(browser)
    assert dates == sorted(dates) and dates[0] == min(d.date for d in DOCS)
    assert Select(css(browser, "form.sort select")).first_selected_option.get_attribute("value") == "date_asc"

    Select(css(browser, "form.sort select")).select_by_value("date_desc")
    follow(browser, css(browser, "form.sort button"))
    first = hit_ids(browser)
    dates = hit_dates(browser)
    assert dates == sorted(dates, reverse=True) and dates[0] == max(d.date for d in DOCS)
    assert css(browser, "nav.pages [aria-current=page]").text == "1"

    follow(browser, css(browser, "nav.pages a[rel=next]"))
    assert params(browser)["page"] == ["2"] and params(browser)["sort"] == ["date_desc"]
    assert css(browser, "nav.pages [aria-current=page]").text == "2"
    assert css(browser, "ol.hits").get_attribute("start") == "21"
    second = hit_ids(browser)
    assert len(second) == TOTAL - 20 and not set(first) & set(second)
    assert set(first) | set(second) == set(BY_ID) | {SEED_ID}
    later = hit_dates(browser)
    assert later == sorted(later, reverse=True) and later[0] <= dates[-1]
    assert not css_all(browser, "nav.pages a[rel=next]")  # the last page
    screenshot(browser, "04-page-2")

    follow(browser, css(browser, "nav.pages a[rel=prev]"))
    assert hit_ids(browser) == first
    follow(browser, xpath(browser, "//nav[@class='pages']//a[normalize-space()='2']"))
    assert hit_ids(browser) == second


def test_language_switch_keeps_the_page(site, browser) -> None:
    browser.get(site.url + "/search?q=大连&newspaper=大连日报")
    assert html_lang(browser) == "zh-Hans"
    simplified = [a.text for a in css_all(browser, ".hits h3 a")]
    assert "大连港冷链物流跑出加速度" in simplified

    switch_language(browser, "zh-Hant")
    assert html_lang(browser) == "zh-Hant"
    assert params(browser)["q"] == ["大连"] and params(browser)["newspaper"] == ["大连日报"]
    assert css(browser, "#q").get_attribute("value") == "大连"
    assert hit_count(browser) == 9
    assert css(browser, "nav.languages [aria-current]").text == "繁體中文"
    assert css_all(browser, "p.converted")  # the page says the record text is converted
    converted = [a.text for a in css_all(browser, ".hits h3 a")]
    assert "大連港冷鏈物流跑出加速度" in converted and "大连港冷链物流跑出加速度" not in converted
    screenshot(browser, "05-results-zh-Hant")

    switch_language(browser, "en")
    assert html_lang(browser) == "en"
    assert params(browser)["q"] == ["大连"] and hit_count(browser) == 9
    assert [a.text for a in css_all(browser, ".hits h3 a")] == simplified  # records as catalogued
    assert not css_all(browser, "p.converted")

    # the record page: the same record in each language, its text converted in 繁體中文
    record = "media-2022-03-08-t22"
    browser.get(f"{site.url}/records/{record}")
    assert html_lang(browser) == "en"  # the choice is remembered
    switch_language(browser, "zh-Hant")
    assert urlsplit(browser.current_url).path == f"/records/{record}" and html_lang(browser) == "zh-Hant"
    assert css(browser, "article h1").text == "東北亞國際航運中心建設正當其時"
    found = fields(browser)
    assert found["來源"] == "遼寧日報" and found["作者"] == "劉德斌"  # labels and values in 繁體中文
    assert "大連港" in css(browser, ".fulltext").text and "大连" not in css(browser, ".fulltext").text
    assert css(browser, "article").get_attribute("lang") == "zh-Hant"
    assert css_all(browser, "p.converted")
    screenshot(browser, "05-record-zh-Hant")

    switch_language(browser, "en")
    assert urlsplit(browser.current_url).path == f"/records/{record}" and html_lang(browser) == "en"
    assert css(browser, "article h1").text == BY_ID[record].title
    switch_language(browser, "zh-Hans")
    assert html_lang(browser) == "zh-Hans" and css(browser, "article h1").text == BY_ID[record].title
    assert "大连港" in css(browser, ".fulltext").text


def test_record_page_fields_forms_and_citation_export(site, browser) -> None:
    record = BY_ID["media-2024-09-12-t23"]
    browser.get(site.url + "/search?q=刘德斌")
    follow(browser, xpath(browser, f"//ol[@class='hits']//h3/a[normalize-space()='{record.title}']"))
    assert urlsplit(browser.current_url).path == f"/records/{record.id}"
    assert record.title in browser.title
    found = fields(browser)
    assert found["来源"] == "辽宁日报"
    assert found["标题"] == record.title
    assert found["日期"] == "2024-09-12"
    assert found["作者"] == "刘德斌、吕丽"
    assert found["版次"] == "03"
    assert found["馆藏"] == "媒体上的大连专题数据库"
    paragraphs = [p.text for p in css_all(browser, ".fulltext p")]
    assert paragraphs == [p for p in record.text.split("\n") if p.strip()]
    canonical = css(browser, "link[rel=canonical]").get_attribute("href")
    assert canonical == f"{site.url}/records/{record.id}"
    screenshot(browser, "06-record")

    # the other forms of the record, each a link that answers with that form
    forms = {a.text: a.get_attribute("href") for a in css_all(browser, "p.forms a")}
    assert {"MODS", "Dublin Core", "Turtle", "JSON-LD", "RDF/XML", "N-Triples"} <= set(forms)
    kind, mods = fetch(forms["MODS"])
    assert "xml" in kind
    root = etree.fromstring(mods.encode("utf-8"))
    ns = {"m": "http://www.loc.gov/mods/v3"}
    assert root.findtext("m:recordInfo/m:recordIdentifier", namespaces=ns) == record.id
    kind, dc = fetch(forms["Dublin Core"])
    dc_root = etree.fromstring(dc.encode("utf-8"))
    assert dc_root.findtext("{http://purl.org/dc/elements/1.1/}title") == record.title
    kind, rdf = fetch(forms["RDF/XML"])
    assert "rdf+xml" in kind and record.title in rdf
    kind, turtle = fetch(forms["Turtle"])
    assert "turtle" in kind and record.title in turtle

    # citation export: what a reference manager gets from the page's links
    exports = {a.text: a for a in css_all(browser, "section.cite a.export")}
    assert set(exports) == {"RIS", "BibTeX", "CSL-JSON"}
    assert all(a.get_attribute("download") is not None for a in exports.values())
    _, ris_text = fetch(exports["RIS"].get_attribute("href"))
    [ris] = rispy.loads(ris_text, newline="\r\n")
    assert ris["type_of_reference"] == "NEWS"
    assert ris["title"] == record.title and ris["authors"] == ["刘德斌", "吕丽"]
    _, bib_text = fetch(exports["BibTeX"].get_attribute("href"))
    library = bibtexparser.parse_string(bib_text, append_middleware=[middlewares.SeparateCoAuthors()])
    assert library.failed_blocks == []
    [entry] = library.entries
    assert entry["title"] == record.title and entry["journal"] == "辽宁日报"
    assert [a.strip("{}") for a in entry["author"]] == ["刘德斌", "吕丽"]
    _, csl_text = fetch(exports["CSL-JSON"].get_attribute("href"))
    csl = json.loads(csl_text)
    csl = csl[0] if isinstance(csl, list) else csl
    assert csl["title"] == record.title
    assert record.title in css(browser, "#citation-gb7714").text


def test_keyboard_reaches_the_search_box_from_the_skip_link(site, browser) -> None:
    browser.get(site.url + "/")
    press(browser, Keys.TAB)
    skip = focused(browser)
    assert skip.get_attribute("class") == "skip" and skip.get_attribute("href").endswith("#main")
    box = skip.rect
    assert box["x"] >= 0 and box["y"] >= 0 and box["width"] > 0  # shown on screen while focused
    screenshot(browser, "07-keyboard-skip-link")
    press(browser, Keys.TAB)  # the site's name, then the search box
    press(browser, Keys.TAB)
    assert focused(browser).get_attribute("id") == "q"
    assert focused(browser).value_of_css_property("outline-style") != "none"  # the focus is visible
    with next_page(browser):
        press(browser, "刘德斌", Keys.ENTER)
    assert params(browser)["q"] == ["刘德斌"] and hit_count(browser) == 4

    # the skip link itself: Enter, then Tab lands in the main content, past the header
    browser.get(site.url + "/")
    press(browser, Keys.TAB, Keys.ENTER)
    assert urlsplit(browser.current_url).fragment == "main"
    press(browser, Keys.TAB)
    assert browser.execute_script("return document.activeElement.closest('main') !== null")


def test_phone_layout(site, browser) -> None:
    emulate(browser, *PHONE)
    browser.get(site.url + "/search?q=大连")
    assert browser.execute_script("return window.innerWidth") == PHONE[0]
    overflow = browser.execute_script("return document.documentElement.scrollWidth")
    assert overflow <= PHONE[0], f"the page is {overflow}px wide on a {PHONE[0]}px phone"
    results, facets = css(browser, "section.results").rect, css(browser, "aside.facets").rect
    assert results["y"] < facets["y"]  # one column: the results first, the facets below
    assert results["width"] <= PHONE[0] and facets["width"] <= PHONE[0]
    search = css(browser, "#q").rect
    assert search["x"] >= 0 and search["x"] + search["width"] <= PHONE[0]
    screenshot(browser, "08-phone-results")

    browser.get(f"{site.url}/records/media-2024-09-12-t23")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
    label, value = css(browser, "dl.fields > dt").rect, css(browser, "dl.fields > dd").rect
    assert value["y"] > label["y"] and abs(value["x"] - label["x"]) < 2  # labels above values
    screenshot(browser, "08-phone-record")


# --------------------------------------------------------------------------- facet values


def test_facets_treat_simplified_and_traditional_forms_as_one(site, browser) -> None:
    browser.get(site.url + "/search?q=刘德斌&lang=zh-Hant")
    screenshot(browser, "09-facets-by-script")
    assert hit_count(browser) == 4
    facet_values(browser, "newspaper")  # each label once
    facet_values(browser, "author")
    browser.get(site.url + "/search?q=刘德斌&lang=zh-Hans")  # the cookie remembers 繁體中文 otherwise
    follow(browser, facet_link(browser, "newspaper", "辽宁日报"))
    assert hit_count(browser) == 4  # the search found all four; the newspaper is the same


def test_facet_values_are_shown_by_name(site, browser) -> None:
    browser.get(site.url + "/search?q=大连")
    screenshot(browser, "10-facet-names")
    assert "媒体上的大连专题数据库" in facet_values(browser, "collection")
    assert not {"media", "zh-Hans", "zh-Hant"} & set(facet_values(browser, "language"))
