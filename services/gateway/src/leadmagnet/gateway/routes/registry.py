"""The one ``Api`` every route module registers on (the package imports them all)."""

from ..api import Api

api = Api()
