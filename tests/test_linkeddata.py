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
