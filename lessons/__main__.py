"""``python -m lessons [--quick] [--out DIR] [--only N,...]``: run the lessons, print the table,
write ``results.json`` and one PNG per lesson. ``make lessons`` runs it (``QUICK=1``: seconds).

A full run writes into ``docs/lessons/`` (the figures the README shows); a quick one into
``var/lessons/quick/``, so a smoke run never replaces the published figures.

Needs ``DATABASE_URL`` and ``REDIS_URL`` (``make lessons`` provides embedded ones when they
are unset, as ``make run`` does); RabbitMQ from ``LESSONS_RABBITMQ_URL`` for lesson 5.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .lab import ROOT, Lab, Outcome, machine

# (number, module, title): each module has run(lab) -> Outcome and plot(outcome, path).
LESSONS = [
    (1, "prefetch", "Prefetch and queues"),
    (2, "results", "ignore_result"),
    (3, "sending", ".delay() vs apply_async()"),
    (4, "backend", "Broker vs result backend"),
    (5, "brokers", "Redis vs RabbitMQ as broker"),
    (6, "missing_broker", "The missing broker"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lessons", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: seconds, not minutes")
    parser.add_argument("--out", type=Path, help="default: docs/lessons, var/lessons/quick")
    parser.add_argument("--only", default="", help="comma-separated lesson numbers")
    args = parser.parse_args(argv)
    args.out = args.out or ROOT / ("var/lessons/quick" if args.quick else "docs/lessons")
    only = {int(n) for n in args.only.split(",") if n.strip()}
    args.out.mkdir(parents=True, exist_ok=True)

    started, load_before = time.monotonic(), os.getloadavg()[0]
    outcomes: dict[str, Outcome] = {}
    with Lab.open(quick=args.quick) as lab:
        lab.say(
            f"lessons run {lab.run}{' (QUICK)' if args.quick else ''}: database "
            f"{lab.database_name}, Redis {lab.redis_url}, queues {lab.queue('*')}"
        )
        for number, name, title in LESSONS:
            if only and number not in only:
                continue
            lab.say(f"lesson {number}: {title}")
            # Imported here, after Lab.open() has set Django up: lessons use the models.
            lesson: Any = importlib.import_module(f"lessons.{name}")
            outcome = lesson.run(lab)
            lesson.plot(outcome, str(args.out / f"lesson{number}_{name}.png"))
            outcomes[f"{number}. {title}"] = outcome
        run_id = lab.run

    about = machine()
    # Other work on the machine shows in every figure: say how busy it was.
    about["load_average_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    results = {
        "machine": about,
        "quick": args.quick,
        "run": run_id,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - started, 1),
        **{key: value for outcome in outcomes.values() for key, value in outcome.keys.items()},
        "lessons": {title: o.detail for title, o in outcomes.items()},
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(table(outcomes, about, results["duration_s"]))
    print(f"\nwrote {args.out / 'results.json'} and {len(outcomes)} plots in {args.out}")
    return 0


def table(outcomes: dict[str, Outcome], about: dict[str, Any], seconds: float) -> str:
    width = max(len(label) for o in outcomes.values() for label, _ in o.rows) + 2
    lines = [
        f"The Celery lessons, measured ({about['cores']} cores, {about['cpu']}; "
        f"Python {about['python']}, Celery {about['celery']}, kombu {about['kombu']}; "
        f"load average {about['load_average_1min'][0]:.1f} → {about['load_average_1min'][1]:.1f}; "
        f"{seconds:.0f}s)",
    ]
    for title, outcome in outcomes.items():
        lines.append(f"\n{title}")
        lines += [f"  {label:<{width}}{value}" for label, value in outcome.rows]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
