"""The environment every evaluation runs with, declared once: both sandboxes pass exactly this
(nothing of the host's: no keys, no tokens), and the default image bakes in its fixed part."""

from __future__ import annotations

# What does not depend on the evaluation. evaluators/Dockerfile repeats it in an ENV line (a
# Dockerfile cannot import Python); tests/test_environment.py checks that the two agree.
FIXED_ENV: dict[str, str] = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def clean_environment(tmpdir: str, cpus: float) -> dict[str, str]:
    """The whole environment of one evaluation: the fixed part, its own temp folder as home, and
    numeric libraries held to the CPUs it was given."""
    threads = str(max(1, int(cpus)))
    return {**FIXED_ENV, "HOME": tmpdir, "TMPDIR": tmpdir, **dict.fromkeys(THREAD_VARIABLES, threads)}


def dockerfile_env_lines() -> tuple[str, ...]:
    """The fixed part as Docker image config (`docker import --change`)."""
    return tuple(f"ENV {key}={value}" for key, value in FIXED_ENV.items())
