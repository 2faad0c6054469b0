"""/dig +trace and +compare on the local DNS hierarchy of the tests.

    uv run python bench/dns_depth.py [rounds]

1. +trace against BIND's `dig +trace`, alternately, `rounds` times each, on
   www.signed.lab. (root -> lab. -> signed.lab., every server on 127.0.0.x):
     dig   - `dig +trace @127.0.0.25 -p PORT www.signed.lab A`, the whole process;
     ours  - /dig's handler for "www.signed.lab +trace": parse, the walk, the reply.
   dig asks the hints server for the root first and resolves name servers
   with getaddrinfo; ours looks up the glueless 127.0.0.4. by walking (one
   more query). Medians and ratio (goal: ours <= 1.5x dig).
2. +compare over 12 servers (11 resolvers and the zone's one authoritative
   server), one resolver answering after SLOW seconds: the whole comparison
   against that slow server asked alone (goal: within 10% of it, which only
   parallel queries reach).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dns.message
import dns.name
import dns.rdatatype

from chatbot.dns import command, compare, trace
from chatbot.dns.query import Options, parse_server, send
from tests.servers.dns_hierarchy import Hierarchy

SLOW = 0.25
SLOW_RESOLVER = "127.0.0.40"


QUERY_TIMES: list[float] = []


def dig_trace(dig: str, port: int) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [dig, "+trace", "+time=2", "+tries=1", "@127.0.0.25", "-p", str(port), "www.signed.lab"],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    assert "192.0.2.7" in done.stdout, done.stdout
    # What dig says its queries took, without starting a process.
    QUERY_TIMES.append(sum(float(t) for t in re.findall(r" in (\d+) ms", done.stdout)) / 1000)
    return elapsed


async def our_trace(options: Options, depth: command.Depth) -> float:
    started = time.perf_counter()
    reply = await command.run("www.signed.lab +trace", options, depth)
    elapsed = time.perf_counter() - started
    assert "192.0.2.7" in "".join(p.text + " ".join(p.lines) for p in reply.parts)
    return elapsed


async def slow_alone(port: int) -> float:
    message = dns.message.make_query("www.secure.test.", "A")
    started = time.perf_counter()
    exchange = await send(message, parse_server(f"{SLOW_RESOLVER}:{port}"), 2.0)
    assert exchange.response is not None
    return time.perf_counter() - started


async def compared(options: compare.Options) -> float:
    started = time.perf_counter()
    result = await compare.compare(dns.name.from_text("www.secure.test."), dns.rdatatype.A, options)
    elapsed = time.perf_counter() - started
    assert len(result.rows) == 12 and all(r.response is not None for r in result.rows)
    return elapsed


async def main(rounds: int) -> None:
    tree = Hierarchy()
    for i in range(30, 40):
        tree.add(f"resolver{i}", f"127.0.0.{i}", [], "recursive")
    tree.add("slow", SLOW_RESOLVER, [], "recursive", delay=SLOW)
    dig = shutil.which("dig")
    with tree.running():
        port = tree.port
        options = Options((parse_server(f"127.0.0.20:{port}"),), 2.0, allow_private=True)
        depth = command.Depth(roots=(parse_server(tree.root),), compare_resolvers=())
        for _ in range(5):  # warm up: imports, the thread pool, dig's page cache
            await our_trace(options, depth)
            if dig:
                dig_trace(dig, port)
        theirs: list[float] = []
        ours: list[float] = []
        for _ in range(rounds):
            if dig:
                theirs.append(dig_trace(dig, port))
            ours.append(await our_trace(options, depth))
        o = statistics.median(ours)
        print(f"+trace www.signed.lab: {rounds} alternating rounds, 4 queries each")
        print(f"  ours (parse, walk, reply, in process): median {o * 1000:.2f} ms")
        if dig:
            d = statistics.median(theirs)
            print(f"  dig +trace (whole process):           median {d * 1000:.2f} ms")
            q = statistics.median(QUERY_TIMES[-rounds:])
            print(f"  ratio: {o / d:.2f}x (goal <= 1.5x)")
            print(f"  (dig's own query times add up to {q * 1000:.0f} ms, whole milliseconds)")
        else:
            print("  dig is not installed: no comparison (Debian: bind9-dnsutils)")

        resolvers = tuple(parse_server(f"127.0.0.{i}:{port}") for i in [20, 21, *range(30, 38), 40])
        walk = trace.Options(roots=(parse_server(tree.root),), port=port, allow_private=True)
        compare_options = compare.Options(resolvers, walk)
        await compared(compare_options)
        alone, together = [], []
        for _ in range(max(rounds // 3, 3)):
            alone.append(await slow_alone(port))
            together.append(await compared(compare_options))
        a, t = statistics.median(alone), statistics.median(together)
        print(f"+compare www.secure.test: 12 servers (11 resolvers, 1 authoritative), one {SLOW} s")
        print(f"  the slow server alone:  median {a * 1000:.1f} ms")
        print(f"  the whole comparison:   median {t * 1000:.1f} ms")
        print(f"  overhead: {(t / a - 1) * 100:+.1f}% (goal <= +10%)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
