"""The schema catalogue: where the official XSDs live and how they resolve offline.

The official schemas are standards documents, so they are installed verbatim
(copied from ``../shared/schemas`` or downloaded from their publishers) into a
git-ignored folder, never rewritten. Their imports name remote URLs; a
:class:`lxml.etree.Resolver` maps each one to the local copy, so compiling a
schema never touches the network. The repository's own files (the article
profile, driver schemas) sit beside ``official.json`` in ``schemas/``.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from collections.abc import Callable
from functools import cache
from pathlib import Path

from lxml import etree

from .files import write_atomic

PROJECT_SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


class SchemasMissing(RuntimeError):
    """The official schemas have not been installed (``repository schemas install``)."""


def schemas_dir() -> Path:
    """The repository's own schema folder (``REPOSITORY_SCHEMAS`` overrides it)."""
    return Path(os.environ.get("REPOSITORY_SCHEMAS", PROJECT_SCHEMAS))


def official_dir() -> Path:
    return schemas_dir() / "official"


@cache
def catalogue() -> list[dict]:
    return json.loads((schemas_dir() / "official.json").read_text(encoding="utf-8"))["schemas"]


def _location_map() -> dict[str, str]:
    mapping = {}
    for entry in catalogue():
        for url in entry["locations"]:
            mapping[url] = entry["file"]
            mapping[url.replace("http://", "https://", 1)] = entry["file"]
    return mapping


def default_shared_dir() -> Path:
    return PROJECT_SCHEMAS.parent.parent / "shared" / "schemas"


def install(
    shared: Path | None = None,
    *,
    download: Callable[[str], bytes] | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Copy the official schemas into ``schemas/official``, or fetch them from their publishers.

    Each file is written to a temporary name and renamed, so an interrupted
    set-up never leaves a truncated schema behind.
    """
    shared = shared if shared is not None else default_shared_dir()
    dest = official_dir()
    dest.mkdir(parents=True, exist_ok=True)
    fetch = download or _download
    for entry in catalogue():
        target = dest / entry["file"]
        source = shared / entry["file"]
        if source.is_file():
            data = source.read_bytes()
            origin = str(source)
        else:
            data = fetch(entry["publisher"])
            origin = entry["publisher"]
        etree.fromstring(data, _schema_parser())  # refuse anything that is not XML
        if target.is_file() and target.read_bytes() == data:
            continue
        write_atomic(target, data)
        log(f"schema {entry['file']} <- {origin}")
    return dest


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - fixed publisher URLs
        return response.read()


def ensure_installed() -> None:
    missing = [e["file"] for e in catalogue() if not (official_dir() / e["file"]).is_file()]
    if missing:
        raise SchemasMissing(
            f"official schemas not installed in {official_dir()} (missing {', '.join(missing)}); "
            "run `repository schemas install` (make run and make test do it)"
        )


class _OfflineResolver(etree.Resolver):
    def __init__(self) -> None:
        super().__init__()
        self._map = _location_map()

    def resolve(self, url, pubid, context):  # noqa: ANN001 - lxml's signature
        if not url or not url.startswith(("http://", "https://", "ftp://")):
            return None  # a local file of ours: the default loader reads it
        name = self._map.get(url)
        if name is None:
            raise SchemasMissing(f"schema import {url!r} has no local copy in the catalogue")
        return self.resolve_filename(str(official_dir() / name), context)


def _schema_parser() -> etree.XMLParser:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    parser.resolvers.add(_OfflineResolver())
    return parser


_local = threading.local()
#: libxml2 does not compile schemas with imports reliably in several threads at once (an import
#: can come out missing: "no matching global element declaration"), so compilation is serialised.
#: It happens once per thread and schema; validation itself runs in parallel.
_compiling = threading.Lock()


def xml_schema(path: Path | str) -> etree.XMLSchema:
    """A compiled XSD, cached per thread (lxml schema objects are not shared across threads)."""
    cache_ = getattr(_local, "schemas", None)
    if cache_ is None:
        cache_ = _local.schemas = {}
    key = str(path)
    if key not in cache_:
        path = Path(path)
        if not path.is_absolute():
            path = official_dir() / path
        if path.parent == official_dir():
            ensure_installed()
        with _compiling:
            try:
                cache_[key] = etree.XMLSchema(etree.parse(str(path), _schema_parser()))
            except etree.XMLSchemaParseError:
                # Seen once under load in a server worker (an xlink import "does not resolve"
                # while other threads parsed): libxml2's schema compiler is not fully thread-safe.
                # The files are sound (they compiled before), so a second compile settles it.
                cache_[key] = etree.XMLSchema(etree.parse(str(path), _schema_parser()))
    return cache_[key]


def mods_schema() -> etree.XMLSchema:
    return xml_schema("mods-3-8.xsd")


def oai_dc_schema() -> etree.XMLSchema:
    return xml_schema("oai_dc.xsd")


def oai_response_schema() -> etree.XMLSchema:
    """OAI-PMH responses with their payloads (driver schema in ``schemas/``)."""
    return xml_schema(schemas_dir() / "oai-pmh-responses.xsd")
