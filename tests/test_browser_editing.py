"""The cataloging pages as a cataloger uses them: headless Chromium over the real app on a live server.

One server for the module, over a fresh repository of test articles (``factory.article``), each
test working on records of its own so the tests stand alone. Edits are typed through the real
pages: the form's fields, the "Add a name" button, and the CodeMirror editor (clicked and typed
into with the keyboard, the way a person edits it). tests/test_editing.py covers the same flows
over the test client, exactly and quickly; these show that the pages, their scripts and the
server work together. Every test leaves screenshots in ``tests/artifacts/`` (``edit-*.png``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from browser import (
    ACCEPT_LANGUAGE,
    WAIT,
    By,
    Keys,
    Select,
    WebDriverWait,
    css,
    css_all,
    focused,
    follow,
    missing,
    press,
    screenshot,
    start_chromium,
)
from factory import article, record_id
from flask_babel import gettext

from repository.app import create_app
from repository.service import Repository

pytestmark = pytest.mark.skipif(missing() is not None, reason=missing() or "")

PASSWORD = "correct horse battery"
FULLTEXT = "第一段。\n第二段。"
#: Which test works on which record (each its own, so that none depends on another having run).
FORM, XML, ERRORS, HISTORY, DELETE, STALE = (record_id(i) for i in range(1, 7))
UPLOADED = [record_id(i) for i in (20, 21, 22)]
NEW_ID = "media-2024-05-01-web001"


@pytest.fixture(scope="module")
def site(live_server, tmp_path_factory) -> Iterator[SimpleNamespace]:
    """The app over six articles and two catalogers, served on 127.0.0.1 for the whole module."""
    repo = Repository(tmp_path_factory.mktemp("browser-editing") / "instance", base_url=live_server.url)
    for i in range(1, 7):
        repo.save(repo.prepare(article(i), fulltext=FULLTEXT), 0, who="import", why="test data")
    # a second version by someone else, so the history has three people's changes to show
    corrected = repo.prepare(article(4, newspaper="大连日报"), fulltext=FULLTEXT)
    repo.save(corrected, 1, who="li", why="the paper was 大连日报")
    app = create_app(repo)
    accounts = app.extensions["accounts"]
    accounts.add_user("wang", PASSWORD, "cataloger")
    accounts.add_user("li", PASSWORD, "cataloger")
    live_server.start(app)
    yield SimpleNamespace(url=live_server.url, repo=repo, app=app)
    repo.close()


# --------------------------------------------------------------------------- using the pages


def log_in(driver: Any, site: SimpleNamespace, name: str, then: str = "/") -> None:
    """Log in through the /login form and land on ``then``."""
    driver.get(f"{site.url}/login?next={then}")
    fill_login(driver, name, PASSWORD)
    assert urlsplit(driver.current_url).path == then
    assert css(driver, ".account").text.startswith(name)


def fill_login(driver: Any, name: str, password: str) -> None:
    css(driver, "#name").clear()
    css(driver, "#name").send_keys(name)
    css(driver, "#password").send_keys(password)
    follow(driver, css(driver, "form.login button[type=submit]"))


def status(driver: Any) -> int:
    """The HTTP status of the page the browser shows, as the browser received it."""
    return driver.execute_script("return performance.getEntriesByType('navigation')[0].responseStatus")


def said(site: SimpleNamespace, message: str, **values: Any) -> str:
    """``message`` as the app says it to this browser (in Chinese: the library's catalogers read Chinese)."""
    with site.app.test_request_context(headers={"Accept-Language": ACCEPT_LANGUAGE}):
        return gettext(message, **values)


def flashes(driver: Any) -> list[str]:
    return [li.text for li in css_all(driver, ".flashes li")]


def path(driver: Any) -> str:
    return urlsplit(driver.current_url).path


def editor(driver: Any, script: str, *args: Any) -> Any:
    """Run ``script`` with ``cm`` bound to the page's CodeMirror (and ``arguments`` as given)."""
    return driver.execute_script("var cm = document.getElementById('xml').editor;\n" + script, *args)


def wait_for_editor(driver: Any) -> None:
    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("var a = document.getElementById('xml'); return !!(a && a.editor)"),
        "CodeMirror did not start over the XML text area",
    )


def editor_text(driver: Any) -> str:
    return editor(driver, "return cm.getValue();")


def line_of(driver: Any, needle: str) -> int:
    """The (1-based) line of the editor's text that holds ``needle``."""
    lines = editor_text(driver).split("\n")
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def type_in_line(driver: Any, line: int, *keys: str, before_end: int = 0) -> None:
    """Click line ``line`` in the editor, go to ``before_end`` characters before its end, type ``keys``."""
    code_line = css(driver, f".CodeMirror-code > div:nth-child({line}) pre.CodeMirror-line")
    code_line.click()
    press(driver, Keys.END, *[Keys.LEFT] * before_end, *keys)


def save(driver: Any) -> None:
    follow(driver, css(driver, "form.editor button[value=save]"))


def open_editor(driver: Any, site: SimpleNamespace, rid: str) -> None:
    """From the record page, follow its Edit link, as a cataloger does."""
    if path(driver) != f"/records/{rid}":
        driver.get(f"{site.url}/records/{rid}")
    follow(driver, css(driver, "p.version a.edit"))
    assert path(driver) == f"/records/{rid}/edit"
    wait_for_editor(driver)


def field_changes(within: Any) -> dict[str, tuple[str, str]]:
    """The "fields changed" table (of a diff, or of a refused save): label → (before, after)."""
    return {
        row.find_element(By.CSS_SELECTOR, "th").text: tuple(
            row.find_element(By.CSS_SELECTOR, tag).text for tag in ("del", "ins")
        )
        for row in css_all(within, "table.fieldchanges tbody tr")
    }


def stored(site: SimpleNamespace, rid: str) -> Any:
    """The record's newest version as the store has it."""
    return site.repo.store.version(rid)


@contextlib.contextmanager
def second_browser() -> Iterator[Any]:
    """Another Chromium: its own cookies, so another cataloger's session beside the first."""
    driver = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()


# --------------------------------------------------------------------------- the tests


def test_log_in_from_the_edit_link_and_back(site, browser) -> None:
    browser.get(f"{site.url}/records/{FORM}")
    assert not css_all(browser, "a.edit")  # no edit link for a reader who has not logged in
    browser.get(f"{site.url}/records/{FORM}/edit")
    assert path(browser) == "/login"  # sent to log in first, and back afterwards
    fill_login(browser, "wang", "not the password")
    assert status(browser) == 401 and css(browser, "p.error[role=alert]").text
    assert css(browser, "#name").get_attribute("value") == "wang"
    screenshot(browser, "edit-01-login-refused")
    fill_login(browser, "wang", PASSWORD)
    assert path(browser) == f"/records/{FORM}/edit" and status(browser) == 200
    assert css(browser, ".account").text.startswith("wang")
    wait_for_editor(browser)
    screenshot(browser, "edit-01-logged-in-editor")


def test_edit_the_form_add_a_name_with_a_role_and_save(site, browser) -> None:
    log_in(browser, site, "wang", f"/records/{FORM}")
    open_editor(browser, site, FORM)
    title = css(browser, "#f-title")
    assert title.get_attribute("value") == "老码头的早市 第1篇"
    title.clear()
    title.send_keys("老码头的早市(修订)")

    rows = css_all(browser, "#names tbody tr")
    assert [r.find_element(By.NAME, "name").get_attribute("value") for r in rows[:2]] == ["王晓", "李明"]
    add = css(browser, "button.add-row[data-table=names]")
    assert add.text == said(site, "Add a name")
    assert add.is_displayed()  # the script shows it (without JavaScript the blank rows are there)
    add.click()
    new_rows = css_all(browser, "#names tbody tr")
    assert len(new_rows) == len(rows) + 1
    row = new_rows[-1]
    assert focused(browser) == row.find_element(By.NAME, "name")  # the new row's name, ready to type
    assert row.find_element(By.NAME, "name").get_attribute("value") == ""
    labels = [f.get_attribute("aria-label") for f in css_all(row, "[aria-label]")]
    assert len(labels) == 3 and all(label.endswith(f" {len(new_rows)}") for label in labels)  # "Name 6"
    press(browser, "刘德斌")
    Select(row.find_element(By.NAME, "role")).select_by_value("edt")
    css(browser, "#why").send_keys("corrected the title, added the editor")
    screenshot(browser, "edit-02-form")
    save(browser)

    assert path(browser) == f"/records/{FORM}"
    assert css(browser, "article h1").text == "老码头的早市(修订): 一条街的四十年"  # with the subtitle
    assert flashes(browser) == [said(site, "Saved as version %(v)d.", v=2)]
    assert "刘德斌 (edt)" in css(browser, "dl.fields").text
    screenshot(browser, "edit-02-saved")
    v = stored(site, FORM)
    assert (v.version, v.who, v.why) == (2, "wang", "corrected the title, added the editor")
    xml = v.xml.decode()
    assert "<title>老码头的早市(修订)</title>" in xml
    assert "<namePart>刘德斌</namePart>" in xml and ">edt</roleTerm>" in xml
    assert "<namePart>王晓</namePart>" in xml and "<namePart>李明</namePart>" in xml  # the others kept


def test_edit_the_xml_in_codemirror_apply_and_save(site, browser) -> None:
    log_in(browser, site, "wang", f"/records/{XML}")
    open_editor(browser, site, XML)
    # the editor: the record's XML, highlighted, with line numbers
    assert editor_text(browser) == stored(site, XML).xml.decode()
    assert css_all(browser, ".CodeMirror .cm-tag") and css_all(browser, ".CodeMirror .cm-attribute")
    numbers = [n.text for n in css_all(browser, ".CodeMirror-linenumber") if n.text]
    assert numbers[:3] == ["1", "2", "3"] and numbers[-1] == str(editor(browser, "return cm.lineCount();"))

    n = line_of(browser, "</abstract>")
    type_in_line(browser, n, "早市每天清晨五点开张。", before_end=len("</abstract>"))
    assert editor(browser, "return cm.getLine(arguments[0]);", n - 1).endswith(
        "四十年的变化。早市每天清晨五点开张。</abstract>"
    )
    page = line_of(browser, "<number>A6</number>")
    type_in_line(browser, page, Keys.BACKSPACE * 2, "B2", before_end=len("</number></detail>"))
    assert "<number>B2</number>" in editor(browser, "return cm.getLine(arguments[0]);", page - 1)
    typed = editor_text(browser)

    # "Apply" writes nothing, and shows the XML's change in the form too
    follow(browser, css(browser, "form.editor button[value=apply]"))
    wait_for_editor(browser)
    assert status(browser) == 200 and stored(site, XML).version == 1
    assert css(browser, "#f-page").get_attribute("value") == "B2"
    assert css(browser, "#f-abstract").get_attribute("value").endswith("早市每天清晨五点开张。")
    assert editor_text(browser) == typed
    screenshot(browser, "edit-03-xml-applied")

    css(browser, "#why").send_keys("page and abstract")
    save(browser)
    assert path(browser) == f"/records/{XML}"
    assert flashes(browser) == [said(site, "Saved as version %(v)d.", v=2)]
    assert "早市每天清晨五点开张。" in css(browser, "dl.fields").text
    screenshot(browser, "edit-03-xml-saved")
    v = stored(site, XML)
    assert (v.version, v.who, v.why) == (2, "wang", "page and abstract")
    assert v.xml.decode() == typed  # exactly the text typed: the editor and the save path add nothing


def test_an_error_is_shown_at_its_line_and_the_text_is_kept(site, browser) -> None:
    log_in(browser, site, "wang", f"/records/{ERRORS}")
    open_editor(browser, site, ERRORS)
    n = line_of(browser, "<dateIssued")
    type_in_line(browser, n, Keys.BACKSPACE * 5, "13-45", before_end=len("</dateIssued>"))
    typed = editor_text(browser)
    assert ">2019-13-45</dateIssued>" in typed
    save(browser)

    assert status(browser) == 422 and path(browser) == f"/records/{ERRORS}/edit"
    wait_for_editor(browser)
    problem = css(browser, f".problems li.problem[data-line='{n}']")
    assert "dateIssued" in problem.text
    link = problem.find_element(By.CSS_SELECTOR, "a.line")
    assert link.text == said(site, "line %(n)d", n=n)
    assert editor_text(browser) == typed  # the cataloger's text, as typed
    assert stored(site, ERRORS).version == 1  # nothing stored
    assert_marked(browser, n)
    # the problem's link puts the cursor on its line
    editor(browser, "cm.setCursor({line: 0, ch: 0});")
    link.click()
    assert editor(browser, "return cm.hasFocus() && cm.getCursor().line;") == n - 1
    screenshot(browser, "edit-04-invalid-date")

    # now a broken tag, and a change in the form: the parser's line, the text and the form's change kept
    type_in_line(browser, n, Keys.BACKSPACE * 5, "06-02", before_end=len("</dateIssued>"))
    m = line_of(browser, "</abstract>")
    type_in_line(browser, m, Keys.BACKSPACE * 2, ">")  # </abstract> becomes </abstrac>
    typed = editor_text(browser)
    assert "</abstrac>" in typed and "2019-06-02</dateIssued>" in typed
    css(browser, "#f-page").clear()
    css(browser, "#f-page").send_keys("B9")
    save(browser)
    assert status(browser) == 422
    wait_for_editor(browser)
    lines = [li.get_attribute("data-line") for li in css_all(browser, ".problems li.problem")]
    assert lines == [str(m), ""]  # the parser's error, and a note that the form waits for the XML
    assert_marked(browser, m)
    assert editor_text(browser) == typed and stored(site, ERRORS).version == 1
    assert css(browser, "#f-page").get_attribute("value") == "B9"
    screenshot(browser, "edit-04-broken-tag")

    # the tag mended, the form's change is written into the XML at last
    type_in_line(browser, m, Keys.BACKSPACE, "t>")
    css(browser, "#why").send_keys("page B9")
    save(browser)
    assert path(browser) == f"/records/{ERRORS}"
    assert flashes(browser) == [said(site, "Saved as version %(v)d.", v=2)]
    xml = stored(site, ERRORS).xml.decode()
    assert "<number>B9</number>" in xml and "</abstract>" in xml and ">2019-06-02</dateIssued>" in xml


def assert_marked(driver: Any, line: int) -> None:
    """Editor line ``line`` (1-based), and only it, is marked as a problem, in the text and the gutter."""
    marked = editor(
        driver,
        "var out = []; cm.eachLine(function (h) { var i = cm.lineInfo(h);"
        " if ((i.bgClass || '').indexOf('problem-line') >= 0) out.push(i.line + 1); }); return out;",
    )
    assert marked == [line]
    wrapper = css(driver, f".CodeMirror-code > div:nth-child({line})")
    assert wrapper.find_elements(By.CSS_SELECTOR, ".problem-line")  # drawn, not only recorded
    assert wrapper.find_elements(By.CSS_SELECTOR, ".CodeMirror-gutter-background.problem-gutter")
    assert wrapper.find_element(By.CSS_SELECTOR, ".CodeMirror-linenumber").text == str(line)
    red = wrapper.find_element(By.CSS_SELECTOR, ".problem-line").value_of_css_property("background-color")
    assert red not in ("rgba(0, 0, 0, 0)", "transparent")


def test_history_compare_two_versions_and_revert(site, browser) -> None:
    log_in(browser, site, "wang", f"/records/{HISTORY}")
    open_editor(browser, site, HISTORY)
    css(browser, "#f-title").clear()
    css(browser, "#f-title").send_keys("早市四十年")
    css(browser, "#why").send_keys("retitled")
    save(browser)
    assert flashes(browser) == [said(site, "Saved as version %(v)d.", v=3)]

    follow(browser, css(browser, f"p.version a[href='/records/{HISTORY}/history']"))
    assert path(browser) == f"/records/{HISTORY}/history"
    rows = {
        r.get_attribute("id"): [td.text for td in r.find_elements(By.CSS_SELECTOR, "td")]
        for r in css_all(browser, "table.history tbody tr")
    }
    assert list(rows) == ["v3", "v2", "v1"]
    assert [rows[v][3:5] for v in rows] == [
        ["wang", "retitled"],
        ["li", "the paper was 大连日报"],
        ["import", "test data"],
    ]
    when = [t.get_attribute("datetime") for t in css_all(browser, "table.history time")]
    assert len(when) == 3 and all(w[:2] == "20" for w in when) and when == sorted(when, reverse=True)
    screenshot(browser, "edit-05-history")

    css(browser, "input[name=a][value='1']").click()
    css(browser, "input[name=b][value='3']").click()
    follow(browser, css(browser, "button[form=compare]"))
    assert path(browser) == f"/records/{HISTORY}/diff"
    assert css(browser, "h1").text == said(
        site, "Changes to %(id)s: version %(a)d → %(b)d", id=HISTORY, a=1, b=3
    )
    deleted = {d.text for d in css_all(browser, "table.diff del")}
    inserted = {i.text for i in css_all(browser, "table.diff ins")}
    assert any("<title>老码头的早市 第4篇</title>" in d for d in deleted)
    assert any("<title>早市四十年</title>" in i for i in inserted)
    assert any("大连晚报" in d for d in deleted) and any("大连日报" in i for i in inserted)
    assert field_changes(browser)[said(site, "Title")] == ("老码头的早市 第4篇", "早市四十年")
    screenshot(browser, "edit-05-diff")

    browser.back()
    revert = css(browser, "#v1 details.revert")
    revert.find_element(By.CSS_SELECTOR, "summary").click()
    revert.find_element(By.NAME, "why").send_keys("back to the imported record")
    follow(browser, revert.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    assert path(browser) == f"/records/{HISTORY}/history"
    assert flashes(browser) == [said(site, "Version %(t)d is back, as version %(v)d.", t=1, v=4)]
    newest = css(browser, "table.history tbody tr")
    assert newest.get_attribute("id") == "v4" and "back to the imported record" in newest.text
    screenshot(browser, "edit-05-reverted")
    assert stored(site, HISTORY).xml == site.repo.store.version(HISTORY, 1).xml


def test_delete_with_a_reason_and_restore(site, browser) -> None:
    log_in(browser, site, "wang", f"/records/{DELETE}/history")
    css(browser, "#delete-why").send_keys("a duplicate of another record")
    follow(browser, css(browser, "#delete-form button[type=submit]"))
    assert path(browser) == f"/records/{DELETE}/history"
    assert flashes(browser) == [
        said(site, "Record %(id)s deleted (version %(v)d). It can be restored here.", id=DELETE, v=2)
    ]
    assert css(browser, "p.deleted").is_displayed()
    newest = css(browser, "table.history tbody tr")
    assert newest.get_attribute("class") == "delete" and "a duplicate of another record" in newest.text
    screenshot(browser, "edit-06-deleted")
    assert site.repo.store.get(DELETE).deleted

    browser.get(f"{site.url}/records/{DELETE}")
    assert status(browser) == 410
    browser.get(f"{site.url}/records/{DELETE}/edit")
    assert status(browser) == 410
    screenshot(browser, "edit-06-edit-a-deleted-record")
    follow(browser, css(browser, f"main a[href='/records/{DELETE}/history']"))
    css(browser, "#restore-why").send_keys("not a duplicate after all")
    follow(browser, css(browser, "#restore-form button[type=submit]"))
    assert path(browser) == f"/records/{DELETE}" and status(browser) == 200
    assert flashes(browser) == [said(site, "Record %(id)s restored (version %(v)d).", id=DELETE, v=3)]
    assert css(browser, "article h1").text.startswith("老码头的早市 第5篇")
    screenshot(browser, "edit-06-restored")
    state = site.repo.store.get(DELETE)
    assert not state.deleted and state.version == 3


def test_a_second_catalogers_stale_save_is_refused_with_what_changed(site, browser) -> None:
    log_in(browser, site, "wang", f"/records/{STALE}")
    with second_browser() as other:
        log_in(other, site, "li", f"/records/{STALE}")
        open_editor(browser, site, STALE)
        open_editor(other, site, STALE)

        css(browser, "#f-title").clear()
        css(browser, "#f-title").send_keys("王的标题")
        css(browser, "#why").send_keys("wang's title")
        save(browser)
        assert flashes(browser) == [said(site, "Saved as version %(v)d.", v=2)]

        # li, on the page of version 1, edits the XML and saves
        n = line_of(other, "<number>A6</number>")
        type_in_line(other, n, Keys.BACKSPACE * 2, "C7", before_end=len("</number></detail>"))
        typed = editor_text(other)
        save(other)
        assert status(other) == 409 and path(other) == f"/records/{STALE}/edit"
        wait_for_editor(other)
        stale = css(other, "section.stale")
        assert said(site, "Someone else saved this record while you were editing it") in stale.text
        assert "wang" in css(other, "ul.since").text and "wang's title" in css(other, "ul.since").text
        assert field_changes(stale) == {said(site, "Title"): ("老码头的早市 第6篇", "王的标题")}
        assert any("王的标题" in i.text for i in css_all(stale, "table.diff ins"))
        assert editor_text(other) == typed  # li's own text, still in the editor
        assert css(other, "input[name=version]").get_attribute("value") == "2"
        screenshot(other, "edit-07-stale-save-refused")
        v = stored(site, STALE)
        assert (v.version, v.who) == (2, "wang") and "<number>A6</number>" in v.xml.decode()

        # having seen wang's change, li merges it (types the new title into the form) and saves again
        css(other, "#f-title").clear()
        css(other, "#f-title").send_keys("王的标题")
        save(other)
        assert flashes(other) == [said(site, "Saved as version %(v)d.", v=3)]
        v = stored(site, STALE)
        assert v.who == "li" and "<number>C7</number>" in v.xml.decode() and "王的标题" in v.xml.decode()


def test_a_new_record_and_an_upload(site, browser, tmp_path: Path) -> None:
    log_in(browser, site, "wang")
    follow(browser, css(browser, ".account a[href='/records/new']"))
    assert path(browser) == "/records/new"
    wait_for_editor(browser)
    suggested = css(browser, "#f-identifier").get_attribute("value")
    assert suggested.startswith("media-") and suggested in editor_text(browser)
    assert Select(css(browser, "#f-collection")).first_selected_option.get_attribute("value") == "media"
    identifier = css(browser, "#f-identifier")
    identifier.clear()
    identifier.send_keys(NEW_ID)
    typed = {"title": "星海广场的夜", "newspaper": "大连日报", "date": "2024-05-01", "page": "A2"}
    for field, value in typed.items():
        css(browser, f"#f-{field}").send_keys(value)
    css(browser, "#names input[name=name]").send_keys("刘德斌")
    css(browser, "#fulltext").send_keys("夜色中的星海广场。")
    css(browser, "#why").send_keys("new article")
    screenshot(browser, "edit-08-new-record")
    follow(browser, css(browser, "form.editor button[value=save]"))
    assert path(browser) == f"/records/{NEW_ID}", css(browser, "main").text[:2000]
    assert flashes(browser) == [said(site, "Record %(id)s created.", id=NEW_ID)]
    assert css(browser, "article h1").text == "星海广场的夜"
    assert "夜色中的星海广场。" in css(browser, "section.fulltext").text
    screenshot(browser, "edit-08-new-record-created")
    v = stored(site, NEW_ID)
    assert (v.version, v.who, v.why) == (1, "wang", "new article") and suggested not in v.xml.decode()

    one = tmp_path / "one.xml"
    one.write_bytes(article(20))
    collection = tmp_path / "two.xml"
    collection.write_bytes(
        b'<?xml version="1.0" encoding="UTF-8"?><modsCollection xmlns="http://www.loc.gov/mods/v3">'
        + b"".join(article(i).split(b"?>", 1)[1] for i in (21, 22))
        + b"</modsCollection>"
    )
    follow(browser, css(browser, ".account a[href='/upload']"))
    assert path(browser) == "/upload"
    css(browser, "#files").send_keys(f"{one}\n{collection}")
    css(browser, "#why").send_keys("a batch from the scanner")
    follow(browser, css(browser, "form.upload button[type=submit]"))
    assert status(browser) == 201
    created = [urlsplit(a.get_attribute("href")).path for a in css_all(browser, "section.created li a")]
    assert created == [f"/records/{rid}" for rid in UPLOADED]
    screenshot(browser, "edit-08-uploaded")
    assert all(stored(site, rid).why == "a batch from the scanner" for rid in UPLOADED)
