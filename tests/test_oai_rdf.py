"""The RDF form as an OAI-PMH metadata format (``rdf``): listed, served by GetRecord and ListRecords.

Every response is validated against the driver schema (OAI-PMH.xsd with its payload schemas,
the ``rdf:RDF`` root included), and every payload is read back as RDF: it must say exactly what
the record's RDF says (the one mapping, :func:`repository.rdf.record_triples`).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from conftest import EXAMPLE, SAMPLES, SEED
from factory import article, record_id
from lxml import etree
from rdflib import Graph

from repository import importer, xmlio
from repository.app import create_app
from repository.config import Settings
from repository.mods import read_article
from repository.rdf import record_triples
from repository.schemas import oai_response_schema
from repository.service import Repository

OAI = "http://www.openarchives.org/OAI/2.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS = {"o": OAI, "rdf": RDF}
BASE = "http://repo.test"
PREFIX = "oai:repository.dalian-library.local:"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """Real MODS of other institutions, the seed page, the example and three articles (one deleted)."""
    settings = Settings(base_url=BASE, oai_page_size=4)
    repo = Repository(tmp_path_factory.mktemp("oai-rdf") / "inst", settings=settings)
    importer.import_paths(repo, [SAMPLES], collection="old-photos")
    importer.import_paths(repo, [SEED, EXAMPLE])
    for i in range(3):
        repo.save(repo.prepare(article(i, newspaper="大连日报"), source="t"), 0, who="t", why="t")
    repo.delete(record_id(2), who="t", why="withdrawn")
    yield repo, create_app(repo).test_client()
    repo.close()


def oai(client, **args: str) -> etree._Element:
    """A response, checked: HTTP 200 and valid against OAI-PMH.xsd with every payload schema."""
    r = client.get("/oai", query_string=args)
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/xml; charset=UTF-8"
    root = etree.fromstring(r.data)
    schema = oai_response_schema()
    assert schema.validate(root), f"{schema.error_log.last_error}\n{r.data[:2000]!r}"
    assert root.find("o:error", NS) is None, r.data[:1000]
    return root


def expected(repo: Repository, rid: str) -> set:
    """The record's triples as the mapping makes them from the stored MODS."""
    state, version = repo.live(rid)
    art = read_article(xmlio.parse(version.xml).getroot())
    return set(record_triples(rid, art, BASE, state.collection))


def payload(record: etree._Element) -> bytes:
    rdf = record.find("o:metadata/rdf:RDF", NS)
    assert rdf is not None, etree.tostring(record)[:500]
    return etree.tostring(rdf, encoding="utf-8")


def test_rdf_is_a_listed_format(loaded) -> None:
    repo, client = loaded
    for args in ({}, {"identifier": PREFIX + "media-2019-06-02-0001"}):
        root = oai(client, verb="ListMetadataFormats", **args)
        formats = {
            f.findtext("o:metadataPrefix", namespaces=NS): (
                f.findtext("o:schema", namespaces=NS),
                f.findtext("o:metadataNamespace", namespaces=NS),
            )
            for f in root.iterfind(".//o:metadataFormat", NS)
        }
        assert formats["rdf"] == ("http://www.openarchives.org/OAI/2.0/rdf.xsd", RDF)
        assert {"oai_dc", "mods"} <= set(formats)


def test_get_record_serves_the_records_rdf(loaded) -> None:
    repo, client = loaded
    rid = "media-2019-06-02-0001"
    root = oai(client, verb="GetRecord", identifier=PREFIX + rid, metadataPrefix="rdf")
    record = root.find("o:GetRecord/o:record", NS)
    assert record.findtext("o:header/o:identifier", namespaces=NS) == PREFIX + rid
    data = payload(record)
    assert set(Graph().parse(data=data, format="xml")) == expected(repo, rid)
    if shutil.which("rapper"):  # Debian's raptor: an independent RDF/XML parser
        out = subprocess.run(
            ["rapper", "-q", "-i", "rdfxml", "-o", "ntriples", "-", BASE],
            input=data, capture_output=True, check=True,
        )  # fmt: skip
        assert len(out.stdout.splitlines()) == len(expected(repo, rid))


def test_list_records_harvests_every_record_once_in_rdf(loaded) -> None:
    repo, client = loaded
    seen: dict[str, etree._Element] = {}
    args = {"verb": "ListRecords", "metadataPrefix": "rdf"}
    while True:
        root = oai(client, **args)
        for record in root.iterfind("o:ListRecords/o:record", NS):
            identifier = record.findtext("o:header/o:identifier", namespaces=NS)
            assert identifier not in seen
            seen[identifier] = record
        token = root.findtext("o:ListRecords/o:resumptionToken", namespaces=NS)
        if not token:
            break
        args = {"verb": "ListRecords", "resumptionToken": token}
    states = list(repo.store.records(include_deleted=True))
    assert len(seen) == len(states) > 15
    for state in states:
        record = seen[PREFIX + state.id]
        if state.deleted:
            assert record.find("o:header", NS).get("status") == "deleted"
            assert record.find("o:metadata", NS) is None
            continue
        assert set(Graph().parse(data=payload(record), format="xml")) == expected(repo, state.id), state.id
        single = oai(client, verb="GetRecord", identifier=PREFIX + state.id, metadataPrefix="rdf")
        assert etree.tostring(single.find("o:GetRecord/o:record", NS), method="c14n") == etree.tostring(
            record, method="c14n"
        )


def test_an_edit_is_harvested_as_new_rdf(repo) -> None:
    client = create_app(repo).test_client()
    rid = "media-2019-06-02-0001"
    repo.save(repo.prepare(EXAMPLE.read_bytes(), source="x"), 0, who="t", why="t")
    edited = EXAMPLE.read_bytes().replace("王晓".encode(), "张伟".encode())
    repo.save(repo.prepare(edited, source="x"), 1, who="t", why="author corrected")
    root = oai(client, verb="GetRecord", identifier=PREFIX + rid, metadataPrefix="rdf")
    data = payload(root.find("o:GetRecord/o:record", NS))
    assert "张伟".encode() in data and "王晓".encode() not in data


def test_the_payload_schema_admits_rdf_rdf_only() -> None:
    """The driver schema knows the rdf:RDF root (processContents is strict) and nothing else of RDF's."""
    schema = oai_response_schema()

    def response(metadata: str) -> etree._Element:
        return etree.fromstring(
            f'<OAI-PMH xmlns="{OAI}"><responseDate>2024-01-01T00:00:00Z</responseDate>'
            f'<request verb="GetRecord" identifier="{PREFIX}x" metadataPrefix="rdf">http://h/oai</request>'
            f"<GetRecord><record><header><identifier>{PREFIX}x</identifier>"
            f"<datestamp>2024-01-01T00:00:00Z</datestamp></header><metadata>{metadata}</metadata>"
            "</record></GetRecord></OAI-PMH>"
        )

    good = f'<rdf:RDF xmlns:rdf="{RDF}"><rdf:Description rdf:about="http://h/a"/></rdf:RDF>'
    assert schema.validate(response(good)), schema.error_log.last_error
    assert not schema.validate(response(f'<rdf:Description xmlns:rdf="{RDF}" rdf:about="http://h/a"/>'))
