"""The HTTP figures: peak throughput of the like endpoint, the textbook like view and a
bare JSON view, side by side on one server; then the like endpoint's p99 at 80% of its peak.

In the same rounds: the bare view on a WSGI server (``bare_wsgi``, ``bench.servers``), the
same token like through Django's view (``django_like``: a second web server with the fast
path off), and the rest of the product (``bench.product``: pages, writes, the browser's
like), each as req/s (median of its rounds) and p99 (closed loop, every round's answers);
and, last in each round, ``pgbench`` running the like's own statement on the same database
with as many clients as the like endpoint has database connections (``bench.pgbench``:
``like_vs_pgbench``, the like endpoint over its statement's ceiling).

Every like request uses a fresh (user, post) pair, so each one stores a row, moves a counter
and queues a fan-out, on both like endpoints alike (a repeated pair would measure the cheap
idempotent path). The endpoints take turns in rounds (bare, textbook, like, bare, ...) so a
neighbour's load on this shared machine hits all three alike; each figure is the median of
its rounds.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

import uvloop

from loadtest.seed import Graph

from .httpload import LoadResult, MakeRequest, closed_loop, http_request, open_loop
from .pgbench import PgBench
from .servers import SideServers


@dataclass
class HttpFigures:
    like_rps: float
    textbook_like_rps: float
    bare_json_rps: float
    like_p99_ms_at_80pct: float
    like_p50_ms_at_80pct: float
    open_loop_rate: float
    open_loop_achieved: float
    errors: int
    # Every endpoint of the rounds: (req/s, median of the rounds; p99 ms, all rounds).
    endpoints: dict[str, tuple[float, float]]
    # pgbench running the like's statement, statements/s (median of the rounds); None: not run.
    pgbench_like_tps: float | None = None
    # The web process's CPU per like answered in the like rounds (µs); None: not measured.
    like_web_cpu_us: float | None = None


ACTIVE_LIKERS = 1_000


class Pairs:
    """Fresh (token, post) pairs for likes, never reused within a run: request k is user
    ``k % n`` liking post ``(k // n + k) % posts``, among ``ACTIVE_LIKERS`` accounts (people
    who like things like many: each account comes back every thousand likes).

    Consecutive requests hit different users and different posts: a benchmark of the
    endpoint, not of one post row's lock (every like of one post updates its counter row,
    so likes of one post queue on that lock whatever the endpoint; ``make loadtest`` has
    the hot posts, with Zipf popularity).
    """

    def __init__(self, graph: Graph, host: str) -> None:
        self.graph, self.host = graph, host
        self.next = 0

    def requests(self, path: str) -> MakeRequest:
        tokens, posts, host = self.graph.tokens[:ACTIVE_LIKERS], self.graph.post_ids, self.host
        n = len(tokens)

        def make(k: int) -> bytes:
            token, post = tokens[k % n], posts[(k // n + k) % len(posts)]
            return http_request(
                "POST", path.format(post=post), host=host,
                headers={"Authorization": f"Token {token}"},
            )  # fmt: skip

        return make


def run_http_phase(
    host: str, port: int, graph: Graph, *, rounds: int, duration_s: float, connections: int,
    open_loop_s: float, log: Callable[[str], None], side: SideServers | None = None,
    product: dict[str, MakeRequest] | None = None, warm_s: float = 0.5,
    pgbench: PgBench | None = None, web_cpu_s: Callable[[], float] | None = None,
) -> HttpFigures:  # fmt: skip
    pairs = Pairs(graph, f"{host}:{port}")
    bare = http_request("GET", "/api/bench/bare/", host=f"{host}:{port}")
    endpoints: dict[str, tuple[int, MakeRequest]] = {
        "bare": (port, lambda _k: bare),
        "textbook": (port, pairs.requests("/api/bench/textbook/posts/{post}/like/")),
        "like": (port, pairs.requests("/api/posts/{post}/like/")),
    }
    if side is not None:
        wsgi_bare = http_request("GET", "/api/bench/bare/", host=f"{host}:{side.wsgi_port}")
        endpoints["bare_wsgi"] = (side.wsgi_port, lambda _k: wsgi_bare)
        django = Pairs(graph, f"{host}:{side.django_like_port}")  # the same fresh pairs
        endpoints["django_like"] = (
            side.django_like_port,
            django.requests("/api/posts/{post}/like/"),
        )
    endpoints.update({name: (port, make) for name, make in (product or {}).items()})
    runs: dict[str, list[LoadResult]] = {name: [] for name in endpoints}
    pgbench_tps: list[float] = []
    like_cpu_s = 0.0
    used = 0

    async def go() -> LoadResult:
        nonlocal used, like_cpu_s
        # A short warm-up (connections, pools, caches) that is not counted.
        for to, make in endpoints.values():
            warm = await closed_loop(host, to, make, connections=connections, duration_s=warm_s,
                                     first=used)  # fmt: skip
            used += warm.sent
        for r in range(rounds):
            for name, (to, make) in endpoints.items():
                cpu_before = web_cpu_s() if web_cpu_s is not None and name == "like" else 0.0
                result = await closed_loop(
                    host, to, make, connections=connections, duration_s=duration_s, first=used
                )
                if web_cpu_s is not None and name == "like":
                    like_cpu_s += web_cpu_s() - cpu_before
                used += result.sent
                runs[name].append(result)
                log(f"  round {r + 1}/{rounds} {name:>13}: {result.rps:8.0f} req/s "
                    f"(p50 {result.percentile(50):.1f} ms, p99 {result.percentile(99):.1f} ms, "
                    f"errors {result.errors} {_bad(result)})")  # fmt: skip
            if pgbench is not None:
                try:
                    pgbench_tps.append(await pgbench.tps(duration_s, log))
                except RuntimeError as exc:  # e.g. the server's max_connections reached
                    log(f"  round {r + 1}/{rounds} {'pgbench like':>13}: not measured: {exc}")
                    continue
                log(f"  round {r + 1}/{rounds} {'pgbench like':>13}: {pgbench_tps[-1]:8.0f} "
                    f"statements/s ({pgbench.clients} clients, the like's own SQL)")  # fmt: skip
        peak = statistics.median(r.rps for r in runs["like"])
        rate = 0.8 * peak
        result = await open_loop(
            host, port, endpoints["like"][1], rate=rate, duration_s=open_loop_s, first=used
        )
        used += result.sent
        log(f"  open loop at {rate:.0f} likes/s: p50 {result.percentile(50):.1f} ms, "
            f"p99 {result.percentile(99):.1f} ms, {result.rps:.0f} ok/s")  # fmt: skip
        return result

    opened = uvloop.run(go())
    median = {name: statistics.median(r.rps for r in results) for name, results in runs.items()}
    errors = sum(r.errors for results in runs.values() for r in results) + opened.errors
    return HttpFigures(
        like_rps=median["like"],
        textbook_like_rps=median["textbook"],
        bare_json_rps=median["bare"],
        like_p99_ms_at_80pct=opened.percentile(99),
        like_p50_ms_at_80pct=opened.percentile(50),
        open_loop_rate=0.8 * median["like"],
        open_loop_achieved=opened.rps,
        errors=errors,
        endpoints={name: (median[name], _p99(results)) for name, results in runs.items()},
        pgbench_like_tps=statistics.median(pgbench_tps) if pgbench_tps else None,
        like_web_cpu_us=(
            like_cpu_s * 1e6 / max(1, sum(r.ok for r in runs["like"]))
            if web_cpu_s is not None
            else None
        ),
    )


def _p99(results: list[LoadResult]) -> float:
    merged = LoadResult(latencies_ms=[ms for r in results for ms in r.latencies_ms])
    return merged.percentile(99)


def _bad(result: LoadResult) -> str:
    """The statuses that were not 2xx, if any (a wrong request shows at once)."""
    bad = {s: n for s, n in result.statuses.items() if not 200 <= s < 300}
    return str(bad) if bad else ""
