"""WSGI entry point: ``app`` over the instance named by ``REPOSITORY_INSTANCE`` (default ./instance)."""

from repository.app import create_app

app = create_app()
