"""``make loadtest`` (``python -m loadtest``): Locust against Likefeed, then plots and a
correctness check.

Without a URL it starts the stack ``make run`` starts, on a database of its own
(``likefeed_loadtest``, key prefix ``lfload``). With ``--url`` it drives a running stack;
it then seeds and checks through that stack's ``DATABASE_URL``/``REDIS_URL`` and
``REDIS_PREFIX`` (from the environment, or from ``var/run/stack.json``, which ``make run``
writes). Seeding is done once per graph size and reused.

Reports go to ``loadtest/reports/<timestamp>/``: Locust's HTML report and CSVs, PNG plots
(throughput, latency percentiles over time, like → feed.item distribution) and
``check.txt``. The exit status is non-zero when the check fails: a load test that breaks
the data fails loudly.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from config.run import STACK_FILE  # where `make run` records its URL and services
from config.services import ROOT, embedded_services

REPORTS = ROOT / "loadtest" / "reports"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="make loadtest", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="a running Likefeed (default: start one)")
    p.add_argument("--likers", type=int, default=50, help="Locust users liking (HTTP)")
    p.add_argument("--sockets", type=int, default=200, help="Locust users on /ws/")
    p.add_argument("--rate", type=float, default=200.0, help="likes and unlikes per second")
    p.add_argument("--duration", type=int, default=60, help="seconds of load")
    p.add_argument("--spawn-rate", type=float, default=50.0, help="users started per second")
    p.add_argument("--users", type=int, default=10_000, help="accounts in the seeded graph")
    p.add_argument("--posts", type=int, default=20_000, help="posts in the seeded graph")
    p.add_argument("--follows", type=int, default=20, help="accounts each one follows (mean)")
    p.add_argument("--celebrities", type=int, default=0,
                   help="also like as the N most-followed accounts (each like reaches most "
                        "of the graph, through the bulk queue)")  # fmt: skip
    p.add_argument("--web", action="store_true", help="Locust's web UI instead of headless")
    p.add_argument("--web-port", type=int, default=8089)
    p.add_argument("--out", type=Path, help="report folder (default: loadtest/reports/<ts>)")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.url:
        for name, value in _attached_env(args.url).items():
            os.environ.setdefault(name, value)
        if not os.environ.get("DATABASE_URL"):
            sys.exit(
                "loadtest: --url needs that stack's DATABASE_URL and REDIS_URL (and "
                "REDIS_PREFIX) in the environment, or a var/run/stack.json from make run"
            )
    with embedded_services(), _stack(args) as url:
        return run(args, url)


def _attached_env(url: str) -> dict[str, str]:
    """The services of a running `make run` on this URL, as it recorded them."""
    if not STACK_FILE.exists():
        return {}
    recorded = json.loads(STACK_FILE.read_text())
    if recorded.get("url", "").rstrip("/") != url.rstrip("/"):
        return {}
    return {k: v for k, v in recorded.items() if k.isupper()}


@contextlib.contextmanager
def _stack(args: argparse.Namespace) -> Iterator[str]:
    from loadtest.stack import migrate, running_stack, stack_env

    if args.url:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
        yield args.url.rstrip("/")
        return
    # Production settings; the seeded accounts ("lt<users>-...") are exempt from the like
    # rate limit (a setting, config.throttling), as a load test's accounts should be.
    secret = {
        "DEBUG": "false",
        "SECRET_KEY": "loadtest-only-" + "x" * 50,
        "THROTTLE_EXEMPT_USERS": "lt*",
    }
    env = stack_env(
        database=os.environ.get("LOADTEST_DATABASE", "likefeed_loadtest"),
        redis_prefix=os.environ.get("LOADTEST_REDIS_PREFIX", "lfload"),
        extra=secret,
    )
    os.environ.update(env)
    migrate(env)
    print("loadtest: starting the stack (web, workers, beat) on database likefeed_loadtest")
    with running_stack(env, ROOT / "var" / "loadtest-logs") as stack:
        yield stack.url


def run(args: argparse.Namespace, url: str) -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    django.setup()
    from loadtest import check, report
    from loadtest.seed import GraphSpec, seed_graph

    spec = GraphSpec(users=args.users, posts=args.posts, follows_per_user=args.follows,
                     tokens=min(args.users, max(2_000, args.likers + args.sockets)))  # fmt: skip
    print(f"loadtest: graph of {spec.users} users, {spec.posts} posts "
          f"(Zipf follower counts, ~{spec.follows_per_user} follows each)")  # fmt: skip
    graph = seed_graph(spec)
    out = args.out or REPORTS / datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(5)
    # Likers: a random sample of the accounts (their follower counts follow the graph's Zipf
    # law), plus the N most-followed ones when asked. Sockets: random accounts.
    n, top = len(graph.tokens), args.celebrities
    likers = graph.tokens[:top] + rng.sample(graph.tokens[top:], min(n - top, args.likers * 4))
    sockets = rng.sample(graph.tokens, min(n, args.sockets))
    plan = {
        "liker_tokens": likers,
        "socket_tokens": sockets,
        "post_ids": graph.post_ids,
        "samples_path": str(out / "push_latencies.json"),
    }
    plan_file = out / "plan.json"
    plan_file.write_text(json.dumps(plan))
    since = datetime.now(UTC)
    locust = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py"),
        "--host", url, "-u", str(args.likers + args.sockets), "-r", str(args.spawn_rate),
        "-t", f"{args.duration}s", "--csv", str(out / "locust"), "--csv-full-history",
        "--html", str(out / "report.html"), "--stop-timeout", "5", "--exit-code-on-error", "0",
    ]  # fmt: skip
    locust += (
        ["--web-host", "127.0.0.1", "--web-port", str(args.web_port), "--autostart"]
        if args.web
        else ["--headless", "--only-summary"]
    )
    env = {**os.environ, "LOADTEST_PLAN": str(plan_file), "LOADTEST_RATE": str(args.rate),
           "LOADTEST_SOCKETS": str(args.sockets), "LOADTEST_LIKERS": str(args.likers)}  # fmt: skip
    if args.web:
        print(f"loadtest: Locust's web UI at http://127.0.0.1:{args.web_port}/")
    print(f"loadtest: {args.likers} likers at {args.rate:.0f}/s and {args.sockets} sockets "
          f"for {args.duration} s against {url}")  # fmt: skip
    started = time.monotonic()
    subprocess.run(locust, env=env, check=True, cwd=ROOT)
    print(f"loadtest: load done in {time.monotonic() - started:.0f} s; checking the data")
    result = check.check(since=since, post_ids=graph.post_ids)
    lines = result.lines()
    (out / "check.txt").write_text("\n".join(lines) + "\n")
    for path in report.plot_all(out):
        print(f"loadtest: plot {_shown(path)}")
    print(f"loadtest: HTML report {_shown(out / 'report.html')}")
    print("\n".join(f"  check: {line}" for line in lines))
    if not result.ok:
        print("loadtest: THE CORRECTNESS CHECK FAILED (details in check.txt)", file=sys.stderr)
        details = result.count_mismatches[:20] + result.missing[:20] + result.duplicates[:20]
        (out / "check.txt").write_text("\n".join(lines + [repr(d) for d in details]) + "\n")
        return 1
    return 0


def _shown(path: Path) -> Path:
    """A path as a person would type it from the project folder."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
