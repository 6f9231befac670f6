"""Time each inspection command on a large run (default: 10,000 candidates from make_big_run.py).

    python bench/inspect_speed.py                 # make the run in a temp folder, time, print a table
    python bench/inspect_speed.py --write         # also put the table in bench/RESULTS.md

Two figures per command, medians of --repeat runs:
- "whole command": `python -m evolve.inspect.commands ...` in a fresh process, as a user types it
  (interpreter start and imports included);
- "in process": the same command through Typer's CliRunner in this process (the queries, the
  rendering and the output, without start-up).
The live page's endpoints are timed over HTTP against a server on loopback.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from make_big_run import make_run  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from evolve.inspect.commands import build_app  # noqa: E402
from evolve.inspect.locate import locate  # noqa: E402
from evolve.inspect.server import make_server  # noqa: E402

HEADING = "## Inspecting a 10,000-candidate run"


def _median(fn, repeat: int) -> tuple[float, float]:
    """(median, best) of `repeat` timings."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None, help="where runs/big-run goes (default: a temp folder)")
    ap.add_argument("--write", action="store_true", help="write the table into bench/RESULTS.md")
    args = ap.parse_args(argv)

    load = os.getloadavg()
    work = args.dir or Path(tempfile.mkdtemp(prefix="evolve-inspect-bench-"))
    run_dir = work / "runs" / "big-run"
    t = time.perf_counter()
    db = make_run(run_dir, args.n, seed=0)
    made = time.perf_counter() - t
    print(f"made {db} ({args.n:,} candidates, {db.stat().st_size / 1e6:.0f} MB) in {made:.1f} s", flush=True)

    out = work / "out"
    out.mkdir(exist_ok=True)
    commands = [
        ("start-up alone", None),
        ("runs", ["runs"]),
        ("show", ["show", "big-run"]),
        ("show --json", ["show", "big-run", "--json"]),
        ("best", ["best", "big-run"]),
        ("best -o", ["best", "big-run", "-o", str(out / "best.py")]),
        ("top -n 10", ["top", "big-run", "-n", "10"]),
        ("lineage", ["lineage", "big-run"]),
        ("lineage --json (with diffs)", ["lineage", "big-run", "--json"]),
        ("diff", ["diff", "big-run"]),
        ("export --format jsonl -o", ["export", "big-run", "--format", "jsonl", "-o", str(out / "all.jsonl")]),
        ("report -o", ["report", "big-run", "-o", str(out / "report.html")]),
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    app, runner = build_app(), CliRunner()
    rows = []
    old = os.getcwd()
    os.chdir(work)
    try:
        for label, argv_ in commands:
            if argv_ is None:  # the interpreter and the imports alone, for comparison

                def startup():
                    subprocess.run(
                        [sys.executable, "-c", "import evolve.inspect.commands"], cwd=work, env=env, check=True
                    )

                w = _median(startup, args.repeat)
                rows.append(("`python -c 'import evolve.inspect.commands'` (start-up alone)", w, (0.0, 0.0)))
                print(f"{label:32s} whole {w[0]:6.3f} s", flush=True)
                continue

            def whole(argv_=argv_):
                subprocess.run(
                    [sys.executable, "-m", "evolve.inspect.commands", *argv_],
                    cwd=work,
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )

            def inproc(argv_=argv_):
                result = runner.invoke(app, argv_)
                assert result.exit_code == 0, result.output

            w, i = _median(whole, args.repeat), _median(inproc, args.repeat)
            rows.append((f"`{' '.join(['evolve', *argv_]).replace(str(out) + '/', '')}`", w, i))
            print(f"{label:32s} whole {w[0]:6.3f} s   in process {i[0]:6.3f} s", flush=True)

        ref = locate("big-run")
        server = make_server(ref, port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        best = (
            ref.engine.connect()
            .exec_driver_sql("select id from programs where status='ok' order by score desc, id limit 1")
            .scalar()
        )
        for path in ("", "api/view", "api/programs?sort=score&limit=50", f"api/program/{best}", "static/plotly.js"):

            def get(path=path):
                with urllib.request.urlopen(server.url + path, timeout=30) as r:
                    r.read()

            s = _median(get, args.repeat)
            rows.append((f"`GET /{path}` (evolve ui)", None, s))
            print(f"GET /{path:40s} {s[0]:6.3f} s", flush=True)
        server.shutdown()
    finally:
        os.chdir(old)

    slowest = max(max(w[0] if w else 0, i[0]) for _, w, i in rows)
    lines = [
        HEADING,
        "",
        f"Run made by `python bench/make_big_run.py -n {args.n}` ({args.n:,} candidates: programs, model calls, "
        f"evaluations, events; {db.stat().st_size / 1e6:.0f} MB SQLite), timed by `python bench/inspect_speed.py"
        f"{' -n ' + str(args.n) if args.n != 10_000 else ''}`; "
        f"medians of {args.repeat} (best in brackets), on {platform.machine()} / Python {platform.python_version()} / {os.cpu_count()} CPUs "
        f"(load average {load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end: other work shared the machine).",
        '"Whole command" is a fresh `python -m evolve.inspect.commands ...` process (start-up and imports '
        'included); "in process" is the command alone (queries, rendering, output).',
        "",
        "| command | whole command (s) | in process (s) |",
        "| --- | ---: | ---: |",
    ]
    for cmd, w, i in rows:
        whole = "" if w is None else f"{w[0]:.3f} ({w[1]:.3f})"
        inproc = "–" if i == (0.0, 0.0) else f"{i[0]:.3f} ({i[1]:.3f})"
        lines.append(f"| {cmd} | {whole} | {inproc} |")
    lines += [
        "",
        f"Slowest median: {slowest:.3f} s. No index was added to the models: the existing "
        "(run_id, score), (run_id, iteration) and primary-key indexes serve every query.",
        "",
    ]
    table = "\n".join(lines)
    print("\n" + table)
    if args.write:
        results = ROOT / "bench" / "RESULTS.md"
        text = results.read_text() if results.exists() else "# Benchmark results\n\n"
        if HEADING in text:
            start = text.index(HEADING)
            nxt = text.find("\n## ", start + len(HEADING))
            text = text[:start] + table + ("\n" + text[nxt + 1 :] if nxt != -1 else "")
        else:
            text = text.rstrip("\n") + "\n\n" + table
        results.write_text(text)
        print(f"wrote {results}")


if __name__ == "__main__":
    main()
