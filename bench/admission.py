"""What admission costs on the hot path, measured with wrk against real servers.

1. The connection layer: `chatbot serve`'s protocol (httptools, or h11) with read timeouts
   and the connection cap, against uvicorn's own protocol for the same parser, on GET /health
   (keep-alive) and on a signed POST /slash-commands/hello (body cap,
   signature, workspace and rate-limit checks included).
2. The rate-limit check alone, in memory and (when redis-server is installed)
   in a local Redis: microseconds per check.

    uv run python bench/admission.py [--seconds 5]

Needs `wrk` (Debian package wrk). Rounds alternate between the two servers so
a busy machine hurts both alike; medians are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.health import healthy  # noqa: E402
from chatbot.ratelimit import RateLimits  # noqa: E402
from tests.servers.process import free_port  # noqa: E402
from tests.slackreq import SECRET, form, headers  # noqa: E402

SERVER = """
import sys, uvicorn
from chatbot.connections import uvicorn_options
from chatbot.settings import get_settings
guarded = uvicorn_options(get_settings())
# The same parser unguarded: uvicorn's own httptools (or h11) protocol.
plain = {"http": guarded["http"].http_parser}
options = guarded if sys.argv[2] == "guarded" else plain
uvicorn.run("chatbot:app", port=int(sys.argv[1]), log_level="warning", access_log=False, **options)
"""

POST_LUA = """
wrk.method = "POST"
wrk.body = {body!r}
{headers}
"""


def start(kind: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "SLACK_SIGNING_SECRET": SECRET,
        # Every request is the same user: lift the limits so they are checked, not hit.
        "CHATBOT_RATE_LIMIT_USER": "100000000/minute",
        "CHATBOT_RATE_LIMIT_TEAM": "100000000/minute",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port), kind],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,  # a summary line per request
    )
    deadline = time.monotonic() + 20
    while not healthy(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{kind} server did not start")
        time.sleep(0.05)
    return process, port


def wrk(port: int, path: str, seconds: int, script: str | None) -> float:
    command = ["wrk", "-t2", "-c32", f"-d{seconds}s", f"http://127.0.0.1:{port}{path}"]
    if script:
        command[1:1] = ["-s", script]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


def lua_for_hello(directory: str) -> str:
    body = form("hello", "bench")
    lines = "\n".join(f"wrk.headers[{k!r}] = {v!r}" for k, v in headers(body).items())
    path = Path(directory) / "post.lua"
    path.write_text(POST_LUA.format(body=body.decode(), headers=lines).replace("'", '"'))
    return str(path)


async def limiter_cost(storage: str, checks: int = 2000) -> float:
    limits = RateLimits("100000000/minute", "100000000/minute", storage)
    try:
        await limits.check("T1", "U1")
        started = time.perf_counter()
        for i in range(checks):
            await limits.check("T1", f"U{i % 50}")
        return (time.perf_counter() - started) / checks * 1e6
    finally:
        await limits.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("needs wrk (apt-get install wrk)", file=sys.stderr)
        return 2
    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as directory:
        script = lua_for_hello(directory)
        for _ in range(args.rounds):
            for kind in ("h11", "guarded"):
                process, port = start(kind)
                try:
                    for name, path, lua in (
                        ("GET /health", "/health", None),
                        ("POST /hello", "/slash-commands/hello", script),
                    ):
                        rate = wrk(port, path, args.seconds, lua)
                        results.setdefault((name, kind), []).append(rate)
                finally:
                    process.terminate()
                    process.wait()
    for name in ("GET /health", "POST /hello"):
        plain = statistics.median(results[(name, "h11")])
        guarded = statistics.median(results[(name, "guarded")])
        print(
            f"{name:12} uvicorn {plain:8.0f} req/s   guarded {guarded:8.0f} req/s"
            f"   ({(guarded / plain - 1) * 100:+.1f}%)"
        )
    print(f"rate-limit check, memory: {asyncio.run(limiter_cost('memory://')):.0f} µs")
    redis = shutil.which("redis-server")
    if redis:
        port = free_port()
        server = subprocess.Popen(
            [redis, "--port", str(port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.3)
            cost = asyncio.run(limiter_cost(f"redis://127.0.0.1:{port}"))
            print(f"rate-limit check, local Redis: {cost:.0f} µs")
        finally:
            server.terminate()
            server.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
