"""Code shared by the services, the CLI and the tests."""

import sys


def _import_structlog_without_rich() -> None:
    """structlog imports ``rich`` when it is installed (the dev tools bring it; the service
    images do not) for its console renderer's pretty tracebacks, which our JSON and plain
    console logs never use: ~3 MiB and ~50 ms in every process. Hide rich while structlog loads;
    anything importing rich afterwards gets it as usual."""
    if "structlog" in sys.modules or "rich" in sys.modules:
        return
    sys.modules["rich"] = None  # type: ignore[assignment]  # import rich -> ImportError
    try:
        import structlog  # noqa: F401
    finally:
        del sys.modules["rich"]


_import_structlog_without_rich()
