"""Citation export: every format is read back by a real parser of that format, as a reader's tool would."""

from __future__ import annotations

import json
import re

import bibtexparser
import pytest
import rispy
from bibtexparser import middlewares
from conftest import EXAMPLE, ROOT
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db

from repository import xmlio
from repository.citations import (
    CATALOGUE,
    EXPORTS,
    bibtex,
    bibtex_escape,
    citation_key,
    csl_json,
    csl_json_text,
    formatted,
    ris,
)
from repository.mods import Article, Host, Name, Title, build_mods, read_article

SEED_ID = "media-2023-03-09-d8383197ff"
SEED = ROOT / "records" / "media" / f"{SEED_ID}.xml"
SEED_TITLE = "大连金普新区抓项目优环境促开放确保首战告捷—— 真抓实干谋发展 乘势而上开新局"
EXAMPLE_ID = "media-2019-06-02-0001"
BASE = "http://repo.test/records/"


def load(path) -> Article:
    return read_article(xmlio.parse(path.read_bytes(), str(path)))


def roundtrip(article: Article) -> Article:
    """The article as the repository would store and read it again, so tests cover the real record path."""
    return read_article(xmlio.parse(xmlio.to_bytes(build_mods(article)), "<built>"))


def article(**changes) -> Article:
    values = dict(
        identifier="media-t-00001",
        titles=[Title("标题", lang="chi", script="Hans")],
        names=[Name("刘德斌")],
        date_issued="2023-03-09",
        host=Host("辽宁日报", "2023-03-09", "5"),
        language="chi",
        script="Hans",
        genres=["article"],
        type_of_resource="text",
    )
    values.update(changes)
    return roundtrip(Article(**values))


def four_authors_no_page() -> Article:
    """The seed record with three more authors and no page, by editing its XML as a cataloger would."""
    data = SEED.read_text("utf-8")
    name = '<name type="personal"><namePart>{}</namePart><role><roleTerm type="code" authority="marcrelator">aut</roleTerm></role></name>'  # noqa: E501
    extra = "".join(name.format(n) for n in ("王晓", "李明", "张三"))
    data = data.replace("  <typeOfResource>", extra + "\n  <typeOfResource>", 1)
    assert "<detail" not in data
    return read_article(xmlio.parse(data.encode("utf-8"), "four-authors"))


def parse_ris(text: str) -> dict:
    entries = rispy.loads(text, newline="\r\n")
    assert len(entries) == 1
    return entries[0]


def parse_bibtex(text: str, *extra: middlewares.Middleware) -> bibtexparser.model.Entry:
    library = bibtexparser.parse_string(text, append_middleware=list(extra))
    assert library.failed_blocks == []
    assert len(library.entries) == 1
    return library.entries[0]


# LaTeX's \textbraceleft and \textbraceright, which pylatexenc's table lacks (it drops unknown macros).
_LATEX = get_default_latex_context_db().filter_context()
_LATEX.add_context_category(
    "text-braces",
    macros=[MacroTextSpec("textbraceleft", "{"), MacroTextSpec("textbraceright", "}")],
    prepend=True,
)


_DECODER = LatexNodes2Text(latex_context=_LATEX)


def decoded(text: str) -> bibtexparser.model.Entry:
    """The entry with names split (as BibTeX does, braces first) and LaTeX decoded, as a reader sees it."""
    return parse_bibtex(
        text,
        middlewares.SeparateCoAuthors(),
        middlewares.SplitNameParts(),
        middlewares.LatexDecodingMiddleware(decoder=_DECODER),
    )


def names(entry: bibtexparser.model.Entry, field: str = "author") -> list[tuple[str, str]]:
    """(first, last) of each name, decoded: the middleware leaves a list of split names undecoded."""

    def text(parts: list[str]) -> str:
        return _DECODER.latex_to_text(" ".join(parts))

    return [(text(n.first), text(n.last)) for n in entry[field]]


# --------------------------------------------------------------------------- RIS


def test_ris_of_the_seed_record() -> None:
    text = ris(load(SEED), SEED_ID, BASE + SEED_ID)
    entry = parse_ris(text)
    assert entry["type_of_reference"] == "NEWS"
    assert entry["title"] == SEED_TITLE
    assert entry["authors"] == ["吕丽"]
    assert entry["year"] == "2023"
    assert entry["date"] == "2023/03/09/"
    assert entry["secondary_title"] == "辽宁日报"
    assert "start_page" not in entry  # the seed's page is not known
    assert entry["urls"] == [BASE + SEED_ID]
    assert entry["id"] == SEED_ID
    assert entry["language"] == "zh-Hans"
    assert entry["database_provider"] == CATALOGUE
    assert entry["name_of_database"] == "媒体上的大连专题数据库"


def test_ris_lines_follow_the_specification() -> None:
    text = ris(load(EXAMPLE), EXAMPLE_ID, BASE + EXAMPLE_ID)
    assert text.startswith("TY  - NEWS\r\n")
    assert text.endswith("ER  - \r\n")
    lines = text.split("\r\n")
    assert lines.pop() == ""
    for line in lines:
        assert re.fullmatch(r"[A-Z][A-Z0-9]  - .*", line), line
        assert "\n" not in line and "\r" not in line


def test_ris_of_the_example_keeps_the_photographer_out_of_the_authors() -> None:
    entry = parse_ris(ris(load(EXAMPLE), EXAMPLE_ID, BASE + EXAMPLE_ID))
    assert entry["authors"] == ["王晓"]
    assert "secondary_authors" not in entry and "李明" not in json.dumps(entry, ensure_ascii=False)
    assert entry["title"] == "老码头的早市: 一条街的四十年"
    assert entry["secondary_title"] == "大连晚报"
    assert entry["start_page"] == "A6"
    assert entry["keywords"] == ["市场", "大连"]
    assert entry["abstract"] == "记者走访老码头早市,记录摊主们四十年的变化。"


def test_ris_partial_date_multiline_abstract_and_translator() -> None:
    a = article(
        date_issued="2023-03",
        names=[Name("吕丽"), Name("Smith, John", role="trl"), Name("新华社", type="corporate", role="cre")],
        abstract="第一段。\n\n第二段。",
    )
    entry = parse_ris(ris(a, "r1", "http://x/records/r1"))
    assert entry["date"] == "2023/03//"
    assert entry["year"] == "2023"
    assert entry["authors"] == ["吕丽", "新华社"]
    assert entry["subsidiary_authors"] == ["Smith, John"]
    assert entry["abstract"] == "第一段。 第二段。"


# --------------------------------------------------------------------------- BibTeX


def test_bibtex_of_the_seed_record() -> None:
    text = bibtex(load(SEED), SEED_ID, BASE + SEED_ID)
    entry = parse_bibtex(text)
    assert entry.entry_type == "article"
    assert entry.key == "lv2023dalian"
    fields = {k: f.value for k, f in entry.fields_dict.items()}
    assert fields["author"] == "{吕丽}"
    assert fields["title"] == SEED_TITLE
    assert fields["journal"] == "辽宁日报"
    assert fields["entrysubtype"] == "newspaper"
    assert (fields["date"], fields["year"], fields["month"]) == ("2023-03-09", "2023", "mar")
    assert entry.fields_dict["month"].enclosing == "no-enclosing"  # the month macro, not a string
    assert fields["language"] == "chinese"
    assert fields["url"] == BASE + SEED_ID
    assert "pages" not in fields


def test_bibtex_of_the_example() -> None:
    entry = decoded(bibtex(load(EXAMPLE), EXAMPLE_ID, BASE + EXAMPLE_ID))
    assert entry.key == "wang2019laoma"
    assert names(entry) == [("", "王晓")]
    assert entry["pages"] == "A6"
    assert entry["keywords"] == "市场, 大连"
    assert entry["title"] == "老码头的早市: 一条街的四十年"
    assert "editor" not in entry.fields_dict  # the photographer has no BibTeX field


def test_bibtex_keeps_each_chinese_name_whole() -> None:
    a = article(names=[Name("刘德斌"), Name("欧阳 明"), Name("Smith, John"), Name("李明", role="pht")])
    entry = decoded(bibtex(a, "r1", "http://x/records/r1"))
    assert len(entry["author"]) == 3
    assert entry["author"][1].first == []  # a space inside the braces does not split the name
    assert names(entry) == [("", "刘德斌"), ("", "欧阳 明"), ("John", "Smith")]


def test_bibtex_editors_and_translators_have_their_own_fields() -> None:
    a = article(names=[Name("刘德斌"), Name("王晓", role="edt"), Name("Smith, John", role="trl")])
    entry = decoded(bibtex(a, "r1", "http://x/records/r1"))
    assert names(entry) == [("", "刘德斌")]
    assert names(entry, "editor") == [("", "王晓")]
    assert names(entry, "translator") == [("John", "Smith")]


def test_bibtex_two_chinese_authors_are_exactly_two() -> None:
    a = article(names=[Name("刘德斌"), Name("王晓")])
    text = bibtex(a, "r1", "http://x/records/r1")
    assert "author = {{刘德斌} and {王晓}}" in text
    entry = decoded(text)
    assert len(entry["author"]) == 2
    assert names(entry) == [("", "刘德斌"), ("", "王晓")]


def balanced(raw: str) -> bool:
    """BibTeX's own test: it counts every brace, escaped or not."""
    depth = 0
    for ch in raw:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


@pytest.mark.parametrize(
    "title",
    [
        "A & B: 100% {braced} snake_case",
        r"$5 #1 ~tilde back\slash 大连 & 旅顺",
        "a lone { brace",
        "}{ unpaired both ways",
    ],
)
def test_bibtex_special_characters_round_trip(title: str) -> None:
    a = article(titles=[Title(title)], host=Host("R&D_Daily", page="A{1}"))
    text = bibtex(a, "r1", "http://x/records/r1")
    raw = parse_bibtex(text)
    assert balanced(raw["title"]) and balanced(raw["journal"])
    entry = decoded(text)
    assert entry["title"] == title
    assert entry["journal"] == "R&D_Daily"
    assert entry["pages"] == "A{1}"


def test_bibtex_escape_covers_every_special_character() -> None:
    escaped = bibtex_escape("& % $ # _ {x} ~ ^ \\ } {")
    assert escaped == (
        r"\& \% \$ \# \_ \{x\} \textasciitilde{} \textasciicircum{} \textbackslash{} "
        r"\textbraceright{} \textbraceleft{}"
    )


def test_bibtex_url_is_verbatim() -> None:
    url = "http://x/records/a_b?q=100%25#frag"
    entry = parse_bibtex(bibtex(article(), "a_b", url))
    assert entry["url"] == url


@pytest.mark.parametrize(
    ("names", "title", "date", "key"),
    [
        ([Name("吕丽")], SEED_TITLE, "2023-03-09", "lv2023dalian"),
        ([Name("曾国藩")], "家书", "1870", "zeng1870jiashu"),  # the surname's reading, not "ceng"
        ([Name("欧阳修")], "醉翁亭记", "1046", "ouyang1046zuiweng"),
        ([Name("Müller, Jürgen")], "The 2023 Port Report", "2023-05", "muller2023port"),
        ([Name("新华社", type="corporate")], "大连港", "2023", "xinhuashe2023dalian"),
        ([], "大连港", "2023", "dalian2023"),
        ([], "—", None, "r-9.x"),
    ],
)
def test_citation_key_is_ascii_and_made_from_the_record(names, title, date, key) -> None:
    a = article(names=names, titles=[Title(title)], date_issued=date, host=Host("辽宁日报"))
    assert citation_key(a, "r-9.x") == key
    assert citation_key(a, "r-9.x") == citation_key(roundtrip(a), "r-9.x")


# --------------------------------------------------------------------------- CSL-JSON

CSL_REQUIRED = {"id": str, "type": str, "title": str, "container-title": str, "issued": dict, "URL": str}


def test_csl_json_of_the_example() -> None:
    items = json.loads(csl_json_text(load(EXAMPLE), EXAMPLE_ID, BASE + EXAMPLE_ID))
    assert isinstance(items, list) and len(items) == 1
    item = items[0]
    for key, kind in CSL_REQUIRED.items():
        assert isinstance(item[key], kind), key
    assert item["type"] == "article-newspaper"
    assert item["id"] == EXAMPLE_ID
    assert item["title"] == "老码头的早市: 一条街的四十年"
    assert item["container-title"] == "大连晚报"
    assert item["author"] == [{"literal": "王晓"}]
    assert item["contributor"] == [{"literal": "李明"}]
    assert item["issued"] == {"date-parts": [[2019, 6, 2]]}
    assert item["page"] == "A6"
    assert item["language"] == "zh-Hans"
    assert item["URL"] == BASE + EXAMPLE_ID
    assert item["keyword"] == "市场, 大连"
    assert item["abstract"] == "记者走访老码头早市,记录摊主们四十年的变化。"
    assert item["source"] == CATALOGUE


def test_csl_json_names_dates_and_roles() -> None:
    a = article(
        names=[
            Name("刘德斌"),
            Name("Smith, John"),
            Name("Xinhua", type="corporate"),
            Name("Li, Ming", role="edt"),
        ],
        date_issued="2023-03",
        language="eng",
        script=None,
    )
    item = csl_json(a, "r1", "http://x/records/r1")
    assert item["author"] == [
        {"literal": "刘德斌"},
        {"family": "Smith", "given": "John"},
        {"literal": "Xinhua"},
    ]
    assert item["editor"] == [{"family": "Li", "given": "Ming"}]
    assert item["issued"] == {"date-parts": [[2023, 3]]}
    assert item["language"] == "en"
    assert csl_json(article(date_issued="民国十二年"), "r", "u")["issued"] == {"raw": "民国十二年"}
    json.dumps(item)  # serialisable as it stands


# --------------------------------------------------------------------------- formatted citations


def test_gb7714_of_the_seed_record() -> None:
    assert formatted(load(SEED), BASE + SEED_ID) == f"吕丽. {SEED_TITLE}[N]. 辽宁日报, 2023-03-09."


def test_gb7714_of_the_example_and_the_brief() -> None:
    expected = "王晓. 老码头的早市: 一条街的四十年[N]. 大连晚报, 2019-06-02(A6)."
    assert formatted(load(EXAMPLE), BASE) == expected
    assert formatted(article(), BASE) == "刘德斌. 标题[N]. 辽宁日报, 2023-03-09(5)."


def test_gb7714_four_authors_and_no_page() -> None:
    a = four_authors_no_page()
    assert [n.text for n in a.creators] == ["吕丽", "王晓", "李明", "张三"]
    assert formatted(a, BASE) == f"吕丽, 王晓, 李明, 等. {SEED_TITLE}[N]. 辽宁日报, 2023-03-09."


def test_gb7714_without_author_and_for_western_names() -> None:
    assert formatted(article(names=[]), BASE) == "标题[N]. 辽宁日报, 2023-03-09(5)."
    western = article(
        names=[Name(n) for n in ("Smith, John Paul", "Brown, Kate", "Lee, Min", "Wu, Yi")],
        titles=[Title("Port of Dalian expands")],
        host=Host("China Daily", page="A4"),
        language="eng",
        script=None,
    )
    assert formatted(western, BASE) == (
        "SMITH J P, BROWN K, LEE M, et al. Port of Dalian expands[N]. China Daily, 2023-03-09(A4)."
    )


def test_apa_style() -> None:
    a = article(
        names=[Name("Smith, John Paul"), Name("刘德斌")],
        titles=[
            Title("老码头的早市", lang="chi"),
            Title("The morning market", lang="eng", type="translated"),
        ],
        host=Host("大连晚报", page="A6"),
    )
    assert formatted(a, "http://x/r", style="apa") == (
        "Smith, J. P., & 刘德斌. (2023, March 9). 老码头的早市 [The morning market]. 大连晚报, A6. http://x/r"
    )
    anonymous = article(names=[], date_issued=None, host=Host("辽宁日报"))
    assert formatted(anonymous, "http://x/r", style="apa") == "标题. (n.d.). 辽宁日报. http://x/r"


def test_unknown_style_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown citation style"):
        formatted(article(), BASE, style="mla")


# --------------------------------------------------------------------------- registry


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_every_export_renders_the_seed(name: str) -> None:
    mimetype, extension, render = EXPORTS[name]
    assert re.fullmatch(r"application/[a-z.+-]+", mimetype)
    assert re.fullmatch(r"[a-z]+", extension)
    text = render(load(SEED), SEED_ID, BASE + SEED_ID)
    assert isinstance(text, str) and SEED_TITLE in text
    if name == "csl":
        assert json.loads(text)[0]["id"] == SEED_ID


def test_registry_formats() -> None:
    assert {k: (v.mimetype, v.extension) for k, v in EXPORTS.items()} == {
        "ris": ("application/x-research-info-systems", "ris"),
        "bib": ("application/x-bibtex", "bib"),
        "csl": ("application/vnd.citationstyles.csl+json", "json"),
    }
    assert EXPORTS["csl"].render is csl_json_text
