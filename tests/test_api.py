"""The REST API over real HTTP: a werkzeug server on 127.0.0.1 in a thread, ``requests`` as the client."""

from __future__ import annotations

import json
import re
import threading
from urllib.parse import quote

import pytest
import requests
from conftest import EXAMPLE
from factory import article, record_id
from werkzeug.serving import make_server

from repository.app import create_app
from repository.service import Repository

RID = "media-2019-06-02-0001"
PASSWORD = "correct horse battery"
MODS = {"Content-Type": "application/mods+xml"}

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<mods xmlns="http://www.loc.gov/mods/v3"><titleInfo><title>&lol9;</title></titleInfo></mods>
"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE mods [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<mods xmlns="http://www.loc.gov/mods/v3"><titleInfo><title>&xxe;</title></titleInfo>
<recordInfo><recordIdentifier>media-2019-06-02-0001</recordIdentifier></recordInfo></mods>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE mods SYSTEM "http://127.0.0.1:9/evil.dtd">
<mods xmlns="http://www.loc.gov/mods/v3"><titleInfo><title>x</title></titleInfo></mods>
"""


class Server:
    def __init__(self, repo: Repository, url: str, tokens: dict[str, str]):
        self.repo, self.url, self.tokens = repo, url, tokens
        self.accounts = None

    def auth(self, who: str = "cataloger") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def record(self, rid: str = RID) -> str:
        return f"{self.url}/api/records/{rid}"


@pytest.fixture
def server(repo: Repository):
    repo.save(repo.prepare(EXAMPLE.read_bytes(), fulltext="第一段。", source="x"), 0, who="seed", why="seed")
    app = create_app(repo)
    accounts = app.extensions["accounts"]
    accounts.add_user("wang", PASSWORD, "cataloger")
    accounts.add_user("li", PASSWORD, "reader")
    tokens = {"cataloger": accounts.create_token("wang"), "reader": accounts.create_token("li")}
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    s = Server(repo, f"http://127.0.0.1:{httpd.server_port}", tokens)
    s.accounts = accounts
    yield s
    httpd.shutdown()
    thread.join(5)


def _edited(title: str = "老码头的早市(修订)") -> bytes:
    return EXAMPLE.read_bytes().replace("老码头的早市".encode(), title.encode(), 1)


def _collection(*records: bytes) -> bytes:
    body = b"".join(re.sub(rb"^<\?xml[^>]*\?>\s*(<!--.*?-->\s*)?", b"", r, flags=re.S) for r in records)
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<modsCollection xmlns="http://www.loc.gov/mods/v3">'
        + body
        + b"</modsCollection>"
    )


def _is_json_error(response: requests.Response) -> dict:
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    data = response.json()
    assert isinstance(data["error"], str) and isinstance(data["problems"], list)
    return data


# ---------------------------------------------------------------------- reading
def test_get_record_as_mods_and_json_with_its_version_as_etag(server: Server) -> None:
    response = requests.get(server.record())
    assert response.status_code == 200 and response.headers["ETag"] == '"1"'
    assert response.headers["Content-Type"].startswith("application/mods+xml")
    assert response.content == EXAMPLE.read_bytes()
    data = requests.get(server.record(), headers={"Accept": "application/json"}).json()
    assert data["id"] == RID and data["version"] == 1 and data["deleted"] is False
    assert data["collection"] == "media" and data["title"].startswith("老码头的早市")
    assert data["xml"] == EXAMPLE.read_text(encoding="utf-8") and data["fulltext"] == "第一段。"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["datestamp"])
    assert requests.get(server.record(), headers={"If-None-Match": '"1"'}).status_code == 304
    missing = requests.get(server.record("no-such-record"))
    assert missing.status_code == 404 and _is_json_error(missing)
    assert requests.get(f"{server.url}/api/records/{quote('../etc', safe='')}").status_code == 404
    assert requests.get(f"{server.url}/api/nothing-here").status_code == 404


# ---------------------------------------------------------------------- PUT
def test_put_with_if_match_saves_a_new_version_and_keeps_the_full_text(server: Server) -> None:
    reason = "改正标题 fix the title"
    response = requests.put(
        server.record(),
        data=_edited(),
        headers={**MODS, **server.auth(), "If-Match": '"1"', "X-Reason": quote(reason)},
    )
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"' and response.json()["version"] == 2
    v = server.repo.store.version(RID)
    assert v.version == 2 and v.who == "wang" and v.why == reason and v.fulltext == "第一段。"
    assert "修订" in server.repo.store.get(RID).title
    [entry] = server.accounts.audit_log(action="record-update")
    assert (entry.who, entry.record_id, entry.version, entry.reason) == ("wang", RID, 2, reason)
    assert entry.address == "127.0.0.1" and entry.detail["via"] == "token"
    # JSON body: XML, full text and reason together
    response = requests.put(
        server.record(),
        json={"xml": _edited("第三版").decode(), "fulltext": "新的全文。", "why": "JSON edit"},
        headers={**server.auth(), "If-Match": '"2"'},
    )
    assert response.status_code == 200 and response.headers["ETag"] == '"3"'
    v = server.repo.store.version(RID)
    assert v.fulltext == "新的全文。" and v.why == "JSON edit"


def test_a_stale_if_match_is_refused_with_412_and_changes_nothing(server: Server) -> None:
    headers = {**MODS, **server.auth(), "If-Match": '"1"'}
    assert requests.put(server.record(), data=_edited("甲"), headers=headers).status_code == 200
    # a second cataloger, still holding version 1
    response = requests.put(server.record(), data=_edited("乙"), headers=headers)
    assert response.status_code == 412 and response.headers["ETag"] == '"2"'
    assert "version 2" in _is_json_error(response)["error"]
    assert server.repo.store.get(RID).version == 2 and "甲" in server.repo.store.get(RID).title


def test_if_match_is_required(server: Server) -> None:
    for headers in ({}, {"If-Match": "*"}):
        response = requests.put(server.record(), data=_edited(), headers={**MODS, **server.auth(), **headers})
        assert response.status_code == 428, headers
        assert "If-Match" in _is_json_error(response)["error"]
    response = requests.put(
        server.record(), data=_edited(), headers={**MODS, **server.auth(), "If-Match": "x"}
    )
    assert response.status_code == 400
    response = requests.delete(server.record(), headers={**server.auth(), "X-Reason": "dup"})
    assert response.status_code == 428
    assert server.repo.store.get(RID).version == 1


def test_wrong_credentials_are_401_and_the_wrong_role_403(server: Server) -> None:
    put = {"data": _edited(), "headers": {**MODS, "If-Match": '"1"'}}
    response = requests.put(server.record(), **put)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].lower().startswith("bearer")
    _is_json_error(response)
    bad = {"Authorization": "Bearer dlr_not-a-token"}
    response = requests.put(server.record(), data=_edited(), headers={**put["headers"], **bad})
    assert response.status_code == 401 and "invalid_token" in response.headers["WWW-Authenticate"]
    assert requests.get(server.record(), headers=bad).status_code == 401  # a bad token is never ignored
    assert requests.get(server.record(), headers={"Authorization": "Basic d2FuZzp4"}).status_code == 401
    response = requests.put(
        server.record(), data=_edited(), headers={**put["headers"], **server.auth("reader")}
    )
    assert response.status_code == 403 and "cataloger" in _is_json_error(response)["error"]
    response = requests.post(
        f"{server.url}/api/records", data=article(1), headers={**MODS, **server.auth("reader")}
    )
    assert response.status_code == 403
    # a revoked token stops working at once
    token_id = server.accounts.tokens("wang")[0].id
    server.accounts.revoke_token(token_id)
    response = requests.put(server.record(), data=_edited(), headers={**put["headers"], **server.auth()})
    assert response.status_code == 401
    assert server.repo.store.get(RID).version == 1 and server.repo.store.get(record_id(1)) is None


def test_an_invalid_record_is_422_with_its_problems_and_nothing_is_stored(server: Server) -> None:
    bad = EXAMPLE.read_bytes().replace(b">2019-06-02</dateIssued>", b">June 2019</dateIssued>")
    response = requests.put(server.record(), data=bad, headers={**MODS, **server.auth(), "If-Match": '"1"'})
    assert response.status_code == 422
    problems = _is_json_error(response)["problems"]
    assert any(p["element"] == "dateIssued" and p["line"] == 24 and p["message"] for p in problems), problems
    # a record sent to another record's URL
    response = requests.put(
        server.record(), data=article(7), headers={**MODS, **server.auth(), "If-Match": '"1"'}
    )
    assert response.status_code == 422 and "recordIdentifier" in response.text
    assert server.repo.store.get(RID).version == 1
    assert not server.accounts.audit_log(action="record-update")


def test_hostile_xml_is_refused_and_harms_nothing(server: Server) -> None:
    # libxml2 stops the billion laughs itself (entity amplification); the DOCTYPE check refuses the others
    for payload, why in ((BILLION_LAUGHS, "amplification"), (XXE, "DOCTYPE"), (EXTERNAL_DTD, "DOCTYPE")):
        for method, url, extra in (
            ("PUT", server.record(), {"If-Match": '"1"'}),
            ("POST", f"{server.url}/api/records", {}),
        ):
            response = requests.request(
                method, url, data=payload, headers={**MODS, **server.auth(), **extra}, timeout=10
            )
            assert response.status_code in (400, 422), (method, response.status_code)
            data = _is_json_error(response)
            assert data["problems"][0]["rule"] == "xml" and why in json.dumps(data)
            assert "root:" not in response.text and "lollol" not in response.text
    assert server.repo.store.get(RID).version == 1 and server.repo.store.count() == 1
    assert requests.get(server.record()).status_code == 200  # and the server is fine


def test_oversized_bodies_are_413(server: Server) -> None:
    too_big = b"<mods>" + b" " * (9 * 1024 * 1024) + b"</mods>"  # over MAX_CONTENT_LENGTH (8 MiB)
    try:
        response = requests.post(f"{server.url}/api/records", data=too_big, headers={**MODS, **server.auth()})
    except requests.ConnectionError:  # pragma: no cover - the server may close before reading it all
        pytest.fail("the server closed the connection instead of answering 413")
    assert response.status_code == 413 and _is_json_error(response)
    # under the request limit but over the XML parser's own (5 MB)
    big = b"<mods>" + b" " * (6 * 1024 * 1024) + b"</mods>"
    response = requests.post(f"{server.url}/api/records", data=big, headers={**MODS, **server.auth()})
    assert response.status_code == 413 and "limit" in _is_json_error(response)["error"]
    assert server.repo.store.count() == 1


def test_wrong_content_type_is_415(server: Server) -> None:
    for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {**server.auth(), "If-Match": '"1"'}
        if ctype:
            headers["Content-Type"] = ctype
        response = requests.put(server.record(), data=_edited(), headers=headers)
        assert response.status_code == 415, ctype
        _is_json_error(response)


def test_malformed_requests_never_fail_with_500(server: Server) -> None:
    auth = {**server.auth(), "If-Match": '"1"'}
    cases = [
        (
            "PUT",
            server.record(),
            {"data": b"{not json", "headers": {**auth, "Content-Type": "application/json"}},
        ),
        ("PUT", server.record(), {"json": ["a list"], "headers": auth}),
        ("PUT", server.record(), {"json": {"xml": 5}, "headers": auth}),
        ("PUT", server.record(), {"json": {"xml": "<mods/>", "fulltext": 3}, "headers": auth}),
        ("PUT", server.record(), {"data": b"", "headers": {**auth, **MODS}}),
        ("PUT", server.record(), {"data": b"\xff\xfe<<", "headers": {**auth, **MODS}}),
        ("PUT", server.record(), {"data": "<mods/>".encode("utf-16"), "headers": {**auth, **MODS}}),
        ("PUT", server.record("x" * 300), {"data": _edited(), "headers": {**auth, **MODS}}),
        ("PUT", server.record(), {"data": _edited(), "headers": {**auth, **MODS, "If-Match": '"1", "2"'}}),
        ("PUT", server.record(), {"data": _edited(), "headers": {**auth, **MODS, "If-Match": 'W/"1"'}}),
        ("POST", f"{server.url}/api/records", {"data": _collection(), "headers": {**auth, **MODS}}),
        ("POST", f"{server.url}/api/records", {"data": b"<foo/>", "headers": {**auth, **MODS}}),
        ("POST", f"{server.url}/api/records/{RID}/restore", {"json": {"version": "x"}, "headers": auth}),
        ("POST", f"{server.url}/api/records/{RID}/restore", {"data": b"x", "headers": auth}),
        ("PATCH", server.record(), {"headers": auth}),
        ("GET", f"{server.url}/api/changes?since=yesterday", {}),
        ("GET", f"{server.url}/api/changes?since=99999-01-01", {}),
        ("GET", f"{server.url}/api/changes?limit=0", {}),
        ("GET", f"{server.url}/api/changes?since=2020-01-01&after=x", {}),
        ("GET", f"{server.url}/api/records/{RID}/versions/99", {"headers": auth}),
    ]
    for method, url, kwargs in cases:
        response = requests.request(method, url, timeout=10, **kwargs)
        assert 400 <= response.status_code < 500, (method, url, kwargs, response.status_code, response.text)
        _is_json_error(response)
    assert server.repo.store.get(RID).version == 1


# ---------------------------------------------------------------------- POST
def test_post_creates_a_record_201_with_location_and_409_when_it_exists(server: Server) -> None:
    url = f"{server.url}/api/records"
    response = requests.post(url, data=article(1), headers={**MODS, **server.auth(), "X-Reason": "new"})
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == server.record(record_id(1)) and response.headers["ETag"] == '"1"'
    assert requests.get(response.headers["Location"]).content == article(1)
    assert server.repo.store.version(record_id(1)).why == "new"
    again = requests.post(url, data=article(1), headers={**MODS, **server.auth()})
    assert again.status_code == 409 and _is_json_error(again)["existing"] == [record_id(1)]
    # JSON with the full text
    response = requests.post(
        url, json={"xml": article(2).decode(), "fulltext": "全文"}, headers=server.auth()
    )
    assert response.status_code == 201 and server.repo.store.version(record_id(2)).fulltext == "全文"
    assert [e.record_id for e in server.accounts.audit_log(action="record-create")] == [
        record_id(2),
        record_id(1),
    ]


def test_a_mods_collection_is_stored_all_or_nothing(server: Server) -> None:
    url = f"{server.url}/api/records"
    headers = {**MODS, **server.auth()}
    bad = article(12).replace(b">2019-06-02</dateIssued>", b">someday</dateIssued>")
    response = requests.post(url, data=_collection(article(10), article(11), bad), headers=headers)
    assert response.status_code == 422
    assert any(p["element"] == "dateIssued" for p in _is_json_error(response)["problems"])
    # one member already exists
    response = requests.post(url, data=_collection(article(10), EXAMPLE.read_bytes()), headers=headers)
    assert response.status_code == 409 and _is_json_error(response)["existing"] == [RID]
    # the same record twice
    response = requests.post(url, data=_collection(article(10), article(10)), headers=headers)
    assert response.status_code == 422
    assert server.repo.store.count() == 1  # none of them went in
    response = requests.post(url, data=_collection(article(10), article(11), article(12)), headers=headers)
    assert response.status_code == 201, response.text
    assert [c["id"] for c in response.json()["created"]] == [record_id(10), record_id(11), record_id(12)]
    assert server.repo.store.count() == 4
    assert len(server.accounts.audit_log(action="record-create")) == 3


# ---------------------------------------------------------------------- delete, restore, history
def test_delete_needs_if_match_and_a_reason_and_can_be_restored(server: Server) -> None:
    auth = server.auth()
    assert requests.delete(server.record(), headers={**auth, "If-Match": '"1"'}).status_code == 400
    response = requests.delete(server.record(), headers={**auth, "If-Match": '"1"', "X-Reason": "duplicate"})
    assert response.status_code == 200 and response.headers["ETag"] == '"2"'
    assert response.json()["deleted"] is True
    gone = requests.get(server.record())
    assert gone.status_code == 410 and gone.headers["ETag"] == '"2"' and _is_json_error(gone)
    assert (
        requests.put(server.record(), data=_edited(), headers={**auth, **MODS, "If-Match": '"2"'}).status_code
        == 410
    )
    restore = f"{server.record()}/restore"
    assert requests.post(restore, headers={**auth, "If-Match": '"1"'}).status_code == 412
    response = requests.post(restore, headers={**auth, "If-Match": '"2"', "X-Reason": "not a duplicate"})
    assert response.status_code == 200 and response.headers["ETag"] == '"3"'
    assert requests.get(server.record()).content == EXAMPLE.read_bytes()
    actions = [(e.action, e.version) for e in server.accounts.audit_log() if e.record_id == RID]
    assert actions == [("record-restore", 3), ("record-delete", 2)]


def test_history_and_old_versions_need_an_account(server: Server) -> None:
    headers = {**MODS, **server.auth(), "If-Match": '"1"', "X-Reason": "edit"}
    requests.put(server.record(), data=_edited(), headers=headers)
    assert requests.get(f"{server.record()}/versions").status_code == 401
    response = requests.get(f"{server.record()}/versions", headers=server.auth("reader"))
    assert response.status_code == 200
    versions = response.json()["versions"]
    assert [(v["version"], v["who"], v["why"], v["action"]) for v in versions] == [
        (1, "seed", "seed", "create"),
        (2, "wang", "edit", "update"),
    ]
    old = requests.get(versions[0]["url"], headers=server.auth("reader"))
    assert old.status_code == 200 and old.content == EXAMPLE.read_bytes()
    assert old.headers["X-Record-Version"] == "1"
    as_json = requests.get(
        versions[0]["url"], headers={**server.auth("reader"), "Accept": "application/json"}
    )
    assert as_json.json()["fulltext"] == "第一段。"


# ---------------------------------------------------------------------- changes
def _all_pages(url: str) -> list[dict]:
    seen, pages = [], 0
    while url:
        data = requests.get(url).json()
        seen += data["changes"]
        url = data["next"]
        pages += 1
        assert pages < 50
    return seen


def test_changes_since_a_sequence_number_or_a_date_paged(server: Server) -> None:
    repo = server.repo
    for i in range(5):
        repo.save(repo.prepare(article(i), source=str(i)), 0, who="t", why="t")
    base = f"{server.url}/api/changes"
    everything = requests.get(base).json()
    assert everything["count"] == 6 and everything["next"] is None
    last = everything["last_seq"]
    assert [c["seq"] for c in everything["changes"]] == sorted(c["seq"] for c in everything["changes"])

    paged = _all_pages(f"{base}?limit=2")
    assert [c["id"] for c in paged] == [c["id"] for c in everything["changes"]]

    assert requests.get(f"{base}?since={last}").json()["changes"] == []
    headers = {**MODS, **server.auth(), "If-Match": '"1"', "X-Reason": "x"}
    requests.put(server.record(), data=_edited(), headers=headers)
    requests.delete(server.record(record_id(3)), headers=headers)
    since = requests.get(f"{base}?since={last}").json()
    assert [(c["id"], c["version"], c["deleted"]) for c in since["changes"]] == [
        (RID, 2, False),
        (record_id(3), 2, True),
    ]

    # by date: every record since long ago, page by page, each once
    by_date = _all_pages(f"{base}?since=2000-01-01&limit=4")
    assert sorted(c["id"] for c in by_date) == sorted([RID] + [record_id(i) for i in range(5)])
    assert requests.get(f"{base}?since=2999-01-01T00:00:00%2B08:00").json()["changes"] == []
    stamp = repo.store.get(record_id(3)).datestamp
    recent = requests.get(f"{base}?since={stamp}").json()["changes"]
    assert record_id(3) in [c["id"] for c in recent]
    assert all(c["datestamp"] >= stamp for c in recent)


# ---------------------------------------------------------------------- the browser's session
def test_a_session_cookie_works_with_the_csrf_token(server: Server) -> None:
    browser = requests.Session()
    login = browser.get(f"{server.url}/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
    response = browser.post(
        f"{server.url}/login", data={"name": "wang", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 200 and "wang" in response.text  # followed the redirect home
    token = re.search(r'name="csrf_token" value="([^"]+)"', response.text).group(1)
    headers = {**MODS, "If-Match": '"1"'}
    response = browser.put(server.record(), data=_edited(), headers=headers)
    assert response.status_code == 400 and "CSRF" in _is_json_error(response)["error"]
    assert server.repo.store.get(RID).version == 1
    response = browser.put(server.record(), data=_edited(), headers={**headers, "X-CSRF-Token": token})
    assert response.status_code == 200 and server.repo.store.version(RID).who == "wang"
    assert server.accounts.audit_log(action="record-update")[0].detail["via"] == "session"
