"""Settings of a repository instance, from the environment (twelve-factor style).

Every setting has a default that works on a laptop; production sets the public
base URL and the OAI-PMH identity. Nothing here is read at import time, so tests
and scripts can run several differently configured instances in one process.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from .files import create_once

DEFAULT_BASE_URL = "http://127.0.0.1:5000"


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True)
class Settings:
    base_url: str = DEFAULT_BASE_URL
    repository_name: str = "大连图书馆地方文献元数据仓储 (Dalian Library Local Documents Repository)"
    #: oai-identifier repositoryIdentifier: a domain name the library controls.
    oai_identifier: str = "repository.dalian-library.local"
    admin_email: str = "repository@dalian-library.local"
    oai_page_size: int = 100
    #: How long a resumption token stays valid (BASE asks for at least 23 h).
    oai_token_hours: int = 72
    #: The licence the metadata is published under (VoID, dcterms:license): the library decides;
    #: CC0 is what national libraries commonly choose for catalogue metadata.
    data_license: str = "http://creativecommons.org/publicdomain/zero/1.0/"
    #: SPARQL limits: seconds a query may run, rows (or triples) it may return, queries at once.
    sparql_timeout: float = 10.0
    sparql_rows: int = 10_000
    sparql_concurrency: int = 2
    #: Graph replicas a server may keep, one per process holding the graph (a gunicorn worker).
    graph_replicas: int = 16

    @classmethod
    def from_env(cls, base_url: str | None = None) -> Settings:
        return cls(
            base_url=(base_url or os.environ.get("REPOSITORY_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
            repository_name=os.environ.get("REPOSITORY_NAME", cls.repository_name),
            oai_identifier=os.environ.get("REPOSITORY_OAI_IDENTIFIER", cls.oai_identifier),
            admin_email=os.environ.get("REPOSITORY_ADMIN_EMAIL", cls.admin_email),
            oai_page_size=_int("REPOSITORY_OAI_PAGE_SIZE", cls.oai_page_size),
            oai_token_hours=_int("REPOSITORY_OAI_TOKEN_HOURS", cls.oai_token_hours),
            data_license=os.environ.get("REPOSITORY_DATA_LICENSE", cls.data_license),
            sparql_timeout=float(os.environ.get("REPOSITORY_SPARQL_TIMEOUT", cls.sparql_timeout)),
            sparql_rows=_int("REPOSITORY_SPARQL_ROWS", cls.sparql_rows),
            sparql_concurrency=_int("REPOSITORY_SPARQL_CONCURRENCY", cls.sparql_concurrency),
            graph_replicas=_int("REPOSITORY_GRAPH_REPLICAS", cls.graph_replicas),
        )


def instance_secret(instance: Path) -> bytes:
    """The instance's signing key, made once and kept, so tokens survive a restart."""
    return create_once(Path(instance) / "secret.key", secrets.token_bytes(32), mode=0o600)
