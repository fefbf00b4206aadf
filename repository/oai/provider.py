"""The OAI-PMH 2.0 data provider: requests in, response documents out.

Responses are assembled as bytes around the renderings stored at save time
(oai_dc) or the stored record itself (mods), never by re-parsing records, so a
page of 100 records costs one indexed query and a join. Listing is keyset-paged
over (datestamp, identifier) with a snapshot bound taken when a harvest begins:
records changed during the harvest are served as they were at its start (see
:meth:`~repository.store.sqlite.SQLiteStore.versions_as_of`), so a record is
never skipped or repeated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

from .. import collections
from ..config import instance_secret
from ..mods import read_article
from ..service import Repository
from ..sets import sets_for
from ..store import PageRow
from ..xmlio import parse as parse_xml
from ..xmlio import strip_declaration
from .protocol import OAIError, Request, echoable_uri, parse, window
from .tokens import Token, TokenCodec

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def text(value: str) -> str:
    """Escaped character data with anything XML 1.0 forbids removed."""
    return escape(_XML_ILLEGAL.sub("", value))


def attr(value: str) -> str:
    return quoteattr(_XML_ILLEGAL.sub("", value))


@dataclass(frozen=True)
class MetadataFormat:
    prefix: str
    schema: str
    namespace: str


#: The formats every record can be disseminated in. The linked-data module adds an RDF one.
FORMATS: dict[str, MetadataFormat] = {
    "oai_dc": MetadataFormat("oai_dc", "http://www.openarchives.org/OAI/2.0/oai_dc.xsd", OAI_DC_NS),
    "mods": MetadataFormat(
        "mods", "http://www.loc.gov/standards/mods/v3/mods-3-8.xsd", "http://www.loc.gov/mods/v3"
    ),
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Provider:
    def __init__(self, repo: Repository, *, stylesheet_url: str | None = None):
        self.repo = repo
        self.store = repo.store
        self.settings = repo.settings
        self.tokens = TokenCodec(instance_secret(repo.instance), self.settings.oai_token_hours)
        self.stylesheet_url = stylesheet_url
        self.prefix = f"oai:{self.settings.oai_identifier}:"
        self._prefix_text = text(self.prefix)
        self._verbs: dict[str, Callable[[Request, str], list[bytes]]] = {
            "Identify": self.identify,
            "ListMetadataFormats": self.list_metadata_formats,
            "ListSets": self.list_sets,
            "GetRecord": self.get_record,
            "ListIdentifiers": self.list_records,
            "ListRecords": self.list_records,
        }

    # ------------------------------------------------------------------ envelope
    def respond(self, pairs: list[tuple[str, str]], base_url: str) -> bytes:
        """The whole response document for a request given as (name, value) pairs."""
        request: Request | None = None
        try:
            request = parse(pairs)
            body = self._verbs[request.verb](request, base_url)
        except OAIError as err:
            body = [f'<error code="{err.code}">{text(err.message)}</error>'.encode()]
            if err.code in ("badVerb", "badArgument"):
                request = None  # the protocol: echo no attributes for these
        return self._envelope(request, base_url, body)

    def _envelope(self, request: Request | None, base_url: str, body: list[bytes]) -> bytes:
        head = ['<?xml version="1.0" encoding="UTF-8"?>\n']
        if self.stylesheet_url:
            head.append(f'<?xml-stylesheet type="text/xsl" href={attr(self.stylesheet_url)}?>\n')
        head.append(
            f'<OAI-PMH xmlns="{OAI_NS}" xmlns:xsi="{XSI_NS}" xsi:schemaLocation="{OAI_NS} {OAI_SCHEMA}">\n'
            f"<responseDate>{_now()}</responseDate>\n"
        )
        if request is None:
            head.append(f"<request>{text(base_url)}</request>\n")
        else:
            pairs = [("verb", request.verb), *request.args.items()]
            attrs = "".join(f" {k}={attr(v)}" for k, v in pairs if k != "identifier" or echoable_uri(v))
            head.append(f"<request{attrs}>{text(base_url)}</request>\n")
        return "".join(head).encode() + b"".join(body) + b"\n</OAI-PMH>\n"

    # ------------------------------------------------------------------ helpers
    def _record_id(self, identifier: str) -> str:
        if not identifier.startswith(self.prefix):
            raise OAIError("idDoesNotExist", f"'{identifier}' is not an identifier of this repository")
        return identifier[len(self.prefix) :]

    def _format(self, prefix: str) -> MetadataFormat:
        fmt = FORMATS.get(prefix)
        if fmt is None:
            known = ", ".join(FORMATS)
            raise OAIError(
                "cannotDisseminateFormat", f"'{prefix}' is not a format of this repository ({known})"
            )
        return fmt

    def _header(self, record_id: str, datestamp: str, deleted: bool, sets: list[str]) -> str:
        # Record ids, set specs and datestamps are checked on the way in (RECORD_ID, slugs,
        # UTC stamps) and hold nothing to escape; only the configured prefix is escaped.
        status = ' status="deleted"' if deleted else ""
        specs = "".join(f"<setSpec>{s}</setSpec>" for s in sets)
        return (
            f"<header{status}><identifier>{self._prefix_text}{record_id}</identifier>"
            f"<datestamp>{datestamp}</datestamp>{specs}</header>"
        )

    def _metadata(self, content: bytes | None, prefix: str) -> bytes:
        if content is None:
            return b""
        if prefix == "mods":
            content = strip_declaration(content)
        return b"<metadata>" + content + b"</metadata>"

    # ------------------------------------------------------------------ verbs
    def identify(self, request: Request, base_url: str) -> list[bytes]:
        s = self.settings
        earliest = self.store.earliest_datestamp() or _now()
        sample_id = self.prefix + (self.store.sample_id() or "media-2023-03-09-0000000000")
        return [
            (
                "<Identify>"
                f"<repositoryName>{text(s.repository_name)}</repositoryName>"
                f"<baseURL>{text(base_url)}</baseURL>"
                "<protocolVersion>2.0</protocolVersion>"
                f"<adminEmail>{text(s.admin_email)}</adminEmail>"
                f"<earliestDatestamp>{earliest}</earliestDatestamp>"
                "<deletedRecord>persistent</deletedRecord>"
                "<granularity>YYYY-MM-DDThh:mm:ssZ</granularity>"
                "<compression>gzip</compression>"
                "<description>"
                '<oai-identifier xmlns="http://www.openarchives.org/OAI/2.0/oai-identifier"'
                ' xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/oai-identifier'
                ' http://www.openarchives.org/OAI/2.0/oai-identifier.xsd">'
                "<scheme>oai</scheme>"
                f"<repositoryIdentifier>{text(s.oai_identifier)}</repositoryIdentifier>"
                "<delimiter>:</delimiter>"
                f"<sampleIdentifier>{text(sample_id)}</sampleIdentifier>"
                "</oai-identifier>"
                "</description>"
                "</Identify>"
            ).encode()
        ]

    def list_metadata_formats(self, request: Request, base_url: str) -> list[bytes]:
        if "identifier" in request.args:
            record_id = self._record_id(request.args["identifier"])
            if self.store.get(record_id) is None:
                raise OAIError(
                    "idDoesNotExist", f"no record has the identifier '{request.args['identifier']}'"
                )
        parts = ["<ListMetadataFormats>"]
        for f in FORMATS.values():
            parts.append(
                f"<metadataFormat><metadataPrefix>{f.prefix}</metadataPrefix><schema>{f.schema}</schema>"
                f"<metadataNamespace>{f.namespace}</metadataNamespace></metadataFormat>"
            )
        parts.append("</ListMetadataFormats>")
        return ["".join(parts).encode()]

    def list_sets(self, request: Request, base_url: str) -> list[bytes]:
        if "resumptionToken" in request.args:
            raise OAIError("badResumptionToken", "ListSets answers in one response; it issues no tokens")
        names = self.store.set_names()
        parts = ["<ListSets>"]
        for c in collections.collections():
            description = f"{c.name('zh-Hans')} · {c.name('zh-Hant')} · {c.name('en')}"
            parts.append(
                self._set(
                    c.code,
                    c.name("zh-Hans"),
                    [c.name("zh-Hans"), c.name("zh-Hant"), c.name("en")],
                    f"大连图书馆地方文献数据库:{description}",
                )
            )
        for spec, name in names.items():
            if ":" not in spec:
                continue
            parent = collections.get(spec.split(":", 1)[0])
            where = parent.name("zh-Hans") if parent else spec.split(":", 1)[0]
            parts.append(
                self._set(spec, name, [name], f"{where}中刊登于《{name}》的文章 (articles from {name})")
            )
        parts.append("</ListSets>")
        return ["".join(parts).encode()]

    @staticmethod
    def _set(spec: str, name: str, titles: list[str], description: str) -> str:
        dc_titles = "".join(f"<dc:title>{text(t)}</dc:title>" for t in dict.fromkeys(titles))
        return (
            f"<set><setSpec>{text(spec)}</setSpec><setName>{text(name)}</setName><setDescription>"
            f'<oai_dc:dc xmlns:oai_dc="{OAI_DC_NS}" xmlns:dc="{DC_NS}" xsi:schemaLocation="{OAI_DC_NS}'
            f' http://www.openarchives.org/OAI/2.0/oai_dc.xsd">{dc_titles}'
            f"<dc:description>{text(description)}</dc:description></oai_dc:dc></setDescription></set>"
        )

    def get_record(self, request: Request, base_url: str) -> list[bytes]:
        fmt = self._format(request.args["metadataPrefix"])
        record_id = self._record_id(request.args["identifier"])
        state = self.store.get(record_id)
        if state is None:
            raise OAIError("idDoesNotExist", f"no record has the identifier '{request.args['identifier']}'")
        header = self._header(state.id, state.datestamp, state.deleted, self.store.sets_of(state.id))
        content = None if state.deleted else self.store.renderings_of([state.id], fmt.prefix).get(state.id)
        return [
            b"<GetRecord><record>",
            header.encode(),
            self._metadata(content, fmt.prefix),
            b"</record></GetRecord>",
        ]

    def list_records(self, request: Request, base_url: str) -> list[bytes]:
        verb = request.verb
        if "resumptionToken" in request.args:
            token = self.tokens.decode(request.args["resumptionToken"], verb)
            self._format(token.prefix)
            first = False
        else:
            prefix = request.args["metadataPrefix"]
            self._format(prefix)
            lo, hi = window(request.args)
            set_spec = request.args.get("set")
            if set_spec is not None and not self._set_exists(set_spec):
                raise OAIError("noRecordsMatch", f"there is no set '{set_spec}'")
            bound = self.store.max_seq()
            total = self.store.list_count(set_spec=set_spec, from_=lo, until=hi)
            token = Token(verb, prefix, set_spec, lo, hi, bound, ("", ""), 0, total, 0)
            first = True
        size = self.settings.oai_page_size
        with_metadata = verb == "ListRecords"
        page = self._page(token, size + 1, with_metadata)
        if not page:
            if first:
                raise OAIError("noRecordsMatch", "no records match the request")
            page = []
        more = len(page) > size
        page = page[:size]
        body = [f"<{verb}>".encode()]
        body += self._items(page, token, with_metadata)
        cursor_after = token.cursor + len(page)
        if more:
            last = page[-1]
            nxt = Token(
                verb, token.prefix, token.set_spec, token.from_, token.until, token.bound,
                (last.datestamp, last.id), cursor_after, token.total, self.tokens.new_expiry(),
            )  # fmt: skip
            expires = datetime.fromtimestamp(nxt.expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            body.append(
                f'<resumptionToken expirationDate="{expires}" completeListSize="{nxt.total}"'
                f' cursor="{token.cursor}">{text(self.tokens.encode(nxt))}</resumptionToken>'.encode()
            )
        elif not first:
            body.append(
                f'<resumptionToken completeListSize="{token.total}" cursor="{token.cursor}"/>'.encode()
            )
        body.append(f"</{verb}>".encode())
        return body

    def _set_exists(self, spec: str) -> bool:
        return collections.get(spec) is not None or spec in self.store.set_names()

    def _page(self, token: Token, limit: int, with_metadata: bool) -> list[PageRow]:
        rows = self.store.list_page(
            set_spec=token.set_spec, from_=token.from_, until=token.until, bound_seq=token.bound,
            after=token.after, limit=limit, fmt=token.prefix if with_metadata else None,
        )  # fmt: skip
        # Records changed since the harvest began are served as they were then, in their sets
        # of then. Only those whose old key falls inside this page are parsed: candidates are
        # taken in key order and the walk stops at the page's last key.
        candidates = sorted(
            ((old.datestamp, state.id), state, old)
            for state, old in self.store.versions_as_of(token.bound)
            if token.from_ <= old.datestamp <= token.until and (old.datestamp, state.id) > token.after
        )
        for key, state, old in candidates:
            if len(rows) >= limit:
                rows.sort(key=lambda r: (r.datestamp, r.id))
                if key > (rows[limit - 1].datestamp, rows[limit - 1].id):
                    break
            sets = sorted(sets_for(state.collection, read_article(parse_xml(old.xml).getroot())))
            if token.set_spec is not None and token.set_spec not in sets:
                continue
            deleted = old.action == "delete"
            content = None
            if with_metadata and not deleted:
                content = (
                    old.xml
                    if token.prefix == "mods"
                    else self.repo.render(state.id, state.collection, old.xml, token.prefix)
                )
            rows.append(PageRow(state.id, old.datestamp, deleted, state.collection, content, sets))
        rows.sort(key=lambda r: (r.datestamp, r.id))
        return rows[:limit]

    def _items(self, page: list[PageRow], token: Token, with_metadata: bool) -> list[bytes]:
        out = []
        for row in page:
            header = self._header(row.id, row.datestamp, row.deleted, row.sets).encode()
            if with_metadata:
                content = None if row.deleted else row.content
                out.append(b"<record>" + header + self._metadata(content, token.prefix) + b"</record>")
            else:
                out.append(header)
        return out
