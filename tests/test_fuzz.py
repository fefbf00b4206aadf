"""Hostile input at every public endpoint (issue 7): hypothesis-generated query strings, paths and bodies.

OAI-PMH, the catalogue, SPARQL, the REST API and the editing forms each get random and malicious
input; none may answer 500, none may take longer than :data:`LIMIT` (a request that does is failed
and abandoned, so a hang fails the suite instead of stopping it), and the XML attacks of
``safety.md`` (billion laughs, external entities reading a local file, external DTDs, huge
attributes, deep nesting) are refused with a 4xx that names the problem, storing nothing.

All tests share one module-wide app (its instance: a few records, page size 3, a SPARQL time limit
of 2 s) and run derandomized, so a failure is the same on every run.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from urllib.parse import quote, urlencode

import lxml.html
import pytest
from conftest import EXAMPLE, SEED
from factory import article, record_id
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from test_editing import form_of
from test_oai_protocol import check as check_oai
from test_oai_protocol import error_codes

from repository import importer
from repository.app import create_app
from repository.config import Settings
from repository.linkeddata import EXAMPLES as SPARQL_EXAMPLES
from repository.service import Repository

#: Seconds any one request may take. The SPARQL limit is 2 s; a query stopped by it costs a new
#: worker process as well (about a second on a loaded machine).
LIMIT = 8.0
PASSWORD = "correct horse battery"
EDITED = record_id(900)  # the record the editor fuzz saves to (random forms may make valid edits)
HISTORY = record_id(901)  # the record the history forms (delete, restore, revert) are fuzzed on
GONE = record_id(902)  # a deleted record
OAI_ERRORS = {"badArgument", "badResumptionToken", "badVerb", "cannotDisseminateFormat",
              "idDoesNotExist", "noRecordsMatch", "noMetadataFormats", "noSetHierarchy"}  # fmt: skip
XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def fuzz(n: int) -> settings:
    """Deterministic runs (same examples every time, no example database) of ``n`` examples."""
    return settings(
        max_examples=n,
        deadline=None,  # each request has its own wall-clock guard (Site.request)
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# ---------------------------------------------------------------------------------------------- the site
class Site:
    """The app under test and what the tests need to know about it (shown as ``site`` in failures)."""

    def __init__(self, **kw: object):
        self.app, self.repo = kw["app"], kw["repo"]
        self.client, self.editor = kw["client"], kw["editor"]  # anonymous; logged in as a cataloger
        self.admin = kw["admin"]  # logged in as an administrator
        self.csrf: str = kw["csrf"]  # the cataloger's CSRF token
        self.tokens: dict[str, str] = kw["tokens"]  # role → API token
        self.ids: list[str] = kw["ids"]  # live records
        self.oai_ids: list[str] = kw["oai_ids"]
        self.token: str = kw["token"]  # a valid OAI-PMH resumption token
        self.secret: Path = kw["secret"]  # a local file the XXE attacks try to read
        self.runner = [ThreadPoolExecutor(1, thread_name_prefix="fuzz")]

    def request(self, method: str, url: str, *, client=None, **kw):  # noqa: ANN001, ANN201
        """One request through the test client, failed if it takes longer than LIMIT (then abandoned).

        Requests run on one long-lived thread (the stores keep a connection per thread), which is
        replaced if a request hangs.
        """
        client = client or self.client
        started = time.monotonic()
        future = self.runner[0].submit(client.open, url, method=method, **kw)
        try:
            response = future.result(timeout=LIMIT)
        except FutureTimeout:
            self.runner[0] = ThreadPoolExecutor(1, thread_name_prefix="fuzz")  # the old one is stuck
            pytest.fail(f"{method} {url[:200]!r} did not answer within {LIMIT:g} s")
        elapsed = time.monotonic() - started
        assert elapsed < LIMIT, f"{method} {url[:200]!r} took {elapsed:.1f} s"
        return response

    def __repr__(self) -> str:
        return "site"

    def changes(self) -> int:
        """The store's change sequence: any version stored moves it."""
        return self.repo.store.max_seq()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    tmp = tmp_path_factory.mktemp("fuzz")
    config = Settings(
        base_url="http://repo.test",
        oai_page_size=3,
        sparql_timeout=2.0,
        sparql_rows=200,
        sparql_concurrency=2,
    )
    repo = Repository(tmp / "instance", settings=config)
    importer.import_paths(repo, [SEED, EXAMPLE])
    for i, (paper, date) in enumerate([("大连日报", "2018-01-05"), ("辽宁日报", "2020-12-31")], 1):
        repo.save(
            repo.prepare(article(i, newspaper=paper, date=date), fulltext="第一段。"), 0, who="t", why="t"
        )
    for i in (900, 901, 902):
        repo.save(repo.prepare(article(i), fulltext="全文。"), 0, who="t", why="t")
    repo.delete(GONE, who="t", why="withdrawn")
    app = create_app(repo)
    app.extensions["graph"].catch_up()
    app.extensions["search"].catch_up()
    accounts = app.extensions["accounts"]
    accounts.add_user("wang", PASSWORD, "cataloger")
    accounts.add_user("li", PASSWORD, "reader")
    tokens = {"cataloger": accounts.create_token("wang"), "reader": accounts.create_token("li")}
    accounts.add_user("admin", PASSWORD, "administrator")
    editor, admin = _logged_in(app, "wang"), _logged_in(app, "admin")
    csrf = _csrf(editor.get(f"/records/{EDITED}/edit").get_data(as_text=True))
    client = app.test_client()
    first = client.get("/oai", query_string={"verb": "ListRecords", "metadataPrefix": "oai_dc"})
    token = check_oai(first).find(".//{http://www.openarchives.org/OAI/2.0/}resumptionToken").text
    ids = [s.id for s in (repo.store.get(i) for i in _all_ids(repo)) if s and not s.deleted]
    prefix = f"oai:{config.oai_identifier}:"
    secret = tmp / "secret.txt"
    secret.write_text("FUZZ-SECRET-7f3a9c")
    oai_ids = [prefix + i for i in ids] + [prefix + GONE]
    site = Site(
        app=app, repo=repo, client=client, editor=editor, admin=admin, csrf=csrf, tokens=tokens, ids=ids,
        oai_ids=oai_ids, token=token, secret=secret,
    )  # fmt: skip
    yield site
    for runner in site.runner:
        runner.shutdown(wait=False)
    service = app.extensions.get("sparql")
    if service is not None:
        service.close()
    repo.close()


def _logged_in(app, name: str):  # noqa: ANN001, ANN202 - a FlaskClient with a session
    client = app.test_client()
    token = _csrf(client.get("/login").get_data(as_text=True))
    answer = client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 303
    return client


def _all_ids(repo: Repository) -> list[str]:
    return [row[0] for row in repo.store.changed_since(0, 1000)]


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


# ---------------------------------------------------------------------------------------------- strategies
#: Characters and fragments that break naive code: controls, XML specials, escapes, path tricks.
NASTY = [
    "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\ufeff", "\ufffe", "\uffff",
    "\u202e", "\u2028", "\U0001f600", "'", '"', "<", ">", "&", "&amp;", "&#0;", "]]>", "%", "%00", "%ff",
    "%2e%2e", "..", "../", "/", "\\", "\r\n", "\n", "\t", ";", "#", "?", "=", "+", " ", "*", "²", "٣",
    "<script>alert(1)</script>", "大连", "遼寧日報", "ＡＢＣ", "NaN", "-1", "1e309", "0x10",
]  # fmt: skip
#: Put into values so that an unescaped echo is caught: it must never appear raw in a page.
MARKER = "<b id=fuzzmark>"


def huge(alphabet: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[str]:
    """A value of 5,000 to 20,000 characters (a repeated piece): past every limit of a field or a
    number, within what servers take in a request line."""
    piece = st.text(min_size=1, max_size=4) if alphabet is None else alphabet
    return st.builds(lambda p, n: (p * n)[:20_000], piece, st.integers(5_000, 20_000))


def hostile(max_size: int = 30) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=max_size),
        st.lists(st.one_of(st.sampled_from([*NASTY, MARKER]), st.text(max_size=3)), max_size=8).map("".join),
        huge(),
    )


def value(*known: str) -> st.SearchStrategy[str]:
    """A value a client might send: one of the known good ones, a mangled one, or anything hostile."""
    if not known:
        return hostile()
    good = st.sampled_from(known)
    mangled = st.builds(lambda v, i, s: v[:i] + s + v[i:], good, st.integers(0, 40), st.sampled_from(NASTY))
    return st.one_of(good, mangled, hostile())


def pairs(keys: list[str], values: dict[str, st.SearchStrategy[str]], max_size: int = 8):  # noqa: ANN201
    """A list of (name, value) parameters: known names (repeatable) and odd ones."""
    key = st.one_of(st.sampled_from(keys), hostile(12))
    return st.lists(key.flatmap(lambda k: st.tuples(st.just(k), values.get(k, hostile()))), max_size=max_size)


def raw_query() -> st.SearchStrategy[str]:
    """A query string as sent on the wire, not produced by an encoder: bad escapes, invalid UTF-8."""
    piece = st.one_of(
        st.binary(max_size=20).map(lambda b: "".join(f"%{x:02X}" for x in b)),
        st.sampled_from(["&", "=", "&&", "==", "%", "%g0", "%e4%b8", "+", ";", "verb=Identify", "q=大连"]),
        st.text(
            alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"), max_size=8
        ),
    )
    return st.lists(piece, max_size=12).map("".join)


def encoded(params: list[tuple[str, str]]) -> str:
    return urlencode(params, encoding="utf-8", errors="surrogatepass")


def check_html(response) -> None:  # noqa: ANN001
    """An HTML answer: decodable, parseable, with no unescaped echo of the marker."""
    if response.mimetype != "text/html":
        return
    body = response.get_data()
    text = body.decode("utf-8")  # a page is UTF-8, or this raises
    assert MARKER not in text, f"unescaped input in the page: {text[text.index(MARKER) - 200 :][:400]!r}"
    if body.strip():
        doc = lxml.html.document_fromstring(body)
        assert doc.find(".//body") is not None or doc.find(".//h1") is not None or len(doc)


# ============================================================================================== OAI-PMH
OAI_ARGS = ["verb", "identifier", "metadataPrefix", "from", "until", "set", "resumptionToken"]
VERBS = ["Identify", "ListMetadataFormats", "ListSets", "GetRecord", "ListIdentifiers", "ListRecords"]
DATES = ["2019-06-02", "2023-01-01T00:00:00Z", "2023-02-29", "2024-02-29", "2023-13-01", "0000-01-01",
         "9999-12-31T23:59:59Z", "2023-01-01T24:00:00Z", "2023-01-01T00:00:00+08:00", "2023-01-01T00:00Z",
         "１９９９-01-01", "2023-1-1", "-2023-01-01", "20230101"]  # fmt: skip


def tampered(token: str) -> st.SearchStrategy[str]:
    """A real token truncated, with a character replaced or inserted, re-padded, or spliced."""
    n = len(token)
    return st.one_of(
        st.integers(0, n - 1).map(lambda i: token[:i]),
        st.tuples(st.integers(0, n - 1), st.sampled_from([*"AZaz09-_.=+/", "\x00", "é"])).map(
            lambda t: token[: t[0]] + t[1] + token[t[0] + 1 :]
        ),
        st.tuples(st.integers(0, n), hostile(6)).map(lambda t: token[: t[0]] + t[1] + token[t[0] :]),
        st.just(token + "=="),
        st.just(token.replace(".", "")),
        st.just(token.split(".")[0] + "." + token.split(".")[0]),
    )


def garbage_token() -> st.SearchStrategy[str]:
    """Base64 that decodes to nothing of ours, with or without a dot and a 'signature'."""
    b64 = st.binary(max_size=80).map(lambda b: base64.urlsafe_b64encode(b).decode().rstrip("="))
    return st.one_of(st.builds(lambda a, b: f"{a}.{b}", b64, b64), b64, hostile(40))


def json_values() -> st.SearchStrategy:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
        st.text(max_size=12), st.sampled_from(["oai_dc", "mods", "ListRecords", "media", "", "1e999"]),
    )  # fmt: skip

    def containers(c: st.SearchStrategy) -> st.SearchStrategy:
        return st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3)

    return st.recursive(scalars, containers, max_leaves=8)


def signed_junk(site: Site) -> st.SearchStrategy[str]:
    """Tokens signed with the instance's own key but carrying odd fields (e.g. from another version).

    A harvester cannot make these; an upgraded server reading an older server's tokens might.
    """
    codec = site.app.extensions["oai"].tokens if "oai" in site.app.extensions else None
    if codec is None:
        site.client.get("/oai?verb=Identify")
        codec = site.app.extensions["oai"].tokens
    fields = json.loads(base64.urlsafe_b64decode(site.token.split(".")[0] + "=="))

    def sign(data: object) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
        return f"{payload}.{codec._mac(payload)}"

    one_changed = st.tuples(st.integers(0, len(fields) - 1), json_values()).map(
        lambda t: [*fields[: t[0]], t[1], *fields[t[0] + 1 :]]
    )
    return st.one_of(one_changed, st.lists(json_values(), max_size=12), json_values()).map(sign)


@st.composite
def oai_request(draw, site: Site) -> list[tuple[str, str]]:  # noqa: ANN001
    token = st.one_of(st.just(site.token), tampered(site.token), garbage_token(), signed_junk(site))
    values = {
        "verb": value(*VERBS, "listrecords", "Identify "),
        "identifier": value(
            *site.oai_ids,
            "oai:repository.dalian-library.local:",
            "oai:x:y",
            "http://x/y",
            "oai:repository.dalian-library.local:media\x00x",
        ),
        "metadataPrefix": value("oai_dc", "mods", "rdf", "marc21", "OAI_DC"),
        "from": value(*DATES),
        "until": value(*DATES),
        "set": value("media", "media:dalianwanbao", "old-photos", "media:", ":", "nosuchset"),
        "resumptionToken": token,
    }
    params = draw(pairs(OAI_ARGS, values, max_size=6))
    if draw(st.booleans()):  # most requests a harvester sends have one verb, first
        params.insert(0, ("verb", draw(st.sampled_from(VERBS))))
    return params


def _oai(site: Site, query: str, method: str):  # noqa: ANN202
    if method == "GET":
        return site.request("GET", f"/oai?{query}")
    return site.request("POST", "/oai", data=query, content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_oai_requests_always_get_a_valid_response(site: Site, method: str) -> None:
    """Any arguments, repeated, huge, tampered: HTTP 200 and a schema-valid OAI-PMH document."""

    @fuzz(100)
    @given(params=oai_request(site))
    def probe(params: list[tuple[str, str]]) -> None:
        root = check_oai(_oai(site, encoded(params), method))  # 200, well-formed, schema-valid
        assert error_codes(root) <= OAI_ERRORS

    probe()


#: Valid requests, each argument of which the sweep below replaces with each nasty value in turn.
OAI_REQUESTS = [
    {"verb": "GetRecord", "identifier": "oai:repository.dalian-library.local:media-2019-06-02-0001",
     "metadataPrefix": "oai_dc"},
    {"verb": "ListMetadataFormats",
     "identifier": "oai:repository.dalian-library.local:media-2019-06-02-0001"},
    {"verb": "ListRecords", "metadataPrefix": "mods", "from": "2000-01-01", "until": "2100-01-01",
     "set": "media"},
    {"verb": "ListIdentifiers", "resumptionToken": "x"},
]  # fmt: skip
OAI_NASTY = ["\x00", "\x0b", "\ufffe", "\ud7ff", "%00", "<", "&", '"', " ", "\\", "/..", "²", "9" * 5000]


@pytest.mark.parametrize("request_", OAI_REQUESTS, ids=lambda r: r["verb"])
def test_oai_each_argument_with_each_nasty_value(site: Site, request_: dict[str, str]) -> None:
    """Each argument of a valid request, with each nasty value appended, replacing it, or as its name."""
    for name, good in request_.items():
        for nasty in OAI_NASTY:
            for bad in ([(name, good + nasty)], [(name, nasty)], [(name + nasty, good)]):
                params = [(k, v) for k, v in request_.items() if k != name] + bad
                for method in ("GET", "POST"):
                    assert error_codes(check_oai(_oai(site, encoded(params), method))) <= OAI_ERRORS


@given(st.data())
@fuzz(120)
def test_oai_resumption_tokens(site: Site, data: st.DataObject) -> None:
    """Tampered, truncated, garbage and odd-but-signed tokens: badResumptionToken (or a page), never 500."""
    token = data.draw(st.one_of(tampered(site.token), garbage_token(), signed_junk(site)))
    verb = data.draw(st.sampled_from(["ListRecords", "ListIdentifiers", "ListSets"]))
    root = check_oai(
        _oai(
            site,
            encoded([("verb", verb), ("resumptionToken", token)]),
            data.draw(st.sampled_from(["GET", "POST"])),
        )
    )
    assert error_codes(root) <= {"badResumptionToken", "cannotDisseminateFormat", "noRecordsMatch"}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_oai_raw_query_strings(site: Site, method: str) -> None:
    """Bytes no encoder would produce (bad %-escapes, invalid UTF-8) are still answered properly."""

    @fuzz(60)
    @given(query=raw_query())
    def probe(query: str) -> None:
        check_oai(_oai(site, query, method))

    probe()


# ============================================================================================== catalogue
SEARCH_KEYS = ["q", "newspaper", "author", "collection", "language", "from", "to", "sort", "page", "lang"]


def search_values() -> dict[str, st.SearchStrategy[str]]:
    return {
        "q": value("大连", "辽宁日报", '"老码头"', "早市 大连", "AND", "*", "title:x", "(", '"'),
        "newspaper": value("大连晚报", "辽宁日报", "大连日报"),
        "author": value("王晓"),
        "collection": value("media", "old-photos", "nosuch"),
        "language": value("zh-Hans", "en", "zh"),
        "from": value("2019", "2019-06", "2019-06-02", "2019-13", "0000", "9999-99-99", "2019-02-30"),
        "to": value("2020", "2020-12-31", "1900-01", "x"),
        "sort": value("relevance", "date_desc", "date_asc", "title"),
        "page": value("1", "2", "50", "51", "0", "-1", "999999999999999999999", "²", "1.5"),
        "lang": value("zh-Hans", "zh-Hant", "en", "fr", "zh-hant", ""),
    }


@pytest.mark.parametrize("feed", [False, True], ids=["page", "feed"])
@given(data=st.data())
@fuzz(50)
def test_search_and_its_feed(site: Site, feed: bool, data: st.DataObject) -> None:
    """Random searches, facets, dates, sorts and pages: 200 or 400, a page that parses; the feed is XML."""
    params = data.draw(pairs(SEARCH_KEYS, search_values()))
    language = data.draw(
        st.one_of(st.none(), st.sampled_from(["zh-TW", "en;q=x", "*", "zh-Hant-HK,en;q=0.5"]))
    )
    headers = {"Accept-Language": language} if language else {}
    path = "/search.atom" if feed else "/search"
    response = site.request("GET", f"{path}?{encoded(params)}", headers=headers)
    assert response.status_code in (200, 400), (params, response.status_code)
    if feed:
        root = etree.fromstring(response.data, XML_PARSER)  # well-formed XML, or this raises
        assert root.tag == "{http://www.w3.org/2005/Atom}feed"
    else:
        check_html(response)


#: Paths with a place for an identifier or other segment ({}), as the routes declare them.
#: Each with the values that make it a real page (R: a live record), so one segment at a time can be odd.
R = "media-2019-06-02-0001"
PATHS = {
    "/records/{}": (R,), "/records/{}/text": (R,), "/records/{}.mods.xml": (R,), "/records/{}.dc.xml": (R,),
    "/records/{}/cite.{}": (R, "ris"), "/id/article/{}": (R,), "/data/article/{}.{}": (R, "ttl"),
    "/id/{}/{}": ("periodical", "dalianwanbao"), "/data/{}/{}.{}": ("periodical", "dalianwanbao", "ttl"),
    "/collections/{}": ("media",), "/browse/{}": ("newspaper",), "/sitemap-{}.xml": ("1",),
    "/records/{}/history": (R,), "/records/{}/versions/{}": (R, "1"),
    "/records/{}/diff?a={}&b={}": (R, "1", "1"),
    "/records/{}/edit": (R,), "/records/new?collection={}": ("media",), "/api/records/{}": (R,),
    "/api/records/{}/versions": (R,), "/api/records/{}/versions/{}": (R, "1"), "/{}": ("robots.txt",),
    "/oai/static/{}": ("oai2.xsl",), "/static/{}": ("x",), "/editing/static/{}": ("x",),
    "/admin/audit?before={}&who={}": ("1", "wang"), "/search?page={}&from={}": ("1", "2019"),
}  # fmt: skip
#: Segments that broke or could break a route: NUL, traversal, numbers past the databases' integers,
#: digits int() refuses, huge values, the marker.
NASTY_SEGMENTS = ["%00", "..", "%2e%2e", "%2F", "%ff", "%0a", "a%20b", "99999999999999999999999", "9" * 5000,
                  "²", "٣", "-1", "0", quote(MARKER, safe=""), "x" * 5000, "%e5%a4%a7" * 2000]  # fmt: skip
SEGMENTS = ["..", "%2e%2e", "%00", "%ff", "%", "%2F", "a%2Fb", "%5C", "~", ".", "-", "_", "0", "²",
            "99999999999999999999999", "-1", "ris", "bib", "csl", "ttl", "jsonld", "rdf", "nt", "periodical",
            "agent", "collection", "newspaper", "author", "year", "media", "大连晚报", "dalianwanbao",
            "dalianwanbao/2019-06-02", "robots.txt", "sitemap.xml", "css/catalogue.css"]  # fmt: skip


def segment(site: Site) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(site.ids + [GONE] + SEGMENTS),
        st.text(max_size=60).map(lambda s: quote(s, safe="")),
        st.text(alphabet="abc./%0-_~", max_size=12),
        st.builds(
            lambda rid, s: rid + s,
            st.sampled_from(site.ids),
            st.sampled_from(["%00", "..", "/..", "%20", "x"]),
        ),
        huge(st.sampled_from(["a", "0", "%e5%a4%a7", "../"])),
    )


@pytest.mark.parametrize("template", PATHS)
def test_pages_with_each_nasty_segment(site: Site, template: str) -> None:
    """Every page with each of its segments in turn replaced by each nasty one, as an administrator
    (who reaches the history, editing and audit pages too): never 500, and pages that parse."""
    defaults = PATHS[template]
    for i in range(len(defaults)):
        for nasty in NASTY_SEGMENTS:
            parts = [*defaults[:i], nasty, *defaults[i + 1 :]]
            response = site.request("GET", template.format(*parts), client=site.admin)
            assert response.status_code < 500, (template, parts, response.status_code, response.data[:300])
            check_html(response)


@pytest.mark.parametrize("template", PATHS)
@given(data=st.data())
@fuzz(12)
def test_pages_with_odd_paths(site: Site, template: str, data: st.DataObject) -> None:
    """Record pages, their other forms, linked-data URIs, browse pages and sitemaps under odd segments."""
    parts = [data.draw(segment(site)) for _ in range(template.count("{}"))]
    lang = data.draw(st.sampled_from(["", "?lang=en", "?lang=zh-Hant", f"?lang={quote(MARKER)}"]))
    lang = lang.replace("?", "&") if "?" in template else lang
    accept = data.draw(
        st.sampled_from([None, "text/turtle", "application/ld+json;q=0.9,*/*;q=0.1", "*/*;q=x", ";;,"])
    )
    path = template.format(*parts) + lang
    response = site.request("GET", path, headers={"Accept": accept} if accept else {})
    assert response.status_code < 500, (path, response.status_code, response.data[:300])
    check_html(response)


@pytest.mark.parametrize(
    "path",
    ["/", "/browse/newspaper", "/browse/year", "/browse/author", "/browse/collection", "/sitemap.xml",
     "/sitemap-1.xml", "/robots.txt", "/.well-known/void", "/ns/context.jsonld", "/sparql", "/login"],
)  # fmt: skip
def test_fixed_pages_answer(site: Site, path: str) -> None:
    """The pages the path fuzz reaches only by chance answer 200 (and parse, when HTML or XML)."""
    response = site.request("GET", path)
    assert response.status_code == 200, (path, response.status_code)
    check_html(response)
    if response.mimetype == "application/xml":
        etree.fromstring(response.data, XML_PARSER)


# ============================================================================================== SPARQL
SPARQL_WORDS = [
    "SELECT", "*", "DISTINCT", "WHERE", "{", "}", "?s", "?p", "?o", "$x", ".", ";", ",", "FILTER", "(", ")",
    "REGEX", "LANG", "STR", "CONTAINS", "LIMIT", "OFFSET", "10", "-1", "99999999999999999999", "OPTIONAL",
    "UNION", "MINUS", "GRAPH", "<http://repo.test/id/article/media-2019-06-02-0001>", "<>", "<x y>", '"大连"',
    '"a"@zh', '"1"^^xsd:integer', "xsd:date", "PREFIX", "xsd:", "<http://www.w3.org/2001/XMLSchema#>",
    "schema:", "dcterms:title", "a", "COUNT", "SUM", "GROUP", "BY", "ORDER", "DESC", "HAVING", "AS", "BIND",
    "VALUES", "UNDEF", "EXISTS", "NOT", "IN", "DESCRIBE", "CONSTRUCT", "ASK", "FROM", "NAMED", "<<", ">>",
    "/", "|", "^", "+", "?", "!", "&&", "||", "=", "!=", "<", ">", "#", "\n", "'''", '"', "\\", "\\u0000",
    "SERVICE", "SILENT", "LOAD", "INSERT", "DELETE", "DATA", "CLEAR", "DROP", "CREATE", "ALL", "WITH",
]  # fmt: skip
EXAMPLE_QUERIES = [q for _, q in SPARQL_EXAMPLES]
#: What a federated or updating query may look like; each must be refused (4xx) without being run.
FORBIDDEN_QUERIES = [
    "SELECT * WHERE { SERVICE <{ep}> { ?s ?p ?o } }",
    "SELECT * WHERE { ?s ?p ?o .SERVICE<{ep}>{?a ?b ?c} }",
    "SELECT * WHERE { SERVICE SILENT <{ep}> { ?s ?p ?o } }",
    "SELECT * WHERE { SERVICESILENT<{ep}>{?a ?b ?c} }",
    "PREFIX : <{ep}> SELECT * WHERE { ?s ?p ?o . SERVICE:{?a ?b ?c} }",
    "PREFIX e: <{ep}> SELECT * WHERE { ?s ?p ?o . sErViCe e: {?a ?b ?c} }",
    "SELECT * WHERE { ?s ?p ?x FILTER(?x<'a>') SERVICE <{ep}> {?a ?b ?c} FILTER(?x != 'z') }",
    "SELECT * WHERE { \\u0053ERVICE <{ep}> { ?s ?p ?o } }",
    "SELECT * WHERE { BIND(<{ep}> AS ?e) SERVICE ?e { ?s ?p ?o } }",
    "SELECT * WHERE { ?s ?p ?o # comment\n SERVICE <{ep}> { ?a ?b ?c } }",
    "LOAD <{ep}>",
    "LOAD SILENT <{ep}> INTO GRAPH <http://x/g>",
    "INSERT DATA { <http://x/s> <http://x/p> <http://x/o> }",
    "DELETE WHERE { ?s ?p ?o }",
    "CLEAR ALL",
    "DROP SILENT DEFAULT",
    "CREATE GRAPH <http://x/g>",
    "SELECT * WHERE { ?s ?p ?o } ; INSERT DATA { <http://x/s> <http://x/p> <http://x/o> }",
]


def sparql_query() -> st.SearchStrategy[str]:
    example = st.sampled_from(EXAMPLE_QUERIES)
    spliced = st.builds(
        lambda q, i, j, s: q[:i] + s + q[i + j :],
        example, st.integers(0, 400), st.integers(0, 20),
        st.one_of(st.sampled_from(SPARQL_WORDS), hostile(8)),
    )  # fmt: skip
    words = st.lists(st.sampled_from(SPARQL_WORDS), max_size=30).map(" ".join)
    # Huge but quick to answer (a self-join of many patterns is slow: the time limit's own test does that).
    many = st.builds(
        lambda n, form: form.format("1 " * n, "x" * n),
        st.integers(1, 100_000),
        st.sampled_from(
            ["SELECT * WHERE {{ VALUES ?x {{ {} }} }}", "# {1}\nASK {{}}", 'ASK {{ FILTER("{1}") }}']
        ),
    )
    deep = st.builds(lambda n, o, c: "SELECT * WHERE " + o * n + "?s ?p ?o" + c * n,
                     st.integers(100, 100_000), st.sampled_from(["{", "{ {", "OPTIONAL {"]),
                     st.just("}"))  # fmt: skip
    deep_expr = st.integers(100, 100_000).map(lambda n: "ASK { FILTER(" + "(" * n + "1" + ")" * n + ") }")
    return st.one_of(example, spliced, words, many, deep, deep_expr, hostile(60))


ACCEPTS = [None, "application/sparql-results+json", "application/sparql-results+xml", "text/csv",
           "text/tab-separated-values", "text/turtle", "application/ld+json", "application/rdf+xml",
           "application/n-triples", "text/html", "image/png", "*/*", "text/*", "application/*;q=0.5",
           "*/*;q=0", "text/csv;q=0.1, application/json;q=x", ";;;", ",", "\t", "a/b/c"]  # fmt: skip


@given(st.data())
@fuzz(60)
def test_sparql_queries(site: Site, data: st.DataObject) -> None:
    """Malformed, huge, deeply nested queries, odd Accept headers and graphs: never 500, never too long."""
    query = data.draw(sparql_query())
    how = data.draw(st.sampled_from(["GET", "form", "direct"]))
    graphs = data.draw(
        st.lists(st.tuples(st.sampled_from(["default-graph-uri", "named-graph-uri"]),
                           value("http://repo.test/graph/shared", "urn:x", "not an iri", "")), max_size=2)
    )  # fmt: skip
    accept = data.draw(
        st.one_of(
            st.sampled_from(ACCEPTS),
            hostile(20).map(lambda s: s.encode("latin-1", "replace").decode("latin-1")),
        )
    )
    headers = {"Accept": _header(accept)} if accept else {}
    response = _sparql(
        site,
        query,
        how,
        graphs,
        headers,
        data.draw(st.sampled_from(["", "; charset=utf-8", "; charset=latin-1", ";;"])),
    )
    assert response.status_code < 500 or response.status_code == 503, (
        response.status_code, query[:300], response.data[:300]
    )  # fmt: skip
    if response.status_code == 503:  # only the time limit may answer that here (one query at a time)
        assert b"longer than the limit" in response.data, response.data


def _header(text: str) -> str:
    """A header value the test client can send (latin-1, one line)."""
    return re.sub(r"[\r\n\x00]", " ", text.encode("latin-1", "replace").decode("latin-1"))


def _sparql(site: Site, query: str, how: str, graphs=(), headers=None, charset: str = ""):  # noqa: ANN001, ANN202
    if how == "GET":
        return site.request("GET", "/sparql?" + encoded([("query", query), *graphs]), headers=headers or {})
    if how == "form":
        return site.request(
            "POST", "/sparql?" + encoded(graphs[:1]), data=encoded([("query", query), *graphs[1:]]),
            content_type="application/x-www-form-urlencoded", headers=headers or {},
        )  # fmt: skip
    return site.request(
        "POST", "/sparql?" + encoded(graphs), data=query.encode("utf-8", "surrogatepass"),
        content_type="application/sparql-query" + charset, headers=headers or {},
    )  # fmt: skip


@pytest.fixture(scope="module")
def endpoint() -> tuple[str, list[bytes]]:
    """A local HTTP 'endpoint' that records every connection made to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.1)
    seen: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    seen.append(conn.recv(1000))
                except OSError:
                    seen.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/sparql", seen
    stop.set()
    thread.join(2)
    server.close()


@pytest.fixture
def listener(endpoint: tuple[str, list[bytes]]) -> tuple[str, list[bytes]]:
    """The endpoint, with no connection seen yet: a test that uses it must leave it so."""
    endpoint[1].clear()
    return endpoint


@pytest.mark.parametrize("template", FORBIDDEN_QUERIES)
@pytest.mark.parametrize("how", ["GET", "form", "direct"])
def test_sparql_federation_and_updates_are_refused(site: Site, listener, template: str, how: str) -> None:
    """SERVICE would make the server fetch any URL (a request forgery); LOAD and updates change data."""
    endpoint, seen = listener
    query = template.replace("{ep}", endpoint)
    before = _count_triples(site)
    response = _sparql(site, query, how)
    time.sleep(0.05)  # a connection the worker made would have been accepted by now
    assert 400 <= response.status_code < 500, (response.status_code, response.data[:300])
    assert response.data.strip(), "a refusal says why"
    assert seen == [], f"the server connected to {endpoint}: {seen}"
    assert _count_triples(site) == before


def _count_triples(site: Site) -> int:
    return len(site.app.extensions["graph"].store)


def test_sparql_example_queries_still_run(site: Site) -> None:
    """The examples the query page offers still run (the refusal is not of every query)."""
    for query in EXAMPLE_QUERIES:
        response = _sparql(site, query, "GET", headers={"Accept": "application/sparql-results+json"})
        assert response.status_code == 200, (query, response.data[:300])


# ============================================================================================== API
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
 <!ENTITY l2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY l3 "&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;">
 <!ENTITY l4 "&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;">
 <!ENTITY l5 "&l4;&l4;&l4;&l4;&l4;&l4;&l4;&l4;&l4;&l4;">
 <!ENTITY l6 "&l5;&l5;&l5;&l5;&l5;&l5;&l5;&l5;&l5;&l5;">
 <!ENTITY l7 "&l6;&l6;&l6;&l6;&l6;&l6;&l6;&l6;&l6;&l6;">
 <!ENTITY l8 "&l7;&l7;&l7;&l7;&l7;&l7;&l7;&l7;&l7;&l7;">
 <!ENTITY l9 "&l8;&l8;&l8;&l8;&l8;&l8;&l8;&l8;&l8;&l8;">]>
<mods xmlns="http://www.loc.gov/mods/v3"><titleInfo><title>&l9;</title></titleInfo>
<recordInfo><recordIdentifier>{rid}</recordIdentifier></recordInfo></mods>"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE mods [<!ENTITY xxe SYSTEM "file://{secret}">]>
<mods xmlns="http://www.loc.gov/mods/v3"><titleInfo><title>&xxe;</title></titleInfo>
<recordInfo><recordIdentifier>{rid}</recordIdentifier></recordInfo></mods>"""
XXE_PARAMETER = """<?xml version="1.0"?>
<!DOCTYPE mods [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>
<mods xmlns="http://www.loc.gov/mods/v3"><titleInfo><title>x</title></titleInfo></mods>"""
EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE mods SYSTEM "{ep}">
<mods xmlns="http://www.loc.gov/mods/v3"><titleInfo><title>x</title></titleInfo></mods>"""
PUBLIC_DTD = """<?xml version="1.0"?>
<!DOCTYPE mods PUBLIC "-//X//DTD X//EN" "file://{secret}">
<mods xmlns="http://www.loc.gov/mods/v3"><titleInfo><title>x</title></titleInfo></mods>"""
XINCLUDE = """<?xml version="1.0"?>
<mods xmlns="http://www.loc.gov/mods/v3" xmlns:xi="http://www.w3.org/2001/XInclude">
<titleInfo><title><xi:include href="file://{secret}" parse="text"/></title></titleInfo>
<recordInfo><recordIdentifier>{rid}</recordIdentifier></recordInfo></mods>"""
SCHEMA_LOCATION = """<?xml version="1.0"?>
<mods xmlns="http://www.loc.gov/mods/v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
 xsi:schemaLocation="http://www.loc.gov/mods/v3 {ep}"><titleInfo><title>x</title></titleInfo></mods>"""


def xml_attacks(secret: Path, endpoint: str, rid: str) -> dict[str, str]:
    """The attacks of safety.md, each aimed at ``secret`` (a local file) or ``endpoint`` (a listener)."""
    deep = (
        "<mods xmlns='http://www.loc.gov/mods/v3'>" + "<note>" * 20_000 + "x" + "</note>" * 20_000 + "</mods>"
    )
    big_attribute = f"<mods xmlns='http://www.loc.gov/mods/v3' ID='{'a' * 3_000_000}'/>"
    many_attributes = (
        "<mods xmlns='http://www.loc.gov/mods/v3' " + " ".join(f"a{i}='x'" for i in range(20_000)) + "/>"
    )
    fill = {"secret": secret, "ep": endpoint, "rid": rid}
    attacks = {
        "billion-laughs": BILLION_LAUGHS, "xxe-file": XXE, "xxe-parameter": XXE_PARAMETER,
        "external-dtd": EXTERNAL_DTD, "public-dtd": PUBLIC_DTD, "xinclude": XINCLUDE,
        "remote-schema": SCHEMA_LOCATION,
    }  # fmt: skip
    out = {
        k: v.replace("{secret}", str(secret)).replace("{ep}", endpoint).replace("{rid}", rid)
        for k, v in attacks.items()
    }
    out.update({"deep-nesting": deep, "huge-attribute": big_attribute, "many-attributes": many_attributes})
    assert all("{" + k + "}" not in v for k in fill for v in out.values())
    return out


ATTACKS = ["billion-laughs", "xxe-file", "xxe-parameter", "external-dtd", "public-dtd", "xinclude",
           "remote-schema", "deep-nesting", "huge-attribute", "many-attributes"]  # fmt: skip
API_TARGET = "media-2019-06-02-0001"  # the article example


def _api_headers(site: Site, who: str, content_type: str | None = None, **extra: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {site.tokens[who]}"} if who in site.tokens else {}
    if who == "bad":
        headers["Authorization"] = "Bearer dlr_not-a-token"
    if content_type:
        headers["Content-Type"] = content_type
    return {**headers, **extra}


def _etag(site: Site, rid: str = API_TARGET) -> str:
    return f'"{site.repo.store.get(rid).version}"'


def check_api_error(response, site: Site, before: int) -> dict:  # noqa: ANN001
    """A refusal: 4xx, JSON with a message, nothing stored."""
    assert 400 <= response.status_code < 500, (response.status_code, response.data[:500])
    assert response.mimetype == "application/json", response.data[:300]
    body = response.get_json()
    assert isinstance(body.get("error"), str) and body["error"].strip()
    assert site.changes() == before, "something was stored"
    assert b"FUZZ-SECRET" not in response.data
    return body


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("how", ["post-xml", "put-xml", "put-json", "post-json"])
def test_api_refuses_xml_attacks(site: Site, listener, attack: str, how: str) -> None:
    endpoint, seen = listener
    xml = xml_attacks(
        site.secret, endpoint, API_TARGET if how.startswith("put") else "media-2030-01-01-fuzz"
    )[attack]
    method, kind = how.split("-")
    body = xml.encode() if kind == "xml" else json.dumps({"xml": xml, "why": "fuzz"}).encode()
    content_type = "application/mods+xml" if kind == "xml" else "application/json"
    url = f"/api/records/{API_TARGET}" if method == "put" else "/api/records"
    extra = {"If-Match": _etag(site)} if method == "put" else {}
    before = site.changes()
    response = site.request(
        method.upper(), url, data=body, headers=_api_headers(site, "cataloger", content_type, **extra)
    )
    problems = check_api_error(response, site, before)["problems"]
    assert problems and all(p["message"] for p in problems), "the refusal names the problem"
    if "DOCTYPE" in xml:  # refused by the parser: no DOCTYPE, or (first) no entity expansion
        assert response.status_code == 400 and re.search("DOCTYPE|entity", problems[0]["message"])
    assert seen == []


def xml_text() -> st.SearchStrategy[str]:
    """Random XML-ish text: fragments of MODS, broken markup, declarations, entities, encodings."""
    bits = st.sampled_from([
        "<mods xmlns='http://www.loc.gov/mods/v3'>", "</mods>", "<modsCollection xmlns='http://www.loc.gov/mods/v3'>",
        "</modsCollection>", "<titleInfo><title>", "</title></titleInfo>", "<recordInfo><recordIdentifier>",
        "</recordIdentifier></recordInfo>", "media-2030-01-01-x", API_TARGET, "<?xml version='1.0'?>",
        "<?xml version='1.0' encoding='GB18030'?>", "<?xml version='1.1'?>", "<!-- c -->", "<![CDATA[x]]>",
        "&amp;",
        "&nosuch;", "&#0;", "&#x110000;", "<!DOCTYPE mods>", "<!ENTITY e 'x'>", "<a:b xmlns:a=''/>", "<x/>",
        "\x00", "\ufeff", "大连", ">", "<", "'", '"', "=", " ", "\n",
    ])  # fmt: skip
    return st.one_of(st.lists(bits, max_size=25).map("".join), hostile(80))


def api_body(site: Site) -> st.SearchStrategy[tuple[bytes, str | None]]:
    xml = xml_text()
    attack = st.sampled_from(ATTACKS).map(
        lambda a: xml_attacks(site.secret, "http://127.0.0.1:9/x", API_TARGET)[a]
    )
    as_json = st.fixed_dictionaries(
        {}, optional={"xml": st.one_of(xml, attack, json_values()), "fulltext": json_values(),
                      "why": st.one_of(hostile(), json_values()), "version": json_values()},
    ).map(lambda d: json.dumps(d).encode())  # fmt: skip
    body = st.one_of(
        st.tuples(st.one_of(xml, attack).map(lambda s: s.encode("utf-8", "surrogatepass")),
                  st.sampled_from(["application/mods+xml", "application/xml", "text/xml; charset=utf-8"])),
        st.tuples(as_json, st.just("application/json")),
        st.tuples(json_values().map(lambda v: json.dumps(v).encode()), st.just("application/json")),
        st.tuples(st.binary(max_size=200),
                  st.one_of(st.none(), st.sampled_from(["application/json", "text/xml", "a/b", ";"]))),
    )  # fmt: skip
    return body


@given(st.data())
@fuzz(120)
def test_api_writes_with_random_bodies_store_nothing(site: Site, data: st.DataObject) -> None:
    """POST/PUT with random XML, JSON and bytes (and the attacks), as anyone: 4xx, JSON, nothing stored."""
    body, content_type = data.draw(api_body(site))
    who = data.draw(st.sampled_from(["cataloger", "cataloger", "reader", "bad", "nobody"]))
    method = data.draw(st.sampled_from(["POST", "PUT"]))
    extra: dict[str, str] = {}
    if method == "PUT":
        extra["If-Match"] = data.draw(
            st.one_of(st.just(_etag(site)), value('"1"', "*", 'W/"1"', '"²"', '"1", "2"').map(_header))
        )
        url = f"/api/records/{data.draw(st.sampled_from([API_TARGET, GONE, 'nosuch']))}"
    else:
        url = "/api/records?" + encoded(
            data.draw(pairs(["collection", "reason"], {"collection": value("media", "nosuch")}, 2))
        )
    if data.draw(st.booleans()):
        extra["X-Reason"] = _header(data.draw(hostile(40)))
    before = site.changes()
    response = site.request(method, url, data=body, headers=_api_headers(site, who, content_type, **extra))
    check_api_error(response, site, before)


@given(st.data())
@fuzz(150)
def test_api_reads_and_other_writes_never_fail(site: Site, data: st.DataObject) -> None:
    """Changes feeds, versions, conditional requests, deletes and restores with odd arguments: never 500."""
    rid = data.draw(st.sampled_from([API_TARGET, GONE, "nosuch", "..", "%00", "a" * 200]))
    number = data.draw(value("1", "2", "0", "99999999999999999999", "²", "-1"))
    who = data.draw(st.sampled_from(["cataloger", "reader", "bad", "nobody"]))
    etags = value('"1"', '"2"', "*", 'W/"1"', '"²"', '"1", "2"', '"99999999999999999999999"').filter(
        lambda t: t != _etag(site, rid if site.repo.store.get(rid) else API_TARGET)
    )  # a right version with a reason would legitimately delete
    accept = data.draw(st.sampled_from(["application/json", "application/xml", "*/*", ";q=x"]))
    headers = {
        "If-Match": _header(data.draw(etags)),
        "If-None-Match": _header(data.draw(etags)),
        "Accept": accept,
    }
    kind = data.draw(st.sampled_from(["changes", "versions", "version", "get", "delete", "restore"]))
    if kind == "changes":
        params = data.draw(pairs(["since", "limit", "after"], {
            "since": value("0", "1", "2023-01-01", "2023-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00",
                           "9999-12-31T23:59:59-01:00", "99999999999999999999", "²", "2023-02-30", "-1"),
            "limit": value("1", "1000", "1001", "0", "²", "99999999999999999999"),
            "after": value(f"2023-01-01T00:00:00Z/{API_TARGET}", "x/y", "/", "2023-01-01T00:00:00Z/"),
        }, 4))  # fmt: skip
        method, url = "GET", "/api/changes?" + encoded(params)
    elif kind in ("versions", "get"):
        method, url = "GET", f"/api/records/{rid}" + ("/versions" if kind == "versions" else "")
    elif kind == "version":
        method, url = "GET", f"/api/records/{rid}/versions/{quote(number, safe='')}"
    elif kind == "delete":
        method, url = "DELETE", f"/api/records/{rid}?reason=fuzz"
    else:
        method, url = "POST", f"/api/records/{rid}/restore?" + encoded([("version", number)])
    before = site.changes()
    response = site.request(method, url, headers=_api_headers(site, who, **headers))
    assert response.status_code < 500, (method, url, headers, response.status_code, response.data[:300])
    if response.status_code >= 400:
        assert response.get_json()["error"]
    assert site.changes() == before


# ============================================================================================== editing
def _edit_form(site: Site, rid: str) -> dict:
    """The editor's form for ``rid`` as a browser would post it (tests/test_editing.py reads it)."""
    page = site.request("GET", f"/records/{rid}/edit", client=site.editor).get_data(as_text=True)
    return form_of(page)


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("where", ["edit", "new", "upload"])
def test_editor_refuses_xml_attacks(site: Site, listener, attack: str, where: str) -> None:
    """The XML editor and the upload form: the attack is refused, the problem named, nothing stored."""
    endpoint, seen = listener
    xml = xml_attacks(site.secret, endpoint, EDITED if where == "edit" else "media-2030-01-01-fuzz")[attack]
    before = site.changes()
    if where == "upload":
        from io import BytesIO

        data = {"csrf_token": site.csrf, "why": "fuzz", "files": (BytesIO(xml.encode()), "attack.xml")}
        response = site.request(
            "POST", "/upload", client=site.editor, data=data, content_type="multipart/form-data"
        )
    else:
        form = _edit_form(site, EDITED) if where == "edit" else {"csrf_token": site.csrf, "shown": "{}"}
        form.update(xml=xml, why="fuzz")
        url = f"/records/{EDITED}/edit" if where == "edit" else "/records/new"
        response = site.request("POST", url, client=site.editor, data=form)
    assert response.status_code in (400, 413, 422), (response.status_code, response.data[:300])
    page = response.get_data(as_text=True)
    assert site.changes() == before, "something was stored"
    assert "FUZZ-SECRET" not in page and seen == []
    if response.status_code != 413:
        assert 'class="problem"' in page, "the problem is named"
        if "DOCTYPE" in xml:
            assert re.search("DOCTYPE|entity", page)
    check_html(response)


CONTROL = "\x00\x01\x0b\x1f\ufffe"


def test_control_characters_in_a_valid_save_are_dropped(site: Site) -> None:
    """A save that is otherwise right, with controls in its full text, reason and fields: stored without
    them (XML cannot hold them, and PostgreSQL cannot store a NUL), not a failure."""
    xml = site.repo.store.version(API_TARGET).xml.decode()
    body = {"xml": xml, "fulltext": f"第一{CONTROL}段。", "why": f"fix{CONTROL}"}
    headers = _api_headers(site, "cataloger", "application/json", **{"If-Match": _etag(site)})
    response = site.request("PUT", f"/api/records/{API_TARGET}", data=json.dumps(body), headers=headers)
    assert response.status_code == 200, response.data[:300]
    saved = site.repo.store.version(API_TARGET)
    assert (saved.fulltext, saved.why) == ("第一段。", "fix")

    form = _edit_form(site, EDITED)
    shown = json.loads(form["shown"])
    form.update(title=shown["title"] + CONTROL + "(修订)", fulltext=f"全文{CONTROL}。", why=f"edit{CONTROL}")
    response = site.request("POST", f"/records/{EDITED}/edit", client=site.editor, data=form)
    assert response.status_code == 303, response.data[:300]
    saved = site.repo.store.version(EDITED)
    assert (saved.fulltext, saved.why) == ("全文。", "edit")
    assert shown["title"] + "(修订)" in saved.xml.decode()


FIELDS = ["identifier", "collection", "title", "subtitle", "name", "role", "name_type", "newspaper", "page",
          "date", "subjects", "places", "abstract", "fulltext", "why", "version", "shown", "xml", "action",
          "csrf_token", "target"]  # fmt: skip


@given(st.data())
@fuzz(60)
def test_editor_forms_with_random_fields(site: Site, data: st.DataObject) -> None:
    """Any field, any value, the record's own XML or not: the editor answers (maybe saves), never 500."""
    where = data.draw(st.sampled_from(["edit", "edit", "new"]))
    form = (
        _edit_form(site, EDITED) if where == "edit" else {"csrf_token": site.csrf, "shown": "{}", "xml": ""}
    )
    values = {
        "version": value(form.get("version", "1"), "0", "²", "99999999999", "-1", ""),
        "shown": st.one_of(st.just(form.get("shown", "{}")), json_values().map(json.dumps), hostile()),
        "xml": st.one_of(st.just(form.get("xml", "")), xml_text()),
        "role": value("aut", "pht", "xyz"), "name_type": value("personal", "corporate"),
        "date": value("2019-06-02", "2019-13-40", "昨天"), "collection": value("media", "nosuch"),
        "action": value("apply", "save"), "csrf_token": st.sampled_from([site.csrf, site.csrf, "", "x"]),
    }  # fmt: skip
    for name, v in data.draw(pairs(FIELDS, values, 10)):
        form[name] = v if name not in form or not data.draw(st.booleans()) else form[name]
    url = f"/records/{EDITED}/edit" if where == "edit" else "/records/new"
    response = site.request("POST", url, client=site.editor, data=form)
    assert response.status_code < 500, (url, response.status_code, response.data[:300])
    check_html(response)


@given(st.data())
@fuzz(80)
def test_history_forms_and_pages(site: Site, data: st.DataObject) -> None:
    """Revert, delete and restore with odd versions and reasons; history, versions and diffs: never 500."""
    numbers = value("1", "2", "3", "0", "²", "٣", "99999999999", "-1", "")
    kind = data.draw(st.sampled_from(["revert", "delete", "restore", "diff", "version", "history"]))
    rid = data.draw(st.sampled_from([HISTORY, HISTORY, GONE, "nosuch"]))
    if kind in ("revert", "delete", "restore"):
        form = {"csrf_token": data.draw(st.sampled_from([site.csrf, site.csrf, ""])),
                "version": data.draw(numbers), "target": data.draw(numbers),
                "why": data.draw(hostile())}  # fmt: skip
        response = site.request("POST", f"/records/{rid}/{kind}", client=site.editor, data=form)
    elif kind == "diff":
        query = encoded(data.draw(pairs(["a", "b"], {"a": numbers, "b": numbers}, 3)))
        response = site.request("GET", f"/records/{rid}/diff?{query}", client=site.editor)
    else:
        suffix = f"/versions/{quote(data.draw(numbers), safe='')}" if kind == "version" else "/history"
        response = site.request("GET", f"/records/{rid}{suffix}", client=site.editor)
    assert response.status_code < 500, (kind, rid, response.status_code, response.data[:300])
    check_html(response)


@given(st.data())
@fuzz(40)
def test_login_form(site: Site, data: st.DataObject) -> None:
    """Random names, passwords, CSRF tokens and next= targets: a page or a redirect, never 500."""
    client = site.app.test_client()
    token = _csrf(client.get("/login").get_data(as_text=True))
    form = {
        "name": data.draw(value("wang", "admin", "")),
        "password": data.draw(st.one_of(value("x"), st.just(PASSWORD), huge())),
        "csrf_token": data.draw(st.sampled_from([token, "", "x"])),
        "next": data.draw(value("/", "//evil.example", "/\\evil", "http://evil.example/", "/records/x")),
    }
    response = site.request("POST", "/login?" + encoded([("next", form["next"])]), client=client, data=form)
    assert response.status_code < 500, (form, response.status_code)
    if response.status_code in (301, 302, 303):
        target = response.headers["Location"]
        assert target.startswith("/") and not target.startswith(("//", "/\\")), target
    check_html(response)
