"""Soak: minutes of mixed traffic on loopback against a real `chatbot serve`.

    uv run python bench/soak.py [--seconds 300] [--max-pending 450] [--no-over-limit]

Everything runs on 127.0.0.1: the service as its own process, and in this
process a DNS server (answers `example.test.`, never answers `drop.test.`), a
`response_url` receiver, and the traffic:

- inline `/dig example.test`, 5 a second from many users;
- deferred `/dig drop.test` in bursts of 500 sent at once: each waits out the
  inline budget, is acknowledged, and its lookup times out with the other
  499 about half a second later, so 500 answers go to delivery together;
  their receivers are fine (40%), slow (1 s, 20%), answer 500 once (20%) or
  429 with Retry-After once (20%);
- unsigned 1 MB bodies, one every 2 s (401, or 413 with a body cap);
- one user sending 10 commands a second (with `--no-over-limit`, not): where
  the service has a rate limit, its answers ("... rate limit ...", "too many
  ...", "slow down") count as answered, and the report says whether any came;
- 20 idle connections held open (reopened if the server closes them);
- GET /health every 50 ms and /ready every second from a separate process,
  each on a new connection, as a platform's probes would.

At the end the traffic stops, the deferred answers still under way are
waited for (up to 60 s), and the service gets SIGTERM.

Reported: requests by outcome, 5xx responses (goal 0), accepted commands
whose answer was lost (goal 0: every accepted command answered inline, at its
receiver, or told it was busy or to retry), RSS and open file descriptors
just before the second burst ("minute 1") and at the end ("minute 5"; goal:
growth under 10%), /health p99 (goal under 100 ms) and the time from SIGTERM
to exit (goal: under CHATBOT_SHUTDOWN_GRACE_SECONDS, 8 s). Exits 1 on any lost
answer or 5xx, so CI runs a short version (`--seconds 30`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers.dns import DNSServer
from tests.servers.process import ServiceProcess, service_process
from tests.servers.receiver import Answer, Receiver
from tests.slackreq import SECRET, form, headers

BUSY = "Busy right now, please try again in a minute."
RESTART = "The service restarted before"
# The service's own sentence (ratelimit.Exceeded), and other wordings a limit may use.
RATE_LIMITED = re.compile(r"commands in the last|rate.?limit|too many|slow down", re.IGNORECASE)
GRACE = 8
BURST = 500
# Receivers of deferred answers, by the share of a burst they get.
KINDS = ("ok", "ok", "slow", "flaky", "limited")
RULES = {
    "/slow/": Answer(delay=1.0),
    "/flaky/": Answer(500, times=1),
    "/limited/": Answer(429, {"Retry-After": "1"}, times=1),
}

PROBE = """
import http.client, sys, time
port, out = int(sys.argv[1]), open(sys.argv[2], "w")
for turn in __import__("itertools").count():
    for path in ("/health", "/ready") if turn % 20 == 0 else ("/health",):
        started = time.monotonic()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            status = connection.getresponse().status
            connection.close()
        except OSError:
            status = 0
        out.write(f"{path} {status} {time.monotonic() - started:.6f}\\n")
        out.flush()
    time.sleep(0.05)
"""


@dataclass
class Soak:
    service: ServiceProcess
    receiver: Receiver
    outcomes: Counter[str] = field(default_factory=Counter)
    server_errors: int = 0
    transport_errors: int = 0
    deferred: set[str] = field(default_factory=set)  # response_url paths acknowledged
    rate_limited: int = 0
    idle_reopened: int = 0
    samples: dict[str, tuple[int, int]] = field(default_factory=dict)
    numbers: itertools.count[int] = field(default_factory=itertools.count)

    def url(self, kind: str) -> str:
        return f"{self.receiver.url}/{kind}/T0001/{next(self.numbers)}/x"

    def sample(self, label: str) -> None:
        pid = self.service.process.pid
        status = Path(f"/proc/{pid}/status").read_text()
        rss = next(int(line.split()[1]) for line in status.splitlines() if line[:6] == "VmRSS:")
        self.samples[label] = (rss * 1024, len(os.listdir(f"/proc/{pid}/fd")))

    def count(self, traffic: str, response: httpx.Response | Exception, path: str = "") -> None:
        if isinstance(response, Exception):
            self.transport_errors += 1
            self.outcomes[f"{traffic}: {type(response).__name__}"] += 1
            return
        if response.status_code >= 500:
            self.server_errors += 1
        if response.status_code != 200:
            self.outcomes[f"{traffic}: HTTP {response.status_code}"] += 1
            return
        text = response.json().get("text", "")
        if text.startswith("Looking up"):
            outcome = "deferred"
            self.deferred.add(path)
        elif text == BUSY:
            outcome = "busy"
        elif RATE_LIMITED.search(text):
            outcome = "rate-limited"
            self.rate_limited += 1
        else:
            outcome = "inline answer"
        self.outcomes[f"{traffic}: {outcome}"] += 1

    async def command(
        self, client: httpx.AsyncClient, traffic: str, text: str, kind: str, user: str
    ) -> None:
        url = self.url(kind)
        body = form("dig", text, response_url=url, user_id=user)
        try:
            response = await client.post(
                "/slash-commands/dig", content=body, headers=headers(body), timeout=10
            )
        except httpx.HTTPError as exc:
            self.count(traffic, exc)
            return
        self.count(traffic, response, url.removeprefix(self.receiver.url))

    def lost(self) -> tuple[int, int]:
        """(deferred answers that never reached a receiver, of those: told to retry)."""
        taken: set[str] = set()
        retry = 0
        for path, post, answer in zip(
            self.receiver.paths, self.receiver.posts, self.receiver.answers, strict=False
        ):
            if answer.status == 200 and path in self.deferred:
                taken.add(path)
                retry += str(post.get("text", "")).startswith(RESTART)
        return len(self.deferred - taken), retry


async def steady(stop: float, rate: float, run: Callable[[], Awaitable[None]]) -> None:
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    start = loop.time()
    for n in itertools.count():
        # On a schedule, not a sleep after each: a busy loop does not lower the rate.
        at = start + n / rate
        if at >= stop:
            break
        await asyncio.sleep(max(at - loop.time(), 0))
        task = asyncio.ensure_future(run())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks)


async def bursts(soak: Soak, client: httpx.AsyncClient, times: list[float]) -> None:
    loop = asyncio.get_running_loop()
    for at in times:
        await asyncio.sleep(max(at - loop.time(), 0))
        users = (f"UBURST{n}" for n in itertools.count())
        await asyncio.gather(
            *(
                soak.command(client, "burst /dig", "drop.test", KINDS[n % len(KINDS)], next(users))
                for n in range(BURST)
            )
        )


async def unsigned(soak: Soak, client: httpx.AsyncClient) -> None:
    body = b"text=" + b"x" * (1024 * 1024)
    try:
        response = await client.post(
            "/slash-commands/dig",
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        # A server may refuse a body past its cap before it is all sent.
        soak.outcomes[f"unsigned 1 MB: {type(exc).__name__}"] += 1
        return
    if response.status_code >= 500:
        soak.server_errors += 1
    soak.outcomes[f"unsigned 1 MB: HTTP {response.status_code}"] += 1


async def idle(soak: Soak, port: int, stop: float) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < stop:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.read(1), timeout=max(stop - loop.time(), 0))
                soak.idle_reopened += 1
        finally:
            writer.close()


async def traffic(soak: Soak, seconds: float, over_limit: bool) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    stop = start + seconds
    period = max(seconds / 5, 15)
    times = [start + 3 + period * n for n in range(int(seconds // period) + 1)]
    times = [at for at in times if at < stop - 10] or [start + 3]
    port = int(soak.service.url.rsplit(":", 1)[1])
    limits = httpx.Limits(max_connections=1200, keepalive_expiry=1)
    users = (f"USTEADY{n % 500}" for n in itertools.count())
    async with httpx.AsyncClient(base_url=soak.service.url, limits=limits) as client:

        async def inline() -> None:
            await soak.command(client, "inline /dig", "example.test", "inline", next(users))

        async def limited() -> None:
            await soak.command(client, "one user", "example.test", "inline", "UOVERLIMIT")

        async def first_minute() -> None:
            # "Minute 1": just before the second burst, when the first has drained.
            await asyncio.sleep(max(min(start + period, stop) - loop.time(), 0))
            soak.sample("minute 1")

        jobs = [
            steady(stop, 5, inline),
            steady(stop, 0.5, lambda: unsigned(soak, client)),
            bursts(soak, client, times),
            first_minute(),
            *(idle(soak, port, stop) for _ in range(20)),
        ]
        if over_limit:
            jobs.append(steady(stop, 10, limited))
        await asyncio.gather(*jobs)
    soak.sample("minute 5")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[int(share * (len(ordered) - 1))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--max-pending", type=int, default=450)
    parser.add_argument("--no-over-limit", dest="over_limit", action="store_false")
    args = parser.parse_args()
    with DNSServer().running() as dns, Receiver().running() as receiver:
        receiver.rules.update(RULES)
        env = {
            "SLACK_SIGNING_SECRET": SECRET,
            "CHATBOT_DNS_RESOLVERS": dns.address,
            "CHATBOT_DNS_TIMEOUT_SECONDS": "2",
            "CHATBOT_ALLOW_PRIVATE_TARGETS": "true",
            "CHATBOT_RESPONSE_URL_PREFIXES": "http://127.0.0.1:",
            "CHATBOT_MAX_PENDING": str(args.max_pending),
            # Every soak user is in one workspace: its limit would turn the bursts
            # away; the per-user limit (20/minute) stays, for the one user over it.
            "CHATBOT_RATE_LIMIT_TEAM": "1000000/minute",
            # A burst is 500 connections at once, besides the steady traffic and the
            # idle ones: past the connection cap (256, for Cloud Run's 80 requests
            # at once per instance) the guard closes the connections that have not
            # sent their request yet, which is its own subject (tests/test_connections.py).
            # Here every command of a burst reaches the service, as the pending cap's.
            "CHATBOT_MAX_CONNECTIONS": str(2 * BURST),
            "CHATBOT_SHUTDOWN_GRACE_SECONDS": str(GRACE),
        }
        with (
            service_process(env) as service,
            tempfile.NamedTemporaryFile("r", suffix=".probe") as probes,
        ):
            port = service.url.rsplit(":", 1)[1]
            prober = subprocess.Popen([sys.executable, "-c", PROBE, port, probes.name])
            soak = Soak(service, receiver)
            started = time.monotonic()
            try:
                asyncio.run(traffic(soak, args.seconds, args.over_limit))
            finally:
                prober.terminate()
                prober.wait()
            ran = time.monotonic() - started
            drain_until = time.monotonic() + 60
            while soak.lost()[0] and time.monotonic() < drain_until:
                time.sleep(0.2)
            drained = time.monotonic() - started - ran
            code, exit_seconds = service.terminate()
            output = service.output()
            probe_lines = [line.split() for line in Path(probes.name).read_text().splitlines()]
    health = [float(t) if s == "200" else float("inf") for p, s, t in probe_lines if p == "/health"]
    ready = Counter(s for p, s, _ in probe_lines if p == "/ready")
    lost, told_to_retry = soak.lost()
    tracebacks = output.count("Traceback")
    report = {
        "seconds": round(ran, 1),
        "requests by outcome": dict(sorted(soak.outcomes.items())),
        "5xx": soak.server_errors,
        "transport errors": soak.transport_errors,
        "deferred acknowledged": len(soak.deferred),
        "answers lost": lost,
        "told to retry at shutdown": told_to_retry,
        "posts at receivers": len(receiver.posts),
        "rate-limited answers": soak.rate_limited,
        "idle connections closed by the server": soak.idle_reopened,
        "RSS MiB (minute 1, minute 5)": [
            round(soak.samples[m][0] / 2**20, 1) for m in ("minute 1", "minute 5")
        ],
        "open fds (minute 1, minute 5)": [soak.samples[m][1] for m in ("minute 1", "minute 5")],
        "/health probes": len(health),
        "/health p50 ms": round(percentile(health, 0.5) * 1000, 1),
        "/health p99 ms": round(percentile(health, 0.99) * 1000, 1),
        "/health max ms": round(max(health, default=float("nan")) * 1000, 1),
        "/ready statuses": dict(ready),
        "drained in s": round(drained, 1),
        "SIGTERM to exit s": round(exit_seconds, 2),
        "exit code": code,
        "tracebacks in the service log": tracebacks,
    }
    print(json.dumps(report, indent=2))
    rss1, fds1 = soak.samples["minute 1"]
    rss5, fds5 = soak.samples["minute 5"]
    goals = [
        ("no 5xx", soak.server_errors == 0),
        ("no answer lost", lost == 0 and soak.transport_errors == 0),
        ("RSS growth < 10%", rss5 < rss1 * 1.1),
        ("open fds growth < 10%", fds5 < fds1 * 1.1),
        ("/health p99 < 100 ms", percentile(health, 0.99) < 0.1),
        ("exit 0 within the grace", code == 0 and exit_seconds < GRACE),
    ]
    for goal, met in goals:
        print(f"{'met ' if met else 'MISSED'} {goal}")
    if tracebacks:
        print(output[output.index("Traceback") :][:3000], file=sys.stderr)
    return 0 if soak.server_errors == 0 and lost == 0 and soak.transport_errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
