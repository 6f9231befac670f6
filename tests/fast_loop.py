"""The fast loop: which tests are pure (`unit`) and which start something (`integration`).

A test is `integration` when it starts a run, Ray, a container, a server or a process (an
evaluation in the process sandbox, a CLI command): it asks for a fixture that does (ray_local,
docker_engine...), it is marked docker/slow/real_model/gpu, or the code it reaches names one of
them. "The code it reaches" is read with `ast`, not run: the test function,
the fixtures it uses, and every function, class and module-level value of its own module or of a
helper module in tests/ that these name, followed transitively. Reaching means naming one of
HEAVY_NAMES (evolve_run, ray, ModelServer, docker...) or writing one of HEAVY_STRINGS inside a
function (an `evolve run` or `evolve check` command line, `--sandbox`, `make_sandbox("docker")`).
The rule errs one way: a pure test that names `ray` somewhere is left out of the fast loop,
never the other way round.

Under `pytest -m unit` the guard makes that promise checkable: `evolve_run`, Ray's `init`, the
Docker SDK's `create_container`, a server's bind, an evaluation in the process sandbox, and a
subprocess running `evolve run` or `docker` raise `StartedInUnitLoop`, so a test the rule got wrong fails loudly instead of slowing the loop.
"""

from __future__ import annotations

import ast
import functools
import importlib.abc
import importlib.machinery
import inspect
import socketserver
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

HEAVY_FIXTURES = frozenset(
    {"ray_local", "ray_head", "docker_engine", "postgres_url", "local_model", "model_server", "server"}
)
HEAVY_MARKS = frozenset({"docker", "slow", "real_model", "gpu"})
HEAVY_NAMES = frozenset(
    {
        "evolve_run",
        "start_ray",
        "ray",
        "ray_local",
        "ray_head",
        "ModelServer",
        "LocalServer",
        "docker",
        "docker_engine",
        "DockerSandbox",
        "postgres_server",
        "postgres_url",
        # A process: an evaluation in the process sandbox, a CLI command, a compiler.
        "subprocess",
        "Popen",
        "sandbox",
        "make_sandbox",
        "ProcessSandbox",
        # A server on loopback (the scripted model server has its own name above).
        "HTTPServer",
        "ThreadingHTTPServer",
        "serve_forever",
        "make_server",
    }
)
# CLI words that start a run or an evaluation: `evolve run`, `evolve check`, `evolve eval`, `--sandbox`.
HEAVY_STRINGS = frozenset({"run", "check", "eval", "docker", "--sandbox"})
# Names that start a run or an evaluation under a plain name: the Python API's run, the baselines.
HEAVY_IMPORTS = frozenset(
    {("evolve", "run"), ("evolve.api", "run"), ("evolve.api.runs", "run"), ("evolve.baselines", "main")}
)


class StartedInUnitLoop(RuntimeError):
    """A test classified `unit` started a run, Ray, a container or a server."""


# ---- the rule ---------------------------------------------------------------------------------


@functools.cache
def _module(path: Path) -> tuple[dict[str, ast.AST], dict[str, tuple[Path, str]]]:
    """A test module's top-level definitions by name, and the names it imports from tests/ helpers."""
    tree = ast.parse(path.read_text(), str(path))
    defs: dict[str, ast.AST] = {}
    imports: dict[str, tuple[Path, str]] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    defs[target.id] = node
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            helper = _helper_file(path, node.module)
            for alias in node.names:
                if helper is not None:
                    imports[alias.asname or alias.name] = (helper, alias.name)
                else:
                    defs.setdefault(alias.asname or alias.name, node)  # `from ray import ...` names ray
        elif isinstance(node, ast.Import):
            for alias in node.names:
                defs.setdefault((alias.asname or alias.name).split(".")[0], node)
    return defs, imports


def _helper_file(test_file: Path, module: str) -> Path | None:
    """The file of a helper module in tests/ (a folder's own helpers first), None for any other."""
    for folder in (test_file.parent, TESTS):
        candidate = folder / (module.replace(".", "/") + ".py")
        if candidate.is_file():
            return candidate
    return None


def _words(node: ast.AST, strings: bool) -> tuple[set[str], bool]:
    """The names `node` uses, and whether it writes a heavy string (only counted in code: a
    module-level list of library names is data, not a start)."""
    names: set[str] = set()
    heavy = False
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            names.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            names.add(sub.attr)
            if sub.attr == "run" and isinstance(sub.value, ast.Name) and sub.value.id == "evolve":
                heavy = True  # evolve.run(...), the Python API's run
        elif isinstance(sub, ast.arg):
            names.add(sub.arg)
        elif isinstance(sub, ast.alias):
            names.add((sub.asname or sub.name).split(".")[0])
            names.add(sub.name.rpartition(".")[2])
        elif strings and isinstance(sub, ast.Constant) and sub.value in HEAVY_STRINGS:
            heavy = True
    return names, heavy


def reaches_heavy(path: Path, name: str, seen: set[tuple[Path, str]] | None = None) -> bool:
    """Whether `name` in the module at `path`, or what it names, reaches a heavy name or string."""
    seen = set() if seen is None else seen
    if (path, name) in seen:
        return False
    seen.add((path, name))
    defs, imports = _module(path)
    if name in imports:
        return reaches_heavy(*imports[name], seen)
    node = defs.get(name)
    if node is None:
        return False
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] in HEAVY_NAMES for alias in node.names)
    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        return module.split(".")[0] in HEAVY_NAMES or any(
            alias.name in HEAVY_NAMES or (module, alias.name) in HEAVY_IMPORTS for alias in node.names
        )
    names, heavy = _words(node, strings=not isinstance(node, (ast.Assign, ast.AnnAssign)))
    if heavy or names & HEAVY_NAMES:
        return True
    return any(reaches_heavy(path, used, seen) for used in names - {name})


def is_integration(item: pytest.Item) -> bool:
    if HEAVY_MARKS & {mark.name for mark in item.iter_markers()}:
        return True
    fixtures = set(getattr(item, "fixturenames", ()))
    if fixtures & HEAVY_FIXTURES:
        return True
    function = getattr(item, "function", None)
    if function is None:
        return True  # not a plain test function (a doctest, a plug-in's item): not known pure
    seen: set[tuple[Path, str]] = set()
    if reaches_heavy(Path(item.path), function.__name__, seen):
        return True
    info = getattr(item, "_fixtureinfo", None)
    for fixture in fixtures:
        for definition in info.name2fixturedefs.get(fixture, ()) if info else ():
            file = inspect.getsourcefile(definition.func)
            if file and Path(file).is_relative_to(TESTS) and reaches_heavy(Path(file), definition.func.__name__, seen):
                return True
    return False


def mark_items(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.integration if is_integration(item) else pytest.mark.unit)


# ---- the guard under -m unit --------------------------------------------------------------------


def _refuse(what: str) -> Callable[..., None]:
    def refuse(*args, **kwargs) -> None:
        raise StartedInUnitLoop(
            f"{what} under `-m unit`: this test is not pure; name what it starts in tests/fast_loop.py's "
            f"HEAVY_NAMES or HEAVY_FIXTURES so that it is marked integration"
        )

    return refuse


def _patch_ray(module) -> None:
    module.init = _refuse("ray.init (a test started Ray)")


def _patch_docker(module) -> None:
    import docker.api.container

    docker.api.container.ContainerApiMixin.create_container = _refuse("a container was created")


def _patch_run(module) -> None:
    module.evolve_run = _refuse("evolve_run (a test started a run)")


def _patch_process_sandbox(module) -> None:
    module.ProcessSandbox.evaluate = _refuse("an evaluation in the process sandbox (a process) was started")


AFTER_IMPORT = {
    "ray": _patch_ray,
    "docker": _patch_docker,
    "evolve.engine.run": _patch_run,
    "evolve.sandbox.process": _patch_process_sandbox,
}


class _AfterImport(importlib.abc.MetaPathFinder):
    """Patches a module as soon as it is imported (so the guard costs nothing when unused)."""

    def find_spec(self, name, path, target=None):
        if name not in AFTER_IMPORT:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path or sys.path)
        if spec is None or spec.loader is None:
            return None
        loader, patch = spec.loader, AFTER_IMPORT[name]
        original = loader.exec_module

        def exec_module(module):
            original(module)
            patch(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _starts_something(args) -> str | None:
    words = [str(a) for a in args] if isinstance(args, (list, tuple)) else str(args).split()
    if words and Path(words[0]).name == "docker":
        return "a docker command"
    for i, word in enumerate(words):
        if Path(word).name in ("evolve", "evolve.cli", "evolve.__main__"):
            command = next((w for w in words[i + 1 :] if not w.startswith("-")), None)  # past -v, --quiet
            if command == "run":
                return "an `evolve run` process"
    return None


def install_guard() -> None:
    for name, patch in AFTER_IMPORT.items():
        if name in sys.modules:
            patch(sys.modules[name])
    sys.meta_path.insert(0, _AfterImport())
    # Every server a test starts (the scripted model server, an embedding server, `evolve serve`)
    # binds a socketserver socket.
    socketserver.TCPServer.server_bind = _refuse("a server was started")  # type: ignore[method-assign]
    original = subprocess.Popen.__init__

    def guarded(self, args, *rest, **kwargs):
        what = _starts_something(args)
        if what is not None:
            _refuse(f"{what} was started")()
        original(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = guarded  # type: ignore[method-assign]


def unit_loop(config: pytest.Config) -> bool:
    return config.getoption("markexpr", "").strip() == "unit"
