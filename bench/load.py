"""Load: our service against a Bolt for Python app doing the same /dig, on this machine.

    uv run --group bench python bench/load.py [--rounds 3] [--seconds 10] [--connections 50]

Needs `wrk` (the load generator) and preferably `nsd` (the DNS server):
`apt-get install wrk nsd`. Starts, all on 127.0.0.1:
- an authoritative DNS server for `test.`: NSD with response-rate limiting off,
  or with `--dns python` (the default when nsd is missing) the test suite's
  dnspython server, which costs far more CPU per query;
- a `response_url` receiver (bench/receiver.py: plain asyncio, in its own process);
- our service as deployed, `chatbot serve`, configured as in production except
  that its targets are local: CHATBOT_DNS_RESOLVERS is the local DNS server (it
  answers in about a millisecond, so /dig answers inline), the response URL
  prefix is the receiver, CHATBOT_ALLOW_PRIVATE_TARGETS=true;
- a Bolt app doing the same job the way Bolt's docs show (bench/bolt_app.py:
  AsyncApp behind the FastAPI adapter, `await ack()`, then the dnspython lookup
  and `await respond(...)`), served by uvicorn the same way as ours.

Each system gets a warm-up, then rounds alternate between the systems (the
order flips every round, so drift on a busy machine hits each alike). In a
round, wrk sends `/dig example.test` requests for `--seconds` over
`--connections` connections, each request signed beforehand with the shared
secret, Slack's form fields, and a `response_url` with a key of its own so that
each delivery at the receiver is matched to its request. wrk's timeout is 3 s,
Slack's: a later response counts as an error, not an answer.

Per round and system: requests/s (HTTP responses), p50 and p99 of the HTTP
response time (for Bolt that is its acknowledgement; the answer comes after),
answers delivered (inline in the response or at the receiver, as the answer
text) out of requests sent, and CPU seconds per 1,000 commands of the system's
server process (utime+stime from /proc, from the start of the round until its
last delivery arrived). Also what everything else used: wrk, the DNS server,
the receiver, and the other processes on the machine (which, on a shared
machine, is the noise). Then the medians and the ratios of the first system
to the second (ours/Bolt).

"Sent" for a system that answers inline counts the requests whose response
(or error) wrk saw; for one that answers at the receiver, every request wrk
wrote, since those still in flight when wrk stops are answered after.

The load generator's own ceiling is measured first: the same wrk, script and
signed bodies against the receiver's trivial 200 endpoint (`--no-generator-check`
skips it). `--py-spy FILE` records our service with py-spy during its first
round (.txt: collapsed stacks; otherwise an SVG flame graph).

Systems (`--systems`, first one is the numerator of the ratios): `chatbot`
(uvloop + httptools, as in the image); `chatbot-asyncio`, the same with uvloop
hidden (asyncio + httptools); `chatbot-h11`, with uvloop and httptools hidden
(asyncio + h11, as before issue 12);
`bolt`, on the same uvicorn as ours (uvloop and httptools, project
dependencies since issue 12); `bolt-h11`, Bolt on asyncio + h11; `bolt-lazy`,
Bolt's lazy-listener form.
"""

from __future__ import annotations

import argparse
import hmac
import http.client
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SECRET = "bench-signing-secret"
NAME = "example.test"
ADDRESS = "192.0.2.10"  # the answer: what a delivered answer holds
TICK = os.sysconf("SC_CLK_TCK")
SLACK_TIMEOUT = "3s"
# Who sends the requests: a rate-limit key for each user and each workspace.
USERS = 1000
TEAMS = 10

ZONE = f"""\
$ORIGIN test.
$TTL 300
@ IN SOA ns1.test. hostmaster.test. 2024010101 7200 3600 1209600 300
@ IN NS ns1.test.
ns1 IN A 127.0.0.1
example IN A {ADDRESS}
"""

NSD_CONF = """\
server:
  ip-address: 127.0.0.1
  port: {port}
  username: ""
  chroot: ""
  zonesdir: "{dir}"
  database: ""
  zonelistfile: "{dir}/zone.list"
  xfrdfile: "{dir}/xfrd.state"
  xfrdir: "{dir}"
  pidfile: "{dir}/nsd.pid"
  logfile: "{dir}/nsd.log"
  server-count: 1
  verbosity: 0
  # Response-rate limiting off: every query of the run comes from one address.
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: test
  zonefile: test.zone
"""

PYTHON_DNS = """\
import sys
sys.path.insert(0, sys.argv[1])
from tests.servers.dns import DNSServer
with DNSServer().running() as server:
    print(server.port, flush=True)
    sys.stdin.read()
"""


# ---------------------------------------------------------------- CPU accounting


def process_cpu(pid: int) -> float:
    """utime + stime of a live process (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live descendants (NSD forks its workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += process_cpu(current)
        todo.extend(children.get(current, []))
    return total


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy (all cores) since boot."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICK


# ---------------------------------------------------------------- the peers


@dataclass
class Peer:
    name: str
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        return tree_cpu(self.process.pid)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_udp_and_tcp_port() -> int:
    import socket

    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port: int = udp.getsockname()[1]
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise SystemExit("no port free for both UDP and TCP")


@contextmanager
def running(
    name: str, command: list[str], port: int | None, log: Path, **popen: object
) -> Iterator[Peer]:
    """A peer process, stopped (and waited for) when the block ends."""
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE if port is None else output,
            stderr=output,
            stdin=subprocess.PIPE,
            **popen,  # type: ignore[call-overload]
        )
    try:
        if port is None:  # the peer prints its port on its first line
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line.strip():
                raise SystemExit(f"{name} did not start:\n{log.read_text()}")
            port = int(line)
        yield Peer(name, process, port)
    finally:
        if process.stdin is not None:
            process.stdin.close()  # the bench's own peers stop when stdin closes
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def answering(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", path)
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


def wait_until_answering(peer: Peer, path: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not answering(peer.port, path):
        if peer.process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{peer.name} did not start:\n{log.read_text()}")
        time.sleep(0.05)


def dns_server(kind: str, work: Path) -> AbstractContextManager[Peer]:
    if kind == "nsd":
        port = free_udp_and_tcp_port()
        (work / "test.zone").write_text(ZONE)
        (work / "nsd.conf").write_text(NSD_CONF.format(port=port, dir=work))
        command = ["nsd", "-d", "-c", str(work / "nsd.conf")]
        return running("nsd", command, port, work / "nsd.out")
    command = [sys.executable, "-c", PYTHON_DNS, str(ROOT)]
    return running("dns (python)", command, None, work / "dns.out")


def wait_for_dns(port: int, timeout: float = 10) -> None:
    import dns.exception
    import dns.message
    import dns.query

    deadline = time.monotonic() + timeout
    while True:
        try:
            response = dns.query.udp(dns.message.make_query(NAME, "A"), "127.0.0.1", 0.5, port)
            if ADDRESS in response.to_text():
                return
        except (OSError, dns.exception.DNSException):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the DNS server on port {port} does not answer {NAME}")
        time.sleep(0.1)


@dataclass(frozen=True)
class System:
    name: str
    path: str  # where its slash commands are posted
    answers_inline: bool  # else at the receiver
    probe: str  # a GET that answers once it is up


SYSTEMS = {
    "chatbot": System("chatbot", "/slash-commands/dig", True, "/health"),
    "chatbot-asyncio": System("chatbot-asyncio", "/slash-commands/dig", True, "/health"),
    "chatbot-h11": System("chatbot-h11", "/slash-commands/dig", True, "/health"),
    "bolt": System("bolt", "/slack/events", False, "/"),
    "bolt-h11": System("bolt-h11", "/slack/events", False, "/"),
    "bolt-lazy": System("bolt-lazy", "/slack/events", False, "/"),
}


# What each system variant cannot import, so that uvicorn falls back to asyncio and/or h11.
HIDDEN = {
    "chatbot-h11": ("uvloop", "httptools"),
    "chatbot-asyncio": ("uvloop",),
    "bolt-h11": ("uvloop", "httptools"),
}


def hidden(work: Path, modules: tuple[str, ...]) -> Path:
    """A directory that, first on PYTHONPATH, makes `modules` unimportable."""
    shim = work / f"hidden-{'-'.join(modules)}"
    shim.mkdir(exist_ok=True)
    for module in modules:
        (shim / f"{module}.py").write_text(
            f'raise ImportError("{module} hidden by bench/load.py")\n'
        )
    return shim


def uvicorn_flavour(system: str) -> str:
    gone = HIDDEN.get(system, ())
    loop = "uvloop" if "uvloop" not in gone and importlib.util.find_spec("uvloop") else "asyncio"
    parser = "httptools"
    if "httptools" in gone or not importlib.util.find_spec("httptools"):
        parser = "h11"
    return f"{loop}+{parser}"


def start_system(
    system: System, dns_port: int, receiver: Peer, work: Path
) -> AbstractContextManager[Peer]:
    port = free_port()
    env = {**os.environ, "SLACK_SIGNING_SECRET": SECRET, "PYTHONUNBUFFERED": "1"}
    if system.name in HIDDEN:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(hidden(work, HIDDEN[system.name])), env.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep)
    log = work / f"{system.name}.log"
    if system.name.startswith("chatbot"):
        env |= {
            "CHATBOT_DNS_RESOLVERS": f"127.0.0.1:{dns_port}",
            "CHATBOT_ALLOW_PRIVATE_TARGETS": "true",
            "CHATBOT_RESPONSE_URL_PREFIXES": f"{receiver.url}/r/",
            # Checked on every request, never reached: the requests come from USERS
            # users in TEAMS workspaces, far more often than Slack users type. The
            # limits sit just above what a minute of this load brings each key (at
            # 2,000 requests/s: 120 a user, 12,000 a workspace), because the limits
            # library keeps every hit of a window in memory and sweeps them all every
            # 10 ms: a limit of a million a minute would make the bench measure that.
            "CHATBOT_RATE_LIMIT_USER": "200/minute",
            "CHATBOT_RATE_LIMIT_TEAM": "20000/minute",
        }
        command = [sys.executable, "-m", "chatbot.cli", "serve"]
        command += ["--host", "127.0.0.1", "--port", str(port)]
    else:
        env |= {"BENCH_DNS_SERVER": f"127.0.0.1:{dns_port}", "BENCH_SLACK_API": receiver.url}
        if system.name == "bolt-lazy":
            env["BENCH_BOLT_LAZY"] = "1"
        # Served as `chatbot serve` serves ours: no access log, proxy headers trusted.
        command = [sys.executable, "-m", "uvicorn", "bolt_app:api", "--app-dir", str(BENCH)]
        command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        command += ["--log-level", "warning", "--proxy-headers", "--forwarded-allow-ips", "*"]
    return running(system.name, command, port, log, env=env, cwd=ROOT)


# ---------------------------------------------------------------- the load


def form(key: str, receiver: str, n: int = 0) -> str:
    """Slack's slash-command form fields, in Slack's order; the n-th request's user."""
    return urlencode(
        {
            "token": "bench-verification-token",
            "team_id": f"T{n % TEAMS:04d}",
            "team_domain": "bench",
            "channel_id": "C0001",
            "channel_name": "general",
            "user_id": f"U{n % USERS:04d}",
            "user_name": "ada",
            "command": "/dig",
            "text": NAME,
            "api_app_id": "A0001",
            "is_enterprise_install": "false",
            "response_url": f"{receiver}/r/{key}",
            "trigger_id": f"{key}.1.{'0' * 32}",
        }
    )


def write_bodies(path: Path, prefix: str, count: int, receiver: str) -> None:
    secret = SECRET.encode()
    stamp = str(int(time.time()))
    with open(path, "w") as handle:
        for n in range(count):
            body = form(f"{prefix}{n}", receiver, n)
            base = f"v0:{stamp}:{body}".encode()
            signature = "v0=" + hmac.new(secret, base, sha256).hexdigest()
            handle.write(f"{stamp}\t{signature}\t{body}\n")


def run_wrk(url: str, bodies: Path, args: argparse.Namespace, seconds: float) -> dict[str, Any]:
    """wrk's figures (see wrk_sign.lua's done()); its CPU goes to our RUSAGE_CHILDREN."""
    command = ["wrk", "-t", str(args.threads), "-c", str(args.connections)]
    command += ["-d", f"{seconds:g}s", "--timeout", SLACK_TIMEOUT]
    command += ["-s", str(BENCH / "wrk_sign.lua"), url, "--"]
    command += [str(bodies), str(args.threads), ADDRESS]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate()
    lines = [line for line in out.decode().splitlines() if line.startswith("WRK ")]
    if process.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({process.returncode}):\n{out.decode()}{err.decode()}")
    figures: dict[str, Any] = json.loads(lines[-1][4:])
    return figures


def children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def receiver_stats(receiver: Peer, prefix: str, issued: list[int], tail: int) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
    query = urlencode({"issued": ",".join(map(str, issued)), "tail": tail})
    try:
        connection.request("GET", f"/stats/{prefix}?{query}")
        stats: dict[str, Any] = json.loads(connection.getresponse().read())
        return stats
    finally:
        connection.close()


def settle(
    receiver: Peer, prefix: str, issued: list[int], tail: int, quiet: float = 1.0
) -> dict[str, Any]:
    """The receiver's counts once deliveries for prefix stop arriving."""
    deadline = time.monotonic() + 20
    stats = receiver_stats(receiver, prefix, issued, tail)
    last_change = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - last_change < quiet:
        time.sleep(0.1)
        now = receiver_stats(receiver, prefix, issued, tail)
        if now["received"] != stats["received"]:
            stats, last_change = now, time.monotonic()
    return stats


@dataclass
class Round:
    system: str
    rps: float
    p50_ms: float
    p99_ms: float
    sent: int
    delivered: int
    cpu_per_1000: float
    tail_s: float  # from the end of the load to the last delivery
    wrapped: int
    errors: int
    share: dict[str, float]  # CPU seconds per second of the round, by who
    missing: list[int]  # some request numbers whose answer never reached the receiver


def measure(
    system: System,
    server: Peer,
    helpers: dict[str, Peer],
    args: argparse.Namespace,
    work: Path,
    prefix: str,
    seconds: float,
    profile: Path | None = None,
) -> Round:
    receiver = helpers["receiver"]
    bodies = work / "bodies.txt"
    write_bodies(bodies, prefix, max(1000, int(seconds * args.bodies_per_second)), receiver.url)
    others = {name: peer.cpu() for name, peer in helpers.items()}
    server_before, wrk_before = server.cpu(), children_cpu()
    machine_before, bench_before = machine_busy(), time.process_time()
    started = time.time()
    spy = None
    if profile is not None:
        command = ["py-spy", "record", "--pid", str(server.process.pid), "--rate", "200"]
        command += ["--duration", f"{max(1, int(seconds) - 1)}"]
        command += ["--format", "raw" if profile.suffix == ".txt" else "flamegraph"]
        spy = subprocess.Popen(
            [*command, "--output", str(profile)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    figures = run_wrk(server.url + system.path, bodies, args, seconds)
    load_ended = time.time()
    # Each wrk thread's last requests (one per connection) may have been cut off
    # in flight when wrk stopped: counted only if their answer arrived.
    tail = -(-args.connections // args.threads)
    stats = settle(receiver, prefix, figures["per_thread"], tail)
    if spy is not None:
        spy.wait()
    elapsed = time.time() - started
    wrk_cpu = children_cpu() - wrk_before
    server_cpu = server.cpu() - server_before
    shares = {name: (peer.cpu() - others[name]) / elapsed for name, peer in helpers.items()}
    shares["wrk"] = wrk_cpu / elapsed
    shares["server"] = server_cpu / elapsed
    shares["bench"] = (time.process_time() - bench_before) / elapsed
    ours = sum(shares.values())
    shares["other processes"] = max(0.0, (machine_busy() - machine_before) / elapsed - ours)
    errors = sum(figures[k] for k in ("connect", "read", "write", "timeout"))
    if system.answers_inline:
        # Requests cut off in flight are not seen at all: sent is what wrk saw answered or fail.
        sent = figures["completed"] + errors
        delivered = min(sent, figures["answered"] + int(stats["answers"]))
    else:
        sent = int(stats["head"] + stats["answers"] - stats["head_answers"])
        delivered = int(stats["answers"])
    duration = figures["duration_us"] / 1e6
    tail = max(0.0, stats["last"] - load_ended) if stats["received"] else 0.0
    return Round(
        system=system.name,
        rps=figures["completed"] / duration,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        sent=sent,
        delivered=delivered,
        cpu_per_1000=server_cpu / sent * 1000 if sent else float("nan"),
        tail_s=tail,
        wrapped=figures["wrapped"],
        errors=errors + figures["status"],
        share=shares,
        missing=[] if system.answers_inline else list(stats["missing_head"]),
    )


def generator_ceiling(receiver: Peer, args: argparse.Namespace, work: Path) -> tuple[float, float]:
    """Requests/s of the same wrk set-up against a trivial endpoint, and wrk's CPU share."""
    bodies = work / "bodies.txt"
    seconds = min(args.seconds, 5.0)
    write_bodies(bodies, "check-", int(seconds * args.bodies_per_second), receiver.url)
    before, started = children_cpu(), time.monotonic()
    figures = run_wrk(receiver.url + "/slash-commands/dig", bodies, args, seconds)
    elapsed = time.monotonic() - started
    rate = figures["completed"] / (figures["duration_us"] / 1e6)
    return rate, (children_cpu() - before) / elapsed


# ---------------------------------------------------------------- report


def row(r: Round) -> str:
    share = " ".join(f"{k} {v:.2f}" for k, v in r.share.items())
    notes = []
    if r.wrapped:
        notes.append(f"{r.wrapped} bodies resent")
    if r.errors:
        notes.append(f"{r.errors} errors")
    if r.missing:
        notes.append(f"no answer for requests {', '.join(map(str, r.missing))}")
    return (
        f"{r.system:<15} {r.rps:8.0f} {r.p50_ms:8.1f} {r.p99_ms:8.1f} "
        f"{r.delivered:>7}/{r.sent:<7} {r.cpu_per_1000:9.2f} {r.tail_s:7.2f}  "
        f"[cores: {share}]" + (f"  ({', '.join(notes)})" if notes else "")
    )


HEADER = (
    f"{'system':<15} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'answers/sent':>15} "
    f"{'CPU s/1k':>9} {'tail s':>7}"
)


def summary(rounds: list[Round], names: list[str]) -> list[str]:
    lines = [HEADER]
    medians: dict[str, dict[str, float]] = {}
    for name in names:
        mine = [r for r in rounds if r.system == name]
        m = {
            "rps": statistics.median(r.rps for r in mine),
            "p50": statistics.median(r.p50_ms for r in mine),
            "p99": statistics.median(r.p99_ms for r in mine),
            "cpu": statistics.median(r.cpu_per_1000 for r in mine),
            "tail": statistics.median(r.tail_s for r in mine),
        }
        medians[name] = m
        delivered, sent = sum(r.delivered for r in mine), sum(r.sent for r in mine)
        lines.append(
            f"{name:<15} {m['rps']:8.0f} {m['p50']:8.1f} {m['p99']:8.1f} "
            f"{delivered:>7}/{sent:<7} {m['cpu']:9.2f} {m['tail']:7.2f}"
            + ("" if delivered == sent else f"  ({100 * delivered / sent:.1f}% delivered)")
        )
    if len(names) >= 2:
        a, b = medians[names[0]], medians[names[1]]
        # Issue 12's targets are for our service against Bolt.
        against_bolt = names[0].startswith("chatbot") and names[1].startswith("bolt")
        figures = [
            (f"requests/s {a['rps'] / b['rps']:.2f}x", "at least 3x"),
            (f"p99 {a['p99'] / b['p99']:.2f}", "at most 0.33"),
            (f"CPU per command {a['cpu'] / b['cpu']:.2f}", "at most 0.33"),
        ]
        lines.append(
            f"ratio {names[0]}/{names[1]}: "
            + ", ".join(f"{f} (target {t})" if against_bolt else f for f, t in figures)
        )
    return lines


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per system (default 3)")
    parser.add_argument("--seconds", type=float, default=10, help="load per round (default 10)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (50)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds per system (default 2)")
    parser.add_argument(
        "--systems", default="chatbot,bolt", help=f"comma list of {', '.join(SYSTEMS)}"
    )
    parser.add_argument(
        "--dns",
        choices=("nsd", "python"),
        default="nsd" if shutil.which("nsd") else "python",
        help="the DNS server (default nsd when installed)",
    )
    parser.add_argument(
        "--bodies-per-second",
        type=int,
        default=4000,
        help="signed requests prepared per second of load (default 4000); "
        "a faster system has some resent, and the report says so",
    )
    parser.add_argument("--no-generator-check", action="store_true")
    parser.add_argument("--py-spy", type=Path, help="record our service's first round to FILE")
    args = parser.parse_args()
    names = [n.strip() for n in args.systems.split(",") if n.strip()]
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown or not names:
        parser.error(f"unknown systems {unknown}; choose from {', '.join(SYSTEMS)}")
    if not shutil.which("wrk"):
        raise SystemExit("bench/load.py needs wrk: apt-get install wrk")

    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    print(
        f"wrk {args.threads} thread(s), {args.connections} connections, {args.seconds:g} s "
        f"rounds x {args.rounds}, DNS server: {args.dns}"
    )
    for name in names:
        print(f"  {name}: uvicorn on {uvicorn_flavour(name)}")
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        dns_peer = stack.enter_context(dns_server(args.dns, work))
        wait_for_dns(dns_peer.port)
        receiver = stack.enter_context(
            running(
                "receiver",
                [sys.executable, str(BENCH / "receiver.py"), "--expect", ADDRESS],
                None,
                work / "receiver.out",
            )
        )
        helpers = {"dns": dns_peer, "receiver": receiver}
        servers: dict[str, Peer] = {}
        for name in names:
            peer = stack.enter_context(start_system(SYSTEMS[name], dns_peer.port, receiver, work))
            wait_until_answering(peer, SYSTEMS[name].probe, work / f"{name}.log")
            servers[name] = peer
        if not args.no_generator_check:
            rate, share = generator_ceiling(receiver, args, work)
            print(
                f"generator ceiling: {rate:.0f} requests/s against the receiver's trivial "
                f"endpoint, wrk using {share:.2f} of a core"
            )
        for name in names:
            if args.warmup > 0:
                measure(
                    SYSTEMS[name], servers[name], helpers, args, work, f"w-{name}-", args.warmup
                )
        print(HEADER + "  [CPU cores used during the round]")
        profiled = False
        for number in range(args.rounds):
            order = names if number % 2 == 0 else names[::-1]
            for name in order:
                profile = None
                if args.py_spy is not None and not profiled and name.startswith("chatbot"):
                    profile, profiled = args.py_spy, True
                result = measure(
                    SYSTEMS[name],
                    servers[name],
                    helpers,
                    args,
                    work,
                    f"{number}-{name}-",
                    args.seconds,
                    profile,
                )
                rounds.append(result)
                print(row(result) + ("  (profiled)" if profile else ""), flush=True)
    print()
    print(
        f"medians of {args.rounds} rounds (answers summed); load average now "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    for line in summary(rounds, names):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
