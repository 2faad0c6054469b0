"""The event loop is never blocked: while each command runs its heaviest local scenario,
no single stall of the loop exceeds BOUND_MS.

The servers run in a child process (their own CPU would otherwise be ours). Each
scenario runs once first, to warm what a running service has warm: module imports
(the first command of each family in a fresh process pays its import: bench/loop_lag.py's
"cold" column) and the Public Suffix List, whose one-time build is held to the thread it
must run in by its own test below.

Other processes share the machine, and a descheduled test process looks like a stall;
so each scenario gets up to ATTEMPTS runs and passes on the first within the bound. A
real blocking call stalls every run alike: one of the old ones (an SSL context made per
+protocols probe, RDAP pretty-printed on the loop) fails all three.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from chatbot.commands import COMMANDS, Invocation, execute
from chatbot.registration import command as registration
from chatbot.tls import check as tls
from tests.lag import NAMES, LagProbe, Scenario, isolated_scenarios

# Measured on the 2-core development machine under load (load average 4 to 6): the
# heaviest scenario, a 64 KB DNS answer parsed and rendered in threads, stalls the loop
# 10 to 18 ms at worst (GIL hand-overs); the others 3 to 7 ms. The old blocking calls
# stalled it 40 to 100 ms.
BOUND_MS = 20.0
ATTEMPTS = 3


@pytest.fixture(scope="module")
def cases() -> Iterator[dict[str, Scenario]]:
    with isolated_scenarios() as served:
        yield {case.name: case for case in served}


@pytest.mark.parametrize("name", NAMES)
async def test_no_stall_over_the_bound(cases: dict[str, Scenario], name: str) -> None:
    case = cases[name]
    command = COMMANDS[case.command]
    await execute(command, Invocation(text=case.text), case.settings)  # warm imports
    stalls: list[float] = []
    for _ in range(ATTEMPTS):
        async with LagProbe() as probe:
            reply = await execute(command, Invocation(text=case.text), case.settings)
            await tls.settle()
        assert not reply.is_error, reply.summary
        stalls.append(probe.worst_ms)
        if probe.worst_ms <= BOUND_MS:
            break
    print(f"{name}: worst stall per attempt {[round(s, 1) for s in stalls]} ms")
    assert min(stalls) <= BOUND_MS, f"{name}: the loop stalled {stalls} ms"


async def test_public_suffix_list_is_built_off_the_loop() -> None:
    """Building it takes 25 to 190 ms of CPU: the loop keeps running tasks meanwhile.

    (Timed, a build in a thread still shows as GIL hand-overs of up to ~35 ms on a loaded
    machine, too close to the 40 ms and more of a build on the loop to bound; counting
    what the loop ran while it was built tells the two apart every time.)
    """
    registration._suffixes.cache_clear()
    ticks = 0

    async def count() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    counter = asyncio.create_task(count())
    await asyncio.sleep(0)
    before = ticks
    await registration.suffixes_ready()
    during = ticks - before
    counter.cancel()
    assert registration._suffixes.cache_info().currsize == 1
    assert during > 1, "the event loop ran nothing while the Public Suffix List was built"


def test_every_scenario_is_measured(cases: dict[str, Scenario]) -> None:
    assert list(cases) == list(NAMES)
