"""`evolve sandbox ...`: build the evaluation image, check the engine, remove leftover containers."""

from __future__ import annotations

from pathlib import Path

import typer

from evolve.problem import DEFAULT_IMAGE

sandbox_app = typer.Typer(help="The Docker sandbox: images, readiness, clean-up.", no_args_is_help=True)


@sandbox_app.command("build")
def build(
    force: bool = typer.Option(False, "--force", help="Rebuild even if the image exists."),
    offline: bool = typer.Option(False, "--offline", help="Build from a Debian rootfs even if a registry answers."),
    problem: Path = typer.Option(None, "--problem", help="Also build this problem folder's own Dockerfile."),
) -> None:
    """Build evolve-python:latest (python3, numpy, scipy; user nobody), offline where no registry answers."""
    from evolve.errors import InfrastructureError
    from evolve.sandbox.images import build_default_image, ensure_problem_image

    try:
        build_default_image(force=force, progress=typer.echo, offline=True if offline else None)
        if problem is not None:
            from evolve.problem import ProblemError, load_problem

            try:
                loaded = load_problem(problem)
            except ProblemError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from None
            tag = ensure_problem_image(loaded, progress=typer.echo, force=force)
            typer.echo(f"problem image: {tag}")
    except InfrastructureError as exc:  # a build step failed (ImageError), or the engine does not answer
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"ready: {DEFAULT_IMAGE}")


@sandbox_app.command("check")
def check(image: str = typer.Option(DEFAULT_IMAGE, help="The image to look for.")) -> None:
    """Say whether the Docker sandbox can run here (engine answers, image present)."""
    from evolve.sandbox.checks import docker_ready

    ok, why = docker_ready(image)
    typer.echo(("ok: " if ok else "not ready: ") + why)
    raise typer.Exit(0 if ok else 1)


@sandbox_app.command("cleanup")
def cleanup(
    all_: bool = typer.Option(False, "--all", help="Also remove containers of sandboxes still running."),
) -> None:
    """Remove leftover sandbox containers (label evolve.sandbox=1) whose owner process is gone."""
    from evolve.errors import InfrastructureError
    from evolve.sandbox.cleanup import cleanup_containers

    try:
        removed = cleanup_containers(orphans_only=not all_)
    except InfrastructureError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"removed {removed} container(s)")
