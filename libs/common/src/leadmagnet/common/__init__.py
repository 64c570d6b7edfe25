"""Code shared by the services, the CLI and the tests."""

import sys
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any


class _StructlogWithoutRich(MetaPathFinder):
    """structlog imports ``rich`` when it is installed (the dev tools bring it; the service
    images do not) for its console renderer's pretty tracebacks, which our JSON and plain
    console logs never use: ~3 MiB and ~50 ms in every process. structlog's own imports of rich
    fail here (it expects that they may); anything else importing rich gets it as usual. A
    finder rather than importing structlog now: a process that never logs (the renderer's
    render workers) does not load structlog either."""

    def find_spec(
        self, fullname: str, path: Any, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != "rich":
            return None
        frame = sys._getframe(1)
        while frame is not None:
            if str(frame.f_globals.get("__name__", "")).startswith("structlog"):
                raise ModuleNotFoundError("rich is not loaded for structlog", name="rich")
            frame = frame.f_back  # type: ignore[assignment]
        return None


if not any(isinstance(finder, _StructlogWithoutRich) for finder in sys.meta_path):
    sys.meta_path.insert(0, _StructlogWithoutRich())
