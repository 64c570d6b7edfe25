"""Imported by the render forkserver only (``pool.PRELOAD``): the worker's module, warmed, so
each worker forked from it starts ready to render."""

from .render_worker import warm

warm()
