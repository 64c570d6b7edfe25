"""A trimmed copy of botocore's data for the services we call, written at install time.

botocore loads its whole ``endpoints.json`` (every service in every partition, ~6.7 MiB of
Python objects) and each service model with its documentation strings (~4.5 MiB over the clients
a process makes) into every process; pymalloc keeps those arenas even if stripped after loading.
``make install`` (and the Docker build) runs ``python -m leadmagnet.common.aws_data`` to write,
next to the venv, ``endpoints.json`` with only our services' entries and our services' latest
``service-2.json`` without documentation. Every other file (rulesets, paginators, retries...)
still comes from botocore's own data: the loader looks in our directory first, then botocore's.

The copy is used only when its stamp names the installed botocore version (a botocore upgrade
without a re-install falls back to the stock data) and only when ``AWS_DATA_PATH`` is unset
(models a user put there win, as the SDK documents).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import botocore
from botocore.loaders import Loader

# Every client the code makes: AwsClients.SERVICES and the Bedrock provider's extra client.
DATA_SERVICES = ("sqs", "sns", "dynamodb", "s3", "ses", "secretsmanager", "sts", "bedrock-runtime")
DATA_DIRECTORY = Path(sys.prefix) / "share" / "leadmagnet" / "botocore-data"
STAMP = "botocore-version"
# Read by botocore only to generate docstrings (help(), IDEs): never at call time.
_DOC_KEYS = frozenset({"documentation", "documentationUrl"})


class TrimmedDataLoader(Loader):  # type: ignore[misc]  # botocore is untyped
    """botocore's loader with our directory ahead of its own data.

    botocore hands a non-builtin ``endpoints.json``'s legacy URL to the endpoint rulesets as a
    custom endpoint, which changes how they resolve (S3 addressing, FIPS, dual-stack). Ours is
    the builtin file cut down to our services, whose entries are unchanged: it counts as builtin.
    """

    def __init__(self, directory: Path) -> None:
        super().__init__(extra_search_paths=[str(directory)])
        self._trimmed_directory = str(directory)

    def is_builtin_path(self, path: str) -> bool:
        if os.path.abspath(path).startswith(self._trimmed_directory + os.sep):
            return True
        return bool(super().is_builtin_path(path))


def trimmed_data_directory(directory: Path = DATA_DIRECTORY) -> Path | None:
    """``directory`` if it holds data written from the installed botocore, else None."""
    if os.environ.get("AWS_DATA_PATH"):
        return None
    try:
        stamp = (directory / STAMP).read_text().strip()
    except OSError:
        return None
    return directory if stamp == botocore.__version__ else None


def use_trimmed_data(session: Any, directory: Path = DATA_DIRECTORY) -> bool:
    """Make ``session`` load the trimmed data when it is there and current; True if it will."""
    found = trimmed_data_directory(directory)
    if found is None:
        return False
    session.register_component("data_loader", TrimmedDataLoader(found.resolve()))
    return True


def without_documentation(model: dict[str, Any]) -> dict[str, Any]:
    """A service model without the documentation of the service, its operations and shapes
    (members and references included), which botocore reads only to write docstrings. Other
    sections keep theirs: botocore requires it in some (``clientContextParams``)."""
    model = {k: v for k, v in model.items() if k not in _DOC_KEYS}
    model["operations"] = {
        name: _strip_refs(_strip(operation), ("input", "output"), "errors")
        for name, operation in model.get("operations", {}).items()
    }
    model["shapes"] = {
        name: _strip_members(_strip(shape)) for name, shape in model.get("shapes", {}).items()
    }
    return model


def _strip(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _DOC_KEYS}


def _strip_refs(item: dict[str, Any], refs: tuple[str, ...], ref_list: str) -> dict[str, Any]:
    for key in refs:
        if isinstance(item.get(key), dict):
            item[key] = _strip(item[key])
    if isinstance(item.get(ref_list), list):
        item[ref_list] = [_strip(ref) for ref in item[ref_list]]
    return item


def _strip_members(shape: dict[str, Any]) -> dict[str, Any]:
    if isinstance(shape.get("members"), dict):
        shape["members"] = {name: _strip(ref) for name, ref in shape["members"].items()}
    for key in ("member", "key", "value"):  # lists' and maps' shape references
        if isinstance(shape.get(key), dict):
            shape[key] = _strip(shape[key])
    return shape


def _endpoint_keys(stock: Loader, services: Iterable[str]) -> set[str]:
    """The keys botocore may look a service up by in ``endpoints.json``."""
    keys: set[str] = set()
    for service in services:
        metadata = stock.load_service_model(service, "service-2")["metadata"]
        keys.update({service, metadata["endpointPrefix"], metadata.get("signingName", service)})
    return keys


def write_trimmed_data(directory: Path, services: Iterable[str] = DATA_SERVICES) -> None:
    """Write the trimmed copy of the installed botocore's data for ``services`` to
    ``directory`` (replaced whole; the stamp last, so a half-written copy is never used)."""
    services = tuple(services)
    stock = Loader(
        include_default_search_paths=False, extra_search_paths=[Loader.BUILTIN_DATA_PATH]
    )
    staging = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    keys = _endpoint_keys(stock, services)
    endpoints = stock.load_data("endpoints")
    for partition in endpoints["partitions"]:
        partition["services"] = {k: v for k, v in partition["services"].items() if k in keys}
    _write_json(staging / "endpoints.json", endpoints)
    for service in services:
        version = stock.determine_latest_version(service, "service-2")
        model = stock.load_data(f"{service}/{version}/service-2")
        _write_json(staging / service / version / "service-2.json", without_documentation(model))
    (staging / STAMP).write_text(botocore.__version__ + "\n")
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, separators=(",", ":")))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DATA_DIRECTORY)
    args = parser.parse_args(argv)
    write_trimmed_data(args.out)
    print(f"botocore data for {', '.join(DATA_SERVICES)} written to {args.out}")


if __name__ == "__main__":
    main()
