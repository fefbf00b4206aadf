"""``repository``: the command line for catalogers, operators and scripts.

Every command that changes records goes through :class:`~repository.service.Repository`,
so the CLI, the web editor and the API cannot disagree about what a valid save is.
Exit status is 0 when everything succeeded, 1 when any input was refused or any
conflict was found, 2 for usage errors.
"""

from __future__ import annotations

import difflib
import getpass
import os
import sys
from contextlib import closing
from pathlib import Path

import click

from . import schemas as schema_catalogue
from . import xmlio
from .files import write_atomic
from .importer import default_workers, iter_inputs, prepare_file
from .importer import import_paths as run_import
from .mods import MODS_NS
from .service import Repository
from .store import NotFound, StaleVersion, StoreError, StoreUnavailable
from .validation import Invalid, Problem
from .workingcopy import sync as run_sync

#: Below this many files, starting worker processes costs more than it saves.
PARALLEL_FROM = 2000


def _who(ctx: click.Context) -> str:
    return ctx.obj.get("user") or f"cli:{os.environ.get('USER') or getpass.getuser()}"


def _repo(ctx: click.Context) -> Repository:
    if "repo" not in ctx.obj:
        try:
            schema_catalogue.ensure_installed()
            ctx.obj["repo"] = Repository(ctx.obj["instance"])
        except (schema_catalogue.SchemasMissing, StoreError) as exc:
            raise click.ClickException(str(exc)) from None
        ctx.call_on_close(ctx.obj["repo"].close)
    return ctx.obj["repo"]


def _print_problems(problems: list[Problem]) -> None:
    for p in problems:
        click.echo(f"error: {p}", err=True)


class _Commands(click.Group):
    """The command group: a store that cannot take writes (full disk, read-only, server gone) is
    reported in one line by every command, with what to fix, rather than as a traceback."""

    def invoke(self, ctx: click.Context):  # noqa: ANN201 - whatever the command returns
        try:
            return super().invoke(ctx)
        except StoreUnavailable as exc:
            raise click.ClickException(
                f"{exc}. What was committed before is kept whole; run the command again once this is fixed."
            ) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--instance",
    envvar="REPOSITORY_INSTANCE",
    default="instance",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Instance folder holding the store (env REPOSITORY_INSTANCE).",
)
@click.option(
    "--user", envvar="REPOSITORY_USER", default=None, help="Name recorded as the author of changes."
)
@click.pass_context
def main(ctx: click.Context, instance: Path, user: str | None) -> None:
    """The Dalian Library metadata repository: MODS records, OAI-PMH, catalogue."""
    ctx.ensure_object(dict)
    ctx.obj["instance"] = instance
    ctx.obj["user"] = user


@main.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the instance folder and its store (safe to run again)."""
    repo = _repo(ctx)
    click.echo(f"instance ready: {repo.instance.resolve()} ({repo.store.count()} records)")


@main.group()
def schemas() -> None:
    """The official XML Schemas."""


@schemas.command("install")
@click.option(
    "--from",
    "source",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder with the official schemas (default ../shared/schemas); missing ones are downloaded.",
)
def schemas_install(source: Path | None) -> None:
    """Copy (or download) the official schemas into schemas/official/."""
    try:
        dest = schema_catalogue.install(source, log=lambda m: click.echo(m, err=True))
    except OSError as exc:
        raise click.ClickException(f"could not install the schemas: {exc}") from None
    click.echo(f"official schemas in {dest}")


@main.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--collection", default=None, help="Collection for MODS records that do not name one.")
@click.option("--why", default="imported", show_default=True, help="Reason recorded with each new version.")
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Processes preparing records in parallel (default: one per core for large imports).",
)
@click.pass_context
def import_cmd(
    ctx: click.Context, paths: tuple[Path, ...], collection: str | None, why: str, workers: int | None
) -> None:
    """Import legacy pages (UTF-8 or GB18030) and MODS files or folders of them."""
    repo = _repo(ctx)
    total = sum(1 for _ in iter_inputs(paths))  # names only; the import below walks again, lazily
    if workers is None:
        workers = default_workers() if total >= PARALLEL_FROM else 0
    with click.progressbar(length=total, label="importing", file=sys.stderr) as bar:
        report = run_import(
            repo, paths, collection=collection, who=_who(ctx), why=why, progress=bar.update, workers=workers
        )
    _print_problems(report.problems)
    click.echo(
        f"{len(report.created)} created, {len(report.updated)} updated, {len(report.unchanged)} unchanged, "
        f"{len({p.source for p in report.problems})} refused"
    )
    ctx.exit(1 if report.failed else 0)


@main.command()
@click.option(
    "--records",
    "records_dir",
    envvar="REPOSITORY_RECORDS",
    default="records",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The working copy (env REPOSITORY_RECORDS).",
)
@click.option("--delete", is_flag=True, help="Delete (tombstone) records whose files were removed.")
@click.pass_context
def sync(ctx: click.Context, records_dir: Path, delete: bool) -> None:
    """Bring edited files in as new versions; write store-side changes back to files."""
    repo = _repo(ctx)
    records_dir.mkdir(parents=True, exist_ok=True)
    with click.progressbar(length=repo.store.count() or 1, label="syncing", file=sys.stderr) as bar:
        report = run_sync(repo, records_dir, delete=delete, who=_who(ctx), progress=bar.update)
    _print_problems(report.problems)
    for c in report.conflicts:
        click.echo(f"conflict: {c}", err=True)
    for path in report.missing:
        click.echo(
            f"removed: {path} (the record is kept; run `repository sync --delete` to delete it)", err=True
        )
    click.echo(
        f"{len(report.created)} created, {len(report.updated)} updated from files; "
        f"{len(report.written)} written, {len(report.removed_files)} removed to match the store; "
        f"{len(report.deleted)} deleted; {report.unchanged} unchanged; "
        f"{len(report.conflicts)} conflicts; {len({p.source for p in report.problems})} refused"
    )
    ctx.exit(1 if report.failed else 0)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--store", "whole_store", is_flag=True, help="Validate every current record in the store.")
@click.option("--collection", default=None, help="Collection for MODS files that do not name one.")
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...], whole_store: bool, collection: str | None) -> None:
    """Validate files (or the store) against MODS 3.8 and the collection's profile; store nothing."""
    repo = _repo(ctx)
    problems: list[Problem] = []
    checked = 0
    for path in iter_inputs(paths):
        checked += 1
        try:
            prepare_file(repo, path, collection)
        except Invalid as exc:
            problems += exc.problems
    if whole_store:
        for state in repo.store.records():
            checked += 1
            v = repo.store.version(state.id)
            try:
                repo.prepare(
                    v.xml,
                    record_id=state.id,
                    collection=state.collection,
                    fulltext=v.fulltext,
                    source=f"{state.collection}/{state.id}",
                )
            except Invalid as exc:
                problems += exc.problems
    _print_problems(problems)
    bad = len({p.source for p in problems})
    click.echo(f"{checked - bad} valid, {bad} invalid")
    ctx.exit(1 if problems else 0)


@main.command()
@click.argument("record_id")
@click.option("--version", type=int, default=None, help="A past version (default: the current one).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mods", "oai_dc", "text", "summary"]),
    default="mods",
    show_default=True,
)
@click.pass_context
def show(ctx: click.Context, record_id: str, version: int | None, fmt: str) -> None:
    """Print a record."""
    repo = _repo(ctx)
    try:
        v = repo.store.version(record_id, version)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    state = repo.store.get(record_id)
    if fmt == "mods":
        click.echo(v.xml.decode("utf-8"), nl=False)
    elif fmt == "text":
        click.echo(v.fulltext or "")
    elif fmt == "oai_dc":
        if version is not None and version != state.version:
            raise click.ClickException("renderings exist for the current version only")
        dc = repo.store.rendering(record_id, "oai_dc")
        if dc is None:
            raise click.ClickException(f"record {record_id} is deleted; it has no renderings")
        click.echo(dc.decode("utf-8"))
    else:
        click.echo(
            f"id:         {state.id}\ncollection: {state.collection}\nversion:    {state.version}"
            f"{' (deleted)' if state.deleted else ''}\ndatestamp:  {state.datestamp}\n"
            f"title:      {state.title or ''}\ndate:       {state.date_issued or ''}\n"
            f"newspaper:  {state.newspaper or ''}\nsets:       {', '.join(repo.store.sets_of(record_id))}"
        )


@main.command()
@click.argument("record_id")
@click.pass_context
def history(ctx: click.Context, record_id: str) -> None:
    """Every version of a record: number, when, who, what and why."""
    versions = _repo(ctx).store.history(record_id)
    if not versions:
        raise click.ClickException(f"record {record_id} does not exist")
    for v in versions:
        click.echo(
            f"{v.version:>4}  {v.created}  {v.action:<7}  {v.who:<20}  {v.why}  sha256:{v.digest[:12]}"
        )


@main.command()
@click.argument("record_id")
@click.argument("old", type=int)
@click.argument("new", type=int, required=False)
@click.pass_context
def diff(ctx: click.Context, record_id: str, old: int, new: int | None) -> None:
    """A unified diff of two versions (the second defaults to the current one)."""
    store = _repo(ctx).store
    try:
        a = store.version(record_id, old)
        b = store.version(record_id, new)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    lines = list(_diff_lines(a, b, record_id))
    click.echo("".join(lines), nl=False)


def _diff_lines(a, b, record_id: str):  # noqa: ANN001, ANN202 - store Version objects
    yield from difflib.unified_diff(
        a.xml.decode("utf-8").splitlines(keepends=True),
        b.xml.decode("utf-8").splitlines(keepends=True),
        f"{record_id} version {a.version}",
        f"{record_id} version {b.version}",
    )
    if (a.fulltext or "") != (b.fulltext or ""):
        yield from difflib.unified_diff(
            (a.fulltext or "").splitlines(keepends=True),
            (b.fulltext or "").splitlines(keepends=True),
            f"{record_id} version {a.version} full text",
            f"{record_id} version {b.version} full text",
        )


@main.command()
@click.argument("record_id")
@click.option("--reason", required=True, help="Why the record is deleted (kept in its history).")
@click.option(
    "--version", "expected", type=int, default=None, help="Refuse unless the record is at this version."
)
@click.pass_context
def delete(ctx: click.Context, record_id: str, reason: str, expected: int | None) -> None:
    """Delete a record: a tombstone version, restorable, served to harvesters as deleted."""
    try:
        state = _repo(ctx).delete(record_id, expected, who=_who(ctx), why=reason)
    except (StoreError, StaleVersion) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"deleted {record_id} (version {state.version})")


@main.command()
@click.argument("record_id")
@click.option(
    "--version", type=int, default=None, help="The version to bring back (default: the last before deletion)."
)
@click.option("--reason", default="restored", show_default=True)
@click.pass_context
def restore(ctx: click.Context, record_id: str, version: int | None, reason: str) -> None:
    """Restore a deleted record, or bring back an old version, as a new version."""
    try:
        state = _repo(ctx).restore(record_id, version, who=_who(ctx), why=reason)
    except Invalid as exc:
        _print_problems(exc.problems)
        ctx.exit(1)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored {record_id} (version {state.version})")


@main.command()
@click.argument("destination", type=click.Path(path_type=Path))
@click.option("--collection", default=None, help="Only this collection.")
@click.option("--single", is_flag=True, help="Write one modsCollection file instead of a folder of records.")
@click.pass_context
def export(ctx: click.Context, destination: Path, collection: str | None, single: bool) -> None:
    """Export current records: a folder (<collection>/<id>.xml + .txt) or one modsCollection."""
    store = _repo(ctx).store
    count = 0
    if single:
        from lxml import etree

        root = etree.Element(f"{{{MODS_NS}}}modsCollection", nsmap={None: MODS_NS})
        for state in store.records(collection):
            root.append(xmlio.parse(store.version(state.id).xml).getroot())
            count += 1
        write_atomic(destination, etree.tostring(root, encoding="UTF-8", xml_declaration=True))
    else:
        for state in store.records(collection):
            v = store.version(state.id)
            write_atomic(destination / state.collection / f"{state.id}.xml", v.xml)
            if v.fulltext is not None:
                write_atomic(destination / state.collection / f"{state.id}.txt", v.fulltext.encode("utf-8"))
            count += 1
    click.echo(f"exported {count} records to {destination}")


@main.group()
def rdf() -> None:
    """The RDF graph store (derived from the records)."""


@rdf.command("sync")
@click.pass_context
def rdf_sync(ctx: click.Context) -> None:
    """Apply to the graph store every change made since it was last brought up to date."""
    graph = _graph(ctx)
    click.echo(f"{graph.catch_up()} records applied; {len(graph):,} quads")


@rdf.command("rebuild")
@click.pass_context
def rdf_rebuild(ctx: click.Context) -> None:
    """Recreate the graph store from the records, from scratch (and the replicas from it)."""
    graph = _graph(ctx)
    click.echo(f"{graph.rebuild()} records loaded; {len(graph):,} quads")
    _copy_replicas(graph, [p for p in graph.path.parent.glob("graph-*") if p.is_dir()])


@rdf.command("replicas")
@click.argument("count", type=click.IntRange(1, 64))
@click.pass_context
def rdf_replicas(ctx: click.Context, count: int) -> None:
    """Bring the graph up to date and copy it into COUNT-1 replicas, one per further server worker."""
    from .linkeddata.graph import replica_path

    graph = _graph(ctx)
    applied = graph.catch_up()
    click.echo(f"graph: {applied} records applied; {len(graph):,} quads", err=True)
    _copy_replicas(graph, [replica_path(graph.repo.instance, n) for n in range(2, count + 1)])


def _copy_replicas(graph, paths: list[Path]) -> None:  # noqa: ANN001 - a GraphStore
    from .linkeddata.graph import GraphStore, GraphUnavailable

    held = []
    for path in sorted(paths):
        if (path / "oxigraph").exists():
            try:  # held by a running server: leave it, it follows the records by itself
                GraphStore(graph.repo, path).close()
            except GraphUnavailable:
                held.append(path.name)
                continue
        graph.copy_to(path)
        click.echo(f"{path.name}: copied", err=True)
    if held:
        click.echo(f"not replaced (a server holds them): {', '.join(held)}", err=True)


@rdf.command("push")
@click.argument("url")
@click.option(
    "--graph", "graph_iri", default=None, help="Target graph IRI (default: the store's default graph)."
)
@click.pass_context
def rdf_push(ctx: click.Context, url: str, graph_iri: str | None) -> None:
    """Replace a graph of an external SPARQL 1.1 Graph Store (e.g. http://host:7878/store) with ours."""
    graph = _graph(ctx)
    graph.catch_up()
    try:
        status = graph.push(url, graph_iri)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"push to {url} failed: {exc}") from None
    click.echo(f"pushed {len(graph):,} triples to {url} ({status})")


def _graph(ctx: click.Context):  # noqa: ANN202 - imported lazily: pyoxigraph loads a native store
    from .linkeddata.graph import GraphStore, GraphUnavailable

    try:
        return GraphStore(_repo(ctx))
    except GraphUnavailable as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def search() -> None:
    """The search index (derived from the records)."""


@search.command("sync")
@click.pass_context
def search_sync(ctx: click.Context) -> None:
    """Apply to the search index every change made since it was last brought up to date."""
    index = _search_index(ctx)
    click.echo(f"{index.catch_up()} records applied; {len(index):,} in the index")


@search.command("rebuild")
@click.pass_context
def search_rebuild(ctx: click.Context) -> None:
    """Recreate the search index from the records, from scratch."""
    index = _search_index(ctx)
    click.echo(f"{index.rebuild()} records indexed")


def _search_index(ctx: click.Context):  # noqa: ANN202 - imported lazily: tantivy loads a native index
    from .search.index import SearchIndex, SearchUnavailable

    try:
        return SearchIndex(_repo(ctx))
    except SearchUnavailable as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option("--host", envvar="REPOSITORY_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="REPOSITORY_PORT", default=5000, show_default=True, type=int)
@click.option(
    "--workers",
    envvar="REPOSITORY_WORKERS",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="server processes (gunicorn workers) over the one store",
)
@click.option("--threads", envvar="REPOSITORY_THREADS", default=8, show_default=True, type=click.IntRange(1))
@click.option(
    "--timeout",
    envvar="REPOSITORY_WORKER_TIMEOUT",
    default=60,
    show_default=True,
    type=click.IntRange(5),
    help="seconds a worker may be silent before gunicorn replaces it",
)
@click.option(
    "--records",
    envvar="REPOSITORY_RECORDS",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="the working copy to keep current: every change saved in the browser or API is written there",
)
@click.pass_context
def serve(
    ctx: click.Context, host: str, port: int, workers: int, threads: int, timeout: int, records: Path | None
) -> None:
    """Serve the pages, OAI-PMH, the linked data and SPARQL over HTTP (gunicorn)."""
    from .serving import run

    repo = _repo(ctx)  # opened here to report a missing schema or an unreachable store at once
    instance = repo.instance
    click.echo(f"serving {instance} on http://{host}:{port}/ with {workers} worker(s)", err=True)
    repo.close()
    ctx.obj.pop("repo")
    run(instance, host=host, port=port, workers=workers, threads=threads, records=records, timeout=timeout)


# ---------------------------------------------------------------------- accounts
@main.group()
def user() -> None:
    """Accounts: who may log in to edit records or use the API, with which role."""


def _accounts(ctx: click.Context):  # noqa: ANN202 - Accounts, imported lazily
    """The instance's accounts database; the record store is not opened for account work."""
    from .accounts import open_accounts

    root = ctx.find_root()
    if "accounts" not in root.obj:
        root.obj["accounts"] = open_accounts(root.obj["instance"])
        root.call_on_close(root.obj["accounts"].close)
    return root.obj["accounts"]


def _new_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.ClickException("no password on standard input")
        return password
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


class _AccountErrors:
    """Turns a refused account change into a CLI error (exit 1) that says why."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> bool:
        from .accounts import AccountError

        if isinstance(exc, AccountError):
            raise click.ClickException(str(exc)) from None
        return False


_ROLE_CHOICE = click.Choice(["reader", "cataloger", "administrator"])


@user.command("add")
@click.argument("name")
@click.option("--role", type=_ROLE_CHOICE, default="reader", show_default=True)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of standard input."
)
@click.pass_context
def user_add(ctx: click.Context, name: str, role: str, password_stdin: bool) -> None:
    """Create an account (the password is asked for twice, or read with --password-stdin)."""
    accounts = _accounts(ctx)
    if accounts.get(name) is not None:
        raise click.ClickException(f"there is already an account {name!r}")
    with _AccountErrors():
        created = accounts.add_user(name, _new_password(password_stdin), role, by=_who(ctx))
    click.echo(f"added {created.name} ({created.role})")


@user.command("passwd")
@click.argument("name")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of standard input."
)
@click.pass_context
def user_passwd(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set a new password (and log the account out everywhere)."""
    accounts = _accounts(ctx)
    with _AccountErrors():
        if accounts.get(name) is None:
            raise click.ClickException(f"there is no account {name!r}")
        accounts.set_password(name, _new_password(password_stdin), by=_who(ctx))
    click.echo(f"password of {name} changed; its sessions are ended")


@user.command("role")
@click.argument("name")
@click.argument("role", type=_ROLE_CHOICE)
@click.pass_context
def user_role(ctx: click.Context, name: str, role: str) -> None:
    """Give an account another role (reader, cataloger, administrator)."""
    with _AccountErrors():
        changed = _accounts(ctx).set_role(name, role, by=_who(ctx))
    click.echo(f"{changed.name} is now {changed.role}")


@user.command("token")
@click.argument("name")
@click.option("--label", default="", help="What the token is for (shown by `user tokens`).")
@click.pass_context
def user_token(ctx: click.Context, name: str, label: str) -> None:
    """Make a new API token for the account and print it: it is shown this once only."""
    with _AccountErrors():
        token = _accounts(ctx).create_token(name, label, by=_who(ctx))
    click.echo("new API token (keep it now: it cannot be shown again):", err=True)
    click.echo(token)


@user.command("tokens")
@click.argument("name", required=False)
@click.pass_context
def user_tokens(ctx: click.Context, name: str | None) -> None:
    """List API tokens (never the tokens themselves): id, account, label, made, last used, revoked."""
    for t in _accounts(ctx).tokens(name):
        state = f"revoked {t.revoked}" if t.revoked else f"last used {t.last_used or 'never'}"
        click.echo(f"{t.id:>4}  {t.user:<20}  {t.label or '-':<20}  made {t.created}  {state}")


@user.command("revoke")
@click.argument("name")
@click.argument("token_id", type=int)
@click.pass_context
def user_revoke(ctx: click.Context, name: str, token_id: int) -> None:
    """Revoke one of the account's API tokens (by the id `user tokens` shows)."""
    with _AccountErrors():
        _accounts(ctx).revoke_token(token_id, name=name, by=_who(ctx))
    click.echo(f"token {token_id} of {name} revoked")


@user.command("list")
@click.pass_context
def user_list(ctx: click.Context) -> None:
    """Every account with its role and number of active API tokens."""
    accounts = _accounts(ctx)
    active: dict[str, int] = {}
    for t in accounts.tokens():
        if not t.revoked:
            active[t.user] = active.get(t.user, 0) + 1
    for u in accounts.users():
        click.echo(f"{u.name:<24}  {u.role:<13}  since {u.created}  {active.get(u.name, 0)} tokens")


@user.command("audit")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--record", "record_id", default=None, help="Only entries about this record.")
@click.pass_context
def user_audit(ctx: click.Context, limit: int, record_id: str | None) -> None:
    """The audit log, latest first: logins, account changes, and every change made on the web or API."""
    for e in _accounts(ctx).audit_log(limit=limit, record_id=record_id):
        what = (
            f"{e.record_id} v{e.version}"
            if e.record_id
            else ", ".join(f"{k}={v}" for k, v in e.detail.items())
        )
        reason = f"  ({e.reason})" if e.reason else ""
        click.echo(f"{e.at}  {e.who or '-':<20}  {e.action:<16}  {e.address or '-':<15}  {what}{reason}")


@main.command()
@click.option(
    "--to",
    "target",
    required=True,
    metavar="URL",
    help="postgresql://…, sqlite:///PATH, or a folder (its repository.sqlite3) or .sqlite3 file.",
)
@click.option(
    "--switch", is_flag=True, help="After a verified copy, make this instance use the target (database.url)."
)
@click.pass_context
def migrate(ctx: click.Context, target: str, switch: bool) -> None:
    """Copy the instance's store into an empty one (SQLite ⇄ PostgreSQL) and verify the copy.

    Every record, version (who, when, why, digest), datestamp, tombstone, rendering, set,
    change sequence number and file state is copied as it is, in batches; then row counts
    and a digest of every table are compared, and every version checked against its digest.
    """
    from . import store as stores
    from .migrate import migrate as run_migrate
    from .migrate import same_store, target_url

    instance = ctx.obj["instance"]
    url = target_url(target)
    opened = []
    try:
        source = stores.open_store(instance)
        opened.append(source)
        destination = stores.store_at(url)
        opened.append(destination)
        if same_store(source, destination):
            raise StoreError("the target is the instance's own store")
        report = run_migrate(source, destination, log=click.echo)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        for st in opened:
            st.close()
    click.echo(f"{'table':<14} {'rows':>10}  copy")
    for t in report.tables:
        verdict = "identical" if t.ok else f"DIFFERENT ({t.target_rows} rows)"
        click.echo(f"{t.name:<14} {t.rows:>10}  {verdict}")
    for rid, version in report.bad_digests:
        click.echo(f"error: version {version} of {rid} does not match its digest", err=True)
    if not report.ok:
        click.echo("the copy is NOT identical; the instance still uses its own store", err=True)
        sys.exit(1)
    click.echo(f"copied and verified in {report.seconds:.1f} s (change sequence up to {report.snapshot_seq})")
    if report.missed_changes:
        click.echo(
            f"note: {report.missed_changes} changes were committed during the copy and are not in the target;"
            " stop the writers and migrate again into an empty store",
            err=True,
        )
    if switch:
        if report.missed_changes:
            raise click.ClickException("not switching: the target misses changes made during the copy")
        own = url == target_url(str(Path(instance)))
        stores.set_database_url(instance, None if own else url)
        click.echo(f"{instance} now uses {'its own SQLite store' if own else url}")
        if os.environ.get(stores.DATABASE_URL_ENV):
            click.echo(f"note: {stores.DATABASE_URL_ENV} is set and overrides this setting", err=True)


@main.command("check")
@click.pass_context
def check_cmd(ctx: click.Context) -> None:
    """Check that every record is whole: versions, digests, renderings, OAI-PMH items, the database."""
    from .check import check

    repo = _repo(ctx)
    total = repo.store.count()
    with click.progressbar(length=total, label="checking", file=sys.stderr) as bar:
        problems = check(repo, progress=bar.update)
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if problems:
        click.echo(f"{len(problems)} problems in {total} records", err=True)
        sys.exit(1)
    click.echo(f"{total} records checked: every one whole")


@main.group()
def backup() -> None:
    """Backups of the instance: its store, accounts and key, in one folder."""


@backup.command("create")
@click.argument("destination", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def backup_create(ctx: click.Context, destination: Path) -> None:
    """Copy the instance into DESTINATION (a new folder), consistently, even while a server runs.

    The backup is an instance folder on SQLite (whatever store the instance uses) with a
    manifest of what it holds; `repository backup restore` brings it back.
    """
    from . import store as stores
    from .backup import backup as run_backup

    instance = ctx.obj["instance"]
    try:
        with closing(stores.open_store(instance)) as source:
            outcome = run_backup(instance, source, destination)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    tables = outcome.manifest["tables"]
    click.echo(
        f"backed up {tables['records']['rows']} records and {tables['versions']['rows']} versions"
        f" (changes up to {outcome.report.snapshot_seq}) to {destination} in {outcome.report.seconds:.1f} s"
    )
    if outcome.report.missed_changes:
        click.echo(f"note: {outcome.report.missed_changes} changes committed during the backup are not in it")


@backup.command("verify")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
def backup_verify(source: Path) -> None:
    """Check the backup in SOURCE against its manifest: every table and every version's digest."""
    from .backup import verify

    try:
        manifest = verify(source)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    tables = manifest["tables"]
    click.echo(
        f"{source}: sound; {tables['records']['rows']} records, {tables['versions']['rows']} versions,"
        f" made {manifest['made']} from a {manifest['store']} (changes up to {manifest['snapshot_seq']})"
    )


@backup.command("restore")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_context
def backup_restore(ctx: click.Context, source: Path) -> None:
    """Restore the backup in SOURCE into the instance, whose store must hold no records yet.

    The instance's store is the one it is configured to use (SQLite, or PostgreSQL by its
    database URL): a backup made from either restores into either.
    """
    from . import store as stores
    from .backup import restore as run_restore

    instance = ctx.obj["instance"]
    instance.mkdir(parents=True, exist_ok=True)
    try:
        with closing(stores.open_store(instance)) as target:
            outcome = run_restore(source, instance, target)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    tables = outcome.manifest["tables"]
    click.echo(
        f"restored {tables['records']['rows']} records and {tables['versions']['rows']} versions"
        f" from {source} (made {outcome.manifest['made']}), every table verified;"
        " the search index and the graph rebuild when the server starts"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
