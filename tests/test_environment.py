"""Both sandboxes and both ways of building the default image give evaluations one environment."""

import re

from evolve.resources import evaluators_dir
from evolve.sandbox.environment import FIXED_ENV, THREAD_VARIABLES, clean_environment
from evolve.sandbox.images import IMPORT_CHANGES


def test_the_dockerfile_sets_the_fixed_environment():
    text = (evaluators_dir() / "Dockerfile").read_text()
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.+)$", text, flags=re.MULTILINE):
        env.update(pair.split("=", 1) for pair in line.split())
    # Docker Hub's python image has its own PATH (with /usr/local/bin first): everything else matches.
    assert env == {k: v for k, v in FIXED_ENV.items() if k != "PATH"}


def test_the_offline_image_bakes_in_the_same_environment():
    baked = dict(c[len("ENV ") :].split("=", 1) for c in IMPORT_CHANGES if c.startswith("ENV "))
    assert baked == FIXED_ENV


def test_an_evaluation_gets_nothing_of_the_host(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    env = clean_environment("/tmp/x", cpus=2.5)
    assert "OPENAI_API_KEY" not in env
    assert env["HOME"] == env["TMPDIR"] == "/tmp/x"
    assert all(env[v] == "2" for v in THREAD_VARIABLES)
