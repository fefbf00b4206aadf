"""The search index: tantivy (BM25, block-max WAND, aggregations) over the analysis of :mod:`.analysis`.

Why tantivy rather than SQLite FTS5 (figures in ``bench/bench_search.py``): FTS5
ranks *every* match of a query before it can return the top 20, so a word that
nearly every article contains (大连, in a Dalian collection) costs time in
proportion to the collection; tantivy's block-max WAND skips the blocks that
cannot reach the top 20, and its aggregations count facets in Rust.

Terms (:mod:`.analysis`): each field's folded text is indexed twice. Its n-gram
field holds every run of one to four characters as a term (tantivy's n-gram
tokenizer, in Rust), so a word of up to four characters, nearly every Chinese
query word, is one term lookup (one posting list, whatever the word's length) and an
exact match of the contiguous word. Its bigram field holds
the stream of adjacent character pairs with their positions
(:func:`.analysis.bigram_stream`), so a longer word is the phrase of its bigrams at
consecutive positions, exact too. (A phrase of bigrams for every word was exact but
ten to twenty times slower for common four-character words at 1,000,000 records,
营商环境 p50 139 ms against 8 ms, as it checks the positions in every record holding
all the bigrams; the n-gram field costs build time and size instead.) ASCII
words are indexed whole in their own field. A query word must occur in the record's
head fields (titles, names, newspaper, subjects: weighted above the body) or its
body (abstract, full text).

The index follows the record store as a :class:`~repository.derived.Follower`:
the save path brings it up to date before a save returns, and a crash between
the two is repaired by the next catch-up.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from functools import cache, lru_cache
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
#: A catch-up this far behind (a rebuild, a first start after an import) commits this many records
#: at a time with a larger writer heap: each commit writes a segment that merges later, so 500
#: commits of 2,000 records per million cost more than 100 of 10,000 (bench/out/search.md).
BULK_BATCH = 10_000
BULK_HEAP = 200_000_000
#: The index's layout (schema and analysis); an index in another layout is rebuilt when opened.
LAYOUT = "3: 1- to 4-grams, positional bigrams"
#: Words up to this long are one term of the n-gram fields; longer ones the phrase of their bigrams.
MAX_GRAM = 4


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
        sb.add_text_field(name, tokenizer_name="bigrams", index_option="position")
        sb.add_text_field(f"{name}_grams", tokenizer_name="grams", index_option="freq")
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
        layout = self.path / "layout"
        self.schema = _schema()

        def ready() -> bool:
            return layout.exists() and layout.read_text() == LAYOUT and tantivy.Index.exists(str(folder))

        # Server workers start together: one makes (or replaces) the index while the others wait
        # until it is made; none waits for the lock as such, which the leading process then keeps.
        deadline = time.monotonic() + 60
        while True:
            try:
                with self.exclusive(wait=0):
                    if folder.exists() and not ready():
                        shutil.rmtree(folder)  # written by an earlier version: rebuilt by the catch-up
                        self._set_synced(0)
                    folder.mkdir(exist_ok=True)
                    layout.write_text(LAYOUT)
                    if not tantivy.Index.exists(str(folder)):
                        tantivy.Index(self.schema, path=str(folder), reuse=False)
                break
            except Follower.Busy:
                if ready():
                    break
                if time.monotonic() > deadline:
                    message = f"the search index {self.path} is being made by another process"
                    raise SearchUnavailable(message) from None
                time.sleep(0.05)
        self.index = tantivy.Index(self.schema, path=str(folder), reuse=True)
        self._seen = self.synced_seq()
        self.index.register_tokenizer(
            "bigrams", tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()
        )
        self.index.register_tokenizer(
            "grams", tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.ngram(1, MAX_GRAM, False)).build()
        )
        self.index.register_tokenizer(
            "ascii", tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex("[a-z0-9]+")).build()
        )
        self._writer: tantivy.IndexWriter | None = None

    # ------------------------------------------------------------------ writing
    def _open_writer(self, heap: int = WRITER_HEAP) -> tantivy.IndexWriter:
        try:
            return self.index.writer(heap_size=heap, num_threads=1)
        except ValueError as exc:
            raise SearchUnavailable(
                f"the search index {self.path} is being written elsewhere: {exc}"
            ) from None

    def became_leader(self) -> None:
        """A leader keeps its writer: commits return at once and merges run in the writer's threads.

        A writer opened for one catch-up must wait for the merges its commits started before it
        is dropped (dropping it abandons them, and segments pile up); at 100,000 records that
        wait is now and then seconds long, which a cataloger's save must not sit through.
        """
        self._writer = self._open_writer(WRITER_HEAP)

    def stopped_leading(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.wait_merging_threads()

    def _catch_up(self, batch_size: int | None = None) -> int:
        with self._lock:
            if self._leading:
                try:
                    return super()._catch_up(batch_size or 2000)
                finally:
                    self._reload()
            bulk = self.behind() > BULK_BATCH
            self._writer = self._open_writer(BULK_HEAP if bulk else WRITER_HEAP)
            try:
                return super()._catch_up(batch_size or (BULK_BATCH if bulk else 2000))
            finally:
                writer, self._writer = self._writer, None
                writer.wait_merging_threads()
                self._reload()

    def _reload(self) -> None:
        self.index.reload()
        self._seen = self.synced_seq()

    def followed(self) -> None:
        self.refresh()

    def apply(self, batch: list[Changed]) -> None:
        writer = self._writer
        assert writer is not None, "apply runs inside catch_up"
        for change in batch:
            writer.delete_documents_by_term("id", change.id)
            if not change.deleted:
                writer.add_document(self.document(change))
        writer.commit()

    def clear(self) -> None:
        if self._leading:
            self._writer.delete_all_documents()
            self._writer.commit()
        else:
            writer = self._open_writer()
            writer.delete_all_documents()
            writer.commit()
            writer.wait_merging_threads()
        self.index.reload()

    def document(self, change: Changed) -> tantivy.Document:
        article = read_article(parse(change.xml, change.id).getroot())
        head, body = text_fields(article, change.fulltext)
        doc = tantivy.Document(
            id=change.id,
            head=analysis.bigram_stream(head),
            body=analysis.bigram_stream(body),
            head_grams=head,
            body_grams=body,
            words=f"{head}\n{body}",
        )
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
        """One query word as contiguous text: each CJK run and ASCII word in it must match, head or body."""
        runs, ascii_words = analysis.word_parts(word)
        clauses = [self._run_query(run) for run in runs]
        clauses += [
            tantivy.Query.term_query(self.schema, "words", w, index_option="freq") for w in ascii_words
        ]
        if len(clauses) <= 1:
            return clauses[0] if clauses else None
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in clauses])

    def _run_query(self, run: str) -> tantivy.Query:
        """A CJK run in the head (boosted) or the body: one n-gram term, or the phrase of its bigrams."""

        def one(field: str) -> tantivy.Query:
            if len(run) <= MAX_GRAM:
                return tantivy.Query.term_query(self.schema, f"{field}_grams", run, index_option="freq")
            return tantivy.Query.phrase_query(self.schema, field, analysis.grams(run))

        return tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Should, tantivy.Query.boost_query(one("head"), HEAD_BOOST)),
                (tantivy.Occur.Should, one("body")),
            ]
        )

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

    def refresh(self) -> int:
        """See what other processes (server workers, an import) have committed to the index.

        A catch-up records its sequence number after its commit, so a changed number means
        a new commit to load; and changes nobody has applied yet are applied in the background.
        Returns how many changes that is (0: the index is current).
        """
        seq = self.synced_seq()
        if seq != self._seen:
            self.index.reload()
            self._seen = seq
        behind = self.behind()
        if behind:
            self.follow_in_background()
        return behind

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
        facet_counts: dict[str, list[tuple[str, int]]] = {}
        years: list[tuple[int, int]] = []
        if facets:
            # One pass over the matches counts them and their facets: every record is in exactly
            # one collection, so the collection counts add up to the total.
            aggs = searcher.aggregate(query, self._facet_spec(request.facet_size))
            total = sum(b["doc_count"] for b in aggs["collection"]["buckets"])
            for f in FACETS:
                buckets = aggs[f]["buckets"][: request.facet_size]
                facet_counts[f] = [(b["key"], b["doc_count"]) for b in buckets]
            years = sorted((int(b["key"]), b["doc_count"]) for b in aggs["year"]["buckets"])
        hits: list[tuple[str, float]] = []
        if request.limit > 0 and (not facets or total):
            # The aggregation counted the matches: the hits need no second count.
            result = searcher.search(
                query, limit=request.limit, offset=request.offset, count=not facets, **kwargs
            )
            hits = [(searcher.doc(address)["id"][0], float(score) if sort == "relevance" else 0.0)
                    for score, address in result.hits]  # fmt: skip
            if not facets:
                total = result.count
        elif not facets:
            total = searcher.search(query, limit=1, count=True).count
        return SearchResult(total, hits, facet_counts, years, words)

    @staticmethod
    def _facet_spec(size: int) -> dict:
        spec = {f: {"terms": {"field": f, "size": size}} for f in FACETS}
        # Every collection is counted (there are 21): their counts make the total.
        spec["collection"]["terms"] |= {"size": 1000, "segment_size": 1000}
        spec["year"] = {"terms": {"field": "year", "size": 500, "segment_size": 500}}
        return spec

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
    """A sort key: Chinese titles by their pinyin (as Chinese catalogues sort), others as they are.

    Twelve characters decide nearly every order. pypinyin converts a text word by word after
    segmenting it, and most of its time goes into converting the words, which titles share:
    so each word's pinyin is computed once (:func:`_word_pinyin`), with the same result as
    ``lazy_pinyin`` of the whole text at a third of the cost.
    """
    words = _pinyin().seg(analysis.fold(title)[:12])
    return " ".join(syllable for word in words for syllable in _word_pinyin(word))[:200]


@cache
def _pinyin():  # noqa: ANN202 - a pypinyin.Pinyin, imported when first needed
    from pypinyin.core import Pinyin

    return Pinyin()


@lru_cache(maxsize=1 << 16)
def _word_pinyin(word: str) -> tuple[str, ...]:
    """One segmented word's pinyin (tone marks dropped; characters without pinyin kept as they are)."""
    return tuple(_pinyin().lazy_pinyin([word], errors=lambda s: [s]))
