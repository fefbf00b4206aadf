"""Legacy page import: the seed page, the fixture pages in data/legacy, and the MODS built from them."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from lxml import etree

from repository import legacy
from repository.importer import iter_inputs
from repository.legacy import Author, LegacyPageError, parse_authors, parse_date, parse_page
from repository.mods import MODS_NS, RECORD_ID, build_mods

HERE = Path(__file__).parent
DATA = HERE / "data" / "legacy"
SEED_DIR = HERE.parent.parent / "shared" / "seed"
SHARED_SCHEMAS = HERE.parent.parent / "shared" / "schemas"
SEED = SEED_DIR / "000_84144a84b4249b75.txt"
NS = {"m": MODS_NS}
BASE = "https://repository.example.org"
NB = "\xa0"


def load(name: str) -> legacy.LegacyPage:
    return parse_page((DATA / name).read_bytes(), name)


def mods_bytes(page: legacy.LegacyPage, created: str = "2024-01-02") -> bytes:
    article = legacy.to_article(page, record_id=legacy.record_id_for(page), base_url=BASE, created=created)
    return etree.tostring(build_mods(article), encoding="UTF-8", xml_declaration=True, pretty_print=True)


class _SharedResolver(etree.Resolver):
    LOCAL = {
        "http://www.loc.gov/mods/xml.xsd": "xml.xsd",
        "http://www.loc.gov/standards/xlink/xlink.xsd": "xlink.xsd",
    }

    def resolve(self, url, pubid, context):  # noqa: ANN001 - lxml's signature
        name = self.LOCAL.get(url)
        return self.resolve_filename(str(SHARED_SCHEMAS / name), context) if name else None


@pytest.fixture(scope="module")
def mods_schema() -> etree.XMLSchema:
    """The official MODS 3.8 schema, compiled offline from the shared copy (or the installed one)."""
    if (SHARED_SCHEMAS / "mods-3-8.xsd").is_file():
        parser = etree.XMLParser(no_network=True, resolve_entities=False)
        parser.resolvers.add(_SharedResolver())
        return etree.XMLSchema(etree.parse(str(SHARED_SCHEMAS / "mods-3-8.xsd"), parser))
    from repository import schemas

    return schemas.mods_schema()


def assert_valid(schema: etree.XMLSchema, xml: bytes) -> etree._Element:
    root = etree.fromstring(xml)
    assert schema.validate(root), "\n".join(str(e) for e in schema.error_log)
    return root


def make_page(fields: list[str], body: list[str], *, footer: bool = True) -> bytes:
    """A page in the legacy layout around the given field and body lines."""
    nav = [
        "媒体上的大连内容",
        "简体中文 繁體中文 English",
        f"{NB} 当前位置:首页 > 地方文献 > 媒体上的大连列表",
        f"{NB} 地方文献导航",
        "大连百科数据库",
        "媒体上的大连专题数据库",
        f"{NB * 4}媒体上的大连内容",
    ]
    foot = (
        [
            NB,
            NB,
            f"总机:0411-00000000{NB * 2}传真:0411-00000001",
            f"地址:示例街1号{NB * 2}版权所有:大连图书馆",
            "辽ICP备00000000号",
        ]
        if footer
        else []
    )
    return "\n".join([*nav, *fields, *body, *foot]).encode("utf-8")


FIELDS = [
    f"来{NB * 4}源: 大连日报",
    f"标{NB * 4}题: 虚构的测试标题",
    f"日{NB * 4}期: 2023-03-09",
    f"作{NB * 4}者: 王晓",
]
BODY = ["虚构的第一段。", "", "虚构的第二段。"]


# --------------------------------------------------------------------------- the seed page


@pytest.fixture(scope="module")
def seed() -> legacy.LegacyPage:
    return parse_page(SEED.read_bytes(), str(SEED))


def test_seed_fields(seed: legacy.LegacyPage) -> None:
    assert seed.source == str(SEED)
    assert seed.newspaper == "辽宁日报"
    assert seed.title.startswith("大连金普新区抓项目优环境促开放确保首战告捷")
    assert seed.title == "大连金普新区抓项目优环境促开放确保首战告捷—— 真抓实干谋发展 乘势而上开新局"
    assert seed.subtitle is None
    assert seed.date == "2023-03-09"
    assert seed.authors == [Author("吕丽", "aut", False)]
    assert seed.page is None
    assert (seed.language, seed.script) == ("chi", "Hans")
    assert seed.warnings == []


def test_seed_fulltext_is_the_body_only(seed: legacy.LegacyPage) -> None:
    text = seed.fulltext
    assert text.startswith("聚力新突破")
    assert text.endswith("快马加鞭!")
    for chrome in (
        "地方文献导航",
        "当前位置",
        "电子图书阅览器下载",
        "媒体上的大连内容",
        "总机",
        "版权所有",
        "ICP",
        "吕丽",
    ):
        assert chrome not in text
    assert "\n\n\n" not in text
    paragraphs = text.split("\n\n")
    assert all(p == p.strip() and p for p in paragraphs)
    # Independently: every non-blank line between the 作者 line and the footer is one paragraph.
    lines = SEED.read_text("utf-8").splitlines()
    author = next(i for i, ln in enumerate(lines) if ln.startswith("作"))
    footer = next(i for i, ln in enumerate(lines) if ln.startswith("总机"))
    expected = [ln.strip() for ln in lines[author + 1 : footer] if ln.strip()]
    assert paragraphs == expected


def test_seed_mods_is_schema_valid(seed: legacy.LegacyPage, mods_schema: etree.XMLSchema) -> None:
    root = assert_valid(mods_schema, mods_bytes(seed))
    assert root.findtext("m:titleInfo/m:title", namespaces=NS) == seed.title
    assert root.findtext("m:name/m:namePart", namespaces=NS) == "吕丽"
    host = root.xpath(
        "m:relatedItem[@type='host'][not(@displayLabel)]/m:titleInfo/m:title/text()", namespaces=NS
    )
    assert host == ["辽宁日报"]
    assert root.findtext("m:originInfo/m:dateIssued", namespaces=NS) == "2023-03-09"


def test_seed_record_id_is_stable(seed: legacy.LegacyPage) -> None:
    again = parse_page(SEED.read_bytes(), "elsewhere.txt")
    rid = legacy.record_id_for(seed)
    assert rid == legacy.record_id_for(again)
    assert RECORD_ID.match(rid)
    digest = hashlib.sha256(f"辽宁日报\n{seed.title}\n2023-03-09".encode()).hexdigest()[:10]
    assert rid == f"media-2023-03-09-{digest}"


def test_schema_check_can_fail(seed: legacy.LegacyPage, mods_schema: etree.XMLSchema) -> None:
    root = etree.fromstring(mods_bytes(seed))
    etree.SubElement(root, f"{{{MODS_NS}}}notAModsElement")
    assert not mods_schema.validate(root)


# --------------------------------------------------------------------------- fixture pages

GOOD = [
    # file, newspaper, title, subtitle, date, authors, page, language, script
    (
        "traditional.txt",
        "大連日報",
        "虛構社區舉辦風箏節 市民共度週末時光",
        None,
        "2023-04-15",
        [("陳明", "aut"), ("林華", "aut")],
        None,
        "chi",
        "Hant",
    ),
    (
        "authors-dunhao.txt",
        "大连日报",
        "虚构社区开设周末读书角",
        None,
        "2023-03-09",
        [("王晓", "aut"), ("李明", "aut"), ("赵芳", "aut")],
        None,
        "chi",
        "Hans",
    ),
    (
        "authors-fullwidth-comma.txt",
        "半岛晨报",
        "虚构公园新添健身步道",
        None,
        "2023-05-20",
        [("王晓", "aut"), ("李明", "aut"), ("赵芳", "aut")],
        None,
        "chi",
        "Hans",
    ),
    (
        "authors-spaces.txt",
        "大连晚报",
        "虚构渔村举办海鲜美食节",
        None,
        "2023-06-01",
        [("王晓", "aut"), ("李明", "aut"), ("赵芳", "aut")],
        None,
        "chi",
        "Hans",
    ),
    (
        "role-prefixes.txt",
        "大连日报",
        "虚构小学开展海洋科普周活动",
        None,
        "2023-06-08",
        [("王晓", "aut"), ("李明", "aut"), ("张三", "pht"), ("周一", "edt")],
        None,
        "chi",
        "Hans",
    ),
    ("no-author.txt", "大连日报", "虚构图书馆延长夏季开放时间", None, "2023-03", [], None, "chi", "Hans"),
    (
        "english.txt",
        "China Daily",
        "Fictional seaside town hosts kite festival",
        None,
        "2023-07-01",
        [("John Smith", "aut"), ("Mary Lee", "aut")],
        None,
        "eng",
        "Latn",
    ),
    (
        "english-labels.txt",
        "China Daily",
        "Fictional harbour opens a new ferry pier",
        None,
        "2023-07-02",
        [("Xinhua", "aut")],
        "5",
        "eng",
        "Latn",
    ),
    (
        "page-number.txt",
        "半岛晨报",
        "虚构街道举办旧物交换市集",
        None,
        "2023-09-16",
        [("王晓", "aut")],
        "A5",
        "chi",
        "Hans",
    ),
    (
        "two-line-headline.txt",
        "大连日报",
        "虚构社区邻里节开幕",
        "千名居民共享欢乐周末",
        "2023-10-01",
        [("李明", "aut")],
        "3",
        "chi",
        "Hans",
    ),
    (
        "agency.txt",
        "大连日报",
        "虚构航线首航仪式举行",
        None,
        "2023-08-08",
        [("新华社", "aut")],
        None,
        "chi",
        "Hans",
    ),
    (
        "fullwidth-colons.txt",
        "大连晚报",
        "虚构海湾举办帆船体验日",
        None,
        "2023-08-20",
        [("赵芳", "aut")],
        None,
        "chi",
        "Hans",
    ),
    (
        "gb18030.txt",
        "大连日报",
        "虚构社区食堂推出敬老套餐",
        None,
        "2023-02-14",
        [("王晓", "aut"), ("李明", "aut")],
        None,
        "chi",
        "Hans",
    ),
    (
        "bom.txt",
        "大连日报",
        "虚构书店举办作家见面会",
        None,
        "2023-04-23",
        [("赵芳", "aut")],
        None,
        "chi",
        "Hans",
    ),
]
GOOD_FILES = [row[0] for row in GOOD]


@pytest.mark.parametrize(
    ("name", "newspaper", "title", "subtitle", "date", "authors", "page_no", "language", "script"),
    GOOD,
    ids=GOOD_FILES,
)
def test_fixture_fields(
    name: str,
    newspaper: str,
    title: str,
    subtitle: str | None,
    date: str,
    authors: list[tuple[str, str]],
    page_no: str | None,
    language: str,
    script: str,
) -> None:
    page = load(name)
    assert page.newspaper == newspaper
    assert page.title == title
    assert page.subtitle == subtitle
    assert page.date == date
    assert [(a.name, a.role) for a in page.authors] == authors
    assert page.page == page_no
    assert (page.language, page.script) == (language, script)
    assert page.fulltext and page.fulltext == page.fulltext.strip()
    for chrome in (
        "地方文献导航",
        "地方文獻導航",
        "总机",
        "總機",
        "版权所有",
        "版權所有",
        "ICP",
        "大连百科数据库",
    ):
        assert chrome not in page.fulltext


@pytest.mark.parametrize("name", GOOD_FILES)
def test_fixture_mods_is_schema_valid(name: str, mods_schema: etree.XMLSchema) -> None:
    assert_valid(mods_schema, mods_bytes(load(name)))


def test_fixtures_are_small_fictional_and_not_the_seed() -> None:
    seed_text = SEED.read_text("utf-8")
    paths = sorted(DATA.glob("*.txt"))
    assert len(paths) >= 16
    for path in paths:
        data = path.read_bytes()
        assert len(data) < 2048, path.name
        text = data.decode("gb18030") if path.name == "gb18030.txt" else data.decode("utf-8-sig")
        assert "金普" not in text and "吕丽" not in text
        assert seed_text[seed_text.index("聚力") : seed_text.index("聚力") + 20] not in text


def test_traditional_fixture_uses_traditional_labels_and_footer() -> None:
    text = (DATA / "traditional.txt").read_text("utf-8")
    assert "來" in text and "標" in text and "版權所有" in text and "遼ICP備" in text
    page = load("traditional.txt")
    assert page.fulltext.endswith("鄰里氛圍。")


def test_english_paragraph_lines_are_joined_with_a_space() -> None:
    page = load("english.txt")
    assert "an imaginary seaside town" in page.fulltext
    assert page.fulltext.split("\n\n") == [
        "This is a fictional test article and none of it happened. Hundreds of residents of an imaginary "
        "seaside town gathered on the beach on Saturday to fly kites.",
        "The organisers said the festival would become an annual event for local families.",
    ]


def test_no_author_is_a_warning_not_an_error() -> None:
    page = load("no-author.txt")
    assert page.authors == []
    assert any("作者" in w for w in page.warnings)


def test_agency_is_corporate() -> None:
    assert load("agency.txt").authors == [Author("新华社", "aut", True)]
    assert load("english-labels.txt").authors == [Author("Xinhua", "aut", True)]


# --------------------------------------------------------------------------- errors

ERRORS = [
    ("missing-source.txt", None, "来源 (newspaper) is missing"),
    ("missing-title.txt", None, "标题 (title) is missing"),
    ("bad-date.txt", 30, "日期 (date) '2023-13-45' is not a date"),
    ("missing-date.txt", None, "日期 (date) is missing"),
    ("empty-body.txt", 32, "body"),
    ("not-a-page.txt", None, "not a legacy page"),
]


@pytest.mark.parametrize(("name", "line", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_fixture_errors(name: str, line: int | None, message: str) -> None:
    with pytest.raises(LegacyPageError) as info:
        load(name)
    err = info.value
    assert err.source == name
    assert err.line == line
    assert message in err.message
    assert str(err) == (f"{name}:{line}: {err.message}" if line else f"{name}: {err.message}")


def test_bad_date_line_points_at_the_date_field() -> None:
    lines = (DATA / "bad-date.txt").read_text("utf-8").splitlines()
    assert lines[30 - 1].startswith("日") and "2023-13-45" in lines[30 - 1]


def test_empty_label_value_reports_its_line() -> None:
    fields = [FIELDS[0], f"标{NB * 4}题: ", *FIELDS[2:]]
    with pytest.raises(LegacyPageError) as info:
        parse_page(make_page(fields, BODY), "t.txt")
    assert info.value.line == 9
    assert "标题 (title) is missing" in str(info.value)


def test_error_str_forms() -> None:
    assert str(LegacyPageError("a.txt", 3, "boom")) == "a.txt:3: boom"
    assert str(LegacyPageError("a.txt", None, "boom")) == "a.txt: boom"


# --------------------------------------------------------------------------- encodings


def test_gb18030_page_reads_like_its_utf8_form() -> None:
    data = (DATA / "gb18030.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    as_utf8 = data.decode("gb18030").encode("utf-8")
    assert parse_page(data, "x") == parse_page(as_utf8, "x")


def test_bom_is_not_part_of_the_text() -> None:
    data = (DATA / "bom.txt").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert parse_page(data, "x") == parse_page(data[3:], "x")
    first = make_page(FIELDS, BODY)
    # A BOM right before a label (a page without navigation) still leaves the label readable.
    bare = ("\ufeff" + "\n".join([*FIELDS, *BODY])).encode("utf-8")
    assert parse_page(bare, "x").newspaper == parse_page(first, "x").newspaper == "大连日报"


def test_undecodable_bytes_are_an_error() -> None:
    data = make_page(FIELDS, BODY).decode("utf-8").encode("utf-16")
    with pytest.raises(LegacyPageError) as info:
        parse_page(data, "u16.txt")
    assert "neither UTF-8 nor GB18030" in info.value.message
    assert info.value.line == 1


def test_crlf_line_endings() -> None:
    data = make_page(FIELDS, BODY).replace(b"\n", b"\r\n")
    page = parse_page(data, "x")
    assert page.fulltext == "虚构的第一段。\n\n虚构的第二段。"


# --------------------------------------------------------------------------- labels, headline, body


@pytest.mark.parametrize(
    "label_line",
    [
        "来源: 大连日报",
        "来源:大连日报",
        "来 源 : 大连日报",
        "来\u3000\u3000源：大连日报",
        f"来{NB * 2} 源： 大连日报",
        "來　源: 大连日报",
        "Source: 大连日报",
        "SOURCE : 大连日报",
    ],
)
def test_label_spacing_and_colons(label_line: str) -> None:
    assert parse_page(make_page([label_line, *FIELDS[1:]], BODY), "x").newspaper == "大连日报"


def test_a_headline_second_line_is_the_subtitle() -> None:
    fields = [FIELDS[0], FIELDS[1], "  虚构的副标题  ", *FIELDS[2:]]
    page = parse_page(make_page(fields, BODY), "x")
    assert (page.title, page.subtitle) == ("虚构的测试标题", "虚构的副标题")
    assert page.fulltext == "虚构的第一段。\n\n虚构的第二段。"


def test_a_line_after_a_final_title_field_is_body_not_subtitle() -> None:
    fields = [FIELDS[0], FIELDS[2], FIELDS[3], FIELDS[1]]
    page = parse_page(make_page(fields, BODY), "x")
    assert page.subtitle is None
    assert page.fulltext.startswith("虚构的第一段。")


def test_dash_inside_one_title_line_is_kept() -> None:
    fields = [FIELDS[0], f"标{NB * 4}题: 虚构主标题—— 虚构副题", *FIELDS[2:]]
    page = parse_page(make_page(fields, BODY), "x")
    assert (page.title, page.subtitle) == ("虚构主标题—— 虚构副题", None)


def test_body_paragraph_that_starts_like_the_footer_is_kept() -> None:
    body = ["虚构的第一段。", "", "地址:虚构的活动地点在示例街。", "", "虚构的最后一段。"]
    page = parse_page(make_page(FIELDS, body), "x")
    assert page.fulltext.split("\n\n") == [
        "虚构的第一段。",
        "地址:虚构的活动地点在示例街。",
        "虚构的最后一段。",
    ]


def test_page_without_footer_keeps_text_and_warns() -> None:
    page = parse_page(make_page(FIELDS, BODY, footer=False), "x")
    assert page.fulltext == "虚构的第一段。\n\n虚构的第二段。"
    assert any("footer" in w for w in page.warnings)


def test_wrapped_chinese_lines_join_without_spaces() -> None:
    page = parse_page(make_page(FIELDS, ["虚构的第一", "段落继续。", "", "第二段。"]), "x")
    assert page.fulltext == "虚构的第一段落继续。\n\n第二段。"


@pytest.mark.parametrize(
    ("source_value", "page_field", "newspaper", "page_no"),
    [
        ("辽宁日报 第A5版", None, "辽宁日报", "A5"),
        ("辽宁日报A5版", None, "辽宁日报", "A5"),
        ("辽宁日报（第12版）", None, "辽宁日报", "12"),
        ("辽宁日报", "版次: A5", "辽宁日报", "A5"),
        ("辽宁日报", f"版{NB * 4}次: 第三版", "辽宁日报", "3"),
        ("人民日报海外版", None, "人民日报海外版", None),
        ("China Daily, page 7", None, "China Daily", "7"),
    ],
)
def test_page_numbers(source_value: str, page_field: str | None, newspaper: str, page_no: str | None) -> None:
    fields = [f"来源: {source_value}", *FIELDS[1:], *([page_field] if page_field else [])]
    page = parse_page(make_page(fields, BODY), "x")
    assert (page.newspaper, page.page) == (newspaper, page_no)


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-03-09", "2023-03-09"),
        ("2023-3-9", "2023-03-09"),
        ("2023/03/09", "2023-03-09"),
        ("2023.03.09", "2023-03-09"),
        ("2023年3月9日", "2023-03-09"),
        ("2023 年 3 月 9 日", "2023-03-09"),
        ("２０２３年３月９日", "2023-03-09"),
        ("2023年3月", "2023-03"),
        ("2023-03", "2023-03"),
        ("2023", "2023"),
        ("2023年", "2023"),
        ("2024-02-29", "2024-02-29"),
        ("2023-03-09 08:30", "2023-03-09"),
        ("March 9, 2023", "2023-03-09"),
        ("9 March 2023", "2023-03-09"),
    ],
)
def test_dates(value: str, expected: str) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    "value",
    ["2023-13-45", "2023-02-29", "2023-00-10", "2023年13月", "昨天", "", "23-3-9", "0000", "Smarch 9, 2023"],
)
def test_bad_dates(value: str) -> None:
    with pytest.raises(ValueError):
        parse_date(value)


def test_date_in_page_is_normalised() -> None:
    fields = [*FIELDS[:2], "日期: 2023年3月9日", FIELDS[3]]
    assert parse_page(make_page(fields, BODY), "x").date == "2023-03-09"


# --------------------------------------------------------------------------- authors


@pytest.mark.parametrize(
    ("value", "language", "expected"),
    [
        ("王晓、李明", "chi", [("王晓", "aut"), ("李明", "aut")]),
        (
            "王晓，李明;赵芳；周一,吴二",
            "chi",
            [("王晓", "aut"), ("李明", "aut"), ("赵芳", "aut"), ("周一", "aut"), ("吴二", "aut")],
        ),
        ("王晓   李明", "chi", [("王晓", "aut"), ("李明", "aut")]),
        ("记者 王晓 通讯员 李明", "chi", [("王晓", "aut"), ("李明", "aut")]),
        (
            "本报记者 王晓 见习记者 李明 特约记者 赵芳",
            "chi",
            [("王晓", "aut"), ("李明", "aut"), ("赵芳", "aut")],
        ),
        ("記者 陳明 通訊員 林華", "chi", [("陳明", "aut"), ("林華", "aut")]),
        ("记者王晓 通讯员李明", "chi", [("王晓", "aut"), ("李明", "aut")]),
        ("摄影 张三", "chi", [("张三", "pht")]),
        ("攝影 張三", "chi", [("張三", "pht")]),
        ("图/张三", "chi", [("张三", "pht")]),
        ("张三 摄", "chi", [("张三", "pht")]),
        ("编辑 周一", "chi", [("周一", "edt")]),
        ("責任編輯 周一", "chi", [("周一", "edt")]),
        ("（记者 王晓）", "chi", [("王晓", "aut")]),
        ("新华社记者 王晓", "chi", [("王晓", "aut")]),
        ("By John Smith and Mary Lee", "eng", [("John Smith", "aut"), ("Mary Lee", "aut")]),
        ("John Smith, Mary Lee", "eng", [("John Smith", "aut"), ("Mary Lee", "aut")]),
        ("John Smith; Mary Lee.", "eng", [("John Smith", "aut"), ("Mary Lee", "aut")]),
        ("John Smith", "chi", [("John Smith", "aut")]),
        ("本报讯 记者 王晓", "chi", [("王晓", "aut")]),
        ("", "chi", []),
    ],
)
def test_authors(value: str, language: str, expected: list[tuple[str, str]]) -> None:
    authors = parse_authors(value, language)
    assert [(a.name, a.role) for a in authors] == expected
    assert not any(a.corporate for a in authors)


@pytest.mark.parametrize(("value", "language"), [("新华社", "chi"), ("新華社", "chi"), ("Xinhua", "eng")])
def test_agencies_are_corporate(value: str, language: str) -> None:
    assert parse_authors(value, language) == [Author(value, "aut", True)]


# --------------------------------------------------------------------------- script


def test_detect_script() -> None:
    assert legacy.detect_script("大连图书馆举办读书节,市民踊跃参加。") == "Hans"
    assert legacy.detect_script("大連圖書館舉辦讀書節,市民踴躍參加。") == "Hant"
    assert legacy.detect_script("大中小") is None


def test_script_follows_the_text_not_the_labels() -> None:
    fields = ["來源: 大连日报", "標題: 虚构的测试标题", *FIELDS[2:]]
    assert parse_page(make_page(fields, BODY), "x").script == "Hans"


# --------------------------------------------------------------------------- record ids and the MODS view


def test_record_id_depends_on_newspaper_title_and_date() -> None:
    a = parse_page(make_page(FIELDS, BODY), "a.txt")
    b = parse_page(make_page(FIELDS, ["另一段虚构的正文。"]), "b.txt")
    assert legacy.record_id_for(a) == legacy.record_id_for(b)  # the text is not part of the identity
    other_title = parse_page(make_page([FIELDS[0], "标题: 另一个虚构标题", *FIELDS[2:]], BODY), "c.txt")
    other_paper = parse_page(make_page(["来源: 半岛晨报", *FIELDS[1:]], BODY), "d.txt")
    ids = {legacy.record_id_for(p) for p in (a, other_title, other_paper)}
    assert len(ids) == 3
    assert all(re.fullmatch(r"media-2023-03-09-[0-9a-f]{10}", i) and RECORD_ID.match(i) for i in ids)


def test_record_id_for_a_year_month_date() -> None:
    assert re.fullmatch(r"media-2023-03-[0-9a-f]{10}", legacy.record_id_for(load("no-author.txt")))


def test_to_article_view() -> None:
    page = load("role-prefixes.txt")
    rid = legacy.record_id_for(page)
    art = legacy.to_article(page, record_id=rid, base_url=BASE + "/", created="2024-01-02")
    assert art.identifier == rid
    assert [(t.text, t.subtitle, t.lang, t.script) for t in art.titles] == [
        ("虚构小学开展海洋科普周活动", None, "chi", "Hans")
    ]
    assert [(n.text, n.role, n.type) for n in art.names] == [
        ("王晓", "aut", "personal"),
        ("李明", "aut", "personal"),
        ("张三", "pht", "personal"),
        ("周一", "edt", "personal"),
    ]
    assert art.type_of_resource == "text"
    assert art.genres == ["article"]
    assert art.date_issued == "2023-06-08"
    assert (art.host.title, art.host.date, art.host.page) == ("大连日报", "2023-06-08", None)
    assert (art.language, art.script) == ("chi", "Hans")
    assert (art.collection, art.collection_title) == ("media", "媒体上的大连专题数据库")
    assert art.urls == [(f"{BASE}/records/{rid}", None), (f"{BASE}/records/{rid}/text", "raw object")]
    assert art.content_source == "大连图书馆"
    assert art.record_created == "2024-01-02"
    assert (
        art.record_origin == "converted from the legacy web page of the Dalian Library 媒体上的大连 database"
    )
    assert art.cataloging_language == "chi"


def test_mods_of_traditional_two_line_english_and_agency(mods_schema: etree.XMLSchema) -> None:
    hant = assert_valid(mods_schema, mods_bytes(load("traditional.txt")))
    assert hant.find("m:titleInfo", NS).attrib == {"lang": "chi", "script": "Hant"}
    assert hant.findtext("m:language/m:scriptTerm", namespaces=NS) == "Hant"

    two = assert_valid(mods_schema, mods_bytes(load("two-line-headline.txt")))
    assert two.findtext("m:titleInfo/m:subTitle", namespaces=NS) == "千名居民共享欢乐周末"
    assert two.findtext("m:relatedItem/m:part/m:detail[@type='page']/m:number", namespaces=NS) == "3"

    eng = assert_valid(mods_schema, mods_bytes(load("english.txt")))
    assert eng.find("m:titleInfo", NS).attrib == {"lang": "eng"}
    assert eng.findtext("m:language/m:languageTerm", namespaces=NS) == "eng"
    assert eng.find("m:language/m:scriptTerm", NS) is None

    agency = assert_valid(mods_schema, mods_bytes(load("agency.txt")))
    assert agency.find("m:name", NS).get("type") == "corporate"
    assert agency.findtext("m:name/m:role/m:roleTerm", namespaces=NS) == "aut"

    page = assert_valid(mods_schema, mods_bytes(load("page-number.txt")))
    assert page.findtext("m:relatedItem/m:part/m:detail/m:number", namespaces=NS) == "A5"


@pytest.mark.parametrize("created", ["2024-1-2", "20240102", "2024-02-30", "yesterday"])
def test_to_article_refuses_a_bad_creation_date(created: str) -> None:
    page = load("bom.txt")
    with pytest.raises(ValueError):
        legacy.to_article(page, record_id=legacy.record_id_for(page), base_url=BASE, created=created)


def test_to_article_refuses_a_bad_record_id() -> None:
    with pytest.raises(ValueError):
        legacy.to_article(load("bom.txt"), record_id="-bad id", base_url=BASE, created="2024-01-02")


def test_all_fixture_pages_are_found() -> None:
    names = [p.name for p in iter_inputs([DATA])]
    assert names == sorted(names)
    assert set(GOOD_FILES) | {e[0] for e in ERRORS} <= set(names)
