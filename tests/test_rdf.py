"""MODS → RDF, as records.md maps it: typed, language-tagged, with URIs for papers, people, collections."""

from __future__ import annotations

from conftest import EXAMPLE
from rdflib import RDF, XSD, Literal, URIRef
from rdflib.namespace import DCTERMS

from repository import xmlio
from repository.mods import read_article
from repository.rdf import SCHEMA, agent_uri, record_graph, record_rdf_xml, record_triples

BASE = "http://repo.test"
A = URIRef(f"{BASE}/id/article/media-2019-06-02-0001")


def _graph():
    article = read_article(xmlio.parse(EXAMPLE.read_bytes()))
    return record_graph("media-2019-06-02-0001", article, BASE)


def test_article_is_typed_and_titled_with_language_tags() -> None:
    g = _graph()
    assert (A, RDF.type, SCHEMA.NewsArticle) in g and (A, RDF.type, DCTERMS.BibliographicResource) in g
    assert (A, SCHEMA.headline, Literal("老码头的早市: 一条街的四十年", lang="zh-Hans")) in g
    assert (A, DCTERMS.title, Literal("Lao matou de zaoshi", lang="zh-Latn-pinyin")) in g
    for _, _, o in g:
        if isinstance(o, Literal) and o.datatype is None and not str(o).isascii():
            assert o.language, f"untagged literal {o!r}"


def test_people_papers_issues_and_collections_have_uris() -> None:
    g = _graph()
    author = agent_uri(BASE, "王晓")
    assert (A, DCTERMS.creator, author) in g and (A, SCHEMA.author, author) in g
    assert (author, RDF.type, SCHEMA.Person) in g
    assert (author, SCHEMA.name, Literal("王晓", lang="zh-Hans")) in g
    photographer = agent_uri(BASE, "李明")
    assert (A, DCTERMS.contributor, photographer) in g and (A, DCTERMS.creator, photographer) not in g
    paper = URIRef(f"{BASE}/id/periodical/dalianwanbao")
    issue = URIRef(f"{paper}/2019-06-02")
    assert (A, SCHEMA.isPartOf, issue) in g and (issue, SCHEMA.isPartOf, paper) in g
    assert (issue, RDF.type, SCHEMA.PublicationIssue) in g and (paper, RDF.type, SCHEMA.Periodical) in g
    assert (A, SCHEMA.printPage, Literal("A6")) in g
    assert (A, DCTERMS.bibliographicCitation, Literal("大连晚报, 2019-06-02, A6", lang="zh-Hans")) in g
    coll = URIRef(f"{BASE}/id/collection/media")
    assert (A, DCTERMS.isPartOf, coll) in g
    assert (coll, DCTERMS.title, Literal("Dalian in the Media", lang="en")) in g


def test_dates_language_subjects_and_page() -> None:
    g = _graph()
    assert (A, DCTERMS.issued, Literal("2019-06-02", datatype=XSD.date)) in g
    assert (A, SCHEMA.datePublished, Literal("2019-06-02", datatype=XSD.date)) in g
    assert (A, DCTERMS.language, URIRef("http://id.loc.gov/vocabulary/iso639-2/chi")) in g
    assert (A, SCHEMA.inLanguage, Literal("zh")) in g
    assert (A, DCTERMS.subject, Literal("市场", lang="zh-Hans")) in g
    assert (A, DCTERMS.spatial, Literal("大连", lang="zh-Hans")) in g
    assert (A, SCHEMA.mainEntityOfPage, URIRef(f"{BASE}/records/media-2019-06-02-0001")) in g


def test_stored_rdf_xml_is_the_graph_and_parses_with_rdflib_and_oxigraph() -> None:
    import pyoxigraph as ox
    from rdflib import Graph

    article = read_article(xmlio.parse(EXAMPLE.read_bytes()))
    data = record_rdf_xml("media-2019-06-02-0001", article, BASE)
    assert data == record_rdf_xml("media-2019-06-02-0001", article, BASE)  # stable
    assert data.startswith(b"<rdf:RDF ") and b"http://www.openarchives.org/OAI/2.0/rdf.xsd" in data
    parsed = Graph().parse(data=data, format="xml")
    assert set(parsed) == set(_graph())
    quads = list(ox.parse(data, ox.RdfFormat.RDF_XML))
    assert len(quads) == len(_graph())  # each triple once, although the photographer is also a contributor


def test_markup_in_values_is_escaped_and_the_store_collection_is_used() -> None:
    from rdflib import Graph

    article = read_article(xmlio.parse(EXAMPLE.read_bytes()))
    article.titles[0].text, article.titles[0].subtitle = 'A & B <i>"quoted"</i>\r\nnext line', None
    article.collection = None
    data = record_rdf_xml("media-2019-06-02-0001", article, BASE, collection="old-photos")
    g = Graph().parse(data=data, format="xml")
    assert (A, SCHEMA.headline, Literal('A & B <i>"quoted"</i>\r\nnext line', lang="zh-Hans")) in g
    assert (A, DCTERMS.isPartOf, URIRef(f"{BASE}/id/collection/old-photos")) in g
    assert set(g) == set(record_triples("media-2019-06-02-0001", article, BASE, "old-photos"))


def test_the_article_is_part_of_its_papers_year() -> None:
    """One triple an article for per-paper, per-year counts: the paper's year (a volume) has it as a part."""
    g = _graph()
    paper = URIRef(f"{BASE}/id/periodical/dalianwanbao")
    volume = URIRef(f"{paper}/2019")
    assert (volume, SCHEMA.hasPart, A) in g and (volume, RDF.type, SCHEMA.PublicationVolume) in g
    assert (volume, SCHEMA.isPartOf, paper) in g
    assert (volume, SCHEMA.datePublished, Literal("2019", datatype=XSD.gYear)) in g

    article = read_article(xmlio.parse(EXAMPLE.read_bytes()))
    article.host.date = "2019"  # only the year is known: the volume is what the article is part of
    g = record_graph("media-2019-06-02-0001", article, BASE)
    assert (A, SCHEMA.isPartOf, volume) in g and (None, RDF.type, SCHEMA.PublicationIssue) not in g
