"""The longest event-loop stall while each command runs its heaviest local scenario.

While one command runs, a probe task sleeps 1 ms in a loop and records how late
it wakes: the largest overshoot is how long every other user's request would
have waited for the loop. Each scenario runs `rounds` times through the
registry's `execute` (parse, network, render), against local servers (a 64 KB
DNS answer, a 200 KB RDAP answer with +raw, a 256 KB WHOIS record, /tls with
an AIA fetch and +protocols, a 30-certificate chain). The first run of each
command also pays its imports; "cold" reports that run apart. Goal: under
20 ms for every scenario, warm.

    uv run python bench/loop_lag.py [rounds]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatbot.commands import COMMANDS, Invocation, execute
from tests.lag import LagProbe, Scenario, isolated_scenarios


async def settle() -> None:
    """Let /tls connections closing in the background finish (if /tls was imported)."""
    check = sys.modules.get("chatbot.tls.check")
    if check is not None:
        await check.settle()


async def measure(cases: list[Scenario], rounds: int) -> None:
    print(f"{'scenario':<28} {'cold ms':>8} {'warm worst ms':>14} {'warm median ms':>15}")
    for case in cases:
        command = COMMANDS[case.command]
        worst: list[float] = []
        for _ in range(rounds + 1):
            async with LagProbe() as probe:
                reply = await execute(command, Invocation(text=case.text), case.settings)
                await settle()
            assert not reply.is_error, reply.summary
            worst.append(probe.worst_ms)
        warm = sorted(worst[1:])
        print(f"{case.name:<28} {worst[0]:>8.1f} {warm[-1]:>14.1f} {warm[len(warm) // 2]:>15.1f}")


def main(rounds: int) -> None:
    # The servers run in a process of their own: building a 64 KB answer in a thread
    # of this one would take the GIL and show up as our stall.
    with isolated_scenarios() as cases:
        asyncio.run(measure(cases, rounds))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
