"""Cool URIs: /id/article/{id} answers 303 by Accept; every RDF document parses with an independent parser."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import EXAMPLE
from rdflib import Graph, URIRef
from rdflib.namespace import DCTERMS

from repository.app import create_app

RID = "media-2019-06-02-0001"
ARTICLE = f"http://repo.test/id/article/{RID}"


@pytest.fixture
def client(repo):
    repo.save(repo.prepare(EXAMPLE.read_bytes(), source="x"), 0, who="t", why="t")
    return create_app(repo).test_client()


@pytest.mark.parametrize(
    "accept, location",
    [
        ("text/turtle", f"/data/article/{RID}.ttl"),
        ("application/ld+json", f"/data/article/{RID}.jsonld"),
        ("application/rdf+xml", f"/data/article/{RID}.rdf"),
        ("application/n-triples", f"/data/article/{RID}.nt"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", f"/records/{RID}"),
        ("*/*", f"/records/{RID}"),
        ("text/turtle;q=0.5, application/rdf+xml", f"/data/article/{RID}.rdf"),
    ],
)
def test_the_article_uri_answers_303_by_accept(client, accept: str, location: str) -> None:
    r = client.get(f"/id/article/{RID}", headers={"Accept": accept})
    assert r.status_code == 303 and r.headers["Location"].endswith(location)
    assert r.headers["Vary"] == "Accept"
    assert 'rel="alternate"; type="text/turtle"' in r.headers["Link"]


def test_unknown_and_deleted_articles(client, repo) -> None:
    assert client.get("/id/article/nope").status_code == 404
    assert client.get(f"/data/article/{RID}.xyz").status_code == 404
    repo.delete(RID, who="t", why="t")
    assert client.get(f"/id/article/{RID}").status_code == 410
    assert client.get(f"/data/article/{RID}.ttl").status_code == 410


@pytest.mark.parametrize("ext, fmt", [("ttl", "turtle"), ("rdf", "xml"), ("nt", "nt"), ("jsonld", "json-ld")])
def test_documents_parse_and_describe_the_article(client, ext: str, fmt: str) -> None:
    r = client.get(f"/data/article/{RID}.{ext}")
    assert r.status_code == 200 and "Link" in r.headers
    g = Graph().parse(data=r.data, format=fmt)
    assert (URIRef(ARTICLE), DCTERMS.identifier, None) in g
    assert len(g) > 25


def test_json_ld_uses_the_published_context(client) -> None:
    doc = json.loads(client.get(f"/data/article/{RID}.jsonld").data)
    context = json.loads(client.get("/ns/context.jsonld").data)["@context"]
    assert doc["@context"] == context and context["schema"] == "http://schema.org/"


@pytest.mark.skipif(shutil.which("rapper") is None, reason="Debian raptor2-utils (rapper) is not installed")
@pytest.mark.parametrize("ext, syntax", [("ttl", "turtle"), ("rdf", "rdfxml"), ("nt", "ntriples")])
def test_rapper_parses_every_serialization(client, tmp_path, ext: str, syntax: str) -> None:
    path = tmp_path / f"doc.{ext}"
    path.write_bytes(client.get(f"/data/article/{RID}.{ext}").data)
    done = subprocess.run(["rapper", "-i", syntax, "-c", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "returned" in done.stderr and " 0 triples" not in done.stderr


def test_record_page_lists_the_alternates(client) -> None:
    html = client.get(f"/records/{RID}").get_data(as_text=True)
    for ext in ("ttl", "jsonld", "rdf", "nt"):
        assert f'href="/data/article/{RID}.{ext}"' in html


@pytest.fixture
def loaded(repo):
    """An app whose graph store has caught up with the example and the seed."""
    from conftest import SEED

    from repository import importer

    importer.import_paths(repo, [SEED, EXAMPLE])
    app = create_app(repo)
    app.extensions["graph"].ensure_current()
    return app.test_client()


def test_a_newspaper_has_a_uri_whose_document_lists_its_articles(loaded) -> None:
    r = loaded.get("/id/periodical/dalianwanbao", headers={"Accept": "text/turtle"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/data/periodical/dalianwanbao.ttl")
    g = Graph().parse(data=loaded.get("/data/periodical/dalianwanbao.ttl").data, format="turtle")
    paper = URIRef("http://repo.test/id/periodical/dalianwanbao")
    issue = URIRef("http://repo.test/id/periodical/dalianwanbao/2019-06-02")
    assert (issue, URIRef("http://schema.org/isPartOf"), paper) in g
    issue_doc = Graph().parse(
        data=loaded.get("/data/periodical/dalianwanbao/2019-06-02.nt").data, format="nt"
    )
    assert (URIRef(ARTICLE), URIRef("http://schema.org/isPartOf"), issue) in issue_doc
    assert loaded.get("/id/periodical/no-such-paper").status_code == 404
    assert loaded.get("/id/planet/earth").status_code == 404


def test_a_person_and_a_collection_have_documents(loaded) -> None:
    from repository.rdf import agent_uri

    person = agent_uri("http://repo.test", "王晓")
    path = person.removeprefix("http://repo.test/id/")
    g = Graph().parse(data=loaded.get(f"/data/{path}.ttl").data, format="turtle")
    assert (URIRef(ARTICLE), DCTERMS.creator, URIRef(person)) in g
    c = Graph().parse(data=loaded.get("/data/collection/old-photos.jsonld").data, format="json-ld")
    assert len(c) >= 3  # titles in three languages, although it holds no record yet


def test_the_dump_is_gzipped_ntriples_of_the_whole_graph(loaded, tmp_path) -> None:
    import gzip

    r = loaded.get("/data/dump.nt.gz")
    assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"
    data = gzip.decompress(r.data)
    g = Graph().parse(data=data, format="nt")
    assert (URIRef(ARTICLE), DCTERMS.identifier, None) in g
    assert len(g) == len(data.splitlines())  # no triple twice
    if shutil.which("rapper"):
        path = tmp_path / "dump.nt"
        path.write_bytes(data)
        done = subprocess.run(["rapper", "-i", "ntriples", "-c", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_void_describes_the_dataset(loaded) -> None:
    from rdflib import Namespace

    void = Namespace("http://rdfs.org/ns/void#")
    r = loaded.get("/.well-known/void")
    assert r.status_code == 200 and r.content_type.startswith("text/turtle")
    g = Graph().parse(data=r.data, format="turtle")
    ds = URIRef("http://repo.test/.well-known/void#dataset")
    assert (ds, void.uriSpace, None) in g and (
        ds,
        void.dataDump,
        URIRef("http://repo.test/data/dump.nt.gz"),
    ) in g
    assert (ds, void.exampleResource, None) in g and (ds, DCTERMS.license, None) in g
    assert int(g.value(ds, void.triples)) > 60
    assert len(list(g.objects(ds, void.subset))) == 21
    media = URIRef("http://repo.test/.well-known/void#media")
    assert int(g.value(media, void.entities)) == 2
