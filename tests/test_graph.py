"""The graph store follows the records: saves, deletions and restores, and a rebuild from scratch."""

from __future__ import annotations

import json

import pytest
from conftest import EXAMPLE, SEED
from factory import article, record_id

from repository import importer
from repository.linkeddata.graph import GraphStore, GraphUnavailable

AUTHOR_QUERY = """
PREFIX schema: <http://schema.org/>
SELECT ?article WHERE { ?article schema:author/schema:name "王晓"@zh-Hans } ORDER BY ?article
"""


def _articles(graph: GraphStore) -> list[str]:
    return [s["article"].value.rsplit("/", 1)[1] for s in graph.query(AUTHOR_QUERY)]


def test_saves_deletions_and_restores_reach_the_graph(repo) -> None:
    graph = GraphStore(repo)
    repo.listeners.append(graph.listen)
    repo.save(repo.prepare(EXAMPLE.read_bytes(), source="x"), 0, who="t", why="t")
    for i in range(3):
        repo.save(repo.prepare(article(i), source="x"), 0, who="t", why="t")
    assert _articles(graph) == ["media-2019-06-02-0001", record_id(0), record_id(1), record_id(2)]
    repo.delete(record_id(1), who="t", why="t")
    assert record_id(1) not in _articles(graph)
    repo.restore(record_id(1), who="t", why="t")
    assert record_id(1) in _articles(graph)
    edited = repo.store.version(record_id(2)).xml.replace("王晓".encode(), "张伟".encode())
    repo.save(repo.prepare(edited, source="x"), 1, who="t", why="author corrected")
    assert record_id(2) not in _articles(graph)  # the old triples are gone, not just added to
    assert graph.synced_seq() == repo.store.max_seq()


def test_changes_made_elsewhere_are_caught_up_and_a_rebuild_gives_the_same_graph(repo) -> None:
    graph = GraphStore(repo)
    importer.import_paths(repo, [SEED, EXAMPLE])  # as a CLI import would: no listener
    assert len(graph) == 0 or graph.synced_seq() < repo.store.max_seq()
    graph.ensure_current()
    incremental = sorted(str(q) for q in graph.store)
    assert len(incremental) > 60 and _articles(graph) == ["media-2019-06-02-0001"]
    graph.rebuild()
    assert sorted(str(q) for q in graph.store) == incremental


def test_a_second_opener_gets_a_clear_error(repo) -> None:
    first = GraphStore(repo)
    with pytest.raises(GraphUnavailable, match="graph store"):
        GraphStore(repo)
    first.close()


def test_collections_are_resources_before_they_hold_records(repo) -> None:
    graph = GraphStore(repo)
    graph.catch_up()
    rows = list(
        graph.query(
            "PREFIX dcterms: <http://purl.org/dc/terms/> SELECT ?t WHERE "
            "{ <http://repo.test/id/collection/old-photos> dcterms:title ?t FILTER(lang(?t) = 'en') }"
        )
    )
    assert [r["t"].value for r in rows] == ["Old Dalian Photographs"]


def test_rdf_commands_and_the_app_keep_the_graph(tmp_path) -> None:
    from click.testing import CliRunner

    from repository.app import create_app
    from repository.cli import main
    from repository.service import Repository

    instance = tmp_path / "inst"
    runner = CliRunner()
    assert runner.invoke(main, ["--instance", str(instance), "import", str(SEED)]).exit_code == 0
    out = runner.invoke(main, ["--instance", str(instance), "rdf", "rebuild"])
    assert out.exit_code == 0 and "1 records loaded" in out.output
    repo = Repository(instance)
    app = create_app(repo)  # opens the graph, catches up (in the background), follows every commit
    repo.save(repo.prepare(EXAMPLE.read_bytes(), source="x"), 0, who="t", why="t")
    assert _articles(app.extensions["graph"]) == ["media-2019-06-02-0001"]
    # while the app holds the graph, the CLI says why it cannot open it
    busy = runner.invoke(main, ["--instance", str(instance), "rdf", "sync"])
    assert busy.exit_code == 1 and "repository serve" in busy.output


def test_rdf_push_replaces_a_graph_in_a_real_oxigraph_server(repo, tmp_path) -> None:
    """`oxigraph serve` (the binary the oxigraph package ships) as the external Graph Store."""
    import shutil
    import socket
    import subprocess
    import sys
    import time
    import urllib.parse
    import urllib.request
    from pathlib import Path

    binary = shutil.which("oxigraph") or str(Path(sys.executable).parent / "oxigraph")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [binary, "serve", "--location", str(tmp_path / "ox"), "--bind", f"127.0.0.1:{port}"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/query?query=ASK%7B%7D", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        importer.import_paths(repo, [SEED, EXAMPLE])
        graph = GraphStore(repo)
        graph.catch_up()
        assert graph.push(f"{base}/store") in (200, 201, 204)
        assert graph.push(f"{base}/store") in (200, 201, 204)  # a PUT replaces: pushing twice adds nothing

        def count(query: str) -> int:
            url = f"{base}/query?" + urllib.parse.urlencode({"query": query})
            req = urllib.request.Request(url, headers={"Accept": "application/sparql-results+json"})
            data = json.loads(urllib.request.urlopen(req, timeout=10).read())
            return int(data["results"]["bindings"][0]["n"]["value"])

        assert count("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }") == len(graph)
        assert count("SELECT (COUNT(*) AS ?n) WHERE { ?a a <http://schema.org/NewsArticle> }") == 2
    finally:
        server.terminate()
        server.wait(10)


def test_the_graph_loads_the_stored_rendering_and_renders_only_what_lacks_one(repo, monkeypatch) -> None:
    from repository.service import RENDERERS

    with monkeypatch.context() as m:  # a record saved before the RDF renderer existed
        m.delitem(RENDERERS, "rdf")
        repo.save(repo.prepare(article(0), source="x"), 0, who="t", why="t")
    repo.save(repo.prepare(article(1), source="x"), 0, who="t", why="t")
    assert repo.store.rendering(record_id(0), "rdf") is None
    rendered = []
    render = repo.render
    monkeypatch.setattr(repo, "render", lambda rid, *a: rendered.append(rid) or render(rid, *a))
    graph = GraphStore(repo)
    graph.catch_up()
    assert rendered == [record_id(0)]  # the other came from the store, not from its MODS
    assert _articles(graph) == [record_id(0), record_id(1)]
    graph.rebuild()
    assert rendered == [record_id(0)] * 2 and _articles(graph) == [record_id(0), record_id(1)]


def test_a_change_committed_during_a_rebuild_replaces_what_the_bulk_load_took(repo, monkeypatch) -> None:
    for i in range(3):
        repo.save(repo.prepare(article(i), source="x"), 0, who="t", why="t")
    graph = GraphStore(repo)
    rendering = repo.store.rendering
    edits = []

    def edit_meanwhile(record: str, fmt: str) -> bytes | None:
        data = rendering(record, fmt)
        if not edits:  # the bulk load has read record 0: now another process edits it
            edited = repo.store.version(record_id(0)).xml.replace("王晓".encode(), "张伟".encode())
            edits.append(repo.save(repo.prepare(edited, source="x"), 1, who="t", why="author corrected"))
        return data

    monkeypatch.setattr(repo.store, "rendering", edit_meanwhile)
    assert graph.rebuild() == 4  # three bulk-loaded, then the edited one again
    assert _articles(graph) == [record_id(1), record_id(2)]  # its old author is gone from its graph
    assert graph.synced_seq() == repo.store.max_seq()


def test_the_per_year_count_follows_saves_and_deletions(repo) -> None:
    """The year's schema:hasPart of an article is the article's own: it goes when the article goes."""
    from repository.linkeddata import EXAMPLES

    graph = GraphStore(repo)
    repo.listeners.append(graph.listen)
    papers = [("大连晚报", "2019-06-01"), ("大连晚报", "2019-06-02"), ("大连晚报", "2019-07-01"),
              ("辽宁日报", "2023-03-09")]  # fmt: skip
    for i, (paper, date) in enumerate(papers):
        repo.save(repo.prepare(article(i, newspaper=paper, date=date), source="x"), 0, who="t", why="t")

    def counts() -> dict[tuple[str, str], int]:
        rows = graph.query(EXAMPLES[0][1])
        return {(s["paper"].value, s["year"].value): int(s["articles"].value) for s in rows}

    assert counts() == {("大连晚报", "2019"): 3, ("辽宁日报", "2023"): 1}
    repo.delete(record_id(1), who="t", why="t")
    assert counts() == {("大连晚报", "2019"): 2, ("辽宁日报", "2023"): 1}


def test_renderings_made_under_another_base_url_are_not_loaded(tmp_path) -> None:
    from repository.service import Repository

    old = Repository(tmp_path / "inst", base_url="http://old.test")
    old.save(old.prepare(EXAMPLE.read_bytes(), source="x"), 0, who="t", why="t")
    old.close()
    repo = Repository(tmp_path / "inst", base_url="http://new.test")
    graph = GraphStore(repo)
    repo.listeners.append(graph.listen)
    graph.catch_up()
    assert _articles(graph) == ["media-2019-06-02-0001"]
    assert not graph.query("ASK { ?s ?p ?o FILTER(STRSTARTS(STR(?s), 'http://old.test')) }")
    repo.delete("media-2019-06-02-0001", who="t", why="t")
    assert _articles(graph) == []
    repo.close()
