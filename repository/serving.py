"""Running the repository in production: gunicorn workers, a health endpoint, request logs.

``repository serve`` starts gunicorn with its ``gthread`` workers: several processes, each
with threads, over one store. Each worker builds its own app (:func:`create_app`) after the
fork, so no database connection, index reader or graph store crosses a fork; the search
index is shared (one writer at a time, :mod:`repository.derived`), and each worker holds a
graph replica of its own (:mod:`repository.linkeddata.graph`). Every setting comes from the
command line or the environment (``REPOSITORY_*``), so a service manager configures it the
way it configures everything else.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from flask import Blueprint, Flask, current_app, g, jsonify, request

from . import logs

access = logging.getLogger("repository.access")
bp = Blueprint("serving", __name__)


# --------------------------------------------------------------------------- health
@bp.get("/health")
def health():  # noqa: ANN201 - a Flask view
    """For load balancers and monitors: 200 while the store answers, 503 when it does not.

    The derived stores are reported but do not fail the check: a worker whose search index
    or graph is behind still serves records and OAI-PMH correctly.
    """
    repo = current_app.extensions["repository"]
    body: dict[str, object] = {"status": "ok", "pid": os.getpid()}
    try:
        seq = repo.store.max_seq()
    except Exception as exc:  # whatever the backend raises: the answer is "not healthy"
        logging.getLogger(__name__).warning("health check: the store does not answer: %s", exc)
        body.update(status="unavailable", store=f"{type(exc).__name__}: {exc}")
        return jsonify(body), 503
    body["store"] = {"kind": type(repo.store).__name__, "seq": seq}
    for name in ("search", "graph"):
        follower = current_app.extensions.get(name)
        if follower is None:
            body[name] = "not available in this process"
            body["status"] = "degraded"
        else:
            body[name] = {"path": follower.path.name, "behind": max(0, seq - follower.synced_seq())}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------- request log
def init_app(app: Flask) -> None:
    """One structured log line per request (repository.access), with a request id to trace it by.

    A request id given by a proxy in ``X-Request-Id`` is kept (when it is short and plain);
    otherwise one is made. It is sent back in the response's ``X-Request-Id``.
    """
    app.register_blueprint(bp)

    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-Id", "")
        plain = 0 < len(given) <= 64 and given.replace("-", "").isalnum()
        g.request_id = given if plain else secrets.token_hex(8)
        g.started = time.perf_counter()

    @app.after_request
    def _log(response):  # noqa: ANN001, ANN202 - a Flask response
        started = g.get("started")
        if started is None:  # a request that failed before ours ran
            return response
        response.headers["X-Request-Id"] = g.request_id
        user = g.get("user")
        access.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "query": request.query_string.decode("latin-1")[:500] or None,
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 2),
                "bytes": response.calculate_content_length(),
                "remote": request.remote_addr,
                "user": getattr(user, "name", None),
                "request_id": g.request_id,
                "agent": (request.user_agent.string or None) and request.user_agent.string[:200],
            },
        )
        return response


# --------------------------------------------------------------------------- gunicorn
def run(
    instance: Path,
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    records: Path | None = None,
    timeout: int = 60,
) -> None:
    """Serve with gunicorn until stopped (SIGTERM or Ctrl-C: workers finish what they are doing)."""
    from gunicorn.app.base import BaseApplication

    if workers > 1:
        _prepare_replicas(instance, workers)

    class Server(BaseApplication):
        def load_config(self) -> None:
            settings = {
                "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread",
                "timeout": timeout,
                "graceful_timeout": 30,
                "keepalive": 5,
                "proc_name": "dalian-repository",
                "control_socket_disable": True,  # unused; servers side by side would share it
                "logconfig_dict": logs.config_dict(),
                "accesslog": None,
                "forwarded_allow_ips": os.environ.get("REPOSITORY_FORWARDED_ALLOW_IPS", "127.0.0.1"),
                "post_worker_init": _ready,
            }
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self):  # noqa: ANN202 - the WSGI app, built in each worker after the fork
            from .app import create_app

            return create_app(instance=instance, records=records, lead=True)

    Server().run()


def _ready(worker) -> None:  # noqa: ANN001 - a gunicorn worker
    """Say when a worker has built its app and takes requests (a deployment waits for all of them)."""
    worker.log.info("Worker ready (pid: %s)", worker.pid)


def _prepare_replicas(instance: Path, workers: int) -> None:
    """Bring the graph up to date and copy it for each worker before any starts.

    Run in a child process: the server's master process must not open the graph store
    (its native threads must not be there when gunicorn forks the workers).
    """
    command = [sys.executable, "-m", "repository", "--instance", str(instance), "rdf", "replicas"]
    done = subprocess.run([*command, str(workers)], check=False)
    if done.returncode != 0:
        logging.getLogger(__name__).warning(
            "could not prepare the graph replicas; each worker brings its own up to date"
        )
