"""Start-up cost: `uvicorn chatbot:app` against a bare FastAPI app with the same dependencies.

    uv run python bench/startup.py [--runs N]

Each run spawns a fresh uvicorn process and times process spawn -> first 200 on
GET /health. The bare app imports every runtime dependency of the project at the
top of its module, the usual way, and serves only /health; ours imports its heavy
modules where they are used. Runs alternate between the two so that drift on a
busy machine hits both alike. Prints the median of each and the ratio ours/bare
(the target is at most 1).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from health import healthy  # bench/ is on sys.path when a script here runs

ROOT = Path(__file__).resolve().parent.parent

BARE_APP = '''\
"""A FastAPI app that imports its dependencies the usual way: all at the top."""

import certifi
import cryptography.x509
import dns.asyncresolver
import dns.message
import dns.rdatatype
import dns.resolver
import httpx
import idna
import OpenSSL.SSL
import publicsuffixlist
import python_multipart
import uvicorn
import yaml
from fastapi import FastAPI
from pydantic_settings import BaseSettings
from slack_sdk.models.blocks import SectionBlock
from slack_sdk.signature import SignatureVerifier


class Settings(BaseSettings):
    slack_signing_secret: str = ""


settings = Settings()
verifier = SignatureVerifier(settings.slack_signing_secret or "x")
app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def first_answer_seconds(
    app: str, app_dir: Path, timeout: float = 30, write_bytecode: bool = False
) -> float:
    """Seconds from spawning `uvicorn APP` to its first 200 on /health."""
    port = _free_port()
    env = {**os.environ, "SLACK_SIGNING_SECRET": "bench-secret"}
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    command = [sys.executable, "-m", "uvicorn", app, "--app-dir", str(app_dir)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while not healthy(port):
            if process.poll() is not None:
                raise RuntimeError(f"{app} exited with {process.returncode} before answering")
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"{app} did not answer /health within {timeout} s")
            time.sleep(0.002)
        return time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=10)


def compare(runs: int) -> tuple[float, float]:
    """Median start-to-first-answer of ours and of the bare app, in seconds."""
    ours: list[float] = []
    bare: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        bare_dir = Path(tmp)
        (bare_dir / "bareapp.py").write_text(BARE_APP)
        # One unmeasured start of each fills the OS file cache and writes the byte
        # code it lacks (where it may: run as root in the image), as a build would.
        first_answer_seconds("chatbot:app", ROOT, write_bytecode=True)
        first_answer_seconds("bareapp:app", bare_dir, write_bytecode=True)
        for _ in range(runs):
            ours.append(first_answer_seconds("chatbot:app", ROOT))
            bare.append(first_answer_seconds("bareapp:app", bare_dir))
    return statistics.median(ours), statistics.median(bare)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="measured starts of each (default 9)")
    args = parser.parse_args()
    ours, bare = compare(args.runs)
    print(f"python {sys.version.split()[0]}, median of {args.runs} starts each")
    print(f"uvicorn chatbot:app  {ours * 1000:6.0f} ms  spawn -> first 200 on /health")
    print(f"bare FastAPI app     {bare * 1000:6.0f} ms  same dependencies, imported at the top")
    print(f"ratio ours/bare      {ours / bare:6.2f}  (target <= 1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
