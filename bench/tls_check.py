"""What a /tls check costs over the handshake it cannot avoid.

Starts a local TLS server with a valid certificate (a CA made here), then
times, alternately and many times over:
  bare  - TCP connect + TLS handshake with a verifying SSLContext, nothing else;
  check - our whole check: parse, resolve and policy, the verifying handshake,
          certificate parsing and verdict, rendering to a Reply.
and prints both medians and their ratio (target <= 1.5x).

    uv run python bench/tls_check.py [rounds]
"""

from __future__ import annotations

import asyncio
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatbot.tls import check as tls
from chatbot.tls import command as tls_command
from chatbot.tls import render as tls_render
from tests.servers.tls import Authority, TLSServer

NAME = "example.test"


async def bare(port: int, context: ssl.SSLContext) -> float:
    started = time.perf_counter()
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=NAME)
    elapsed = time.perf_counter() - started
    writer.close()
    await writer.wait_closed()
    return elapsed


async def ours(port: int, options: tls.Options) -> float:
    started = time.perf_counter()
    report = await tls.check(tls_command.parse(f"127.0.0.1:{port} --sni {NAME}"), options)
    tls_render.render(report)
    elapsed = time.perf_counter() - started
    assert report.verdict.valid, report.verdict.reasons
    return elapsed


async def main(rounds: int) -> None:
    root = Authority()
    with tempfile.TemporaryDirectory() as tmp, TLSServer(root.issue(NAME)).running() as server:
        ca_file = root.write_pem(Path(tmp) / "ca.pem")
        options = tls.Options(ca_file=str(ca_file), allow_private=True)
        context = ssl.create_default_context(cafile=str(ca_file))
        for _ in range(20):  # warm up both paths (imports, context cache)
            await bare(server.port, context)
            await ours(server.port, options)
        bare_times, our_times = [], []
        for _ in range(rounds):
            bare_times.append(await bare(server.port, context))
            our_times.append(await ours(server.port, options))
        await tls.settle()
    b, o = statistics.median(bare_times), statistics.median(our_times)
    print(f"rounds: {rounds} (alternating), local TLS 1.3 server, EC P-256 certificate")
    print(f"bare TCP connect + verifying handshake: median {b * 1000:.2f} ms")
    print(f"/tls check (parse .. verdict .. reply): median {o * 1000:.2f} ms")
    print(f"ratio: {o / b:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
