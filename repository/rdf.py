"""MODS → RDF: one resource per record, DCMI Terms as the baseline and schema.org beside it.

The mapping follows ``records.md``. Newspapers, their issues, people and collections get
URIs of their own under ``{base}/id/``, so that "all articles of one paper" or "everything
one journalist wrote" are graph queries, not string matches. Every literal carries a
language tag taken from the record (``zh-Hans``, ``zh-Hant``, ``zh-Latn-pinyin``, ``en``).

Without an authority file, a person is identified by name within the repository: the same
name is the same agent URI (``/id/agent/{pinyin}-{hash}``). That is the honest reach of the
data; linking agents to an authority (VIAF, the NLC name authority) can refine it later.
"""

from __future__ import annotations

import hashlib

from rdflib import RDF, XSD, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS

from . import collections
from .mods import LANGUAGE_TAGS, Article, Name, Title
from .sets import newspaper_slug

SCHEMA = Namespace("http://schema.org/")
DCMITYPE = Namespace("http://purl.org/dc/dcmitype/")
RELATORS = Namespace("http://id.loc.gov/vocabulary/relators/")
ISO639_2 = Namespace("http://id.loc.gov/vocabulary/iso639-2/")

PREFIXES = {
    "dcterms": str(DCTERMS),
    "schema": str(SCHEMA),
    "dcmitype": str(DCMITYPE),
    "relators": str(RELATORS),
    "xsd": str(XSD),
    "rdf": str(RDF),
}

#: ISO 639-2/B → BCP 47 primary language, for schema:inLanguage.
BCP47 = {
    "chi": "zh", "eng": "en", "jpn": "ja", "kor": "ko", "rus": "ru", "ger": "de", "fre": "fr", "cze": "cs",
}  # fmt: skip


def article_uri(base: str, record_id: str) -> URIRef:
    return URIRef(f"{base}/id/article/{record_id}")


def periodical_uri(base: str, title: str) -> URIRef:
    return URIRef(f"{base}/id/periodical/{newspaper_slug(title)}")


def agent_uri(base: str, name: str) -> URIRef:
    digest = hashlib.sha1(name.strip().encode("utf-8")).hexdigest()[:8]
    return URIRef(f"{base}/id/agent/{newspaper_slug(name)}-{digest}")


def collection_uri(base: str, code: str) -> URIRef:
    return URIRef(f"{base}/id/collection/{code}")


def _tag(
    lang: str | None, script: str | None, transliteration: str | None, fallback: str | None
) -> str | None:
    if transliteration == "pinyin":
        return "zh-Latn-pinyin"
    if lang:
        return LANGUAGE_TAGS.get((lang, script)) or LANGUAGE_TAGS.get((lang, None)) or BCP47.get(lang)
    return fallback


def _date(value: str) -> Literal:
    """W3CDTF dates as typed literals: xsd:date, xsd:gYearMonth or xsd:gYear; anything else plain."""
    v = value.strip()
    if len(v) == 10 and v[4] == "-" and v[7] == "-":
        return Literal(v, datatype=XSD.date)
    if len(v) == 7 and v[4] == "-":
        return Literal(v, datatype=XSD.gYearMonth)
    if len(v) == 4 and v.isdigit():
        return Literal(v, datatype=XSD.gYear)
    return Literal(v)


def record_graph(record_id: str, article: Article, base: str) -> Graph:
    """The graph describing one record (and what it links to)."""
    g = Graph()
    for prefix, ns in PREFIXES.items():
        g.bind(prefix, ns)
    a = article_uri(base, record_id)
    lang = article.language_tag
    is_article = "article" in article.genres and article.type_of_resource == "text"
    g.add((a, RDF.type, SCHEMA.NewsArticle if is_article else SCHEMA.CreativeWork))
    g.add((a, RDF.type, DCTERMS.BibliographicResource))
    g.add((a, DCTERMS.identifier, Literal(record_id)))
    g.add((a, SCHEMA.mainEntityOfPage, URIRef(f"{base}/records/{record_id}")))

    primary_done = False
    for t in article.titles:
        literal = Literal(_title_text(t), lang=_tag(t.lang, t.script, t.transliteration, lang))
        g.add((a, DCTERMS.title, literal))
        if not primary_done and t.type is None and t.transliteration is None:
            g.add((a, SCHEMA.headline, literal))
            primary_done = True
        elif t.type == "translated" or t.transliteration:
            g.add((a, SCHEMA.alternativeHeadline, literal))

    for n in article.names:
        _agent(g, a, n, base, lang)

    if article.date_issued:
        g.add((a, DCTERMS.issued, _date(article.date_issued)))
        g.add((a, SCHEMA.datePublished, _date(article.date_issued)))

    if article.language:
        g.add((a, DCTERMS.language, ISO639_2[article.language]))
        if article.language in BCP47:
            g.add((a, SCHEMA.inLanguage, Literal(BCP47[article.language])))

    host = article.host
    if host and host.genre == "newspaper":
        paper = periodical_uri(base, host.title)
        g.add((paper, RDF.type, SCHEMA.Periodical))
        g.add((paper, SCHEMA.name, Literal(host.title, lang=lang)))
        container = paper
        if host.date:
            issue = URIRef(f"{paper}/{host.date}")
            g.add((issue, RDF.type, SCHEMA.PublicationIssue))
            g.add((issue, SCHEMA.datePublished, _date(host.date)))
            g.add((issue, SCHEMA.isPartOf, paper))
            container = issue
        g.add((a, SCHEMA.isPartOf, container))
        if host.page:
            g.add((a, SCHEMA.printPage, Literal(host.page)))
        g.add((a, DCTERMS.bibliographicCitation, Literal(host.citation(), lang=lang)))
    elif host:
        g.add((a, DCTERMS.isPartOf, Literal(host.title, lang=lang)))

    if article.collection or article.collection_title:
        _collection(g, a, article.collection, base)

    for s in article.subjects:
        if s.topic:
            g.add((a, DCTERMS.subject, Literal(s.topic, lang=lang)))
            g.add((a, SCHEMA.about, Literal(s.topic, lang=lang)))
        if s.geographic:
            g.add((a, DCTERMS.spatial, Literal(s.geographic, lang=lang)))
            g.add((a, SCHEMA.contentLocation, Literal(s.geographic, lang=lang)))
    if article.abstract:
        g.add((a, DCTERMS.abstract, Literal(article.abstract, lang=lang)))
    for cond in article.access_conditions:
        g.add((a, DCTERMS.rights, Literal(cond, lang=lang)))
    return g


def _title_text(t: Title) -> str:
    return f"{t.text}: {t.subtitle}" if t.subtitle else t.text


def _agent(g: Graph, a: URIRef, n: Name, base: str, lang: str | None) -> None:
    person = agent_uri(base, n.text)
    g.add((person, RDF.type, SCHEMA.Organization if n.type == "corporate" else SCHEMA.Person))
    g.add((person, SCHEMA.name, Literal(n.text, lang=lang)))
    if n.role in ("aut", "cre"):
        g.add((a, DCTERMS.creator, person))
        g.add((a, SCHEMA.author, person))
    else:
        g.add((a, DCTERMS.contributor, person))
        g.add((a, SCHEMA.contributor, person))
    if n.role.isalpha() and n.role.islower() and len(n.role) == 3:
        g.add((a, RELATORS[n.role], person))


def _collection(g: Graph, a: URIRef, code: str | None, base: str) -> None:
    coll = collections.get(code) if code else None
    if coll is None:
        return
    uri = collection_uri(base, coll.code)
    g.add((a, DCTERMS.isPartOf, uri))
    g.add((uri, RDF.type, DCMITYPE.Collection))
    for tag in collections.LANGUAGES:
        g.add((uri, DCTERMS.title, Literal(coll.name(tag), lang=tag)))


def collection_graph(code: str, base: str) -> Graph:
    """A collection's own description (it exists even with no records)."""
    g = Graph()
    coll = collections.get(code)
    if coll is not None:
        uri = collection_uri(base, coll.code)
        g.add((uri, RDF.type, DCMITYPE.Collection))
        for tag in collections.LANGUAGES:
            g.add((uri, DCTERMS.title, Literal(coll.name(tag), lang=tag)))
    return g


def to_ntriples(g: Graph) -> bytes:
    """Sorted N-Triples: the stored form, stable across runs (diffable, concatenable into a dump)."""
    lines = g.serialize(format="nt", encoding="utf-8").splitlines()
    return b"\n".join(sorted(line for line in lines if line.strip())) + b"\n"
