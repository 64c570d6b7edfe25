"""All API routes register on this one ``Api``; each feature lives in its own module."""
# ruff: noqa: I001 (the import order below is the order of the OpenAPI document)

from .registry import api

# Importing the modules registers their routes.
from . import ops, public, admin, runs, products, leads, callbacks, console  # noqa: F401
from . import publishable_admin, seed_leads  # noqa: F401
from . import seed_kits  # noqa: F401
from . import job_actions  # noqa: F401
from . import tenant_limits  # noqa: F401

__all__ = ["api"]
