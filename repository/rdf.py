"""MODS → RDF: one resource per record, DCMI Terms as the baseline and schema.org beside it.

The mapping follows ``records.md``. Newspapers, their issues, people and collections get
URIs of their own under ``{base}/id/``, so that "all articles of one paper" or "everything
one journalist wrote" are graph queries, not string matches. Every literal carries a
language tag taken from the record (``zh-Hans``, ``zh-Hant``, ``zh-Latn-pinyin``, ``en``).

Without an authority file, a person is identified by name within the repository: the same
name is the same agent URI (``/id/agent/{pinyin}-{hash}``). That is the honest reach of the
data; linking agents to an authority (VIAF, the NLC name authority) can refine it later.

The RDF is rendered at save time like the other derived forms (``RENDERERS["rdf"]`` in
:mod:`repository.service`): RDF/XML, which is at once the OAI-PMH ``rdf`` payload and what
the graph store loads. It runs for every record an import saves, so it is built as a list
of rdflib terms (no per-record ``Graph``: adding to one and running rdflib's serializer cost
about 2 ms a record) and written by :func:`rdf_xml`; what many records share (a newspaper,
an issue, a person, a collection, a date) is built once and cached.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from rdflib import RDF, XSD, Graph, Literal, Namespace, URIRef

from . import collections
from .mods import LANGUAGE_TAGS, Article, Name, Title
from .sets import newspaper_slug


class _Namespace(Namespace):
    """A namespace that makes each term once: rdflib's makes a new URIRef at every attribute access."""

    @lru_cache(maxsize=4096)  # noqa: B019 - the namespaces are module constants, never freed anyway
    def term(self, name: str) -> URIRef:
        return super().term(name)


SCHEMA = _Namespace("http://schema.org/")
DCTERMS = _Namespace("http://purl.org/dc/terms/")
DCMITYPE = _Namespace("http://purl.org/dc/dcmitype/")
RELATORS = _Namespace("http://id.loc.gov/vocabulary/relators/")
ISO639_2 = _Namespace("http://id.loc.gov/vocabulary/iso639-2/")
TYPE = RDF.type
XSI = "http://www.w3.org/2001/XMLSchema-instance"
#: The schema the OAI-PMH community names for RDF/XML payloads (root ``rdf:RDF``, any content).
OAI_RDF_SCHEMA = "http://www.openarchives.org/OAI/2.0/rdf.xsd"

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

Term = URIRef | Literal
Triple = tuple[URIRef, URIRef, Term]


def article_uri(base: str, record_id: str) -> URIRef:
    return URIRef(f"{base}/id/article/{record_id}")


@lru_cache(maxsize=4096)
def periodical_uri(base: str, title: str) -> URIRef:
    return URIRef(f"{base}/id/periodical/{newspaper_slug(title)}")


@lru_cache(maxsize=65536)
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


@lru_cache(maxsize=16384)
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


# --------------------------------------------------------------------------- the mapping
def record_triples(
    record_id: str, article: Article, base: str, collection: str | None = None
) -> list[Triple]:
    """The triples describing one record (and what it links to), in a stable order.

    What the record mentions twice (a person as author and photographer) comes twice;
    a Graph and :func:`rdf_xml` keep it once.
    """
    a = article_uri(base, record_id)
    lang = article.language_tag
    is_article = "article" in article.genres and article.type_of_resource == "text"
    out: list[Triple] = [
        (a, TYPE, SCHEMA.NewsArticle if is_article else SCHEMA.CreativeWork),
        (a, TYPE, DCTERMS.BibliographicResource),
        (a, DCTERMS.identifier, Literal(record_id)),
        (a, SCHEMA.mainEntityOfPage, URIRef(f"{base}/records/{record_id}")),
    ]
    _titles(out, a, article.titles, lang)
    for n in article.names:
        _agent(out, a, n, base, lang)
    if article.date_issued:
        date = _date(article.date_issued)
        out += [(a, DCTERMS.issued, date), (a, SCHEMA.datePublished, date)]
    if article.language:
        out.append((a, DCTERMS.language, ISO639_2[article.language]))
        if article.language in BCP47:
            out.append((a, SCHEMA.inLanguage, Literal(BCP47[article.language])))
    _host(out, a, article, base, lang)
    code = article.collection or collection  # the collection the store files it in, if it names none
    if code and collections.get(code) is not None:
        out.append((a, DCTERMS.isPartOf, collection_uri(base, code)))
        out += collection_triples(code, base)
    for s in article.subjects:
        if s.topic:
            topic = Literal(s.topic, lang=lang)
            out += [(a, DCTERMS.subject, topic), (a, SCHEMA.about, topic)]
        if s.geographic:
            place = Literal(s.geographic, lang=lang)
            out += [(a, DCTERMS.spatial, place), (a, SCHEMA.contentLocation, place)]
    if article.abstract:
        out.append((a, DCTERMS.abstract, Literal(article.abstract, lang=lang)))
    for cond in article.access_conditions:
        out.append((a, DCTERMS.rights, Literal(cond, lang=lang)))
    return out


def _titles(out: list[Triple], a: URIRef, titles: list[Title], lang: str | None) -> None:
    primary_done = False
    for t in titles:
        literal = Literal(_title_text(t), lang=_tag(t.lang, t.script, t.transliteration, lang))
        out.append((a, DCTERMS.title, literal))
        if not primary_done and t.type is None and t.transliteration is None:
            out.append((a, SCHEMA.headline, literal))
            primary_done = True
        elif t.type == "translated" or t.transliteration:
            out.append((a, SCHEMA.alternativeHeadline, literal))


def _title_text(t: Title) -> str:
    return f"{t.text}: {t.subtitle}" if t.subtitle else t.text


def _agent(out: list[Triple], a: URIRef, n: Name, base: str, lang: str | None) -> None:
    person, described = _agent_triples(base, n.text, n.type == "corporate", lang)
    out += described
    if n.role in ("aut", "cre"):
        out += [(a, DCTERMS.creator, person), (a, SCHEMA.author, person)]
    else:
        out += [(a, DCTERMS.contributor, person), (a, SCHEMA.contributor, person)]
    if n.role.isalpha() and n.role.islower() and len(n.role) == 3:
        out.append((a, RELATORS[n.role], person))


@lru_cache(maxsize=65536)
def _agent_triples(base: str, name: str, corporate: bool, lang: str | None) -> tuple[URIRef, tuple]:
    person = agent_uri(base, name)
    kind = SCHEMA.Organization if corporate else SCHEMA.Person
    return person, ((person, TYPE, kind), (person, SCHEMA.name, Literal(name, lang=lang)))


def _host(out: list[Triple], a: URIRef, article: Article, base: str, lang: str | None) -> None:
    """The newspaper, the year of it and the issue the article appeared in.

    Besides the issue (which is part of the paper), the paper's year is a
    ``schema:PublicationVolume`` ("it may represent a time span, such as a year") that
    ``schema:hasPart`` the article: one triple an article, under a predicate nothing else
    uses, so a per-paper, per-year count scans 100,000 triples and joins only its few
    hundred groups (joining 100,000 articles to their issues and dates costs seconds in
    Oxigraph). The triple is about the article, so it lives and goes with the article's.
    """
    host = article.host
    if host and host.genre == "newspaper":
        paper, described = _periodical_triples(base, host.title, lang)
        out += described
        container = paper
        year = _year(host.date or article.date_issued)
        if year:
            container, volume = _volume_triples(paper, year)
            out += volume
            out.append((container, SCHEMA.hasPart, a))
        if host.date and host.date.strip() != year:  # an issue's date is more than a year
            container, issue = _issue_triples(paper, host.date)
            out += issue
        out.append((a, SCHEMA.isPartOf, container))
        if host.page:
            out.append((a, SCHEMA.printPage, Literal(host.page)))
        out.append((a, DCTERMS.bibliographicCitation, Literal(host.citation(), lang=lang)))
    elif host:
        out.append((a, DCTERMS.isPartOf, Literal(host.title, lang=lang)))


def _year(date: str | None) -> str | None:
    """The year of a W3CDTF date (YYYY, YYYY-MM, YYYY-MM-DD), or None."""
    v = (date or "").strip()
    return v[:4] if v[:4].isdigit() and (len(v) == 4 or v[4:5] == "-") else None


@lru_cache(maxsize=4096)
def _periodical_triples(base: str, title: str, lang: str | None) -> tuple[URIRef, tuple]:
    paper = periodical_uri(base, title)
    return paper, ((paper, TYPE, SCHEMA.Periodical), (paper, SCHEMA.name, Literal(title, lang=lang)))


@lru_cache(maxsize=4096)
def _volume_triples(paper: URIRef, year: str) -> tuple[URIRef, tuple]:
    volume = URIRef(f"{paper}/{year}")
    return volume, (
        (volume, TYPE, SCHEMA.PublicationVolume),
        (volume, SCHEMA.datePublished, _date(year)),
        (volume, SCHEMA.isPartOf, paper),
    )


@lru_cache(maxsize=65536)
def _issue_triples(paper: URIRef, date: str) -> tuple[URIRef, tuple]:
    issue = URIRef(f"{paper}/{date}")
    return issue, (
        (issue, TYPE, SCHEMA.PublicationIssue),
        (issue, SCHEMA.datePublished, _date(date)),
        (issue, SCHEMA.isPartOf, paper),
    )


@lru_cache(maxsize=256)
def collection_triples(code: str, base: str) -> tuple[Triple, ...]:
    """A collection's own description (it exists even with no records)."""
    coll = collections.get(code)
    if coll is None:
        return ()
    uri = collection_uri(base, coll.code)
    return ((uri, TYPE, DCMITYPE.Collection),) + tuple(
        (uri, DCTERMS.title, Literal(coll.name(tag), lang=tag)) for tag in collections.LANGUAGES
    )


def to_graph(triples: list[Triple] | tuple[Triple, ...]) -> Graph:
    """An rdflib Graph of ``triples`` with the repository's prefixes: for documents in other syntaxes."""
    g = Graph()
    for prefix, ns in PREFIXES.items():
        g.bind(prefix, ns)
    for t in triples:
        g.add(t)
    return g


def record_graph(record_id: str, article: Article, base: str, collection: str | None = None) -> Graph:
    """The graph describing one record, for the ``/data`` documents (Turtle, JSON-LD, …)."""
    return to_graph(record_triples(record_id, article, base, collection))


# --------------------------------------------------------------------------- RDF/XML
#: namespace → prefix of every predicate the mapping uses (an RDF/XML property element needs a QName).
_QNAME_PREFIXES = {str(RDF): "rdf", str(DCTERMS): "dcterms", str(SCHEMA): "schema", str(RELATORS): "relators"}
_RDF_OPEN = (
    "<rdf:RDF"
    + "".join(f' xmlns:{p}="{ns}"' for ns, p in _QNAME_PREFIXES.items())
    + f' xmlns:xsi="{XSI}" xsi:schemaLocation="{RDF} {OAI_RDF_SCHEMA}">\n'
)


@lru_cache(maxsize=1024)
def _qname(predicate: str) -> str:
    cut = max(predicate.rfind("/"), predicate.rfind("#")) + 1
    prefix = _QNAME_PREFIXES.get(predicate[:cut])
    if prefix is None:
        raise ValueError(f"no RDF/XML prefix for the predicate {predicate}")
    return f"{prefix}:{predicate[cut:]}"


def _text(value: str) -> str:
    if "&" in value or "<" in value or ">" in value or "\r" in value:
        value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    return value


def _attr(value: str) -> str:
    value = _text(value)
    if '"' in value or "\n" in value or "\t" in value:
        value = value.replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")
    return value


def rdf_xml(triples: list[Triple] | tuple[Triple, ...]) -> bytes:
    """RDF/XML, one ``rdf:Description`` a subject in order of first mention, each triple once.

    No XML declaration (it is embedded in OAI-PMH responses); the root names the OAI-PMH
    ``rdf.xsd`` in ``xsi:schemaLocation``, as an OAI-PMH payload's root must. RDF parsers
    ignore it.
    """
    by_subject: dict[URIRef, dict[str, None]] = {}
    for s, p, o in triples:
        q = _qname(p)
        if type(o) is Literal:
            if o.language:
                el = f'<{q} xml:lang="{o.language}">{_text(o)}</{q}>'
            elif o.datatype is not None:
                el = f'<{q} rdf:datatype="{o.datatype}">{_text(o)}</{q}>'
            else:
                el = f"<{q}>{_text(o)}</{q}>"
        else:
            el = f'<{q} rdf:resource="{_attr(o)}"/>'
        els = by_subject.get(s)
        if els is None:
            els = by_subject[s] = {}
        els[el] = None
    parts = [_RDF_OPEN]
    for s, els in by_subject.items():
        parts.append(f'<rdf:Description rdf:about="{_attr(s)}">{"".join(els)}</rdf:Description>\n')
    parts.append("</rdf:RDF>\n")
    return "".join(parts).encode("utf-8")


def record_rdf_xml(record_id: str, article: Article, base: str, collection: str | None = None) -> bytes:
    """The stored RDF rendering of a record (``RENDERERS["rdf"]``)."""
    return rdf_xml(record_triples(record_id, article, base, collection))
