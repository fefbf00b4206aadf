"""The OAI-PMH 2.0 data provider: requests in, response documents out.

Every record's ``<record>`` element in each format, and its ``<header>`` alone, are
stored whole at save time (:func:`repository.store.base.list_items`), in the same
transaction as the datestamp and sets they carry; a list page is one keyset read of
those elements and one ``b"".join``, never a re-parse or a rendering. Listing is
keyset-paged over (datestamp, identifier) with a snapshot bound taken when a harvest
begins: records changed during the harvest are served as they were at its start (see
:meth:`~repository.store.sqlite.SQLiteStore.versions_as_of`), so a record is never
skipped or repeated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from .. import collections
from ..config import instance_secret
from ..mods import read_article
from ..service import Repository, is_record_id
from ..sets import sets_for
from ..store import RecordState, Version
from ..store.base import (
    HEADER,
    HEADER_OPEN,
    RECORD_OPEN,
    STORED_FORMAT,
    ListItem,
    disseminations,
    list_items,
)
from ..xmlio import parse as parse_xml
from ..xmlio import xml_chars
from .protocol import OAIError, Request, echoable_uri, parse, window
from .tokens import Token, TokenCodec

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"


def text(value: str) -> str:
    """Escaped character data with anything XML 1.0 forbids removed."""
    return escape(xml_chars(value))


def attr(value: str) -> str:
    return quoteattr(xml_chars(value))


@dataclass(frozen=True)
class MetadataFormat:
    prefix: str
    schema: str
    namespace: str


#: The formats every record can be disseminated in, each a rendering stored at save time (mods: the record).
FORMATS: dict[str, MetadataFormat] = {
    "oai_dc": MetadataFormat("oai_dc", "http://www.openarchives.org/OAI/2.0/oai_dc.xsd", OAI_DC_NS),
    "mods": MetadataFormat(
        "mods", "http://www.loc.gov/standards/mods/v3/mods-3-8.xsd", "http://www.loc.gov/mods/v3"
    ),
    # RDF/XML as the OAI-PMH community carries it: root rdf:RDF, the OAI's rdf.xsd (repository.rdf)
    "rdf": MetadataFormat(
        "rdf", "http://www.openarchives.org/OAI/2.0/rdf.xsd", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    ),
}


def _stamp(seconds: float | None = None) -> str:
    """A UTC datestamp to the second: now, or a UNIX time."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class Provider:
    def __init__(self, repo: Repository, *, stylesheet_url: str | None = None):
        self.repo = repo
        self.store = repo.store
        self.settings = repo.settings
        self.tokens = TokenCodec(instance_secret(repo.instance), self.settings.oai_token_hours)
        self.stylesheet_url = stylesheet_url
        self.prefix = f"oai:{self.settings.oai_identifier}:"
        self._prefix_text = text(self.prefix)
        # How each verb's elements open, live and deleted, up to the stored item (store.base.list_items).
        prefix = self._prefix_text.encode()
        self._openings = {
            "ListRecords": (RECORD_OPEN[0] + prefix, RECORD_OPEN[1] + prefix),
            "ListIdentifiers": (HEADER_OPEN[0] + prefix, HEADER_OPEN[1] + prefix),
        }
        # What opens every response, up to its responseDate.
        self._preamble = '<?xml version="1.0" encoding="UTF-8"?>\n' + (
            f'<?xml-stylesheet type="text/xsl" href={attr(stylesheet_url)}?>\n' if stylesheet_url else ""
        )
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
        """The document around ``body``, joined once (a page of records is most of its bytes)."""
        if request is None:
            attrs = ""
        else:
            pairs = [("verb", request.verb), *request.args.items()]
            attrs = "".join(f" {k}={attr(v)}" for k, v in pairs if k != "identifier" or echoable_uri(v))
        head = (
            f'{self._preamble}<OAI-PMH xmlns="{OAI_NS}" xmlns:xsi="{XSI_NS}"'
            f' xsi:schemaLocation="{OAI_NS} {OAI_SCHEMA}">\n<responseDate>{_stamp()}</responseDate>\n'
            f"<request{attrs}>{text(base_url)}</request>\n"
        )
        return b"".join([head.encode(), *body, b"\n</OAI-PMH>\n"])

    # ------------------------------------------------------------------ helpers
    def _record_id(self, identifier: str) -> str:
        if not identifier.startswith(self.prefix):
            raise OAIError("idDoesNotExist", f"'{identifier}' is not an identifier of this repository")
        local = identifier[len(self.prefix) :]
        if not is_record_id(local):  # not one a record can have (a NUL, a space): no need to ask the store
            raise OAIError("idDoesNotExist", f"no record has the identifier '{identifier}'")
        return local

    def _format(self, prefix: str) -> MetadataFormat:
        fmt = FORMATS.get(prefix)
        if fmt is None:
            known = ", ".join(FORMATS)
            raise OAIError(
                "cannotDisseminateFormat", f"'{prefix}' is not a format of this repository ({known})"
            )
        return fmt

    # ------------------------------------------------------------------ verbs
    def identify(self, request: Request, base_url: str) -> list[bytes]:
        s = self.settings
        earliest = self.store.earliest_datestamp() or _stamp()
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
        row = self.store.get_item(record_id, fmt.prefix)
        if row is None:
            if self.store.get(record_id) is None:
                raise OAIError(
                    "idDoesNotExist", f"no record has the identifier '{request.args['identifier']}'"
                )
            raise OAIError("cannotDisseminateFormat", f"the record is not available in '{fmt.prefix}'")
        return [b"<GetRecord>", self._openings["ListRecords"][row.deleted], row.item, b"</GetRecord>"]

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
        page = self._page(token, size + 1, token.prefix if verb == "ListRecords" else HEADER)
        if not page and first:
            raise OAIError("noRecordsMatch", "no records match the request")
        more = len(page) > size
        del page[size:]
        body = [f"<{verb}>".encode()]
        add, openings = body.append, self._openings[verb]
        for row in page:  # the page's bytes are these, joined once by _envelope
            add(openings[row[3]])
            add(row[0])
        cursor_after = token.cursor + len(page)
        if more:
            _, last_datestamp, last_id, _ = page[-1]
            nxt = Token(
                verb, token.prefix, token.set_spec, token.from_, token.until, token.bound,
                (last_datestamp, last_id), cursor_after, token.total, self.tokens.new_expiry(),
            )  # fmt: skip
            expires = _stamp(nxt.expires)
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

    def _page(self, token: Token, limit: int, fmt: str) -> list[ListItem]:
        """Up to ``limit`` stored items in ``fmt`` (``HEADER``: headers) after the token's key, in order."""
        rows = self.store.list_items(
            fmt=fmt, set_spec=token.set_spec, from_=token.from_, until=token.until,
            bound_seq=token.bound, after=token.after, limit=limit,
        )  # fmt: skip
        # Records changed since the harvest began are served as they were then, in their sets
        # of then. Only those whose old key falls inside this page are parsed: candidates are
        # taken in key order and the walk stops at the page's last key.
        candidates = sorted(
            ((old.datestamp, state.id), state, old)
            for state, old in self.store.versions_as_of(token.bound)
            if token.from_ <= old.datestamp <= token.until and (old.datestamp, state.id) > token.after
        )
        # A record changed between the two reads is in both, as the same version (its last one
        # before the bound): it is served once.
        listed = {row[2] for row in rows} if candidates else set()
        merged = False
        for key, state, old in candidates:
            if state.id in listed:
                continue
            if len(rows) >= limit:
                if merged:
                    rows.sort(key=_key)
                    merged = False
                if key > _key(rows[limit - 1]):
                    break
            sets = sorted(sets_for(state.collection, read_article(parse_xml(old.xml).getroot())))
            if token.set_spec is not None and token.set_spec not in sets:
                continue
            rows.append(self._as_of(state, old, sets, fmt))
            merged = True
        if merged:
            rows.sort(key=_key)
        return rows[:limit]

    def _as_of(self, state: RecordState, old: Version, sets: list[str], fmt: str) -> ListItem:
        """A record's item as an older version had it, built as the store builds its items."""
        deleted = old.action == "delete"
        metadata: dict[str, bytes | None]
        if fmt == HEADER:
            metadata = {}
        elif deleted:
            metadata = {fmt: None}
        elif fmt == STORED_FORMAT:
            metadata = {fmt: disseminations(old.xml, {})[fmt]}
        else:
            metadata = {fmt: self.repo.render(state.id, state.collection, old.xml, fmt)}
        item = list_items(state.id, old.datestamp, sets, metadata)[fmt]
        return ListItem(item, old.datestamp, state.id, int(deleted))


def _key(row: ListItem) -> tuple[str, str]:
    return row[1], row[2]
