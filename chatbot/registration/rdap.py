"""RDAP (RFCs 7480, 9082, 9083, 9224): find the service in IANA's bootstrap, ask it, read it.

The bootstrap files come from the operator-configured base URL and are
trusted; every RDAP server they name, every redirect and every `related`
link passes the address policy and must be https unless private targets are
allowed (tests, labs).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import ipaddress
import itertools
import json
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from chatbot import policy, politeness
from chatbot.errors import (
    ChatbotError,
    ConnectFailed,
    ProtocolError,
    RateLimited,
    TargetRefused,
    Timeout,
)
from chatbot.registration.records import (
    MAX_BYTES,
    RAW_LINES,
    Record,
    Target,
    network_span,
    rir_of,
    when,
)

log = logging.getLogger(__name__)

# httpx's connection layer imports anyio's asyncio backend at its first connection:
# some 100 ms of imports that would run on the event loop. Imported with this module
# instead, which commands.py imports in a thread; a future anyio without it costs
# only that stall again.
with contextlib.suppress(ImportError):
    importlib.import_module("anyio._backends._asyncio")

BOOTSTRAP_TTL_SECONDS = 6 * 3600
BOOTSTRAP_MAX_BYTES = 4 * 1024 * 1024  # dns.json is a few hundred KB and growing
MAX_REDIRECTS = 5
MAX_ENTITY_DEPTH = 8  # registrars nest abuse contacts two or three deep, never more
ACCEPT = {
    "Accept": "application/rdap+json, application/json;q=0.9",
    # One request per connection: a connection is open only while its
    # politeness slot is held, not idling in a pool afterwards.
    "Connection": "close",
}

# RDAP services IANA's dns.json does not list (ccTLDs need not register theirs).
KNOWN: Mapping[str, str] = {
    "de": "https://rdap.denic.de/",  # DENIC's pilot service, https only
}

_REGISTRIES = {"domain": "dns", "asn": "asn"}


# bootstrap URL -> (monotonic time fetched, services)
_bootstrap_cache: dict[str, tuple[float, list[Any]]] = {}


class NoService(LookupError):
    """No RDAP service is known for this target; port-43 WHOIS is the way."""


@dataclass(frozen=True)
class Options:
    bootstrap_url: str = "https://data.iana.org/rdap/"
    timeout: float = 4.0
    allow_private: bool = False
    resolver: policy.Resolver = policy.SYSTEM
    max_bytes: int = MAX_BYTES
    known: Mapping[str, str] = field(default_factory=lambda: dict(KNOWN))
    # Shared by every lookup unless a caller (a test) brings its own.
    cache: dict[str, tuple[float, list[Any]]] = field(default_factory=lambda: _bootstrap_cache)
    max_per_server: int = politeness.DEFAULT_LIMIT


def _host(url: str) -> str:
    """host[:port] of a URL, as the answer's `source:` shows it: never its userinfo."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "(a malformed URL)"
    if not host:
        return "(a URL without a host)"
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port else shown


class _Unreadable(Exception):
    """An answer that is not the JSON object it should be; args[0] says how."""


def decode(body: bytes) -> Any:
    """JSON from an RDAP server, any failure one `_Unreadable` reason."""
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise _Unreadable("JSON nested too deep") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _Unreadable("not JSON") from exc
    except ValueError as exc:  # an integer over Python's 4,300-digit conversion limit
        raise _Unreadable("JSON I cannot read") from exc


def _server_key(url: str) -> str:
    try:
        return politeness.key(urlsplit(url).hostname or "")
    except ValueError:
        return ""


def _too_big(length: str | None, cap: int) -> bool:
    if not (length and length.isascii() and length.isdigit()):
        return False
    # A length of more digits than any cap is too big without converting it.
    return len(length) > 12 or int(length) > cap


async def _fetch(
    client: httpx.AsyncClient, url: str, host: str, *, options: Options, trusted: bool
) -> tuple[str | None, bytes | None]:
    """One request: (redirect location, None), (None, None) for 404, or (None, body)."""
    cap = BOOTSTRAP_MAX_BYTES if trusted else options.max_bytes
    too_big = ProtocolError(server=host, reason=f"an answer larger than {cap // 1024} KB")
    async with asyncio.timeout(options.timeout), client.stream("GET", url) as response:
        if response.is_redirect and "location" in response.headers:
            return response.headers["location"], None
        if response.status_code == 404:
            return None, None
        if response.status_code == 429:
            raise RateLimited(server=host)
        if response.status_code >= 400:
            raise ProtocolError(server=host, reason=f"HTTP {response.status_code}")
        if _too_big(response.headers.get("content-length"), cap):
            raise too_big  # said up front: not a byte of it is read
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > cap:
                raise too_big
    return None, bytes(body)


async def _get(
    client: httpx.AsyncClient, url: str, *, options: Options, trusted: bool, hops: list[str]
) -> bytes | None:
    """GET one document, following redirects by hand so each hop is checked; 404 is None.

    Whatever one server's answer provokes is that server's ProtocolError (or
    Timeout, RateLimited...), never an internal error: a hostile registrar
    must not cost the user the WHOIS fallback.
    """
    visited: set[str] = set()
    for _ in range(MAX_REDIRECTS + 1):
        host = _host(url)
        if url in visited:
            raise ProtocolError(server=host, reason="a redirect loop")
        visited.add(url)
        scheme = url.partition(":")[0].lower()
        if scheme != "https" and not (trusted or options.allow_private):
            raise TargetRefused("{target} is not https, which I may not contact.", target=url)
        hops.append(host)
        try:
            # Waiting for a slot counts against the caller's deadline, not the request's timeout.
            async with politeness.slot(_server_key(url), options.max_per_server):
                location, body = await _fetch(client, url, host, options=options, trusted=trusted)
        except ChatbotError:
            raise
        except TimeoutError as exc:
            raise Timeout(server=host, seconds=options.timeout) from exc
        except httpx.TimeoutException as exc:
            raise Timeout(server=host, seconds=options.timeout) from exc
        except httpx.ConnectError as exc:
            raise ConnectFailed(server=host, reason=_reason(exc)) from exc
        except httpx.HTTPError as exc:
            raise ProtocolError(server=host, reason=_reason(exc)) from exc
        except Exception as exc:
            # httpx.InvalidURL for a Location it cannot parse, and whatever else.
            log.warning("RDAP answer from %s not followed", host, exc_info=True)
            raise ProtocolError(server=host, reason=_reason(exc)) from exc
        if location is None:
            return body
        try:
            url = urljoin(url, location)
        except ValueError as exc:  # "http://[::1/..." and other unparseable Locations
            raise ProtocolError(server=host, reason="a redirect to a malformed URL") from exc
    raise ProtocolError(server=_host(url), reason=f"more than {MAX_REDIRECTS} redirects")


async def _client(options: Options, *, allow_private: bool) -> httpx.AsyncClient:
    """A guarded client, made in a thread: its TLS context loads a CA bundle, some
    15 ms of CPU that would otherwise stall the event loop on every lookup."""
    return await asyncio.to_thread(
        policy.guarded_client,
        allow_private=allow_private,
        timeout=options.timeout,
        resolver=options.resolver,
        headers=ACCEPT,
    )


def _reason(exc: Exception) -> str:
    """An exception's words as one short clause (the template adds the full stop)."""
    text = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__
    return text if len(text) <= 120 else text[:119] + "…"


async def _json(body: bytes, server: str) -> Any:
    """Decoded off the event loop: a bootstrap file is megabytes."""
    try:
        return await asyncio.to_thread(decode, body)
    except _Unreadable as exc:
        raise ProtocolError(server=server, reason=exc.args[0]) from exc


async def services(registry: str, options: Options) -> list[Any]:
    """The `services` of one bootstrap file (dns, ipv4, ipv6, asn), cached for hours."""
    url = urljoin(options.bootstrap_url.rstrip("/") + "/", f"{registry}.json")
    cached = options.cache.get(url)
    if cached is not None and time.monotonic() - cached[0] < BOOTSTRAP_TTL_SECONDS:
        return cached[1]
    # The bootstrap is the operator's choice of trust anchor, like the WHOIS root.
    async with await _client(options, allow_private=True) as client:
        body = await _get(client, url, options=options, trusted=True, hops=[])
    data = await _json(body, _host(url)) if body is not None else None
    entries = data.get("services") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ProtocolError(server=_host(url), reason=f"{registry}.json has no services")
    options.cache[url] = (time.monotonic(), entries)
    return entries


def _entries(entries: list[Any]) -> list[tuple[list[str], list[str]]]:
    good = []
    for entry in entries:
        if (
            isinstance(entry, list)
            and len(entry) >= 2
            and all(isinstance(x, list) for x in entry[-2:])
        ):
            keys, urls = entry[-2], entry[-1]
            good.append(([str(k) for k in keys], [str(u) for u in urls]))
    return good


def _number(text: str) -> bool:
    """ASCII digits of an AS number (isdigit alone takes "²", which int() refuses)."""
    return text.isascii() and text.isdigit() and len(text) <= 10


def _match(target: Target, entries: list[Any], known: Mapping[str, str]) -> list[str]:
    """The base URLs of the most specific bootstrap entry for the target."""
    parsed = _entries(entries)
    if target.kind == "domain":
        labels = target.query.split(".")
        for i in range(len(labels)):
            suffix = ".".join(labels[i:])
            for keys, urls in parsed:
                if suffix in (k.lower() for k in keys):
                    return urls
        tld = labels[-1]
        return [known[tld]] if tld in known else []
    if target.kind == "asn":
        number = int(target.query)
        for keys, urls in parsed:
            for key in keys:
                low, _, high = key.partition("-")
                high = high or low
                if _number(low) and _number(high) and int(low) <= number <= int(high):
                    return urls
        return []
    wanted = ipaddress.ip_network(target.query, strict=False)
    best: tuple[int, list[str]] = (-1, [])
    for keys, urls in parsed:
        for key in keys:
            try:
                network = ipaddress.ip_network(key, strict=False)
            except ValueError:
                continue
            if (
                network.version == wanted.version
                and wanted.subnet_of(network)  # type: ignore[arg-type]  # same version, checked above
                and network.prefixlen > best[0]
            ):
                best = (network.prefixlen, urls)
    return best[1]


async def service_url(target: Target, options: Options) -> str:
    if target.kind == "ip":
        registry = "ipv6" if ":" in target.query else "ipv4"
    else:
        registry = _REGISTRIES[target.kind]
    urls = _match(target, await services(registry, options), options.known)
    usable = [u for u in urls if u.startswith("https://")]
    if options.allow_private:
        usable += [u for u in urls if u.startswith("http://")]
    if not usable:
        raise NoService(target.query)
    return usable[0]


# --- reading RFC 9083 JSON --------------------------------------------------


def _vcard(entity: Mapping[str, Any]) -> dict[str, list[tuple[dict[str, Any], Any]]]:
    props: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    card = entity.get("vcardArray")
    if isinstance(card, list) and len(card) == 2 and isinstance(card[1], list):
        for prop in card[1]:
            if isinstance(prop, list) and len(prop) >= 4 and isinstance(prop[0], str):
                params = prop[1] if isinstance(prop[1], dict) else {}
                props.setdefault(prop[0].lower(), []).append((params, prop[3]))
    return props


def _published(value: Any) -> str:
    """A vCard value as text, or '' where it is redacted (RFC 9537 registries write words)."""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value if v)
    value = str(value or "").strip()
    return "" if "redacted" in value.lower() or "privacy" in value.lower() else value


def _name(entity: Mapping[str, Any]) -> str:
    props = _vcard(entity)
    for key in ("org", "fn"):
        for _, value in props.get(key, []):
            if _published(value):
                return _published(value)
    return ""


def _country(entity: Mapping[str, Any]) -> str:
    for params, value in _vcard(entity).get("adr", []):
        cc = params.get("cc")
        if isinstance(cc, str) and cc:
            return cc.upper()
        if isinstance(value, list) and len(value) >= 7 and _published(value[6]):
            return _published(value[6])
        label = params.get("label")
        if isinstance(label, str) and label.strip():
            # ARIN writes only a label; its last line is the country's name.
            return _published(label.strip().splitlines()[-1])
    return ""


def _email(entity: Mapping[str, Any]) -> str:
    return next((_published(v) for _, v in _vcard(entity).get("email", []) if _published(v)), "")


def _with_role(entities: Any, role: str, depth: int = 0) -> list[Mapping[str, Any]]:
    """Entities having `role`, searched depth first (abuse contacts nest in registrars)."""
    found: list[Mapping[str, Any]] = []
    if depth > MAX_ENTITY_DEPTH:
        return found
    for entity in entities if isinstance(entities, list) else []:
        if not isinstance(entity, dict):
            continue
        roles = entity.get("roles")
        if isinstance(roles, list) and role in roles:
            found.append(entity)
        found.extend(_with_role(entity.get("entities"), role, depth + 1))
    return found


def _events(data: Mapping[str, Any], record: Record) -> None:
    for event in data.get("events") or []:
        if not isinstance(event, dict):
            continue
        action, date = str(event.get("eventAction", "")).lower(), str(event.get("eventDate", ""))
        if action == "registration":
            record.created = when(date)
        elif action in ("last changed", "last update"):
            record.changed = when(date)
        elif action == "expiration":
            record.expires = when(date)


def summarise(target: Target, data: Mapping[str, Any], server: str) -> Record:
    """A Record from one RFC 9083 object (domain, ip network or autnum)."""
    record = Record(kind=target.kind, protocol="RDAP")
    record.handle = str(data.get("handle") or "")
    entities = data.get("entities")
    _events(data, record)
    status = data.get("status")
    record.statuses = [str(s) for s in status] if isinstance(status, list) else []
    abuse = _with_role(entities, "abuse")
    record.abuse = next((_email(e) for e in abuse if _email(e)), "")
    registrant = _with_role(entities, "registrant")
    if target.kind == "domain":
        record.name = str(data.get("ldhName") or target.query).lower()
        registrar = _with_role(entities, "registrar")
        record.registrar = next((_name(e) for e in registrar if _name(e)), "")
        record.nameservers = [
            str(ns.get("ldhName", "")).lower().rstrip(".")
            for ns in data.get("nameservers") or []
            if isinstance(ns, dict) and ns.get("ldhName")
        ]
        secure = data.get("secureDNS")
        if isinstance(secure, dict) and "delegationSigned" in secure:
            record.dnssec = bool(secure["delegationSigned"])
        record.registrant_org = next((_name(e) for e in registrant if _name(e)), "")
        record.registrant_country = next((_country(e) for e in registrant if _country(e)), "")
        return record
    record.name = str(data.get("name") or "")
    record.country = str(data.get("country") or "")
    owners = registrant or _with_role(entities, "administrative")
    record.org = next((_name(e) for e in owners if _name(e)), "")
    record.registry = rir_of(str(data.get("port43") or "")) or rir_of(server)
    if target.kind == "ip":
        record.start = str(data.get("startAddress") or "")
        record.end = str(data.get("endAddress") or "")
        for cidr in data.get("cidr0_cidrs") or []:
            if isinstance(cidr, dict):
                prefix = cidr.get("v4prefix") or cidr.get("v6prefix")
                if prefix and cidr.get("length") is not None:
                    record.cidrs.append(f"{prefix}/{cidr['length']}")
        network_span(record)
    else:
        start, end = data.get("startAutnum"), data.get("endAutnum")
        if start is not None and end is not None and start != end:
            record.handle = record.handle or f"AS{start}-AS{end}"
    if not record.country:
        record.country = next((_country(e) for e in owners if _country(e)), "")
    return record


def related_link(data: Mapping[str, Any]) -> str | None:
    """The registrar's RDAP URL for this domain, as a registry's record links it."""
    for link in data.get("links") or []:
        if (
            isinstance(link, dict)
            and link.get("rel") == "related"
            and "rdap" in str(link.get("type", "application/rdap+json"))
            and "/domain/" in str(link.get("href", "")).lower()
        ):
            return str(link["href"])
    return None


def _longer_than(value: Any, room: int) -> bool:
    """Whether `value` as JSON is surely longer than `room` characters, found without
    writing out more than about `room` of it (a 256 KB subtree is not dumped to learn
    that it does not fit on a line)."""
    pending, size = [value], 0
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            size += 2 + sum(len(key) + 4 for key in item)
            pending.extend(item.values())
        elif isinstance(item, list):
            size += 2 + len(item)
            pending.extend(item)
        else:
            size += 4 if item is None else len(str(item))
        if size > room:
            return True
    return False


def _pretty(value: Any, indent: str, width: int) -> Iterator[str]:
    if not isinstance(value, dict | list) or not value:
        yield indent + json.dumps(value, ensure_ascii=False)
        return
    if not _longer_than(value, width - len(indent)):
        flat = json.dumps(value, ensure_ascii=False)
        if len(indent) + len(flat) <= width:
            yield indent + flat
            return
    inner = indent + "  "
    yield indent + ("{" if isinstance(value, dict) else "[")
    items = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
    for index, (key, item) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        if key is None:
            lines = _pretty(item, inner, width)
            pending = next(lines)
        else:
            label = json.dumps(key, ensure_ascii=False) + ": "
            lines = _pretty(item, inner, width - len(label))
            pending = inner + label + next(lines).lstrip()
        for line in lines:
            yield pending
            pending = line
        yield pending + comma
    yield indent + ("}" if isinstance(value, dict) else "]")


def pretty(value: Any, limit: int | None = None, width: int = 96) -> list[str]:
    """JSON lines for a chat: short objects and arrays on one line, vCards readable.

    Written out only as far as `limit` lines: a chat shows a few hundred, and the
    rest of a 256 KB answer would be CPU spent for nothing.
    """
    return list(itertools.islice(_pretty(value, "", width), limit))


def _path(target: Target) -> str:
    return {"domain": "domain", "ip": "ip", "asn": "autnum"}[target.kind] + "/" + target.query


# Fields `summarise` reads, and the JSON type RFC 9083 gives each.
_LISTS = ("entities", "events", "status", "nameservers", "links", "cidr0_cidrs")
_TEXTS = ("handle", "ldhName", "name", "country", "port43", "startAddress", "endAddress")
_NUMBERS = ("startAutnum", "endAutnum")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def shape_problem(data: Mapping[str, Any]) -> str | None:
    """Why the fields we read do not have RFC 9083's types, or None when they do.

    A server that writes a string where a list belongs, or a number as a date,
    is not one whose other fields we should trust: RDAP fails and WHOIS answers.
    """
    for names, wanted, kind in (
        (_LISTS, list, "a list"),
        (_TEXTS, str, "a string"),
        (_NUMBERS, int, "a number"),
    ):
        for name in names:
            value = data.get(name)
            if value is not None and (not isinstance(value, wanted) or isinstance(value, bool)):
                return f"its {name} is {_kind(value)}, not {kind}"
    for event in data.get("events") or []:
        if not isinstance(event, dict):
            return f"an event is {_kind(event)}, not an object"
        date = event.get("eventDate")
        if date is not None and not isinstance(date, str):
            return f"an eventDate is {_kind(date)}, not a date"
    return None


@dataclass
class _Reading:
    record: Record
    data: dict[str, Any]
    raw: list[str]


def _reading(target: Target, body: bytes, server: str, raw: bool) -> _Reading:
    data = decode(body)
    if not isinstance(data, dict):
        raise _Unreadable("not an RDAP object")
    problem = shape_problem(data)
    if problem:
        raise _Unreadable(problem)
    # Pretty-printing 100 KB takes tens of milliseconds: only for +raw, and only as
    # many lines as are shown. It is optional: a document too odd to print costs only
    # its printout, never the answer.
    printed: list[str] = []
    if raw:
        try:
            printed = pretty(data, limit=RAW_LINES)
        except (RecursionError, ValueError, TypeError):
            printed = ["(this answer's JSON could not be printed)"]
    return _Reading(summarise(target, data, server), data, printed)


async def _read(target: Target, body: bytes, server: str) -> _Reading:
    """Decode and read one answer in a thread (big JSON is CPU work); any failure is
    this server's ProtocolError."""
    try:
        return await asyncio.to_thread(_reading, target, body, server, target.raw)
    except _Unreadable as exc:
        raise ProtocolError(server=server, reason=exc.args[0]) from exc
    except Exception as exc:
        log.warning("RDAP answer from %s not read", server, exc_info=True)
        raise ProtocolError(server=server, reason="an RDAP object I could not read") from exc


async def lookup(target: Target, options: Options, deadline: float | None = None) -> Record:
    """Ask the RDAP service for the target; raises NoService when there is none.

    `deadline` (event-loop time) bounds the optional registrar step: when it
    cannot finish by then, the registry's answer is kept with a note.
    """
    base = await service_url(target, options)
    url = urljoin(base.rstrip("/") + "/", _path(target))
    hops: list[str] = []
    async with await _client(options, allow_private=options.allow_private) as client:
        body = await _get(client, url, options=options, trusted=False, hops=hops)
        if body is None:
            return Record(kind=target.kind, protocol="RDAP", servers=hops, found=False)
        reading = await _read(target, body, hops[-1])
        record = reading.record
        record.servers = hops
        record.raw = reading.raw
        link = related_link(reading.data) if target.kind == "domain" else None
        # A thin registry publishes no registrant; the registrar's record may.
        if link and not (record.registrant_org or record.registrant_country):
            record.notes.extend(await _registrar(client, target, link, options, record, deadline))
    return record


async def _registrar(
    client: httpx.AsyncClient,
    target: Target,
    url: str,
    options: Options,
    record: Record,
    deadline: float | None,
) -> list[str]:
    """Fill `record` from the registrar's record; a failure is a note and the registry's
    answer stays."""
    hops: list[str] = []
    left = None if deadline is None else deadline - asyncio.get_running_loop().time()
    try:
        if left is not None and left <= 0:
            raise TimeoutError
        async with asyncio.timeout(left):
            body = await _get(client, url, options=options, trusted=False, hops=hops)
            reading = await _read(target, body, hops[-1]) if body is not None else None
    except ChatbotError as exc:
        return [f"The registrar's RDAP record was not read: {exc.message}"]
    except TimeoutError:
        return [
            "The registrar's RDAP record was not read: "
            + Timeout(server=_host(url), seconds=round(max(left or 0, 0), 1)).message
        ]
    if reading is None:
        return [f"The registrar's RDAP server {_host(url)} has no record of {target.query}."]
    record.fill(reading.record)
    record.servers.extend(h for h in hops if h not in record.servers)
    if target.raw:
        record.raw += ["", f"# registrar record ({_host(url)})", *reading.raw]
    return []
