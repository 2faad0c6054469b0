"""HTTP servers on 127.0.0.1, port 0, answering like IANA's bootstrap and RDAP services.

`JSONServer` serves a table of path -> response in a thread and records the
paths asked. `rdap_world` starts four of them: a bootstrap (dns.json,
ipv4.json, ipv6.json, asn.json), a registry (a Verisign-style .com service
and an ARIN-style RIR), a registrar and a RIPE-style RIR, with RFC 9083
documents shaped like the real ones.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.servers.threads import serving


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering, for timeouts
    # Hostile bodies: `stream` bytes of "[[[[..." sent in 64 KB chunks instead of
    # `body`, announced by Content-Length unless `announce` is False (then the
    # body ends when the connection does, as HTTP/1.0 allows).
    stream: int = 0
    announce: bool = True


def rdap_json(document: Any, status: int = 200) -> Response:
    return Response(
        status, json.dumps(document).encode(), {"Content-Type": "application/rdap+json"}
    )


NOT_FOUND = rdap_json({"errorCode": 404, "title": "Not Found"}, 404)


class JSONServer:
    def __init__(self) -> None:
        self.routes: dict[str, Response] = {}
        self.paths: list[str] = []
        self.sent: dict[str, int] = {}  # path -> body bytes written to the socket
        self.active = 0  # connections open right now, and the most ever at once
        self.most = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/"

    @contextlib.contextmanager
    def running(self) -> Iterator[JSONServer]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def handle(self) -> None:
                with server._lock:
                    server.active += 1
                    server.most = max(server.most, server.active)
                try:
                    super().handle()
                finally:
                    with server._lock:
                        server.active -= 1

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                server.paths.append(path)
                response = server.routes.get(path.lower(), NOT_FOUND)
                time.sleep(response.delay)
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if response.stream:
                    if response.announce:
                        self.send_header("Content-Length", str(response.stream))
                    self.end_headers()
                    self._stream(path, response.stream)
                    return
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(response.body)

            def _stream(self, path: str, size: int) -> None:
                chunk = b"[" * 65536
                server.sent[path] = 0
                with contextlib.suppress(OSError):
                    while server.sent[path] < size:
                        self.wfile.write(chunk)
                        server.sent[path] += len(chunk)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        with serving(self._httpd):
            yield self


# --- RFC 9083 documents -------------------------------------------------------


def vcard(*props: list[Any]) -> list[Any]:
    return ["vcard", [["version", {}, "text", "4.0"], *props]]


def event(action: str, when: str) -> dict[str, str]:
    return {"eventAction": action, "eventDate": when}


def registrar_entity(name: str, iana_id: str, abuse: str) -> dict[str, Any]:
    return {
        "objectClassName": "entity",
        "handle": iana_id,
        "roles": ["registrar"],
        "publicIds": [{"type": "IANA Registrar ID", "identifier": iana_id}],
        "vcardArray": vcard(["fn", {}, "text", name]),
        "entities": [
            {
                "objectClassName": "entity",
                "roles": ["abuse"],
                "vcardArray": vcard(
                    ["fn", {}, "text", ""],
                    ["tel", {"type": "voice"}, "uri", "tel:+1.2086851750"],
                    ["email", {}, "text", abuse],
                ),
            }
        ],
    }


def domain(
    name: str,
    *,
    registrar: dict[str, Any],
    created: str,
    changed: str,
    expires: str,
    signed: bool,
    registrant: dict[str, Any] | None = None,
    related: str | None = None,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "objectClassName": "domain",
        "handle": f"{name.upper()}-HANDLE",
        "ldhName": name.upper(),
        "rdapConformance": ["rdap_level_0", "icann_rdap_technical_implementation_guide_1"],
        "links": [
            {
                "value": f"https://rdap.example/domain/{name.upper()}",
                "rel": "self",
                "href": f"https://rdap.example/domain/{name.upper()}",
                "type": "application/rdap+json",
            }
        ],
        "status": [
            "client delete prohibited",
            "client transfer prohibited",
            "server update prohibited",
        ],
        "entities": [registrar] + ([registrant] if registrant else []),
        "events": [
            event("registration", created),
            event("expiration", expires),
            event("last changed", changed),
            event("last update of RDAP database", "2026-11-28T23:30:04Z"),
        ],
        "secureDNS": {"delegationSigned": signed},
        "nameservers": [
            {"objectClassName": "nameserver", "ldhName": f"NS{n}.{name.upper()}"} for n in (1, 2)
        ],
        "notices": [{"title": "Terms of Use", "description": ["Service subject to Terms."]}],
    }
    if related:
        document["links"].append(
            {
                "value": related,
                "rel": "related",
                "href": related,
                "type": "application/rdap+json",
            }
        )
    return document


def registrant(org: str, cc: str) -> dict[str, Any]:
    return {
        "objectClassName": "entity",
        "roles": ["registrant"],
        "vcardArray": vcard(
            ["fn", {}, "text", "REDACTED FOR PRIVACY"],
            ["org", {}, "text", org],
            ["adr", {"cc": cc}, "text", ["", "", "", "", "CA", "", ""]],
        ),
    }


def ip_network() -> dict[str, Any]:
    return {
        "objectClassName": "ip network",
        "handle": "NET-8-8-8-0-2",
        "startAddress": "8.8.8.0",
        "endAddress": "8.8.8.255",
        "ipVersion": "v4",
        "name": "GOGL",
        "type": "DIRECT ALLOCATION",
        "parentHandle": "NET-8-0-0-0-1",
        "port43": "whois.arin.net",
        "cidr0_cidrs": [{"v4prefix": "8.8.8.0", "length": 24}],
        "status": ["active"],
        "events": [event("registration", "2023-12-28T17:24:33-05:00")],
        "entities": [
            {
                "objectClassName": "entity",
                "handle": "GOGL",
                "roles": ["registrant"],
                "vcardArray": vcard(
                    ["fn", {}, "text", "Google LLC"],
                    [
                        "adr",
                        {
                            "label": "1600 Amphitheatre Parkway\nMountain View\nCA\n94043\n"
                            "United States"
                        },
                        "text",
                        ["", "", "", "", "", "", ""],
                    ],
                    ["kind", {}, "text", "org"],
                ),
                "entities": [
                    {
                        "objectClassName": "entity",
                        "handle": "ABUSE5250-ARIN",
                        "roles": ["abuse"],
                        "vcardArray": vcard(
                            ["fn", {}, "text", "Abuse"],
                            ["email", {}, "text", "network-abuse@google.com"],
                        ),
                    }
                ],
            }
        ],
    }


def ripe_network() -> dict[str, Any]:
    return {
        "objectClassName": "ip network",
        "handle": "193.0.0.0 - 193.0.7.255",
        "startAddress": "193.0.0.0",
        "endAddress": "193.0.7.255",
        "ipVersion": "v4",
        "name": "RIPE-NCC",
        "type": "ASSIGNED PA",
        "country": "NL",
        "port43": "whois.ripe.net",
        "entities": [
            {
                "objectClassName": "entity",
                "handle": "ORG-RIEN1-RIPE",
                "roles": ["registrant"],
                "vcardArray": vcard(
                    [
                        "fn",
                        {},
                        "text",
                        "Reseaux IP Europeens Network Coordination Centre (RIPE NCC)",
                    ],
                    ["kind", {}, "text", "org"],
                ),
            },
            {
                "objectClassName": "entity",
                "handle": "OPS4-RIPE",
                "roles": ["abuse"],
                "vcardArray": vcard(["email", {}, "text", "abuse@ripe.net"]),
            },
        ],
    }


def autnum() -> dict[str, Any]:
    return {
        "objectClassName": "autnum",
        "handle": "AS15169",
        "startAutnum": 15169,
        "endAutnum": 15169,
        "name": "GOOGLE",
        "type": "DIRECT ALLOCATION",
        "port43": "whois.arin.net",
        "entities": [
            {
                "objectClassName": "entity",
                "handle": "GOGL",
                "roles": ["registrant"],
                "vcardArray": vcard(
                    ["fn", {}, "text", "Google LLC"],
                    ["adr", {"cc": "US"}, "text", ["", "", "", "", "", "", ""]],
                ),
            }
        ],
    }


@dataclass
class RdapWorld:
    bootstrap: JSONServer
    registry: JSONServer
    registrar: JSONServer
    ripe: JSONServer


def _day(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextlib.contextmanager
def rdap_world() -> Iterator[RdapWorld]:
    with (
        JSONServer().running() as boot,
        JSONServer().running() as registry,
        JSONServer().running() as registrar,
        JSONServer().running() as ripe,
    ):
        com = registry.url + "com/v1/"
        arin = registry.url + "registry/"
        boot.routes["/dns.json"] = Response(
            body=json.dumps(
                {
                    "version": "1.0",
                    "publication": "2026-11-20T19:00:02Z",
                    "description": "RDAP bootstrap file for Domain Name System registrations",
                    "services": [
                        [["com", "net"], [com]],
                        [["org"], [registry.url + "org/"]],  # plain http only
                        [["xn--zckzah"], ["https://rdap.example/test/"]],
                    ],
                }
            ).encode()
        )
        boot.routes["/ipv4.json"] = Response(
            body=json.dumps(
                {
                    "version": "1.0",
                    "services": [[["8.0.0.0/8", "193.0.0.0/8"], [arin]]],
                }
            ).encode()
        )
        boot.routes["/ipv6.json"] = Response(
            body=json.dumps({"version": "1.0", "services": [[["2001:4860::/32"], [arin]]]}).encode()
        )
        boot.routes["/asn.json"] = Response(
            body=json.dumps({"version": "1.0", "services": [[["15000-16000"], [arin]]]}).encode()
        )
        markmonitor = registrar_entity("MarkMonitor Inc.", "292", "abusecomplaints@markmonitor.com")
        registry.routes["/com/v1/domain/example.com"] = rdap_json(
            domain(
                "example.com",
                registrar=registrar_entity(
                    "RESERVED-Internet Assigned Numbers Authority", "376", "abuse@iana.org"
                ),
                created="1995-08-14T04:00:00Z",
                changed="2026-08-14T07:01:34Z",
                expires="2027-08-13T04:00:00Z",
                signed=True,
                registrant=registrant("Internet Assigned Numbers Authority", "US"),
            )
        )
        registry.routes["/com/v1/domain/google.com"] = rdap_json(
            domain(
                "google.com",
                registrar=markmonitor,
                created="1997-09-15T04:00:00Z",
                changed="2019-09-09T15:39:04Z",
                expires="2028-09-14T04:00:00Z",
                signed=False,
                related=registrar.url + "rdap/domain/GOOGLE.COM",
            )
        )
        registrar.routes["/rdap/domain/google.com"] = rdap_json(
            domain(
                "google.com",
                registrar=markmonitor,
                created="1997-09-15T07:00:00Z",
                changed="2024-08-02T02:17:33Z",
                expires="2028-09-13T07:00:00Z",
                signed=False,
                registrant=registrant("Google LLC", "US"),
            )
        )
        registry.routes["/com/v1/domain/soon.com"] = rdap_json(
            domain(
                "soon.com",
                registrar=markmonitor,
                created="2020-01-01T00:00:00Z",
                changed="2026-01-01T00:00:00Z",
                expires=_day(10),
                signed=False,
            )
        )
        registry.routes["/com/v1/domain/busy.com"] = rdap_json(
            {"errorCode": 429, "title": "Too Many Requests"}, 429
        )
        registry.routes["/com/v1/domain/slow.com"] = Response(body=b"{}", delay=1.5)
        registry.routes["/com/v1/domain/huge.com"] = Response(body=b"[" + b"0," * 200_000 + b"0]")
        registry.routes["/registry/ip/8.8.8.8"] = rdap_json(ip_network())
        registry.routes["/registry/ip/2001:4860::/32"] = rdap_json(
            {
                **ip_network(),
                "startAddress": "2001:4860::",
                "endAddress": "2001:4860:ffff:ffff:ffff:ffff:ffff:ffff",
                "cidr0_cidrs": [{"v6prefix": "2001:4860::", "length": 32}],
                "ipVersion": "v6",
                "name": "GOOGLE-IPV6",
            }
        )
        # ARIN sends queries for addresses another RIR holds there, as RIRs do.
        registry.routes["/registry/ip/193.0.6.139"] = Response(
            301, headers={"Location": ripe.url + "ip/193.0.6.139"}
        )
        ripe.routes["/ip/193.0.6.139"] = rdap_json(ripe_network())
        registry.routes["/registry/autnum/15169"] = rdap_json(autnum())
        yield RdapWorld(boot, registry, registrar, ripe)


# --- hostile registries: each must make RDAP fail cleanly and WHOIS answer ----------

FIFTY_MB = 50 * 1024 * 1024

# domain -> what the Verisign-style registry answers for it.
HOSTILE: dict[str, str] = {
    "nonjson.com": "an HTML error page instead of JSON",
    "deep.com": "JSON arrays nested 100,000 deep",
    "deepobject.com": "JSON objects nested 50,000 deep (all that fits in 256 KB)",
    "strings.com": "a string where a list belongs",
    "numbers.com": "numbers as dates",
    "fifty.com": "a 50 MB body, announced by Content-Length",
    "endless.com": "a 50 MB body, unannounced (ends when the connection does)",
    "loop.com": "a redirect loop",
    "badlocation.com": "a redirect to a URL that cannot be parsed",
    "infinity.com": "an integer of 5,000 digits",
}


def add_hostile(world: RdapWorld) -> None:
    """The registry's answers for every name in HOSTILE."""
    routes = world.registry.routes
    routes["/com/v1/domain/nonjson.com"] = Response(
        200,
        b"<html><body><h1>Service Unavailable</h1></body></html>",
        {"Content-Type": "text/html"},
    )
    # Python's json raises RecursionError, not ValueError, on deep nesting.
    routes["/com/v1/domain/deep.com"] = Response(body=b"[" * 100_000 + b"]" * 100_000)
    routes["/com/v1/domain/deepobject.com"] = Response(
        body=b'{"":' * 50_000 + b"null" + b"}" * 50_000
    )
    strings = domain(
        "strings.com",
        registrar=registrar_entity("Example Registrar", "9999", "abuse@example.com"),
        created="2001-01-01T00:00:00Z",
        changed="2026-01-01T00:00:00Z",
        expires="2030-01-01T00:00:00Z",
        signed=False,
    )
    strings["nameservers"] = "ns1.strings.com ns2.strings.com"
    strings["entities"] = "Example Registrar"
    routes["/com/v1/domain/strings.com"] = rdap_json(strings)
    numbers = domain(
        "numbers.com",
        registrar=registrar_entity("Example Registrar", "9999", "abuse@example.com"),
        created="2001-01-01T00:00:00Z",
        changed="2026-01-01T00:00:00Z",
        expires="2030-01-01T00:00:00Z",
        signed=False,
    )
    numbers["events"] = [
        {"eventAction": "registration", "eventDate": 978307200},
        {"eventAction": "expiration", "eventDate": 20300101},
    ]
    routes["/com/v1/domain/numbers.com"] = rdap_json(numbers)
    routes["/com/v1/domain/fifty.com"] = Response(stream=FIFTY_MB)
    routes["/com/v1/domain/endless.com"] = Response(stream=FIFTY_MB, announce=False)
    loop = world.registry.url + "com/v1/domain/loop.com"
    routes["/com/v1/domain/loop.com"] = Response(302, headers={"Location": "/elsewhere/loop.com"})
    routes["/elsewhere/loop.com"] = Response(302, headers={"Location": loop})
    routes["/com/v1/domain/badlocation.com"] = Response(
        302, headers={"Location": "http://[::1/domain/badlocation.com"}
    )
    routes["/com/v1/domain/infinity.com"] = Response(
        body=b'{"objectClassName": "domain", "handle": ' + b"9" * 5000 + b"}"
    )
