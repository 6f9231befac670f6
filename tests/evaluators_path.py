"""Import helpers for code that normally runs inside a sandbox (evaluators/)."""

import sys
from pathlib import Path

EVALUATORS = Path(__file__).resolve().parents[1] / "evaluators"


def confine_abi() -> int:
    sys.path.insert(0, str(EVALUATORS))
    try:
        from confine import abi_version

        return abi_version()
    finally:
        sys.path.remove(str(EVALUATORS))
