"""Per-stage cost of the import's save path, timed directly (no profiler).

Why: cProfile charges every Python call a fixed overhead, which inflates
pure-Python stages (reading the Article view, the oai_dc crosswalk) against
C stages (XSD, XSLT, SQLite). This times each stage of
``importer.prepare_file`` → ``Repository.prepare`` → ``Repository.commit``
on its own over the same K records, so the shares add up to what an
un-profiled import spends.

Usage::

    python bench/breakdown.py [--k 5000] [--tree DIR]   # generates K records in /tmp when no --tree
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, command_line, environment, table  # noqa: E402


def _time(label: str, items: list, fn: Callable, results: list[tuple[str, float | str]]) -> None:
    """Time ``fn`` over ``items``, dropping each result at once as the import does (keeping thousands of
    trees alive would charge the stage for memory growth the import never has). The repository's
    internals change often; a stage whose API moved is reported as such instead of stopping the run."""
    try:
        t0 = time.perf_counter()
        for x in items:
            fn(x)
        results.append((label, time.perf_counter() - t0))
    except Exception as exc:  # noqa: BLE001 - report and go on
        results.append((label, f"n/a ({type(exc).__name__}: {exc})"[:100]))


def measure(tree: Path) -> tuple[list[tuple[str, float | str]], float, int]:
    """Each stage over the same records, then ``import_paths`` of them end to end for comparison."""
    from repository import validation, xmlio
    from repository.importer import import_paths, iter_inputs
    from repository.mods import read_article
    from repository.service import RENDERERS, Derivation, Repository, digest_of

    work = Path(tempfile.mkdtemp(prefix="dalian-breakdown-", dir="/tmp"))
    try:
        repo = Repository(work / "a")
        results: list[tuple[str, float | str]] = []
        _time("list the tree (iter_inputs)", [tree], lambda t: list(iter_inputs([t])), results)
        files = list(iter_inputs([tree]))
        k = len(files)
        raw = [p.read_bytes() for p in files]
        texts = [p.with_suffix(".txt").read_text(encoding="utf-8") for p in files]
        pairs = list(zip(raw, texts, strict=True))
        # Warm up: compiles the schema and the profile, loads whatever the renderers load.
        repo.prepare(raw[0], fulltext=texts[0], source=str(files[0]))
        _time("read .xml bytes", files, lambda p: p.read_bytes(), results)
        _time(
            "read .txt beside it (is_file + read_text)",
            files,
            lambda p: p.with_suffix(".txt").is_file() and p.with_suffix(".txt").read_text(encoding="utf-8"),
            results,
        )
        _time("Repository.split (parses the file a first time)", raw, lambda b: repo.split(b, "x"), results)
        _time("xmlio.parse (hardened parser)", raw, lambda b: xmlio.parse(b), results)
        trees = [xmlio.parse(b) for b in raw]
        _time("MODS XSD (validation.check_schema)", trees, validation.check_schema, results)
        _time(
            "article profile (validation.check_profile)",
            trees,
            lambda t: validation.check_profile(t, "article"),
            results,
        )
        roots = [t.getroot() for t in trees]
        _time("read_article (the Article view)", roots, read_article, results)
        arts = [read_article(r) for r in roots]

        def derivation(ra: tuple) -> Derivation:
            root, a = ra
            return Derivation(a.identifier, "media", root, a, repo.record_url(a.identifier), repo.base_url)

        for fmt, render in RENDERERS.items():
            _time(
                f"rendering {fmt!r} (service.RENDERERS)",
                list(zip(roots, arts, strict=True)),
                lambda ra, render=render: render(derivation(ra)),
                results,
            )
        _time("sha256 digest of xml + full text", pairs, lambda p: digest_of(*p), results)
        del trees, roots
        _time(
            "(whole) Repository.prepare: the stages from the parse to the digest",
            pairs,
            lambda xt: repo.prepare(xt[0], fulltext=xt[1], source="x"),
            results,
        )
        prepared = [repo.prepare(x, fulltext=t, source="x") for x, t in pairs]
        batches = [[(p, 0) for p in prepared[i : i + 500]] for i in range(0, k, 500)]
        _time(
            "Repository.commit, batches of 500 (SQLite)",
            batches,
            lambda b: repo.commit(b, who="bench", why="breakdown"),
            results,
        )
        _time(
            "store.get per record (import_paths' existence check)",
            arts,
            lambda a: repo.store.get(a.identifier),
            results,
        )
        del prepared, batches
        repo.close()

        repo2 = Repository(work / "b")
        repo2.prepare(raw[0], fulltext=texts[0], source="warm-up")
        t0 = time.perf_counter()
        import_paths(repo2, [tree], who="bench")
        total = time.perf_counter() - t0
        repo2.close()
        return results, total, k
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Per-stage cost of the import's save path.")
    ap.add_argument("--k", type=int, default=5000)
    ap.add_argument("--tree", type=Path, default=None)
    args = ap.parse_args(argv)
    tmp = None
    tree = args.tree
    if tree is None:
        from generate import generate_tree

        tmp = Path(tempfile.mkdtemp(prefix="dalian-breakdown-tree-", dir="/tmp"))
        tree = tmp / "records"
        generate_tree(args.k, tree)
    try:
        results, total, k = measure(tree)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    timed = [(label, v) for label, v in results if isinstance(v, float)]
    staged = sum(v for label, v in timed if not label.startswith("(whole)"))
    rows = [
        [label, f"{v / k * 1e6:,.0f}", "" if label.startswith("(whole)") else f"{100 * v / staged:.0f}%"]
        if isinstance(v, float)
        else [label, v, ""]
        for label, v in results
    ]
    rows.append(["sum of the stages (without the (whole) row)", f"{staged / k * 1e6:,.0f}", "100%"])
    rows.append(["import_paths, end to end (same records, fresh instance)", f"{total / k * 1e6:,.0f}", ""])
    report = "\n".join(
        [
            "# Import save path, stage by stage",
            "",
            f"Command: `{command_line()}`",
            "",
            f"Environment: {environment()}; {k:,} records.",
            "",
            table(["stage", "µs/record", "share"], rows),
        ]
    )
    print(report)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "import-breakdown.md").write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
