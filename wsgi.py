"""WSGI entry point for a server started some other way (``gunicorn wsgi:app``, uWSGI, mod_wsgi):
``app`` over the instance named by ``REPOSITORY_INSTANCE`` (default ./instance), logging as
``repository serve`` does (JSON lines on stderr, ``REPOSITORY_LOG_FORMAT`` and ``_LEVEL``)."""

from repository import logs
from repository.app import create_app

logs.configure()
app = create_app()
