"""The SPARQL 1.1 Protocol endpoint: the W3C protocol suite's 20 query tests, real clients, and limits."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import EXAMPLE, SEED, SHARED
from rdflib import Graph, Namespace, URIRef
from rdflib.collection import Collection

from repository import importer
from repository.app import create_app
from repository.config import Settings
from repository.service import Repository

SUITE = SHARED / "conformance" / "sparql11-protocol"
MF = Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#")
HT = Namespace("http://www.w3.org/2011/http#")
CNT = Namespace("http://www.w3.org/2011/content#")
UT = Namespace("http://www.w3.org/2009/sparql/tests/test-update#")
HTS = Namespace("http://www.w3.org/2011/http-statusCodes#")
RDFS = Namespace("http://www.w3.org/2000/01/rdf-schema#")

TABULAR = {"application/sparql-results+json", "application/sparql-results+xml", "text/csv",
           "text/tab-separated-values"}  # fmt: skip
RDF_TYPES = {"text/turtle", "application/n-triples", "application/rdf+xml", "application/ld+json"}


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """An app over the seed and the example, with the W3C suite's graphs loaded as named graphs."""
    import pyoxigraph as ox

    settings = Settings(
        base_url="http://repo.test", sparql_timeout=2.0, sparql_rows=500, sparql_concurrency=2
    )
    repo = Repository(tmp_path_factory.mktemp("sparql") / "inst", settings=settings)
    importer.import_paths(repo, [SEED, EXAMPLE])
    app = create_app(repo)
    graph = app.extensions["graph"]
    graph.ensure_current()
    manifest = Graph().parse(SUITE / "manifest.ttl", publicID=(SUITE / "manifest.ttl").as_uri())
    for data in manifest.objects(None, UT.graphData):
        file = Path(str(manifest.value(data, UT.graph)).removeprefix("file://"))
        name = ox.NamedNode(str(manifest.value(data, RDFS.label)))
        if not graph.store.contains_named_graph(name):
            graph.store.load(path=str(file), format=ox.RdfFormat.N_TRIPLES, to_graph=name)
    yield app.test_client(), manifest
    app.extensions["sparql"].close()
    repo.close()


def _query_tests(manifest: Graph) -> list[URIRef]:
    entries = Collection(
        manifest, manifest.value(URIRef(SUITE.joinpath("manifest.ttl").as_uri()), MF.entries)
    )
    return [
        e for e in entries if str(e).rsplit("#", 1)[1].startswith(("query_", "bad_query", "bad_multiple_q"))
    ]


def test_the_suite_has_twenty_query_tests(endpoint) -> None:
    assert len(_query_tests(endpoint[1])) == 20


@pytest.mark.parametrize("index", range(20))
def test_w3c_protocol_query_test(endpoint, index: int) -> None:
    client, manifest = endpoint
    test = _query_tests(manifest)[index]
    action = manifest.value(test, MF.action)
    for request in Collection(manifest, manifest.value(action, HT.requests)):
        method = str(manifest.value(request, HT.methodName))
        path = str(manifest.value(request, HT.absolutePath)).replace("/sparql/", "/sparql", 1)
        headers = {}
        header_list = manifest.value(request, HT.headers)
        if header_list is not None:
            for h in Collection(manifest, header_list):
                headers[str(manifest.value(h, HT.fieldName))] = str(manifest.value(h, HT.fieldValue))
        body = manifest.value(request, HT.body)
        data = None
        if body is not None:
            encoding = str(manifest.value(body, CNT.characterEncoding) or "UTF-8")
            data = str(manifest.value(body, CNT.chars)).encode(encoding.lower())
        content_type = headers.pop("content-type", None)
        r = client.open(path, method=method, data=data, headers=headers, content_type=content_type)
        response = manifest.value(request, HT.resp)
        expected = {str(s).rsplit("#", 1)[1] for s in manifest.objects(response, MF.expectedStatus)}
        assert f"StatusCode{str(r.status_code)[0]}xx" in expected, (test, r.status_code, r.data[:300])
        fmt = manifest.value(response, MF.expectedFormat)
        if fmt is None:
            continue
        media = r.mimetype
        if str(fmt) == "boolean":
            assert media in ("application/sparql-results+json", "application/sparql-results+xml")
            value = (
                json.loads(r.data)["boolean"]
                if media.endswith("json")
                else b"<boolean>true</boolean>" in r.data
            )
            expected_value = manifest.value(response, MF.expectedBoolean)
            if expected_value is not None:
                assert value == expected_value.toPython(), (test, r.data)
        elif str(fmt) == "tabular":
            assert media in TABULAR, media
        else:
            assert media in RDF_TYPES, media
            Graph().parse(
                data=r.data,
                format={
                    "text/turtle": "turtle",
                    "application/n-triples": "nt",
                    "application/rdf+xml": "xml",
                    "application/ld+json": "json-ld",
                }[media],
            )


def test_results_in_every_format_and_cors_on_this_route_only(endpoint) -> None:
    client, _ = endpoint
    q = {"query": "SELECT ?s WHERE { ?s a <http://schema.org/NewsArticle> } ORDER BY ?s"}
    for accept, check in [
        ("application/sparql-results+json", lambda b: len(json.loads(b)["results"]["bindings"]) == 2),
        ("application/sparql-results+xml", lambda b: b.count(b"<result>") == 2),
        ("text/csv", lambda b: b.count(b"\r\n") == 3),
        ("text/tab-separated-values", lambda b: b.count(b"\n") == 3),
    ]:
        r = client.get("/sparql", query_string=q, headers={"Accept": accept})
        assert r.status_code == 200 and r.mimetype == accept and check(r.data), (accept, r.data)
        assert r.headers["Access-Control-Allow-Origin"] == "*"
    preflight = client.open("/sparql", method="OPTIONS")
    assert preflight.status_code == 204 and "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Origin" not in client.get("/").headers


def test_the_example_queries_run(endpoint) -> None:
    from repository.linkeddata import EXAMPLES

    client, _ = endpoint
    results = []
    for _, query in EXAMPLES:
        r = client.get(
            "/sparql", query_string={"query": query}, headers={"Accept": "application/sparql-results+json"}
        )
        assert r.status_code == 200, r.data
        results.append(json.loads(r.data)["results"]["bindings"])
    assert {(b["paper"]["value"], b["year"]["value"]) for b in results[0]} == {
        ("大连晚报", "2019"),
        ("辽宁日报", "2023"),
    }
    assert [b["headline"]["value"][:6] for b in results[1]] == ["大连金普新区"]
    assert len(results[2]) == 1
    page = client.get("/sparql", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "Everything one journalist wrote" in page and "http" not in page.split("<body>")[0].replace(
        "http-equiv", ""
    )  # no external assets in the head


def test_a_runaway_query_is_stopped_with_an_error_and_the_server_stays_responsive(endpoint) -> None:
    client, _ = endpoint
    cross = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
    started = time.monotonic()
    r = client.get("/sparql", query_string={"query": cross})
    assert r.status_code == 503 and b"limit of 2 s" in r.data
    assert time.monotonic() - started < 6
    ok = client.get("/sparql", query_string={"query": "ASK { ?s ?p ?o }"})
    assert ok.status_code == 200 and json.loads(ok.data)["boolean"] is True


def test_too_many_rows_is_an_error_not_a_truncated_answer(endpoint) -> None:
    client, _ = endpoint
    r = client.get("/sparql", query_string={"query": "SELECT ?s ?a WHERE { ?s ?p ?o . ?a ?b ?c }"})
    assert r.status_code == 413 and b"500 rows" in r.data


def test_concurrency_is_bounded(endpoint) -> None:
    client, _ = endpoint
    cross = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
    statuses = []
    threads = [threading.Thread(target=lambda: statuses.append(
        client.get("/sparql", query_string={"query": cross}).status_code)) for _ in range(3)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [503, 503, 503]  # two time out, the third is refused at once


def test_sparqlwrapper_and_rdflib_sparqlstore_query_a_real_server(endpoint, tmp_path) -> None:
    from SPARQLWrapper import JSON, SPARQLWrapper
    from werkzeug.serving import make_server

    client, _ = endpoint
    app = client.application
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_port}/sparql"
    try:
        sw = SPARQLWrapper(url)
        sw.setQuery(
            "PREFIX schema: <http://schema.org/> SELECT ?h WHERE { ?a schema:headline ?h } ORDER BY ?h"
        )
        sw.setReturnFormat(JSON)
        rows = sw.query().convert()["results"]["bindings"]
        assert len(rows) == 2
        from rdflib.plugins.stores.sparqlstore import SPARQLStore

        store = Graph(store=SPARQLStore(url, returnFormat="json"))
        assert len(list(store.query("SELECT ?s WHERE { ?s a <http://schema.org/Periodical> }"))) == 2
        if shutil.which("roqet"):
            done = subprocess.run(
                ["roqet", "-p", url, "-e", "SELECT ?s WHERE { ?s a <http://schema.org/NewsArticle> }"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0 and done.stdout.count("row: [") == 2, done.stderr
    finally:
        httpd.shutdown()
        thread.join(5)


def test_simultaneous_first_requests_share_one_service(tmp_path) -> None:
    repo = Repository(tmp_path / "inst", settings=Settings(base_url="http://repo.test", sparql_concurrency=3))
    importer.import_paths(repo, [SEED, EXAMPLE])
    app = create_app(repo)
    app.extensions["graph"].ensure_current()
    client = app.test_client()
    statuses = []

    def ask() -> None:
        statuses.append(client.get("/sparql", query_string={"query": "ASK { ?s ?p ?o }"}).status_code)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert statuses == [200, 200, 200]
        snapshots = list((repo.instance / "graph" / "snapshots").iterdir())
        assert len(snapshots) == 1
    finally:
        app.extensions["sparql"].close()
        repo.close()


def test_a_select_is_evaluated_once_and_served_as_pyoxigraph_serialises_it() -> None:
    """One evaluation per query: the solutions are read up to the row limit + 1, then written."""
    import pyoxigraph as ox

    from repository.linkeddata.sparql import RESULT_TYPES, QueryError, _run

    class Counting:
        def __init__(self, store: ox.Store) -> None:
            self.store, self.calls = store, 0

        def query(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            self.calls += 1
            return self.store.query(*args, **kwargs)

    store = ox.Store()
    p, g = ox.NamedNode("http://e/p"), ox.NamedNode("http://e/g")
    for i in range(5):
        value = ox.Literal(f'第{i}\t"行"\n', language="zh-Hans") if i % 2 else ox.Literal(str(i))
        store.add(ox.Quad(ox.NamedNode(f"http://e/{i}"), p, value, g))
    query = "SELECT ?s ?o ?none WHERE { ?s ?p ?o OPTIONAL { ?s <http://e/q> ?none } } ORDER BY ?s"
    counting = Counting(store)
    run = dict(snapshot="s", query=query, default_graphs=[], named_graphs=[], base_iri=None)
    for media, (fmt, _) in RESULT_TYPES.items():
        got, body = _run(ox, {"s": counting}, accept=[media], rows=5, **run)
        direct = store.query(query, use_default_graph_as_union=True)
        assert got == media and body == direct.serialize(format=getattr(ox.QueryResultsFormat, fmt))
    assert counting.calls == len(RESULT_TYPES)
    with pytest.raises(QueryError) as refused:
        _run(ox, {"s": counting}, accept=["text/csv"], rows=4, **run)
    assert refused.value.status == 413
