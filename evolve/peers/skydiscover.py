"""SkyDiscover's layout: OpenEvolve's (initial_program.*, evaluator.py, config.yaml) with its own
setting names (diff_based_generation, max_solution_length, llm.models, search), or a
containerized evaluator: an evaluator/ folder with a Dockerfile and `evaluate.sh PROGRAM MODE`
printing one JSON object ({"combined_score", "metrics", "artifacts"})."""

from __future__ import annotations

from pathlib import Path

from evolve.peers import openevolve
from evolve.peers.settings import PeerFolder, PeerFormat, Settings, find_program, flatten, load_yaml

# Settings that only SkyDiscover writes: with one of them, an initial_program + evaluator.py
# folder is SkyDiscover's rather than OpenEvolve's.
OWN_KEYS = ("diff_based_generation", "max_solution_length", "search")


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
        unmapped.append("evaluator/Dockerfile: evolve's own image runs evaluate.sh (its requirements must be there)")
    return PeerFolder(
        PeerFormat.SKYDISCOVER, data, tuple(settings.left() + unmapped), "config.yaml" if path.is_file() else None
    )
