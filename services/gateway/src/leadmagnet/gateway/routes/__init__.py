"""All API routes register on this one ``Api``; each feature lives in its own module."""

from ..api import Api

api = Api()

# Importing the modules registers their routes (order = order in the OpenAPI document).
from . import ops, public, admin, runs, products, leads, callbacks, console  # noqa: E402, F401, I001
from . import publishable_admin, seed_leads  # noqa: E402, F401
from . import seed_kits  # noqa: E402, F401
