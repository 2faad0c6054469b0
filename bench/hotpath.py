"""What one /dig costs in CPU, part by part, in-process: where bench/load.py's figure goes.

    uv run python bench/hotpath.py [--count 2000] [--rounds 5] [--dns nsd|python] [--loop ...]

bench/load.py measures CPU seconds per 1,000 commands of the whole server
under wrk. This takes the same request apart without HTTP or sockets of its
own: each part is run `--count` times in a row on the event loop `chatbot
serve` uses (uvloop where installed; `--loop asyncio` for asyncio's), against a
local DNS server in a process of its own (NSD where installed, as bench/load.py
uses, so its CPU is not counted here), 20 at a time, and its CPU time per run
is the median of `--rounds` rounds. Parts, from the whole to its pieces:

- `app /dig`: a signed /dig POSTed straight into the ASGI app, from 1,000
  users in 10 workspaces in turn as bench/load.py sends them (body cap,
  signature, workspace, rate limit, the command, the Block Kit answer, the
  summary line); what bench/load.py's figure adds on top is uvicorn's HTTP
  server and the kernel's TCP;
- `app /hello`, `bare FastAPI route`: tests/test_overhead.py's pair;
- `execute(/dig)`: the command alone (parse, the DNS exchange, rendering in a
  thread), as the route runs it;
- its pieces: parsing the text, one UDP exchange (a socket of its own,
  dnspython's message to and from wire), `dns.message.from_wire` of the answer
  alone, rendering the answer inline and through `asyncio.to_thread`, and one
  summary log line (JSON, to /dev/null).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from load import ADDRESS, NAME, TEAMS, USERS, dns_server, wait_for_dns  # noqa: E402

from chatbot import logs  # noqa: E402
from chatbot.commands import COMMANDS, Invocation, execute  # noqa: E402
from chatbot.jobs import summary  # noqa: E402
from chatbot.reply import Reply  # noqa: E402
from chatbot.settings import Settings  # noqa: E402
from chatbot.web import create_app  # noqa: E402
from tests.slackreq import SECRET, form  # noqa: E402
from tests.test_overhead import bare_app, scope  # noqa: E402

Message = MutableMapping[str, Any]
CONCURRENCY = 20


def posting(app: Any, command: str, text: str, expect: bytes) -> Callable[[], Awaitable[None]]:
    """Signed POSTs of `/command text` into `app`, checked for `expect` in the answer.

    From USERS users in TEAMS workspaces in turn, as bench/load.py sends them:
    the rate limits' windows then hold what a busy service's do.
    """
    requests = []
    for n in range(USERS):
        fields = {"user_id": f"U{n:04d}", "team_id": f"T{n % TEAMS:04d}"}
        body = form(command, text, "http://127.0.0.1:9/r/1", **fields)
        requests.append((scope(body, command), body))
    turns = itertools.cycle(requests)

    async def post() -> None:
        sent: list[Message] = []
        scope, body = next(turns)

        async def receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        await app(dict(scope), receive, send)
        if expect not in sent[-1].get("body", b""):
            raise SystemExit(f"unexpected answer to /{command} {text}: {sent}")

    return post


async def cpu_us(run: Callable[[], Awaitable[Any]], count: int, rounds: int) -> float:
    """Median over rounds of CPU microseconds per run, CONCURRENCY runs at a time.

    Concurrent, as under load: one run at a time leaves the process asleep while
    the DNS server answers, and on a shared machine every wake-up then finds its
    caches cold, which a loaded server never sees.
    """

    async def worker(runs: int) -> None:
        for _ in range(runs):
            await run()

    await asyncio.gather(*(worker(5) for _ in range(CONCURRENCY)))
    results = []
    for _ in range(rounds):
        started = time.process_time()
        await asyncio.gather(*(worker(count // CONCURRENCY) for _ in range(CONCURRENCY)))
        results.append((time.process_time() - started) / count * 1e6)
    return statistics.median(results)


async def measure(dns_port: int, count: int, rounds: int) -> list[tuple[str, float]]:
    from chatbot.dns import command, query, render

    settings = Settings(
        slack_signing_secret=SECRET,
        dns_resolvers=(f"127.0.0.1:{dns_port}",),
        allow_private_targets=True,
        # Checked on every request, never reached.
        rate_limit_user="100000000/minute",
        rate_limit_team="100000000/minute",
    )
    app = create_app(settings)
    dig = COMMANDS["dig"]
    options = command.options(settings)
    parsed = command.parse(NAME)
    message = query.dns.message.make_query(parsed.name, parsed.types[0])
    server = options.resolvers[0]
    exchange = await query.send(message, server, 2.0)
    assert exchange.response is not None, exchange.error
    wire = exchange.response.to_wire()
    answers = await query.lookup(parsed, options)
    invocation = Invocation(NAME, "U0001", "ada", "T0001", "C0001")
    reply = Reply(summary="x")
    started = time.monotonic()

    async def parse() -> None:
        command.parse(NAME)

    async def exchange_once() -> None:
        await query.send(message, server, 2.0)

    async def from_wire() -> None:
        query.dns.message.from_wire(wire)

    async def render_inline() -> None:
        render.render(parsed, answers)

    async def render_thread() -> None:
        await asyncio.to_thread(render.render, parsed, answers)

    async def run_dig() -> None:
        await execute(dig, invocation, settings)

    async def log_line() -> None:
        summary("dig", invocation, reply, "inline", started)

    parts: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("app /dig", posting(app, "dig", NAME, ADDRESS.encode())),
        ("app /hello", posting(app, "hello", "world", b"Hello ada")),
        ("bare FastAPI route", posting(bare_app(), "hello", "world", b"hello")),
        ("execute(/dig)", run_dig),
        ("  parse the text", parse),
        ("  one UDP exchange", exchange_once),
        ("    from_wire of the answer", from_wire),
        ("  render inline", render_inline),
        ("  render in a thread", render_thread),
        ("summary log line", log_line),
    ]
    return [(name, await cpu_us(run, count, rounds)) for name, run in parts]


def sweep_us(library: bool, users: int = 1000, teams: int = 10, rate: int = 1000) -> float:
    """CPU microseconds of one sweep of a memory storage holding a minute of `rate`/s."""
    from limits import parse, storage, strategies

    from chatbot.ratelimit import WindowStorage

    held: Any = storage.MemoryStorage() if library else WindowStorage()
    limiter = strategies.MovingWindowRateLimiter(held)
    item = parse("100000000/minute")
    per_user, per_team = rate * 60 // users, rate * 60 // teams
    for u in range(users):
        limiter.hit(item, "user", f"U{u}", cost=per_user)
    for t in range(teams):
        for _ in range(per_team // 100):
            limiter.hit(item, "team", f"T{t}", cost=100)
    if library:
        sweep = held._MemoryStorage__expire_events
    else:

        def sweep() -> None:
            held._sweep(time.time())

    results = []
    for _ in range(20):
        started = time.process_time()
        sweep()
        results.append((time.process_time() - started) * 1e6)
    if library:
        held.timer.cancel()
    return statistics.median(results)


def production_logging(sink: Any) -> None:
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logs.JSONFormatter())
    logging.getLogger().handlers[:] = [handler]
    logging.getLogger().setLevel(logging.INFO)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=2000, help="runs per round (2000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per part (5)")
    parser.add_argument(
        "--dns", choices=("nsd", "python"), default="nsd" if shutil.which("nsd") else "python"
    )
    parser.add_argument("--loop", choices=("auto", "asyncio"), default="auto")
    args = parser.parse_args()
    run: Callable[..., Any] = asyncio.run
    loop = "asyncio"
    if args.loop == "auto":
        try:
            import uvloop

            run, loop = uvloop.run, "uvloop"
        except ImportError:
            pass
    print(
        f"python {sys.version.split()[0]}, {loop}, DNS server: {args.dns}, load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-hotpath-") as tmp,
        ExitStack() as stack,
        open(os.devnull, "w") as sink,
    ):
        peer = stack.enter_context(dns_server(args.dns, Path(tmp)))
        wait_for_dns(peer.port)
        production_logging(sink)
        results = run(measure(peer.port, args.count, args.rounds))
    figures = dict(results)
    for name, us in results:
        print(f"{name:<30} {us:7.1f} us CPU")
    print(
        f"web layer around the command (app /dig - execute): "
        f"{figures['app /dig'] - figures['execute(/dig)']:.0f} us; "
        f"/hello over the bare route: {figures['app /hello'] / figures['bare FastAPI route']:.2f}x"
    )
    library, ours = sweep_us(library=True), sweep_us(library=False)
    print(
        f"rate limits, one sweep of every window (1,000 users, 10 workspaces, a minute at "
        f"1,000 commands/s):\n"
        f"  the limits library's MemoryStorage {library:7.1f} us CPU, 100 a second: "
        f"{library * 100 / 1000:.0f} us a command at that rate\n"
        f"  ours (WindowStorage)                {ours:7.1f} us CPU, one a minute: "
        f"{ours / 60:.1f} ns a command at that rate"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
