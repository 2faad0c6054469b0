"""What one pending deferred answer costs: memory and file descriptors of `chatbot serve`.

    uv run python bench/pending.py [--jobs 1000]

Starts `chatbot serve` against a local DNS server that never answers
`drop.test.`, sends `--jobs` deferred `/dig drop.test` (each stays pending
until its 30 s lookup timeout, the most the setting allows), and reads the
process's RSS and open file descriptors from /proc before and after. Prints
the cost per pending job and what CHATBOT_MAX_PENDING's default of 100 costs
against a 512 MiB instance.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.burst import commands, post_all
from tests.servers.dns import DNSServer
from tests.servers.process import service_process
from tests.servers.receiver import Receiver
from tests.slackreq import SECRET

MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    with DNSServer().running() as dns, Receiver().running() as receiver:
        env = {
            "SLACK_SIGNING_SECRET": SECRET,
            "CHATBOT_DNS_RESOLVERS": dns.address,
            "CHATBOT_DNS_TIMEOUT_SECONDS": "30",
            "CHATBOT_COMMAND_DEADLINE_SECONDS": "60",
            "CHATBOT_ALLOW_PRIVATE_TARGETS": "true",
            "CHATBOT_RESPONSE_URL_PREFIXES": "http://127.0.0.1:",
            "CHATBOT_INLINE_BUDGET_SECONDS": "0",
            "CHATBOT_MAX_PENDING": str(args.jobs),
            # Every job comes from one user: the rate limits would refuse all but 20.
            "CHATBOT_RATE_LIMIT_USER": f"{args.jobs * 10}/minute",
            "CHATBOT_RATE_LIMIT_TEAM": f"{args.jobs * 10}/minute",
        }
        with service_process(env) as service:
            pid = service.process.pid
            # One command first, so that what every command imports is loaded.
            warm = commands("dig", "example.test", [receiver.url + "/warm"])
            asyncio.run(post_all(service.url + "/slash-commands/dig", warm))
            receiver.wait_for(1)
            time.sleep(0.5)
            rss0, fds0 = rss_bytes(pid), open_fds(pid)
            urls = [f"{receiver.url}/commands/T/{n}/x" for n in range(args.jobs)]
            bodies = commands("dig", "drop.test", urls)
            acks = asyncio.run(post_all(service.url + "/slash-commands/dig", bodies))
            deferred = sum(
                1 for ack in acks if not isinstance(ack, Exception) and "Looking up" in ack.text
            )
            time.sleep(1)
            rss1, fds1 = rss_bytes(pid), open_fds(pid)
            service.terminate()
    per_job = (rss1 - rss0) / deferred
    per_fd = (fds1 - fds0) / deferred
    print(f"pending jobs: {deferred} of {args.jobs} sent")
    print(f"RSS: {rss0 / MIB:.1f} MiB idle -> {rss1 / MIB:.1f} MiB, {per_job / 1024:.1f} KiB a job")
    print(f"open file descriptors: {fds0} -> {fds1}, {per_fd:.2f} a job")
    print(
        f"100 pending (the default): about {100 * per_job / MIB:.1f} MiB and {100 * per_fd:.0f} "
        f"descriptors on top of {rss0 / MIB:.0f} MiB idle, of 512 MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
