"""The Docker engine goes away mid-run: no candidate is blamed, the run pauses and retries, and it
either carries on when the engine is back or stops as failed with the cause, its outputs written.

The outage is real as the run's Docker client sees it: the client talks to the engine through a
Unix-socket forwarder (tests/docker_proxy.py) that the test cuts and restores; the engine itself
and other suites on the machine are untouched.
"""

from __future__ import annotations

import threading

import docker
import pytest
from docker_proxy import DockerProxy
from sqlalchemy import select

from evolve.engine.options import RunOptions
from evolve.engine.run import evolve_run
from evolve.kinds import EventKind, FailureKind, ProgramStatus, RunStatus, StopKind
from evolve.sandbox.docker import RUN_LABEL
from evolve.store import Event, Program, open_engine, session_factory

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _rows(db_url: str):
    Session = session_factory(open_engine(db_url, create=False))
    with Session() as s:
        programs = s.scalars(select(Program).where(Program.iteration > 0)).all()
        events = s.scalars(select(Event)).all()
        return programs, events


def _our_containers(run_name: str) -> list:
    client = docker.from_env()
    try:
        # sparse: no inspect call per container (slow on a busy engine); the labels come with the list.
        found = client.containers.list(all=True, sparse=True, filters={"label": RUN_LABEL})
        return [c for c in found if c.attrs.get("Labels", {}).get(RUN_LABEL, "").startswith(f"{run_name}-")]
    finally:
        client.close()


def _options(proxy: DockerProxy, **kwargs) -> RunOptions:
    return RunOptions(
        sandbox="docker",
        sandbox_options={"base_url": proxy.url},
        eval_workers=2,
        llm_concurrency=2,
        seed=3,
        heldout=False,
        **kwargs,
    )


def test_an_outage_that_ends_pauses_the_run_and_blames_no_candidate(tmp_path, ray_local, docker_engine, circle_packing):
    proxy = DockerProxy(tmp_path / "engine.sock").start()
    cut = threading.Event()

    def on_progress(progress) -> None:
        if progress.evaluated >= 2 and not cut.is_set():  # mid-run: the engine stops answering...
            cut.set()
            proxy.cut()
            threading.Timer(4.0, proxy.restore).start()  # ...and is back four seconds later

    try:
        result = evolve_run(
            circle_packing,
            _options(proxy, iterations=12, infra_wait=120),
            runs_root=tmp_path,
            run_name="outage",
            on_progress=on_progress,
        )
    finally:
        proxy.cut()
    assert cut.is_set()
    assert result.status == RunStatus.FINISHED, result.stop_reason
    programs, events = _rows(result.db_url)
    blamed = [
        (p.id, p.error)
        for p in programs
        if p.status == ProgramStatus.FAILED and ("sandbox error" in (p.error or "") or "Docker" in (p.error or ""))
    ]
    assert not blamed, blamed
    assert not [p for p in programs if p.failure_kind == FailureKind.INFRASTRUCTURE]
    assert any(e.kind == EventKind.PAUSE for e in events), [e.message for e in events]
    assert any(e.kind == EventKind.RECOVERED and "answers again" in e.message for e in events)
    assert result.progress.completed == 12
    assert not _our_containers("outage")


def test_an_outage_that_lasts_stops_the_run_with_its_cause(tmp_path, ray_local, docker_engine, circle_packing):
    proxy = DockerProxy(tmp_path / "engine.sock").start()

    def on_progress(progress) -> None:
        if progress.evaluated >= 1:
            proxy.cut()  # for good

    try:
        result = evolve_run(
            circle_packing,
            _options(proxy, iterations=40, infra_wait=5),
            runs_root=tmp_path,
            run_name="gone",
            on_progress=on_progress,
        )
    finally:
        proxy.cut()
    assert result.status == RunStatus.FAILED
    assert "machinery" in str(result.stop_reason) and "Docker" in str(result.stop_reason), result.stop_reason
    assert result.stop_reason.kind == StopKind.INFRA_BROKEN
    programs, _ = _rows(result.db_url)
    assert not [p for p in programs if p.status == ProgramStatus.FAILED and "Docker" in (p.error or "")]
    # Model calls stopped with the outage: far fewer than the 40 iterations were proposed.
    assert result.progress.completed < 20
    # The end of the run still wrote its outputs and removed its containers.
    assert (result.run_dir / "summary.json").is_file() and (result.run_dir / "best").is_dir()
    assert not _our_containers("gone")
