"""Steering a run (issue 21): a person's hints reach the next prompts of a running search, and a
finished run is re-scored under a changed evaluator and resumed from the new scores.

Real parts throughout: a local Ray, the scripted model server on loopback, the process sandbox,
SQLite; the hints are written from another thread through the `evolve hint` command's function
while the run goes on, as a second terminal would."""

from __future__ import annotations

import shutil
from pathlib import Path

import test_postgres
from sqlalchemy import select
from typer.testing import CliRunner

from evolve.cli import app
from evolve.engine.options import RunOptions
from evolve.engine.run import evolve_run
from evolve.kinds import EvaluationKind, EventKind
from evolve.mutate.llm import ModelSpec
from evolve.problem import load_problem
from evolve.steer import hint
from evolve.store import Evaluation, Event, LLMCall, Program, Run, open_engine
from evolve.store.hints import read_hints
from evolve.store.population_reads import read_snapshot

from model_server import ModelServer, Reply, good_diff

postgres_url = test_postgres.postgres_url  # the fixture that starts a PostgreSQL server

LATTICE = "try a hexagonal lattice"
SHORT = "shrink the smallest circle first"
RESUMED = "grow the corner circles"


def _options(url: str, iterations: int) -> RunOptions:
    model = ModelSpec("openai/test-model", api_base=url, max_attempts=2, backoff=0.05)
    return RunOptions(
        iterations=iterations, llm_concurrency=1, eval_workers=1, seed=5, models=(model,), sandbox="process"
    )


def _user(request: dict) -> str:
    return "\n".join(m["content"] for m in request["messages"] if m["role"] == "user")


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    return result.output


def test_hints_given_mid_run_reach_later_prompts_expire_and_are_withdrawn(ray_local, circle_packing, tmp_path):
    run_dir = tmp_path / "steered"

    def script(request: dict, index: int) -> Reply:
        # Another terminal, in effect: the hints are written while the run waits for this answer.
        if index == 2:
            hint(run=str(run_dir), text=LATTICE)
        elif index == 4:
            hint(run=str(run_dir), text=SHORT, for_iterations=2)
        elif index == 9:
            hint(run=str(run_dir), clear=True)
        return Reply(good_diff(request, index))

    with ModelServer(script) as server:
        result = evolve_run(circle_packing, _options(server.url, 14), runs_root=tmp_path, run_name="steered")
        prompts = [_user(r) for r in server.calls]
    assert result.status == "finished"

    # Before the hint, no prompt shows it; after it, later prompts do; after --clear, none again.
    assert not any(LATTICE in p for p in prompts[:3])
    assert any(LATTICE in p for p in prompts[3:10])
    assert "# Hints from the person running this search" in next(p for p in prompts if LATTICE in p)
    assert not any(LATTICE in p for p in prompts[11:])

    engine = open_engine(result.db_url, create=False)
    with engine.connect() as conn:
        hints = {h.text: h for h in read_hints(conn, 1)}
        calls = conn.execute(select(LLMCall.iteration, LLMCall.prompt)).all()
        children = conn.execute(select(Program.id, Program.iteration, Program.hint_ids)).all()
    lattice, short = hints[LATTICE], hints[SHORT]
    assert lattice.cleared_at is not None and short.until == short.iteration + 2
    # --for 2: the short hint shows up to its last iteration and never after it.
    shown_short = [c.iteration for c in calls if SHORT in c.prompt]
    assert shown_short and max(shown_short) <= short.until
    assert any(c.iteration > short.until for c in calls)
    # The children made under a hint say so: the lineage of a person's advice.
    marked = [c for c in children if c.hint_ids and lattice.id in c.hint_ids]
    assert marked and all(c.iteration > lattice.iteration for c in marked)
    assert not any(c.hint_ids for c in children if c.iteration <= lattice.iteration)

    shown = _cli("show", str(run_dir))
    assert LATTICE in shown and f"iteration {lattice.iteration}" in shown and "withdrawn at" in shown
    lineage = _cli("lineage", str(run_dir), str(marked[-1].id))
    assert f"[hint {lattice.id}" in lineage

    # A stopped run takes a hint too, and its resumed prompts show it from the first.
    hint(run=str(run_dir), text=RESUMED, island=0)
    with ModelServer(lambda request, index: Reply(good_diff(request, index))) as server:
        again = evolve_run(
            circle_packing, _options(server.url, 18), runs_root=tmp_path, run_name="steered", resume=True
        )
        resumed = [_user(r) for r in server.calls]
    assert again.status == "finished"
    assert not any(LATTICE in p for p in resumed)
    with engine.connect() as conn:
        after = conn.execute(
            select(LLMCall.island, LLMCall.prompt).where(LLMCall.iteration > max(c.iteration for c in calls))
        ).all()
    # --island 0: every prompt of island 0 after the resume shows it, no other island's does.
    assert any(c.island == 0 for c in after) and any(c.island != 0 for c in after)
    assert all((RESUMED in c.prompt) == (c.island == 0) for c in after)


def test_a_hint_with_a_bad_value_is_one_line_and_stores_nothing(ray_local, circle_packing, tmp_path):
    from evolve.engine.options import RunOptions as Options

    run = evolve_run(circle_packing, Options(iterations=1, sandbox="process", seed=1), runs_root=tmp_path, run_name="r")
    for args, message in (
        (["hint", str(run.run_dir), "x", "--island", "7"], "--island 7: the run has islands 0 to"),
        (["hint", str(run.run_dir), "x", "--for", "0"], "--for 0"),
        (["hint", str(run.run_dir), "   "], "the hint is empty"),
        (["hint", str(tmp_path / "nowhere"), "x"], "no run"),
    ):
        result = CliRunner().invoke(app, args, env={"COLUMNS": "220"})
        assert result.exit_code != 0
        assert message in str(result.exception) + result.output, (args, result.output, result.exception)
    with open_engine(run.db_url, create=False).connect() as conn:
        assert read_hints(conn, 1) == []


def _min_radius_evaluator(original: Path) -> str:
    """The circle-packing evaluator changed: a packing now scores its smallest radius."""
    return (
        original.read_text()
        + "\n\n_first_evaluate = evaluate\n\n\ndef evaluate(program_path):\n"
        + "    result = _first_evaluate(program_path)\n"
        + "    if 'score' in result:\n        result['score'] = result['min_radius']\n    return result\n"
    )


def test_rescore_records_new_rows_and_ranks_and_the_resume_goes_on_from_them(ray_local, circle_packing, tmp_path):
    folder = tmp_path / "circle_packing"
    shutil.copytree(circle_packing.root, folder)
    problem = load_problem(folder)
    with ModelServer(lambda request, index: Reply(good_diff(request, index))) as server:
        first = evolve_run(problem, _options(server.url, 8), runs_root=tmp_path / "runs", run_name="fixed")
    assert first.status == "finished"
    engine = open_engine(first.db_url, create=False)
    with engine.connect() as conn:
        before = {r.id: r.score for r in conn.execute(select(Program.id, Program.score).where(Program.status == "ok"))}
        train_rows = conn.execute(select(Evaluation.id, Evaluation.score).where(Evaluation.kind == "train")).all()
    assert len(before) >= 4

    # The evaluator is fixed in the run's own folder, as a project would; rescore reads it there.
    (folder / "evaluate.py").write_text(_min_radius_evaluator(circle_packing.root / "evaluate.py"))
    table = _cli("rescore", str(first.run_dir), "--all", "--sandbox", "process")
    assert f"{len(before)} programs re-scored" in table and "change rank" in table

    with engine.connect() as conn:
        rescored = conn.execute(
            select(Evaluation.program_id, Evaluation.score).where(Evaluation.kind == EvaluationKind.RESCORE)
        ).all()
        assert (
            conn.execute(select(Evaluation.id, Evaluation.score).where(Evaluation.kind == "train")).all() == train_rows
        )
        programs = {
            r.id: r.score for r in conn.execute(select(Program.id, Program.score).where(Program.status == "ok"))
        }
        best_id = conn.execute(select(Run.best_program_id)).scalar_one()
    assert programs == before  # the first scores are kept
    new = {r.program_id: r.score for r in rescored}
    assert set(new) == set(before)
    assert all(new[i] is not None and new[i] < before[i] for i in new)  # a smallest radius is below the sum
    assert best_id == max(new, key=lambda i: (new[i], -i))
    # The table's ranks are the two orders: each program's line says where it stood and stands.
    old_rank = {pid: r + 1 for r, pid in enumerate(sorted(before, key=lambda i: (-before[i], i)))}
    new_rank = {pid: r + 1 for r, pid in enumerate(sorted(new, key=lambda i: (-new[i], i)))}
    rows = [[cell.strip() for cell in line.strip(" │").split("│")] for line in table.splitlines() if "│" in line]
    printed = {row[0]: (row[3], row[4]) for row in rows if row[0].isdigit()}
    assert printed == {str(pid): (str(old_rank[pid]), str(new_rank[pid])) for pid in new}, table
    assert old_rank != new_rank  # the changed evaluator reorders the programs

    # The resume reads the re-scores as the population's scores and goes on under the fixed evaluator.
    snapshot = read_snapshot(engine, 1)
    assert {p.id: p.score for p in snapshot.programs if p.id in new} == new
    with ModelServer(lambda request, index: Reply(good_diff(request, index))) as server:
        again = evolve_run(
            problem, _options(server.url, 12), runs_root=tmp_path / "runs", run_name="fixed", resume=True
        )
        prompts = [_user(r) for r in server.calls]
    assert again.status == "finished" and again.best is not None
    assert again.best.score < min(before.values())  # on the new scale: a smallest radius, not a sum
    best_new = max(new, key=lambda i: (new[i], -i))
    assert any(f"score {new[best_new]:.6g}" in p for p in prompts)  # the prompts quote the new scores
    with engine.connect() as conn:
        kinds = [k for (k,) in conn.execute(select(Event.kind))]
    assert EventKind.RESCORE in kinds

    # Another evaluator file, the two best alone: two more rows, on that evaluator's scale (a sum).
    other = tmp_path / "sum_of_radii.py"
    shutil.copyfile(circle_packing.root / "evaluate.py", other)
    _cli("rescore", str(first.run_dir), "--evaluator", str(other), "--top", "2", "--sandbox", "process")
    with engine.connect() as conn:
        rows = conn.execute(
            select(Evaluation.score).where(Evaluation.kind == EvaluationKind.RESCORE).order_by(Evaluation.id)
        ).all()
    assert len(rows) == len(new) + 2 and all(score > 1.0 for (score,) in rows[-2:])
    both = CliRunner().invoke(app, ["rescore", str(first.run_dir), "--evaluator", str(other), "--problem", str(folder)])
    assert both.exit_code != 0 and "not both" in str(both.exception)


def test_the_live_page_takes_a_hint_from_loopback_alone_and_lists_it(tmp_path):
    import http.client
    import json
    import threading

    from run_databases import small_run

    from evolve.inspect.locate import locate
    from evolve.inspect.report import write_report
    from evolve.inspect.server import make_server

    work = small_run(tmp_path)
    ref = locate(str(work / "runs" / "small"))
    server = make_server(ref, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    own = f"127.0.0.1:{port}"

    def post(body, host=own, ctype="application/json", origin=None):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Host": host, "Content-Type": ctype, **({"Origin": origin} if origin else {})}
        conn.request("POST", "/api/hint", body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")

    try:
        page = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        page.request("GET", "/", headers={"Host": own})
        assert b'id="hint-form"' in page.getresponse().read()
        status, answer = post({"text": LATTICE, "for_iterations": 5}, origin=f"http://{own}")
        assert status == 200 and answer["message"].startswith(f"hint {answer['hint_id']} stored")
        # Refused, and nothing stored: a foreign Host (DNS rebinding), a foreign origin, a form post, bad values.
        assert post({"text": "evil"}, host="evil.example")[0] == 403
        assert post({"text": "evil"}, origin="http://evil.example")[0] == 403
        assert post({"text": "evil"}, ctype="application/x-www-form-urlencoded")[0] == 415
        status, answer = post({"text": "x", "island": 99})
        assert status == 400 and "--island 99" in answer["error"]
        assert post({"text": "x", "island": "0"})[0] == 400

        view = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        view.request("GET", "/api/view", headers={"Host": own})
        hints = json.loads(view.getresponse().read())["summary"]["hints"]
        assert [h["text"] for h in hints] == [LATTICE] and hints[0]["until"] == hints[0]["iteration"] + 5
        status, answer = post({"clear": True})
        assert status == 200 and answer["hint_ids"] == [hints[0]["id"]]
    finally:
        server.shutdown()
        server.server_close()
    report = write_report(ref.engine, ref.run_id, tmp_path / "report.html").read_text()
    assert LATTICE in report and "<h2>Hints</h2>" in report


def test_hints_and_rescores_on_a_postgresql_store(ray_local, circle_packing, postgres_url, tmp_path):
    def script(request: dict, index: int) -> Reply:
        if index == 1:
            hint(run="pg-steered", text=LATTICE, db=postgres_url)
        return Reply(good_diff(request, index))

    with ModelServer(script) as server:
        options = _options(server.url, 6)
        result = evolve_run(circle_packing, options, runs_root=tmp_path, run_name="pg-steered", db_url=postgres_url)
        prompts = [_user(r) for r in server.calls]
    assert result.status == "finished"
    assert not any(LATTICE in p for p in prompts[:2]) and LATTICE in prompts[-1]
    assert LATTICE in _cli("show", "pg-steered", "--db", postgres_url)

    table = _cli("rescore", "pg-steered", "--db", postgres_url, "--top", "3", "--sandbox", "process")
    assert "3 programs re-scored" in table
    engine = open_engine(postgres_url, create=False)
    with engine.connect() as conn:
        run_id = conn.execute(select(Run.id).where(Run.name == "pg-steered")).scalar_one()
        kinds = conn.execute(select(Evaluation.kind).where(Evaluation.run_id == run_id)).scalars().all()
    assert kinds.count(EvaluationKind.RESCORE) == 3 and kinds.count(EvaluationKind.TRAIN) >= 3


def test_the_hint_box_in_a_real_browser(tmp_path):
    """Headless Chromium (tests/test_report_browser.py's driver): the page lists a hint, the box
    sends another, the table shows it on the next poll, and nothing on the page fails."""
    import threading

    from run_databases import small_run
    from test_report_browser import Browser

    from evolve.inspect.locate import locate
    from evolve.inspect.server import make_server
    from evolve.store.hints import add_hint

    work = small_run(tmp_path)
    ref = locate(str(work / "runs" / "small"))
    add_hint(open_engine(ref.url, create=False), ref.run_id, LATTICE, island=1)
    server = make_server(ref, port=0, poll_ms=500)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser = Browser(tmp_path)
    try:
        browser.navigate(server.url)
        browser.wait_for("+document.body.dataset.rendered >= 1")
        assert LATTICE in browser.evaluate("document.getElementById('hints').innerText")
        browser.evaluate(
            f"document.getElementById('hint-text').value = {SHORT!r};"
            "document.getElementById('hint-for').value = '3';"
            "document.getElementById('hint-send').click()"
        )
        browser.wait_for(f"document.getElementById('hints').innerText.includes({SHORT!r})", timeout=30)
        assert "stored at iteration" in browser.evaluate("document.getElementById('hint-status').textContent")
        artifacts = Path(__file__).resolve().parents[1] / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        browser.evaluate("document.getElementById('hints').scrollIntoView()")
        browser.screenshot(artifacts / "live-hints.png")
        assert browser.problems() == []
    finally:
        browser.quit()
        server.shutdown()
        server.server_close()
    with open_engine(ref.url, create=False).connect() as conn:
        assert [h.text for h in read_hints(conn, ref.run_id)] == [LATTICE, SHORT]


def test_rescore_in_the_docker_sandbox(docker_engine, ray_local, circle_packing, tmp_path):
    """The default sandbox: each stored program runs again in a locked-down container."""
    options = RunOptions(iterations=4, eval_workers=1, sandbox="process", seed=2)
    run = evolve_run(circle_packing, options, runs_root=tmp_path, run_name="docker-rescore")
    table = _cli("rescore", str(run.run_dir), "--top", "2", "--sandbox", "docker")
    assert "2 programs re-scored" in table
    with open_engine(run.db_url, create=False).connect() as conn:
        rows = conn.execute(
            select(Evaluation.sandbox, Evaluation.ok, Evaluation.score).where(Evaluation.kind == EvaluationKind.RESCORE)
        ).all()
        scores = dict(conn.execute(select(Program.score, Program.id).where(Program.status == "ok")).all())
    # The same evaluator in another sandbox: the same scores.
    assert len(rows) == 2 and all(r.sandbox == "docker" and r.ok and r.score in scores for r in rows)
