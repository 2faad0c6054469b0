"""The container's two figures: what the project adds to the base image, and its start time.

    uv run python bench/container.py [--runs N] [--no-build]

Builds the Dockerfile (tag chatbot:bench) unless --no-build, then prints
- the size of the layers the project adds on top of `python:3.13-slim`
  (image size minus base image size, uncompressed, as `docker history` counts it),
  its gzip'd size as a registry stores it, and the largest packages in it;
- start-to-first-answer: `docker run` -> first 200 on GET /health through a
  published loopback port, median of N fresh containers.
Needs a Docker engine and the base image (`../shared/tools/local-python-image`).
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import subprocess
import sys
import time
from pathlib import Path

from health import healthy  # bench/ is on sys.path when a script here runs

ROOT = Path(__file__).resolve().parent.parent
BASE = "python:3.13-slim"
TAG = "chatbot:bench"
PORT = 8080
SITE = "/app/.venv/lib/python3.13/site-packages"


def docker(*args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"docker {args[0]} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def image_bytes(image: str) -> int:
    return int(docker("image", "inspect", "--format", "{{.Size}}", image))


def compressed_venv_bytes(image: str) -> int:
    """The project's layer as a registry stores it: gzip'd tar of the virtual environment."""
    result = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "tar", image, "-cf", "-", "/app/.venv"],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return len(gzip.compress(result.stdout, compresslevel=6))


def largest_packages(image: str, count: int = 5) -> list[str]:
    listing = docker("run", "--rm", "--entrypoint", "du", image, "-sk", *_top_level(image))
    sizes = []
    for line in listing.splitlines():
        kilobytes, path = line.split(maxsplit=1)
        sizes.append((int(kilobytes), path.rsplit("/", 1)[-1]))
    sizes.sort(reverse=True)
    return [f"{name} {kb / 1024:.1f} MB" for kb, name in sizes[:count]]


def _top_level(image: str) -> list[str]:
    names = docker("run", "--rm", "--entrypoint", "ls", image, SITE).split()
    return [f"{SITE}/{name}" for name in names if not name.endswith(".dist-info")]


def first_answer_seconds(image: str, timeout: float = 30) -> float:
    """Seconds from `docker run` to the first 200 on /health."""
    started = time.perf_counter()
    container = docker(
        "run",
        "--detach",
        "--env",
        "SLACK_SIGNING_SECRET=bench-secret",
        "--publish",
        f"127.0.0.1::{PORT}",
        image,
    )
    try:
        port = int(docker("port", container, f"{PORT}/tcp").split()[0].rsplit(":", 1)[1])
        while not healthy(port):
            if time.perf_counter() - started > timeout:
                raise SystemExit(f"no 200 on /health within {timeout} s")
            time.sleep(0.005)
        return time.perf_counter() - started
    finally:
        docker("rm", "--force", container)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="containers started (default 5)")
    parser.add_argument("--no-build", action="store_true", help=f"measure {TAG} as it is")
    args = parser.parse_args()
    if not args.no_build:
        docker("build", "--quiet", "--tag", TAG, str(ROOT), timeout=900)
    added = image_bytes(TAG) - image_bytes(BASE)
    first_answer_seconds(TAG)  # unmeasured: the first run pays for page-cache misses
    starts = [first_answer_seconds(TAG) for _ in range(args.runs)]
    print(f"added on top of {BASE}  {added / 1e6:5.1f} MB  (target <= 40 MB, uncompressed)")
    print(f"  gzip'd as pushed: {compressed_venv_bytes(TAG) / 1e6:.1f} MB")
    print(f"  largest: {', '.join(largest_packages(TAG))}")
    print(
        f"start to first answer    {statistics.median(starts) * 1000:5.0f} ms  "
        f"(docker run -> 200 on /health, median of {args.runs}; "
        f"min {min(starts) * 1000:.0f}, max {max(starts) * 1000:.0f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
