"""SkyDiscover's layout: OpenEvolve's (initial_program.*, evaluator.py, config.yaml) with its own
setting names (diff_based_generation, max_solution_length, llm.models, search), or a
containerized evaluator: an evaluator/ folder with a Dockerfile and `evaluate.sh PROGRAM MODE`
printing one JSON object ({"combined_score", "metrics", "artifacts"})."""

from __future__ import annotations

import re
from pathlib import Path

from evolve.peers import openevolve
from evolve.peers.settings import PeerFolder, PeerFormat, Settings, find_program, flatten, load_yaml

# Settings that only SkyDiscover writes: with one of them, an initial_program + evaluator.py
# folder is SkyDiscover's rather than OpenEvolve's.
OWN_KEYS = ("diff_based_generation", "max_solution_length", "search")


# What evolve's default image (evolve-python) holds besides the standard library.
IMAGE_PACKAGES = frozenset({"numpy", "scipy"})
# Dockerfile instructions that only lay out files and install Python requirements.
LAYOUT_ONLY = ("FROM", "WORKDIR", "COPY", "ADD", "ENTRYPOINT", "CMD", "ENV", "ARG", "LABEL")


def image_note(folder: Path) -> str:
    """One line on the containerized evaluator's image: evolve runs evaluate.sh on its own image
    (the Dockerfile's base is not pulled); that is the same layout when the Dockerfile only copies
    files and pip-installs requirements that evolve's image already has."""
    dockerfile = folder / "Dockerfile"
    lines = dockerfile.read_text().splitlines() if dockerfile.is_file() else []
    steps = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    other = [s for s in steps if s.split()[0].upper() not in LAYOUT_ONLY and not _python_install(s)]
    wanted = _requirements(folder / "requirements.txt")
    missing = sorted(wanted - IMAGE_PACKAGES)
    if other:
        return (
            f"evaluator/Dockerfile: not built (it does more than install Python requirements: {other[0][:60]}); "
            "evaluate.sh runs on evolve's image: evolve import this folder and set [evaluation] image to one built from it"
        )
    if missing:
        return (
            f"evaluator/requirements.txt: {', '.join(missing)} not in evolve's image: "
            "evolve import this folder and set [evaluation] image to an image that has them"
        )
    have = ", ".join(sorted(wanted)) or "nothing beyond Python"
    return f"evaluator/Dockerfile: not built; evaluate.sh runs on evolve's image, which has its requirements ({have})"


def _python_install(step: str) -> bool:
    return step.upper().startswith("RUN ") and ("pip install" in step or "chmod" in step)


def _requirements(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def _containerized(root: Path) -> bool:
    return (root / "evaluator" / "evaluate.sh").is_file()


def recognises(root: Path) -> bool:
    if find_program(root, "initial_program") is None:
        return False
    if _containerized(root):
        return True
    path = root / "config.yaml"
    if not (root / "evaluator.py").is_file() or not path.is_file():
        return False
    return any(key in load_yaml(path) for key in OWN_KEYS)


def read(root: Path) -> PeerFolder:
    path = root / "config.yaml"
    settings = Settings("config.yaml", flatten(load_yaml(path)) if path.is_file() else {})
    data = openevolve.common(root, settings, PeerFormat.SKYDISCOVER, diff_key="diff_based_generation")
    unmapped = []
    if _containerized(root) and not (root / "evaluator.py").is_file():
        # evaluate.sh runs in the sandbox on evolve's image, its Dockerfile's WORKDIR read as the
        # evaluator/ folder; it has no stages, so thresholds do not apply.
        data["evaluation"] = {
            "call": "command",
            "command": "evaluator/evaluate.sh",
            "function": "train",  # evaluate.sh's MODE
            "score": "combined_score",
            **{k: v for k, v in data["evaluation"].items() if k == "timeout"},
        }
        unmapped.append(image_note(root / "evaluator"))
    return PeerFolder(
        PeerFormat.SKYDISCOVER, data, tuple(settings.left() + unmapped), "config.yaml" if path.is_file() else None
    )
