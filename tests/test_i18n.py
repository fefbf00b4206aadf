"""The interface in 简体中文, 繁體中文 and English: chosen, switched, remembered; the catalogues complete."""

from __future__ import annotations

import gettext
import html
import io
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from conftest import ROOT

from repository.accounts import ROLES
from repository.app import create_app
from repository.web.catalogue import BROWSABLE
from repository.web.searching import FACET_LABELS

MEDIA = ROOT / "records" / "media"
TRANSLATIONS = ROOT / "repository" / "web" / "translations"
LOCALES = {"zh-Hans": "zh_Hans", "zh-Hant": "zh_Hant"}
QUERY = "大连"

# The seed's title in each script: the converted form is what OpenCC s2t gives (大連, 區, 項目, 優, 戰).
TITLE_HANS = "大连金普新区抓项目优环境促开放确保首战告捷"
TITLE_HANT = "大連金普新區抓項目優環境促開放確保首戰告捷"
CONVERTED_NOTE = {
    "zh-Hans": "本页记录内容由简体字自动转换显示",
    "zh-Hant": "本頁記錄內容由簡體字自動轉換顯示",
    "en": "Record text on this page is shown converted",
}

#: Interface words each page shows in its language, and words of the other languages it must not show.
HOME = {
    "zh-Hans": ["大连图书馆 · 地方文献", ">检索</button>", "最新入藏", "按报纸浏览", "共 1 条记录"],
    "zh-Hant": ["大連圖書館 · 地方文獻", ">檢索</button>", "最新入藏", "按報紙瀏覽", "共 1 條記錄"],
    "en": ["Dalian Library · Local Documents", ">Search</button>", "Recent additions", "1 record<"],
}
SEARCH = {
    "zh-Hans": ["<h1>检索: 大连</h1>", "共找到 1 条记录", "排序方式", "相关度", "日期从新到旧", "Atom 订阅"],
    "zh-Hant": ["<h1>檢索: 大连</h1>", "共找到 1 條記錄", "排序方式", "相關度", "日期從新到舊", "Atom 訂閱"],
    "en": ["<h1>Search: 大连</h1>", "1 record found", "Sort by", "Relevance", "Newest first", "Atom feed"],
}
RECORD = {
    "zh-Hans": ["<dt>来源</dt>", "<dt>标题</dt>", "<dt>日期</dt>", "<dt>作者</dt>", ">引用</h2>", "导出:"],
    "zh-Hant": ["<dt>來源</dt>", "<dt>標題</dt>", "<dt>日期</dt>", "<dt>作者</dt>", ">引用</h2>", "匯出:"],
    "en": ["<dt>Source</dt>", "<dt>Title</dt>", "<dt>Date</dt>", "<dt>Author</dt>", ">Cite</h2>", "Export:"],
}
FOREIGN = {
    "zh-Hans": ["檢索", "Recent additions", ">Search<"],
    "zh-Hant": ["检索", ">Search<"],
    "en": ["检索", "檢索"],
}


@pytest.fixture
def site(repo):  # noqa: ANN001, ANN201
    """The app over a repository holding the seed record, its search index caught up."""
    xml = next(MEDIA.glob("*.xml"))
    text = xml.with_suffix(".txt").read_text("utf-8")
    state = repo.save(repo.prepare(xml.read_bytes(), fulltext=text, source="seed"), 0, who="t", why="t")
    app = create_app(repo)
    app.extensions["search"].catch_up()
    return app, state.id


def _pages(record_id: str) -> dict[str, tuple[str, dict[str, list[str]]]]:
    return {
        "home": ("/", HOME),
        "search": (f"/search?q={QUERY}", SEARCH),
        "record": (f"/records/{record_id}", RECORD),
    }


def _html_lang(page: str) -> str:
    return re.search(r'<html lang="([^"]+)"', page).group(1)


def _switch_links(page: str) -> dict[str, str]:
    """The language switch: {language code: href} for the languages the page is not in."""
    nav = re.search(r'<nav class="languages".*?</nav>', page, re.S).group(0)
    return {tag: html.unescape(href) for href, tag in re.findall(r'<a href="([^"]+)" lang="([^"]+)"', nav)}


def _query(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


@pytest.mark.parametrize("page_name", ["home", "search", "record"])
@pytest.mark.parametrize("language", ["zh-Hans", "zh-Hant", "en"])
def test_page_in_each_language_and_switching_keeps_the_page(site, language: str, page_name: str) -> None:
    app, record_id = site
    client = app.test_client()
    path, expected = _pages(record_id)[page_name]
    url = f"{path}{'&' if '?' in path else '?'}lang={language}"
    response = client.get(url)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert _html_lang(page) == language
    for words in expected[language]:
        assert words in page, (language, page_name, words)
    for words in FOREIGN[language]:
        assert words not in page, (language, page_name, words)

    links = _switch_links(page)
    assert set(links) == {"zh-Hans", "zh-Hant", "en"} - {language}
    for code, href in links.items():
        assert urlsplit(href).path == urlsplit(url).path
        assert [kv for kv in _query(href) if kv[0] != "lang"] == [kv for kv in _query(url) if kv[0] != "lang"]
        assert dict(_query(href))["lang"] == code
        switched = client.get(href).get_data(as_text=True)
        assert _html_lang(switched) == code
        for words in expected[code]:
            assert words in switched, (code, page_name, words)
        if page_name == "record":  # the same record, in the script of the new language
            assert (TITLE_HANT if code == "zh-Hant" else TITLE_HANS) in switched
        if page_name == "search":  # the same search, with the same hit
            assert f"/records/{record_id}?lang={code}" in switched


def test_login_page_in_each_language(site) -> None:
    client = site[0].test_client()
    login = {
        "zh-Hans": [">登录</button>", "用户名", "密码", "编目人员"],
        "zh-Hant": [">登入</button>", "使用者名稱", "密碼", "編目人員"],
        "en": [">Log in</button>", "Name", "Password", "Catalogers log in"],
    }
    for language, words in login.items():
        page = client.get(f"/login?lang={language}").get_data(as_text=True)
        assert _html_lang(page) == language
        assert all(w in page for w in words), language


def test_choice_is_remembered_by_cookie(site) -> None:
    client = site[0].test_client()
    response = client.get("/?lang=en")
    assert "lang=en" in response.headers["Set-Cookie"]
    page = client.get("/").get_data(as_text=True)
    assert _html_lang(page) == "en" and "Recent additions" in page
    assert _html_lang(client.get("/search?q=x").get_data(as_text=True)) == "en"
    client.get("/?lang=zh-Hant")  # a new choice replaces the old one
    assert _html_lang(client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)) == "zh-Hant"


def test_browser_language_when_nothing_was_chosen(site) -> None:
    app = site[0]

    def lang(header: str | None) -> str:
        headers = {"Accept-Language": header} if header else {}
        page = app.test_client().get("/", headers=headers).get_data(as_text=True)
        return _html_lang(page)

    assert lang("zh-TW") == "zh-Hant"
    assert lang("zh-TW,zh;q=0.9,en;q=0.8") == "zh-Hant"
    assert lang("zh-CN,zh;q=0.9") == "zh-Hans"
    assert lang("en-US,en;q=0.9") == "en"
    assert lang(None) == "zh-Hans"  # the library's own default
    page = app.test_client().get("/", headers={"Accept-Language": "zh-TW"}).get_data(as_text=True)
    assert ">檢索</button>" in page and "最新入藏" in page


def test_record_text_converted_in_traditional_only(site) -> None:
    app, record_id = site
    client = app.test_client()
    hant = client.get(f"/records/{record_id}?lang=zh-Hant").get_data(as_text=True)
    h1 = re.search(r"<h1>(.*?)</h1>", hant, re.S).group(1)
    assert TITLE_HANT in h1 and TITLE_HANS not in h1
    assert "遼寧日報" in hant  # the newspaper (辽宁日报), record data, converted too
    assert CONVERTED_NOTE["zh-Hant"] in hant and 'class="converted"' in hant
    assert '<article lang="zh-Hant">' in hant

    for language in ("zh-Hans", "en"):
        page = client.get(f"/records/{record_id}?lang={language}").get_data(as_text=True)
        h1 = re.search(r"<h1>(.*?)</h1>", page, re.S).group(1)
        assert TITLE_HANS in h1 and TITLE_HANT not in page
        assert "辽宁日报" in page and "遼寧日報" not in page
        assert 'class="converted"' not in page and CONVERTED_NOTE[language] not in page

    hits = client.get(f"/search?q={QUERY}&lang=zh-Hant").get_data(as_text=True)
    assert 'class="converted"' in hits and "大連" in hits and "金普新區" in hits


# ---------------------------------------------------------------------- the catalogues
def _read(path: Path, locale: str | None = None) -> Catalog:
    with open(path, "rb") as fh:
        return read_po(fh, locale=locale)


def _template() -> Catalog:
    return _read(TRANSLATIONS / "messages.pot")


def _catalogue(locale: str) -> Catalog:
    return _read(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", locale=locale)


def _key(message_id: str | tuple) -> str | tuple:
    return message_id if isinstance(message_id, str) else tuple(message_id)


PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%")


@pytest.mark.parametrize("locale", LOCALES.values())
def test_every_message_is_translated(locale: str) -> None:
    catalogue = _catalogue(locale)
    assert catalogue.num_plurals == 1 and catalogue.plural_expr == "0"
    translated = {_key(m.id): m for m in catalogue if m.id}
    template = [m for m in _template() if m.id]
    assert len(template) > 50
    for message in template:
        entry = translated.get(_key(message.id))
        assert entry is not None, f"{locale}: not in the catalogue: {message.id!r}"
        assert not entry.fuzzy, f"{locale}: fuzzy: {message.id!r}"
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        assert len(strings) == 1 and strings[0].strip(), f"{locale}: untranslated: {message.id!r}"
        source = message.id[0] if isinstance(message.id, tuple) else message.id
        assert sorted(PLACEHOLDER.findall(strings[0])) == sorted(PLACEHOLDER.findall(source)), message.id
    assert list(catalogue.check()) == []


@pytest.mark.parametrize("locale", LOCALES.values())
def test_catalogues_compile(locale: str) -> None:
    buffer = io.BytesIO()
    write_mo(buffer, _catalogue(locale))
    buffer.seek(0)
    compiled = gettext.GNUTranslations(buffer)
    expected = {"zh_Hans": ("检索", "共 3 条记录"), "zh_Hant": ("檢索", "共 3 條記錄")}[locale]
    assert compiled.gettext("Search") == expected[0]
    assert compiled.ngettext("%(num)d record", "%(num)d records", 3) % {"num": 3} == expected[1]


def test_template_is_up_to_date_with_the_sources() -> None:
    """messages.pot holds what babel.cfg extracts from the code now (else: `make translations`)."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    extracted = {
        _key(msgid)
        for _file, _line, msgid, _comments, _context in extract_from_dir(
            ROOT / "repository", method_map, options_map, keywords={**DEFAULT_KEYWORDS, "lazy_gettext": None}
        )
    }
    in_template = {_key(m.id) for m in _template() if m.id}
    assert extracted == in_template
    # words gettext is given through a variable are listed for extraction (translations/labels.py)
    for word in [*BROWSABLE.values(), *FACET_LABELS.values(), *ROLES]:
        assert word in in_template, word
