"""Real harvesters (Sickle, the oaipmh client, oaipmh-scythe) over a real HTTP server on 127.0.0.1.

Every response the server sends during these tests is validated against the official schemas
(OAI-PMH.xsd with the oai_dc, MODS 3.8 and oai-identifier schemas) by a WSGI middleware.
"""

from __future__ import annotations

import gzip
import itertools
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import SAMPLES, SEED
from factory import article, record_id
from lxml import etree
from werkzeug.serving import make_server

from repository import importer, schemas
from repository.app import create_app
from repository.config import Settings
from repository.service import Repository
from repository.store import sqlite as sqlite_store

PAGE = 7
OAI_ID = "repository.dalian-library.local"


class Clock:
    """Datestamps the tests control: every commit is one minute after the previous one."""

    def __init__(self) -> None:
        self.t = datetime(2024, 1, 1, tzinfo=UTC)

    def __call__(self) -> str:
        self.t += timedelta(minutes=1)
        return self.t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Validating:
    """WSGI middleware: every /oai response must be schema-valid (checked in the server thread)."""

    def __init__(self, app) -> None:  # noqa: ANN001
        self.app = app
        self.failures: list[str] = []
        self.responses = 0
        # Compiled here, once, and used under a lock: libxml2 compiling a schema with imports in a
        # server thread while other threads parse has been seen to drop an import (then every
        # oai_dc payload "has no global declaration").
        self.schema = schemas.oai_response_schema()
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):  # noqa: ANN001, ANN204
        captured = {}

        def capture(status, headers, exc_info=None):  # noqa: ANN001, ANN202
            captured["status"], captured["headers"] = status, dict(headers)
            return start_response(status, headers, exc_info)

        body = b"".join(self.app(environ, capture))
        if environ.get("PATH_INFO") == "/oai":
            self.responses += 1
            raw = gzip.decompress(body) if captured["headers"].get("Content-Encoding") == "gzip" else body
            if not captured["status"].startswith("200"):
                self.failures.append(f"{captured['status']} for {environ.get('QUERY_STRING')}")
            else:
                with self.lock:
                    if not self.schema.validate(etree.fromstring(raw)):
                        self.failures.append(
                            f"{environ.get('QUERY_STRING')}: {self.schema.error_log.last_error}"
                        )
        return [body]


@pytest.fixture
def server(tmp_path: Path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(sqlite_store, "utc_now", clock)
    repo = Repository(tmp_path / "inst", settings=Settings(base_url="http://127.0.0.1", oai_page_size=PAGE))
    importer.import_paths(repo, [SAMPLES], collection="old-photos")  # 14 valid, one refused
    importer.import_paths(repo, [SEED])
    for i in range(30):
        paper = ["大连晚报", "大连日报", "半岛晨报"][i % 3]
        repo.save(repo.prepare(article(i, newspaper=paper), source=f"t{i}"), 0, who="t", why="t")
    app = Validating(create_app(repo))
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield type(
        "S",
        (),
        {"url": f"http://127.0.0.1:{httpd.server_port}/oai", "repo": repo, "clock": clock, "app": app},
    )
    httpd.shutdown()
    thread.join(5)
    assert not app.failures, app.failures[:3]
    assert app.responses > 0
    repo.close()


def _all_ids(repo: Repository) -> set[str]:
    return {f"oai:{OAI_ID}:{s.id}" for s in repo.store.records(include_deleted=True)}


def test_sickle_harvests_every_record_exactly_once_in_both_formats(server) -> None:
    from sickle import Sickle

    for prefix in ("oai_dc", "mods"):
        ids = [r.header.identifier for r in Sickle(server.url).ListRecords(metadataPrefix=prefix)]
        assert len(ids) == len(set(ids)) == 45
        assert set(ids) == _all_ids(server.repo)


def test_oaipmh_client_harvests_every_record_and_reads_dublin_core(server) -> None:
    from oaipmh.client import Client
    from oaipmh.metadata import MetadataRegistry, oai_dc_reader

    registry = MetadataRegistry()
    registry.registerReader("oai_dc", oai_dc_reader)
    client = Client(server.url, registry)
    identify = client.identify()
    assert identify.baseURL() == server.url and identify.deletedRecord() == "persistent"
    records = list(client.listRecords(metadataPrefix="oai_dc"))
    assert len(records) == 45 == len({h.identifier() for h, _, _ in records})
    seed = next(md for h, md, _ in records if md and "辽宁日报, 2023-03-09" in md.getField("source"))
    assert seed.getField("creator") == ["吕丽"] and seed.getField("date") == ["2023-03-09"]
    sets = {s[0] for s in client.listSets()}
    assert {"media", "media:liaoningribao", "media:dalianwanbao", "old-photos"} <= sets


def test_oaipmh_scythe_harvests_identifiers_per_set(server) -> None:
    from oaipmh_scythe import Scythe

    with Scythe(server.url) as scythe:
        media = {h.identifier for h in scythe.list_identifiers(metadata_prefix="oai_dc", set_="media")}
        wanbao = {
            h.identifier for h in scythe.list_identifiers(metadata_prefix="oai_dc", set_="media:dalianwanbao")
        }
        photos = {h.identifier for h in scythe.list_identifiers(metadata_prefix="mods", set_="old-photos")}
    assert len(media) == 31 and len(wanbao) == 10 and len(photos) == 14
    assert wanbao < media and not media & photos


def test_harvest_by_date_window_is_inclusive_and_complete(server) -> None:
    from sickle import Sickle

    states = sorted(server.repo.store.records(), key=lambda s: (s.datestamp, s.id))
    lo, hi = states[10].datestamp, states[25].datestamp
    expected = {f"oai:{OAI_ID}:{s.id}" for s in states if lo <= s.datestamp <= hi}
    got = [
        h.identifier
        for h in Sickle(server.url).ListIdentifiers(metadataPrefix="oai_dc", **{"from": lo, "until": hi})
    ]
    assert len(got) == len(set(got)) and set(got) == expected
    day = states[0].datestamp[:10]
    same_day = [
        h.identifier
        for h in Sickle(server.url).ListIdentifiers(metadataPrefix="oai_dc", **{"from": day, "until": day})
    ]
    assert len(same_day) == sum(1 for s in states if s.datestamp.startswith(day))


def test_edits_and_deletions_during_a_harvest_neither_skip_nor_repeat(server) -> None:
    from sickle import Sickle

    repo = server.repo
    started = (server.clock.t + timedelta(seconds=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )  # after every save so far
    existing = _all_ids(repo)
    harvest = Sickle(server.url).ListRecords(metadataPrefix="oai_dc", ignore_deleted=False)
    seen = [r.header.identifier for r in itertools.islice(harvest, PAGE * 2)]
    delivered = {i.rsplit(":", 1)[1] for i in seen}
    pending = [
        s.id for s in sorted(repo.store.records(), key=lambda s: (s.datestamp, s.id)) if s.id not in delivered
    ]
    # mid-harvest: edit two records not yet delivered, delete one, edit one already delivered, add a new one
    for rid in pending[:2]:
        v = repo.store.version(rid)
        edited = v.xml.replace("老码头的早市".encode(), "修改后的标题".encode())
        repo.save(
            repo.prepare(
                edited, record_id=rid, collection=repo.store.get(rid).collection, source="mid-harvest"
            ),
            v.version,
            who="c",
            why="edit",
        )
    repo.delete(pending[2], who="c", why="mid-harvest delete")
    first = next(iter(delivered))
    repo.delete(first, who="c", why="already delivered")
    repo.save(repo.prepare(article(999), source="new"), 0, who="c", why="new")
    seen += [r.header.identifier for r in harvest]
    assert len(seen) == len(set(seen)), "a record was delivered twice"
    assert set(seen) == existing, "a record that existed when the harvest began was skipped"
    assert f"oai:{OAI_ID}:{record_id(999)}" not in seen  # it belongs to the next harvest

    # the next incremental harvest, from the moment this one began, gets exactly what changed
    changes = {
        (r.header.identifier.rsplit(":", 1)[1], r.header.deleted)
        for r in Sickle(server.url).ListRecords(
            metadataPrefix="oai_dc", ignore_deleted=False, **{"from": started}
        )
    }
    assert changes == {
        (pending[0], False),
        (pending[1], False),
        (pending[2], True),
        (first, True),
        (record_id(999), False),
    }


def test_a_harvest_survives_a_server_restart(server, tmp_path: Path) -> None:
    from sickle import Sickle

    harvest = Sickle(server.url).ListIdentifiers(metadataPrefix="oai_dc")
    first = [h.identifier for h in itertools.islice(harvest, PAGE)]
    token = harvest.resumption_token.token
    # a brand-new app over the same instance folder (as after a restart) honours the token
    restarted = Repository(server.repo.instance, settings=server.repo.settings)
    client = create_app(restarted).test_client()
    body = client.get(f"/oai?verb=ListIdentifiers&resumptionToken={token}").data
    rest = etree.fromstring(body).findall(".//{http://www.openarchives.org/OAI/2.0/}identifier")
    assert rest and not {e.text for e in rest} & set(first)
    restarted.close()


def test_records_edited_during_a_harvest_are_parsed_only_for_their_own_page(
    tmp_path: Path, monkeypatch
) -> None:
    """A page looks only at the changed records whose old position falls inside it."""
    import re

    from repository.oai import provider as provider_module
    from repository.oai.provider import Provider

    monkeypatch.setattr(sqlite_store, "utc_now", Clock())
    repo = Repository(tmp_path / "inst", settings=Settings(base_url="http://127.0.0.1", oai_page_size=5))
    for i in range(60):
        repo.save(repo.prepare(article(i), source=f"t{i}"), 0, who="t", why="t")
    p = Provider(repo)
    first = p.respond([("verb", "ListIdentifiers"), ("metadataPrefix", "oai_dc")], "http://x/oai")
    token = re.search(rb"<resumptionToken[^>]*>([^<]+)<", first).group(1).decode()
    for i in range(10, 60):  # edit every record not yet delivered
        v = repo.store.version(record_id(i))
        repo.save(
            repo.prepare(v.xml.replace(b"</title>", b" (ed.)</title>", 1), source="e"),
            v.version,
            who="t",
            why="e",
        )
    parsed = []
    real = provider_module.read_article
    monkeypatch.setattr(provider_module, "read_article", lambda root: parsed.append(1) or real(root))
    page = p.respond([("verb", "ListIdentifiers"), ("resumptionToken", token)], "http://x/oai")
    assert page.count(b"<header>") == 5
    assert len(parsed) <= 6, f"{len(parsed)} old versions parsed for one page of 5"
    repo.close()
