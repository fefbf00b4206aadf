"""The search index: tantivy (BM25, block-max WAND, aggregations) over the analysis of :mod:`.analysis`.

Why tantivy rather than SQLite FTS5 (figures in ``bench/bench_search.py``): FTS5
ranks *every* match of a query before it can return the top 20, so a word that
nearly every article contains (大连, in a Dalian collection) costs time in
proportion to the collection; tantivy's block-max WAND skips the blocks that
cannot reach the top 20, and its aggregations count facets in Rust.

Terms: each field's folded text (:func:`.analysis.fold_terms`) is cut by tantivy's
n-gram tokenizer into every character and every character bigram, so a
two-character query is one term lookup, whatever the text around it; ASCII words
are indexed whole in their own field. A query word must have all of its bigrams
(and ASCII words) in the record, in its head fields (titles, names, newspaper,
subjects: weighted above the body) or its body (abstract, full text).

The index follows the record store as a :class:`~repository.derived.Follower`:
the save path brings it up to date before a save returns, and a crash between
the two is repaired by the next catch-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import tantivy

from ..derived import Follower
from ..mods import Article, read_article
from ..store import Changed
from ..xmlio import parse
from . import analysis

#: Head fields (titles, names, newspaper, subjects) count this many times a body match.
HEAD_BOOST = 3.0
FACETS = ("newspaper", "author", "collection", "language")
SORTS = ("relevance", "date_desc", "date_asc", "title")
WRITER_HEAP = 64_000_000


class SearchUnavailable(RuntimeError):
    """The index cannot be written now (another process holds its writer)."""


@dataclass
class SearchRequest:
    text: str = ""
    filters: dict[str, list[str]] = field(default_factory=dict)  # facet → values (all must hold)
    date_from: str | None = None  # YYYY, YYYY-MM or YYYY-MM-DD
    date_to: str | None = None
    sort: str = "relevance"
    offset: int = 0
    limit: int = 20
    facet_size: int = 12


@dataclass
class SearchResult:
    total: int
    hits: list[tuple[str, float]]
    facets: dict[str, list[tuple[str, int]]]
    years: list[tuple[int, int]]
    words: list[str]


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    for name in ("head", "body"):
        sb.add_text_field(name, tokenizer_name="cjk", index_option="freq")
    sb.add_text_field("words", tokenizer_name="ascii", index_option="freq")
    for name in FACETS:
        sb.add_text_field(name, tokenizer_name="raw", index_option="basic", fast=True)
    sb.add_text_field("title_key", tokenizer_name="raw", index_option="basic", fast=True)
    sb.add_integer_field("year", indexed=True, fast=True)
    sb.add_integer_field("date", indexed=True, fast=True)
    return sb.build()


def date_number(value: str | None, *, end: bool = False) -> int | None:
    """'2023-03-09' → 20230309; a year or month alone is its first (or, with ``end``, last) day."""
    if not value:
        return None
    m = re.match(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", value.strip())
    if not m:
        return None
    year, month, day = m.group(1), m.group(2), m.group(3)
    month = month or ("12" if end else "00")
    day = day or ("31" if end else "00")
    return int(f"{year}{month}{day}")


class SearchIndex(Follower):
    def __init__(self, repo, path: Path | None = None):  # noqa: ANN001 - a Repository
        super().__init__(repo, Path(path or repo.instance / "search"))
        folder = self.path / "tantivy"
        folder.mkdir(exist_ok=True)
        self.schema = _schema()
        exists = tantivy.Index.exists(str(folder))
        self.index = tantivy.Index(self.schema, path=str(folder), reuse=exists)
        self.index.register_tokenizer(
            "cjk", tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.ngram(1, 2, False)).build()
        )
        self.index.register_tokenizer(
            "ascii", tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex("[a-z0-9]+")).build()
        )
        self._writer: tantivy.IndexWriter | None = None

    # ------------------------------------------------------------------ writing
    def _open_writer(self) -> tantivy.IndexWriter:
        try:
            return self.index.writer(heap_size=WRITER_HEAP, num_threads=1)
        except ValueError as exc:
            raise SearchUnavailable(
                f"the search index {self.path} is being written elsewhere: {exc}"
            ) from None

    def catch_up(self, batch_size: int = 2000) -> int:
        with self._lock:
            self._writer = self._open_writer()
            try:
                return super().catch_up(batch_size)
            finally:
                writer, self._writer = self._writer, None
                writer.wait_merging_threads()
                self.index.reload()

    def apply(self, batch: list[Changed]) -> None:
        writer = self._writer
        assert writer is not None, "apply runs inside catch_up"
        for change in batch:
            writer.delete_documents_by_term("id", change.id)
            if not change.deleted:
                writer.add_document(self.document(change))
        writer.commit()

    def clear(self) -> None:
        writer = self._open_writer()
        writer.delete_all_documents()
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()

    def document(self, change: Changed) -> tantivy.Document:
        article = read_article(parse(change.xml, change.id).getroot())
        head, body = text_fields(article, change.fulltext)
        doc = tantivy.Document(id=change.id, head=head, body=body, words=f"{head}\n{body}")
        if article.host and article.host.title:
            doc.add_text("newspaper", analysis.simplified(article.host.title))
        for name in dict.fromkeys(analysis.simplified(n.text) for n in article.names):
            doc.add_text("author", name)
        doc.add_text("collection", article.collection or change.collection)
        if article.language_tag:
            doc.add_text("language", article.language_tag)
        doc.add_text("title_key", title_key(article.title))
        number = date_number(article.date_issued)
        if number:
            doc.add_integer("date", number)
            doc.add_integer("year", number // 10000)
        return doc

    # ------------------------------------------------------------------ reading
    def word_query(self, word: str) -> tantivy.Query | None:
        """One query word: all its bigrams (a lone character: itself) and ASCII words, head or body."""
        cjk, ascii_words = analysis.word_terms(word)

        def term(field: str, value: str) -> tantivy.Query:
            return tantivy.Query.term_query(self.schema, field, value, index_option="freq")

        clauses = [
            tantivy.Query.boolean_query(
                [
                    (tantivy.Occur.Should, tantivy.Query.boost_query(term("head", g), HEAD_BOOST)),
                    (tantivy.Occur.Should, term("body", g)),
                ]
            )
            for g in cjk
        ]
        clauses += [term("words", w) for w in ascii_words]
        if len(clauses) <= 1:
            return clauses[0] if clauses else None
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in clauses])

    def _filters(self, request: SearchRequest) -> list[tantivy.Query]:
        out = []
        for facet, values in request.filters.items():
            if facet not in FACETS:
                continue
            for value in values:
                if facet in ("newspaper", "author"):
                    value = analysis.simplified(value)
                out.append(tantivy.Query.term_query(self.schema, facet, value))
        lo = date_number(request.date_from)
        hi = date_number(request.date_to, end=True)
        if lo is not None or hi is not None:
            out.append(
                tantivy.Query.range_query(
                    self.schema, "date", tantivy.FieldType.Integer, lo or 0, hi or 99999999
                )
            )
        return out

    def query(self, request: SearchRequest) -> tuple[tantivy.Query, list[str]]:
        words = analysis.query_words(request.text)
        scored = [q for q in (self.word_query(w) for w in words) if q is not None]
        if words and not scored:
            return tantivy.Query.empty_query(), words
        filters = self._filters(request)
        if not scored and not filters:
            return tantivy.Query.all_query(), words
        clauses = [(tantivy.Occur.Must, q) for q in scored]
        clauses += [(tantivy.Occur.Must, tantivy.Query.const_score_query(q, 0.0)) for q in filters]
        if not scored:
            clauses.append(
                (tantivy.Occur.Must, tantivy.Query.const_score_query(tantivy.Query.all_query(), 0.0))
            )
        if len(clauses) == 1:
            return clauses[0][1], words
        return tantivy.Query.boolean_query(clauses), words

    def search(self, request: SearchRequest, *, facets: bool = True) -> SearchResult:
        query, words = self.query(request)
        searcher = self.index.searcher()
        sort = request.sort if request.sort in SORTS else "relevance"
        if sort == "relevance" and not words:
            sort = "date_desc"
        kwargs: dict = {}
        if sort in ("date_desc", "date_asc"):
            kwargs = {
                "order_by_field": "date",
                "order": tantivy.Order.Desc if sort == "date_desc" else tantivy.Order.Asc,
            }
        elif sort == "title":
            kwargs = {"order_by_field": "title_key", "order": tantivy.Order.Asc}
        limit = max(1, request.limit)  # tantivy refuses 0; a facets-only request drops the hit
        result = searcher.search(query, limit=limit, offset=request.offset, count=True, **kwargs)
        hits = [(searcher.doc(address)["id"][0], float(score) if sort == "relevance" else 0.0)
                for score, address in result.hits][: request.limit]  # fmt: skip
        facet_counts: dict[str, list[tuple[str, int]]] = {}
        years: list[tuple[int, int]] = []
        if facets and result.count:
            spec = {f: {"terms": {"field": f, "size": request.facet_size}} for f in FACETS}
            spec["year"] = {"terms": {"field": "year", "size": 500}}
            aggs = searcher.aggregate(query, spec)
            for f in FACETS:
                facet_counts[f] = [(b["key"], b["doc_count"]) for b in aggs[f]["buckets"]]
            years = sorted((int(b["key"]), b["doc_count"]) for b in aggs["year"]["buckets"])
        return SearchResult(result.count, hits, facet_counts, years, words)

    def ids(self, request: SearchRequest) -> list[str]:
        return [record_id for record_id, _ in self.search(request, facets=False).hits]

    def __len__(self) -> int:
        return self.index.searcher().num_docs


def text_fields(article: Article, fulltext: str | None) -> tuple[str, str]:
    """The folded (head, body) text of a record: titles, names, newspaper, subjects; abstract, full text."""
    head = [t.text for t in article.titles] + [t.subtitle for t in article.titles if t.subtitle]
    head += [n.text for n in article.names]
    if article.host:
        head.append(article.host.title)
    head += [s.topic or s.geographic or "" for s in article.subjects]
    body = (article.abstract, fulltext)
    return (
        analysis.fold_terms("\n".join(p for p in head if p)),
        analysis.fold_terms("\n".join(p for p in body if p)),
    )


def title_key(title: str) -> str:
    """A sort key: Chinese titles by their pinyin (as Chinese catalogues sort), others as they are."""
    from pypinyin import lazy_pinyin

    # Twelve characters decide nearly every order; pinyin for a whole title cost more than the
    # rest of the document together (bench/out/search.md).
    return " ".join(lazy_pinyin(analysis.fold(title)[:12], errors=lambda s: [s]))[:200]
