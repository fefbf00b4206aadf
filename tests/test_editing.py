"""The cataloging pages over the Flask test client: edit (form and XML), validation, stale saves,
history, diff, revert, delete, restore, new records, uploads, the audit log, roles and CSRF.

The same flows are driven in Chromium by tests/test_browser_editing.py; these cover the server's
answers (statuses, what is stored, what the page keeps) quickly and exactly.
"""

from __future__ import annotations

import html
import json
import re
from io import BytesIO

import pytest
from conftest import SHARED
from factory import article, record_id
from flask.testing import FlaskClient

from repository.app import create_app
from repository.service import Repository

PASSWORD = "correct horse battery"
RID = record_id(1)


@pytest.fixture
def app(repo: Repository):  # noqa: ANN201
    app = create_app(repo)
    accounts = app.extensions["accounts"]
    accounts.add_user("wang", PASSWORD, "cataloger")
    accounts.add_user("li", PASSWORD, "cataloger")
    accounts.add_user("zhao", PASSWORD, "reader")
    accounts.add_user("admin", PASSWORD, "administrator")
    repo.save(repo.prepare(article(1), fulltext="第一段。\n第二段。"), 0, who="import", why="test data")
    return app


def _token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(app, name: str = "wang") -> FlaskClient:  # noqa: ANN001
    client = app.test_client()
    token = _token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303
    return client


def form_of(page: str) -> dict:
    """The editor form's values as a browser would post them (lists for repeated fields)."""
    data: dict = {}

    def put(name: str, value: str) -> None:
        data.setdefault(name, []).append(html.unescape(value))

    form = page[page.index('<form method="post" class="editor"') :]
    for m in re.finditer(r"<input ([^>]*)>", form):
        attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', m.group(1)))
        if "name" in attrs and attrs.get("type") not in ("file",):
            put(attrs["name"], attrs.get("value", ""))
    for m in re.finditer(r'<textarea[^>]* name="(\w+)"[^>]*>(.*?)</textarea>', form, re.S):
        text = m.group(2)
        put(m.group(1), text[1:] if text.startswith("\n") else text)  # HTML drops that first line break
    for m in re.finditer(r'<select[^>]* name="(\w+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', m.group(2)) or re.search(
            r'<option value="([^"]*)"', m.group(2)
        )
        put(m.group(1), chosen.group(1))
    return {k: v if len(v) > 1 else v[0] for k, v in data.items()}


def edit_page(client: FlaskClient, rid: str = RID) -> tuple[str, dict]:
    response = client.get(f"/records/{rid}/edit")
    assert response.status_code == 200, response.status
    page = response.get_data(as_text=True)
    return page, form_of(page)


def test_the_editor_shows_the_record_xml_and_its_fields(app) -> None:
    client = login(app)
    page, form = edit_page(client)
    assert form["version"] == "1"
    assert "老码头的早市 第1篇" in form["xml"] and form["xml"].startswith("<?xml")
    assert form["title"] == "老码头的早市 第1篇" and form["newspaper"] == "大连晚报"
    assert form["fulltext"] == "第一段。\n第二段。"
    assert json.loads(form["shown"])["title"] == "老码头的早市 第1篇"
    assert "codemirror.min.js" in page and "editor.js" in page  # served by the repository itself
    assert client.get(re.search(r'src="([^"]+codemirror.min.js)"', page).group(1)).status_code == 200
    assert "Cache-Control" in client.get(f"/records/{RID}/edit").headers


def test_saving_the_form_changes_only_those_fields_in_the_xml(app, repo: Repository) -> None:
    client = login(app)
    _, form = edit_page(client)
    before = repo.store.version(RID).xml.decode()
    form.update(title="老码头的早市(修订)", page="B3", subjects="码头\n早市", why="fixed the title")
    form["name"] = [form["name"][0], "刘德斌"] + [""] * (len(form["name"]) - 2)
    form["role"] = [form["role"][0], "pht"] + form["role"][2:]
    response = client.post(f"/records/{RID}/edit", data={**form, "action": "save"})
    assert response.status_code == 303 and response.headers["Location"] == f"/records/{RID}"
    v = repo.store.version(RID)
    assert v.version == 2 and v.who == "wang" and v.why == "fixed the title"
    xml = v.xml.decode()
    assert "<title>老码头的早市(修订)</title>" in xml and "<number>B3</number>" in xml
    assert "<topic>码头</topic>" in xml and "<namePart>刘德斌</namePart>" in xml and ">pht<" in xml
    # everything the form did not touch is byte for byte what it was
    untouched = [line for line in before.splitlines() if "recordInfo" in line or "typeOfResource" in line]
    assert all(line in xml for line in untouched)
    assert v.fulltext == "第一段。\n第二段。"  # the text area's CRLF came back as LF: the text is unchanged
    page = client.get(f"/records/{RID}").get_data(as_text=True)
    assert "已保存为第 2 版" in page  # the interface speaks the reader's language (zh-Hans by default)
    # the change reached the catalogue's search and the audit log
    assert f"/records/{RID}" in client.get("/search?q=修订").get_data(as_text=True)
    entry = app.extensions["accounts"].audit_log(limit=1)[0]
    assert (entry.action, entry.who, entry.record_id, entry.version) == ("record-update", "wang", RID, 2)


def test_a_save_the_store_cannot_take_answers_503_in_the_readers_language(
    app, repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full or read-only store (tests/test_faults.py makes real ones) refuses the save: the cataloger
    gets a page saying so in their language, with the cause but not where the store lives."""
    from repository.store import StoreUnavailable

    def refuse(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        raise StoreUnavailable(str(repo.instance), "the disk is full")

    client = login(app)
    _, form = edit_page(client)
    form.update(title="存不下的修改", why="disk full")
    monkeypatch.setattr(repo.store, "commit", refuse)
    for lang, title in [
        ("zh_Hans", "系统现在无法保存修改"),
        ("en", "The repository cannot save changes now"),
    ]:
        client.get(f"/?lang={lang}")
        response = client.post(f"/records/{RID}/edit", data={**form, "action": "save"})
        page = response.get_data(as_text=True)
        assert response.status_code == 503 and response.headers["Retry-After"] == "60"
        assert title in page and "the disk is full" in page and str(repo.instance) not in page
    monkeypatch.undo()
    assert repo.store.get(RID).version == 1


def test_xml_and_form_edits_combine_in_one_save_and_apply_does_not_save(app, repo: Repository) -> None:
    client = login(app)
    _, form = edit_page(client)
    form["xml"] = form["xml"].replace("<title>大连晚报</title>", "<title>大连日报</title>")
    form["abstract"] = "早市的故事。"
    applied = client.post(f"/records/{RID}/edit", data={**form, "action": "apply"})
    assert applied.status_code == 200 and repo.store.get(RID).version == 1  # nothing saved
    form2 = form_of(applied.get_data(as_text=True))
    assert ">早市的故事。</abstract>" in form2["xml"] and "大连日报" in form2["xml"]
    assert form2["newspaper"] == "大连日报"  # the form now shows what the XML says
    assert client.post(f"/records/{RID}/edit", data={**form2, "action": "save"}).status_code == 303
    xml = repo.store.version(RID).xml.decode()
    assert ">早市的故事。</abstract>" in xml and "<title>大连日报</title>" in xml


def test_an_invalid_record_is_not_saved_the_problem_is_shown_at_its_line_and_the_text_kept(
    app, repo: Repository
) -> None:
    client = login(app)
    _, form = edit_page(client)
    lines = form["xml"].split("\n")
    n = next(i for i, line in enumerate(lines) if "<dateIssued" in line)
    lines[n] = lines[n].replace("2019-06-02", "2019-13-45")
    form["xml"] = "\n".join(lines)
    response = client.post(f"/records/{RID}/edit", data={**form, "action": "save"})
    assert response.status_code == 422 and repo.store.get(RID).version == 1
    page = response.get_data(as_text=True)
    assert f'data-line="{n + 1}"' in page and "dateIssued" in page
    assert form_of(page)["xml"] == form["xml"]  # the cataloger's text, exactly as sent
    # malformed XML: the parser's line, and the text kept
    broken = (
        form["xml"].replace("</abstract>", "</abstrac>")
        if "</abstract>" in form["xml"]
        else form["xml"][:-20]
    )
    response = client.post(f"/records/{RID}/edit", data={**form, "xml": broken, "action": "save"})
    assert response.status_code == 422 and form_of(response.get_data(as_text=True))["xml"] == broken
    assert 'class="line"' in response.get_data(as_text=True)


def test_a_second_catalogers_stale_save_is_refused_with_what_changed(app, repo: Repository) -> None:
    wang, li = login(app, "wang"), login(app, "li")
    _, wang_form = edit_page(wang)
    _, li_form = edit_page(li)
    assert (
        wang.post(
            f"/records/{RID}/edit", data={**wang_form, "title": "王的标题", "action": "save"}
        ).status_code
        == 303
    )
    response = li.post(f"/records/{RID}/edit", data={**li_form, "title": "李的标题", "action": "save"})
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert repo.store.get(RID).version == 2 and "王的标题" in repo.store.version(RID).xml.decode()
    assert "王的标题" in page and "wang" in page  # who saved, and what they changed
    again = form_of(page)
    assert "<title>李的标题</title>" in again["xml"]  # li's work is kept
    assert again["version"] == "2"  # saving again is a deliberate choice, made after seeing the change


def test_history_diff_revert_delete_and_restore(app, repo: Repository) -> None:
    client = login(app)
    _, form = edit_page(client)
    client.post(
        f"/records/{RID}/edit", data={**form, "title": "改过的标题", "why": "retitled", "action": "save"}
    )
    history = client.get(f"/records/{RID}/history").get_data(as_text=True)
    assert "retitled" in history and "wang" in history and "import" in history
    diff = client.get(f"/records/{RID}/diff?a=1&b=2").get_data(as_text=True)
    assert "<del>老码头的早市 第1篇</del>" in diff and "<ins>改过的标题</ins>" in diff
    assert client.get(f"/records/{RID}/versions/1").status_code == 200
    assert client.get(f"/records/{RID}/versions/9").status_code == 404

    token = _token(history)
    # revert needs a reason
    assert (
        client.post(
            f"/records/{RID}/revert", data={"csrf_token": token, "version": 2, "target": 1}
        ).status_code
        == 400
    )
    r = client.post(
        f"/records/{RID}/revert", data={"csrf_token": token, "version": 2, "target": 1, "why": "undo"}
    )
    assert r.status_code == 303 and repo.store.get(RID).version == 3
    assert repo.store.version(RID).xml == repo.store.version(RID, 1).xml
    # a revert made from an old page (version 2) is refused: someone changed the record since
    r = client.post(
        f"/records/{RID}/revert", data={"csrf_token": token, "version": 2, "target": 2, "why": "x"}
    )
    assert r.status_code == 409 and repo.store.get(RID).version == 3

    r = client.post(f"/records/{RID}/delete", data={"csrf_token": token, "version": 3, "why": "duplicate"})
    assert r.status_code == 303 and repo.store.get(RID).deleted
    assert client.get(f"/records/{RID}").status_code == 410
    assert client.get(f"/records/{RID}/edit").status_code == 410
    assert "deleted" in client.get(f"/records/{RID}/history").get_data(as_text=True)
    r = client.post(
        f"/records/{RID}/restore", data={"csrf_token": token, "version": 4, "why": "not a duplicate"}
    )
    assert r.status_code == 303 and not repo.store.get(RID).deleted and repo.store.get(RID).version == 5
    assert client.get(f"/records/{RID}").status_code == 200


def test_a_new_record_from_the_collection_template(app, repo: Repository) -> None:
    client = login(app)
    page = client.get("/records/new?collection=media").get_data(as_text=True)
    form = form_of(page)
    rid = form["identifier"]
    assert rid.startswith("media-") and f'<recordIdentifier source="local">{rid}' in form["xml"]
    # the template alone is not a valid article: it is refused, nothing stored, the text kept
    refused = client.post("/records/new", data={**form, "action": "save"})
    assert refused.status_code == 422 and repo.store.get(rid) is None
    form.update(
        identifier="media-2024-05-01-new001",
        title="星海广场的夜",
        newspaper="大连日报",
        date="2024-05-01",
        page="A2",
        fulltext="夜色中的星海广场。",
        why="new article",
        action="save",
    )
    form["name"] = ["刘德斌"] + [""] * (len(form["name"]) - 1)
    response = client.post("/records/new", data=form)
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    state = repo.store.get("media-2024-05-01-new001")
    assert state is not None and state.version == 1 and state.title == "星海广场的夜"
    xml = repo.store.version(state.id).xml.decode()
    assert "/records/media-2024-05-01-new001/text" in xml and rid not in xml
    assert repo.store.version(state.id).fulltext == "夜色中的星海广场。"
    # the same identifier again: refused, the form kept
    again = client.post("/records/new", data=form)
    assert again.status_code == 409 and "已存在" in again.get_data(as_text=True)


def test_upload_of_records_a_collection_and_a_legacy_page_all_or_nothing(app, repo: Repository) -> None:
    client = login(app)
    token = _token(client.get("/upload").get_data(as_text=True))
    collection = (
        b'<?xml version="1.0" encoding="UTF-8"?><modsCollection xmlns="http://www.loc.gov/mods/v3">'
        + b"".join(article(i).split(b"?>", 1)[1] for i in (11, 12))
        + b"</modsCollection>"
    )
    bad = article(13).replace(b">2019-06-02<", b">not a date<")
    files = [(BytesIO(article(10)), "one.xml"), (BytesIO(collection), "two.xml"), (BytesIO(bad), "bad.xml")]
    response = client.post(
        "/upload",
        data={"csrf_token": token, "files": files, "why": "batch"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and "bad.xml" in response.get_data(as_text=True)
    assert all(repo.store.get(record_id(i)) is None for i in (10, 11, 12, 13))  # none stored

    seed = next((SHARED / "seed").iterdir())
    files = [
        (BytesIO(article(10)), "one.xml"),
        (BytesIO(collection), "two.xml"),
        (seed.open("rb"), seed.name),
    ]
    response = client.post(
        "/upload",
        data={"csrf_token": token, "files": files, "why": "batch"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_data(as_text=True)[:2000]
    assert all(repo.store.get(record_id(i)) is not None for i in (10, 11, 12))
    page = response.get_data(as_text=True)
    assert page.count('href="/records/media-') >= 4  # the three MODS records and the legacy page
    files = [(BytesIO(article(10)), "one.xml")]
    again = client.post(
        "/upload", data={"csrf_token": token, "files": files}, content_type="multipart/form-data"
    )
    assert again.status_code == 409 and record_id(10) in again.get_data(as_text=True)


def test_roles_and_csrf(app, repo: Repository) -> None:
    anonymous = app.test_client()
    assert anonymous.get(f"/records/{RID}/edit").status_code == 303  # to the login page
    assert anonymous.post(f"/records/{RID}/edit", data={"xml": "x"}).status_code in (400, 401)
    reader = login(app, "zhao")
    assert reader.get(f"/records/{RID}/history").status_code == 200
    assert reader.get(f"/records/{RID}/edit").status_code == 403
    assert reader.get("/admin/audit").status_code == 403
    assert "/edit" not in reader.get(f"/records/{RID}").get_data(as_text=True)

    client = login(app)
    _, form = edit_page(client)
    del form["csrf_token"]
    response = client.post(f"/records/{RID}/edit", data={**form, "title": "X", "action": "save"})
    assert response.status_code == 400 and repo.store.get(RID).version == 1
    token = _token(client.get(f"/records/{RID}/history").get_data(as_text=True))
    assert client.post(f"/records/{RID}/delete", data={"version": 1, "why": "x"}).status_code == 400
    assert client.post(f"/records/{RID}/delete", data={"csrf_token": token, "version": 1}).status_code == 400
    assert not repo.store.get(RID).deleted


def test_the_audit_log_page_for_administrators(app) -> None:
    client = login(app)
    _, form = edit_page(client)
    client.post(f"/records/{RID}/edit", data={**form, "title": "审计", "why": "audit me", "action": "save"})
    admin = login(app, "admin")
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert "record-update" in page and "audit me" in page and "wang" in page and RID in page
    filtered = admin.get("/admin/audit?who=nobody").get_data(as_text=True)
    assert "audit me" not in filtered
    assert admin.get("/admin/audit?before=abc&action=%00").status_code == 200


def test_what_only_the_browser_changed_makes_no_new_version(app, repo: Repository) -> None:
    """Text areas come back with CRLF line breaks and lose a leading one: neither is an edit."""
    state = repo.store.get(RID)
    xml = repo.store.version(RID).xml
    repo.save(
        repo.prepare(xml, fulltext="\n第一段。\r\n第二段。\r\n"), state.version, who="import", why="CRLF"
    )
    client = login(app)
    _, form = edit_page(client)
    crlf = {  # as a browser sends a text area: line breaks normalised to LF when parsed, CRLF when sent
        k: v.replace("\r\n", "\n").replace("\n", "\r\n") if k in ("xml", "fulltext") else v
        for k, v in form.items()
    }
    response = client.post(f"/records/{RID}/edit", data={**crlf, "action": "save"})
    assert response.status_code == 303
    assert (
        repo.store.get(RID).version == 2 and repo.store.version(RID).fulltext == "\n第一段。\r\n第二段。\r\n"
    )
    # a bogus version number is a refused form, not an error
    assert (
        client.post(f"/records/{RID}/edit", data={**form, "version": "0", "action": "save"}).status_code
        == 409
    )


def test_a_form_edit_keeps_the_records_own_layout(app, repo: Repository) -> None:
    """The prolog (declaration, comments) and the root's start tag stay as the cataloger typed them."""
    client = login(app)
    _, form = edit_page(client)
    head = form["xml"][: form["xml"].index("<titleInfo")]
    assert (
        "<!--" in head and "\n" in head.split("<mods", 1)[1]
    )  # the example has a comment and a long root tag
    response = client.post(f"/records/{RID}/edit", data={**form, "page": "B9", "action": "save"})
    assert response.status_code == 303
    xml = repo.store.version(RID).xml.decode()
    assert xml.startswith(head) and "<number>B9</number>" in xml
    before = repo.store.version(RID, 1).xml.decode().splitlines()
    changed = set(xml.splitlines()) ^ set(before)
    assert all("B9" in line or "detail" in line or "part>" in line for line in changed), changed


def test_a_form_change_made_while_the_xml_is_broken_is_kept_for_the_next_save(app, repo: Repository) -> None:
    client = login(app)
    _, form = edit_page(client)
    broken = form["xml"].replace("</abstract>", "</abstrac>")
    response = client.post(
        f"/records/{RID}/edit", data={**form, "xml": broken, "page": "B9", "action": "save"}
    )
    assert response.status_code == 422 and repo.store.get(RID).version == 1
    again = form_of(response.get_data(as_text=True))
    assert again["page"] == "B9" and again["xml"] == broken
    again["xml"] = form["xml"]
    assert client.post(f"/records/{RID}/edit", data={**again, "action": "save"}).status_code == 303
    assert "<number>B9</number>" in repo.store.version(RID).xml.decode()
