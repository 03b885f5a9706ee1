"""The like statement's own ceiling: ``pgbench`` running the very statement the like
endpoint sends (``likes.services``: the token like, one statement), on the same database,
in the same rounds and at the same concurrency at the database as the endpoint (as many
clients as its pool's connections, ``config.asyncdb.POOL_MAX``): ``like_vs_pgbench``.

``pgbench`` is PostgreSQL's own load generator, in C: it sends the statement and reads its
answer, nothing else, so its rate is what PostgreSQL gives that statement on this machine.
It comes with the embedded PostgreSQL (``pgserver``'s ``pginstall/bin``, installed with the
project by ``make install``), so ``make bench`` finds it on a fresh machine too; otherwise
on ``PATH`` or under ``/usr/lib/postgresql/*/bin`` (Debian's ``postgresql-client``).

The script is the statement as ``likes.services`` builds it (``_SQL[True, True]``), with
the token's digest and ``TOKEN_TTL`` as literals (one script per liker's token, as many
tokens as the endpoint's likers, up to pgbench's 128 scripts, picked at random by pgbench)
and a random post id of the seeded range as ``:post``; prepared, as psycopg prepares a
statement it runs often.
"""

from __future__ import annotations

import asyncio
import glob
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from likes import services
from social.tokens import token_digest

MAX_SCRIPTS = 100  # pgbench takes at most 128 scripts (-f) per run


def pgbench_binary() -> str:
    """The embedded PostgreSQL's pgbench, else one on PATH or of Debian's PostgreSQL."""
    import pgserver

    candidates = [str(Path(pgserver.__file__).parent / "pginstall" / "bin" / "pgbench")]
    candidates += [shutil.which("pgbench") or ""]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"), reverse=True)
    for path in candidates:
        if path and Path(path).is_file():
            return path
    raise SystemExit(
        "bench: pgbench not found (it ships with pgserver, make install's embedded "
        "PostgreSQL); install Debian's postgresql-client (apt-get install postgresql-client)"
    )


def like_script(*, token: str, post_range: tuple[int, int]) -> str:
    """A pgbench script: the token like statement of ``likes.services`` for this token and
    a random post of ``post_range``."""
    sql = services._SQL[True, True]
    literals = {
        "token_digest": "'" + token_digest(token) + "'",
        "ttl": str(int(settings.TOKEN_TTL)),
        "post": ":post",
    }
    statement = re.sub(r"%\((\w+)\)s", lambda m: literals[m.group(1)], sql)
    lo, hi = post_range
    return f"\\set post random({lo}, {hi})\n{statement.strip()};\n"


class PgBench:
    """Runs the like statement with ``pgbench`` against ``database_url``."""

    def __init__(
        self, database_url: str, *, tokens: list[str], post_ids: list[int], clients: int
    ) -> None:
        self.url, self.clients = database_url, clients
        self.binary = pgbench_binary()
        self.dir = Path(tempfile.mkdtemp(prefix="bench-pgbench-"))
        self.scripts: list[Path] = []
        post_range = (min(post_ids), max(post_ids))
        for i, token in enumerate(tokens[:MAX_SCRIPTS]):
            path = self.dir / f"like-{i}.sql"
            path.write_text(like_script(token=token, post_range=post_range))
            self.scripts.append(path)

    async def tps(self, duration_s: float, log: Callable[[str], None] | None = None) -> float:
        """Statements per second over ``duration_s`` (whole seconds, at least 1: pgbench's
        ``-T``), connection time excluded."""
        args = [self.binary, "--no-vacuum", "--protocol=prepared", f"--client={self.clients}",
                "--jobs=2", f"--time={max(1, round(duration_s))}"]  # fmt: skip
        for path in self.scripts:
            args += ["-f", f"{path}@1"]
        proc = await asyncio.create_subprocess_exec(
            *args, self.url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await proc.communicate()
        text = out.decode(errors="replace")
        match = re.search(r"^tps = ([0-9.]+)", text, re.MULTILINE)
        failed = re.search(r"number of failed transactions: ([0-9]+)", text)
        if proc.returncode != 0 or match is None:
            raise RuntimeError(f"pgbench failed: {text[-1500:]}{err.decode(errors='replace')}")
        if failed and int(failed.group(1)) and log is not None:
            log(f"  pgbench: {failed.group(1)} failed transactions")
        return float(match.group(1))

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
