import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def sandbox():
    from evolve.sandbox import make_sandbox

    return make_sandbox("process", warn=False)
