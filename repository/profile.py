"""Application profiles: ISO Schematron files in ``schemas/``, evaluated with compiled XPath.

The profile is written in Schematron so librarians can read and change it. lxml's
``isoschematron`` runs it through the XSLT skeleton, which costs ~160 µs a record (it
builds an SVRL report every time); the bulk import cannot afford that. This module reads
the same ``.sch`` file and evaluates its rules directly: each rule's context and each
assertion compiled once into an :class:`lxml.etree.XPath` (EXSLT regular expressions
included), with Schematron's semantics (within a pattern, a node is checked by the first
rule whose context matches it). It supports what the repository's profiles use: rules
with ``context`` patterns made of location paths joined by ``|``, and ``assert`` /
``report`` with text messages. Anything else in a profile is refused when it is loaded,
and a test checks that both evaluators agree on every fixture.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

SCH = "{http://purl.oclc.org/dsdl/schematron}"
EXSLT_RE = "http://exslt.org/regular-expressions"
_UNSUPPORTED = re.compile(r"\b(key|id|current|document)\s*\(")


class ProfileError(ValueError):
    """A profile uses Schematron this evaluator does not implement."""


@dataclass(frozen=True)
class Check:
    rule_id: str
    test: etree.XPath
    message: str
    fails_when: bool  # assert fails when the test is false; report fires when it is true


@dataclass(frozen=True)
class Rule:
    context: etree.XPath
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class Failure:
    rule_id: str
    message: str
    element: etree._Element


def _context_xpath(pattern: str) -> str:
    """An XSLT match pattern as the XPath selecting every node it matches."""
    alternatives = [p.strip() for p in pattern.split("|")]
    return " | ".join(p if p.startswith("/") else f"//{p}" for p in alternatives)


class Profile:
    def __init__(self, path: Path):
        doc = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
        root = doc.getroot()
        if root.tag != f"{SCH}schema":
            raise ProfileError(f"{path} is not an ISO Schematron schema")
        ns = {n.get("prefix"): n.get("uri") for n in root.iter(f"{SCH}ns")}
        self.patterns: list[tuple[Rule, ...]] = []
        for pattern in root.iter(f"{SCH}pattern"):
            rules = []
            for rule in pattern.iter(f"{SCH}rule"):
                context = rule.get("context") or ""
                if not context or _UNSUPPORTED.search(context) or rule.get("abstract") == "true":
                    raise ProfileError(f"{path}:{rule.sourceline}: unsupported rule context {context!r}")
                checks = []
                for el in rule:
                    if el.tag not in (f"{SCH}assert", f"{SCH}report"):
                        continue
                    test = el.get("test") or ""
                    if _UNSUPPORTED.search(test) or any(isinstance(c.tag, str) for c in el):
                        raise ProfileError(f"{path}:{el.sourceline}: unsupported assertion")
                    checks.append(
                        Check(
                            rule_id=el.get("id") or "profile",
                            test=etree.XPath(f"boolean({test})", namespaces=ns),
                            message=" ".join("".join(el.itertext()).split()),
                            fails_when=el.tag != f"{SCH}assert",
                        )
                    )
                rules.append(Rule(etree.XPath(_context_xpath(context), namespaces=ns), tuple(checks)))
            self.patterns.append(tuple(rules))

    def check(self, tree: etree._ElementTree | etree._Element) -> list[Failure]:
        failures = []
        for rules in self.patterns:
            seen: set[etree._Element] = set()
            for rule in rules:
                for node in rule.context(tree):
                    if node in seen:
                        continue
                    seen.add(node)
                    for c in rule.checks:
                        if bool(c.test(node)) == c.fails_when:
                            failures.append(Failure(c.rule_id, c.message, node))
        failures.sort(key=lambda f: f.element.sourceline or 0)
        return failures


_local = threading.local()


def load(path: Path) -> Profile:
    """A compiled profile, cached per thread (compiled XPath objects are not thread-safe)."""
    cache = getattr(_local, "profiles", None)
    if cache is None:
        cache = _local.profiles = {}
    key = str(path)
    if key not in cache:
        cache[key] = Profile(path)
    return cache[key]
