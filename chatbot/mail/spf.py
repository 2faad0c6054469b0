"""SPF (RFC 7208): the record parsed, the include tree walked, the limits counted.

`parse` and `findings` are pure; `walk` asks DNS through the audit's `Lookup`
(the configured resolvers), asking each record's terms concurrently.

Why not checkdmarc: its lookups are dnspython's blocking resolver (a thread
per audit at best, one query after another), its answers go through a
process-wide cache, and its MTA-STS and BIMI fetches use `requests` with the
system trust store and redirects followed, outside our address policy. The
SPF grammar is small; writing it here keeps every query on our resolvers,
with our timeouts, concurrent, and every judgement in one readable place.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass, field

from chatbot.mail import findings as f
from chatbot.mail.lookup import Lookup, Result

MAX_LOOKUPS, MAX_VOIDS = 10, 2
MAX_MX_NAMES = 10
# A hostile or broken tree must not make us ask hundreds of questions.
MAX_RECORDS, MAX_DEPTH = 40, 10
MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
# Terms that make the receiver ask DNS: each counts against the limit of 10.
QUERYING = frozenset({"include", "a", "mx", "ptr", "exists", "redirect"})
QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
CHECK = "SPF"

_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9_.-]*)=(.*)", re.S)
_MECHANISM = re.compile(r"([+\-~?]?)([A-Za-z][A-Za-z0-9_.-]*)(.*)", re.S)
_MACRO = re.compile(r"%(?:\{[slodipvhcrtSLODIPVHCRT]\d*r?[.\-+,/_=]*\}|[%_-])")
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


@dataclass(frozen=True)
class Term:
    text: str  # as written
    name: str  # mechanism or modifier, lower case
    value: str = ""  # domain-spec, address or modifier value
    qualifier: str = "+"
    modifier: bool = False

    @property
    def has_macro(self) -> bool:
        return "%" in self.value


@dataclass
class Record:
    text: str
    terms: list[Term] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def all(self) -> Term | None:
        return next((t for t in self.terms if t.name == "all" and not t.modifier), None)

    @property
    def redirect(self) -> str | None:
        term = next((t for t in self.terms if t.modifier and t.name == "redirect"), None)
        return term.value if term else None

    @property
    def evaluated(self) -> list[Term]:
        """Mechanisms up to `all` (the rest are never reached), then redirect unless `all`."""
        out: list[Term] = []
        for term in self.terms:
            if term.modifier:
                continue
            out.append(term)
            if term.name == "all":
                return out
        redirect = next((t for t in self.terms if t.modifier and t.name == "redirect"), None)
        return [*out, redirect] if redirect else out


def is_spf(text: str) -> bool:
    return text[:6].lower() == "v=spf1" and (len(text) == 6 or text[6] == " ")


def _domain_error(spec: str) -> str | None:
    """Why `spec` is not a valid domain-spec (RFC 7208 §7.1), or None."""
    if "%" in spec:
        rest = _MACRO.sub("", spec)
        if "%" in rest:
            return "has an invalid macro"
        return None  # expanded per message: nothing more to check here
    labels = spec.rstrip(".").split(".")
    if len(spec) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(x) for x in labels):
        return "is not a valid domain name"
    if labels[-1].isdigit():
        return "ends in a number, not a top-level domain"
    return None


_DUAL_CIDR = re.compile(r"(?:/(\d{1,3}))?(?://(\d{1,3}))?")


def _cidr_error(suffix: str) -> str | None:
    """The error in an a/mx dual-CIDR suffix ('/24', '//64', '/24//64'), or None."""
    match = _DUAL_CIDR.fullmatch(suffix)
    if match is None:
        return "has an invalid prefix length"
    v4, v6 = match.groups()
    if (v4 and int(v4) > 32) or (v6 and int(v6) > 128):
        return "has a prefix length out of range"
    return None


def _mechanism(word: str) -> tuple[Term | None, str | None]:
    match = _MECHANISM.fullmatch(word)
    if match is None:
        return None, f"{word} is not a mechanism or modifier"
    qualifier, name, rest = match.group(1) or "+", match.group(2).lower(), match.group(3)
    if name not in MECHANISMS:
        return None, f"{word}: unknown mechanism {name}"
    value, error = "", None
    if name == "all":
        error = f"{word}: all takes no value" if rest else None
    elif name in ("ip4", "ip6"):
        address, _, prefix = rest.removeprefix(":").partition("/")
        kind = ipaddress.IPv4Address if name == "ip4" else ipaddress.IPv6Address
        try:
            kind(address)
        except ValueError:
            family = "IPv4" if name == "ip4" else "IPv6"
            error = f"{word}: {address or 'nothing'} is not an {family} address"
        if not rest.startswith(":"):
            error = f"{word}: {name} needs :address"
        elif prefix and (not prefix.isdigit() or int(prefix) > (32 if name == "ip4" else 128)):
            error = f"{word}: /{prefix} is not a valid prefix length"
        value = rest[1:]
    elif name in ("include", "exists"):
        if not rest.startswith(":") or len(rest) < 2:
            error = f"{word}: {name} needs :domain"
        else:
            value = rest[1:]
            problem = _domain_error(value)
            error = f"{word}: {value} {problem}" if problem else None
    else:  # a, mx, ptr: optional :domain, a and mx optional CIDR
        spec, slash, cidr = rest.partition("/")
        cidr = slash + cidr
        if spec and not spec.startswith(":"):
            return None, f"{word}: unknown mechanism {name}{spec}"
        value = spec[1:]
        if value:
            problem = _domain_error(value)
            error = f"{word}: {value} {problem}" if problem else None
        if slash:
            if name == "ptr":
                error = f"{word}: ptr takes no prefix length"
            else:
                problem = _cidr_error(cidr)
                error = error or (f"{word} {problem}" if problem else None)
    return Term(word, name, value, qualifier), error


def parse(text: str) -> Record:
    """The terms of one SPF record, and every syntax error in it (each a permerror)."""
    record = Record(text)
    words = text.split()
    if not words or words[0].lower() != "v=spf1":
        record.errors.append("it does not start with v=spf1")
        return record
    seen: set[str] = set()
    for word in words[1:]:
        modifier = _MODIFIER.fullmatch(word)
        if modifier and ":" not in modifier.group(1):
            name, value = modifier.group(1).lower(), modifier.group(2)
            if name in ("redirect", "exp"):
                if name in seen:
                    record.errors.append(f"{name}= appears twice")
                seen.add(name)
                problem = _domain_error(value) if value else "is empty"
                if problem:
                    record.errors.append(f"{word}: {value or name + '='} {problem}")
            record.terms.append(Term(word, name, value, "", modifier=True))
            continue
        term, error = _mechanism(word)
        if error:
            record.errors.append(error)
        if term:
            record.terms.append(term)
    return record


@dataclass
class Node:
    """One SPF record in the tree, reached from its parent through `via`."""

    domain: str
    via: str = ""  # "include:x.test", "redirect=x.test"; "" at the top
    record: Record | None = None
    count: int = 0  # DNS-querying terms in this record
    voids: list[str] = field(default_factory=list)  # names whose lookup was void
    errors: list[str] = field(default_factory=list)  # lookups that failed
    problem: str = ""  # why there is no usable record here
    children: list[Node] = field(default_factory=list)
    mx_overflow: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.count + sum(child.total for child in self.children)

    def nodes(self) -> list[Node]:
        return [self, *(n for child in self.children for n in child.nodes())]

    def heaviest(self) -> list[Node]:
        """The path from here down through the child using the most lookups, each step."""
        if not self.children:
            return [self]
        child = max(self.children, key=lambda c: c.total)
        return [self, *child.heaviest()]


@dataclass
class Walk:
    lookup: Lookup
    records: int = 0  # records fetched, against MAX_RECORDS


def _spf_records(result: Result) -> list[str]:
    return [text for text in result.texts() if is_spf(text)]


async def walk(lookup: Lookup, domain: str) -> Node:
    """The whole tree of `domain`'s SPF record: includes and redirects followed, counted."""
    return await _node(Walk(lookup), domain, "", (), 0)


async def _node(state: Walk, domain: str, via: str, ancestors: tuple[str, ...], depth: int) -> Node:
    node = Node(domain, via)
    state.records += 1
    result = await state.lookup.ask(domain, "TXT")
    if result.status == "error":
        node.problem = f"the lookup of {domain} failed: {result.problem()}"
        node.errors.append(node.problem)
        return node
    if result.void:
        node.voids.append(domain)
    found = _spf_records(result)
    if not found:
        node.problem = "no SPF record"
        return node
    if len(found) > 1:
        node.problem = f"{len(found)} SPF records"
        return node
    node.record = record = parse(found[0])
    terms = record.evaluated
    node.count = sum(1 for t in terms if t.name in QUERYING)
    lineage = (*ancestors, domain.lower())

    async def follow(term: Term) -> Node | None:
        target = term.value.rstrip(".")
        if term.name in ("include", "redirect"):
            if term.has_macro:
                return None  # depends on the sender; not expandable here
            if target.lower() in lineage:
                return Node(target, term.text, problem="an include loop")
            if depth >= MAX_DEPTH or state.records >= MAX_RECORDS:
                return Node(target, term.text, problem="not followed (the tree is too big)")
            return await _node(state, target, term.text, lineage, depth + 1)
        if term.has_macro or term.name == "ptr":
            return None
        name = target or domain
        if term.name == "mx":
            answer = await state.lookup.ask(name, "MX")
            _count_void(node, answer)
            hosts = [str(r.exchange).rstrip(".") for r in answer.rdatas]  # type: ignore[attr-defined]
            if len(hosts) > MAX_MX_NAMES:
                node.mx_overflow.append(name)
            return None
        if term.name in ("a", "exists"):
            types = ("A", "AAAA") if term.name == "a" else ("A",)
            answers = await asyncio.gather(*(state.lookup.ask(name, t) for t in types))
            if all(a.void for a in answers):
                node.voids.append(name)
            for answer in answers:
                if answer.status == "error":
                    node.errors.append(f"the lookup of {name} failed: {answer.problem()}")
        return None

    followed = await asyncio.gather(*(follow(t) for t in terms if t.name in QUERYING))
    node.children = [child for child in followed if child is not None]
    return node


def _count_void(node: Node, answer: Result) -> None:
    if answer.void:
        node.voids.append(answer.name)
    elif answer.status == "error":
        node.errors.append(f"the lookup of {answer.name} failed: {answer.problem()}")


def effective_all(node: Node) -> tuple[Term | None, Node]:
    """The `all` that ends evaluation: the record's own, else its redirect target's."""
    if node.record and node.record.all:
        return node.record.all, node
    for child in node.children:
        if child.via.startswith("redirect="):
            return effective_all(child)
    return None, node


def findings(tree: Node) -> list[f.Finding]:
    out: list[f.Finding] = []
    top = tree.domain
    if tree.problem == "no SPF record":
        return [
            f.problem(
                CHECK,
                f"{top} has no SPF record: receivers cannot tell mail forged in its name.",
                "Publish one TXT record, e.g. `v=spf1 mx -all` "
                "(`v=spf1 -all` if it sends no mail).",
            )
        ]
    if tree.problem.endswith("SPF records"):
        return [
            f.problem(
                CHECK,
                f"{top} has {tree.problem}: receivers return permerror (RFC 7208 §4.5).",
                "Merge them into one `v=spf1` record.",
            )
        ]
    if tree.problem:
        return [f.warning(CHECK, f"The SPF check could not finish: {tree.problem}.")]
    for node in tree.nodes():
        where = node.via or top
        if node.record:
            for error in node.record.errors:
                out.append(
                    f.problem(
                        CHECK,
                        f"Syntax error in {node.domain}'s record ({error}): "
                        "receivers return permerror.",
                        "Correct the term.",
                    )
                )
        if node is not tree and node.problem:
            if node.problem == "no SPF record":
                out.append(
                    f.problem(
                        CHECK,
                        f"{where} points to {node.domain}, which has no SPF record: permerror.",
                        "Remove the term, or fix the name.",
                    )
                )
            elif node.problem == "an include loop":
                out.append(
                    f.problem(
                        CHECK,
                        f"{where} includes a record that includes it: a loop.",
                        "Break the loop.",
                    )
                )
            elif node.problem.endswith("SPF records"):
                out.append(
                    f.problem(
                        CHECK,
                        f"{where}: {node.domain} has {node.problem}: permerror.",
                        "Ask its owner to merge them.",
                    )
                )
            else:
                out.append(f.warning(CHECK, f"{where} could not be checked: {node.problem}."))
        for error in node.errors:
            if error != node.problem:
                out.append(f.warning(CHECK, f"Part of the SPF tree could not be checked: {error}."))
        for name in node.mx_overflow:
            out.append(
                f.problem(
                    CHECK,
                    f"mx at {name} has more than {MAX_MX_NAMES} MX hosts: permerror.",
                    "Use ip4/ip6 ranges instead of mx.",
                )
            )
        if node.record and any(t.name == "ptr" for t in node.record.terms if not t.modifier):
            out.append(
                f.warning(
                    CHECK,
                    f"{node.domain}'s record uses ptr, deprecated (RFC 7208 §5.5): slow, "
                    "and some receivers ignore it.",
                    "Replace ptr by ip4/ip6 or a.",
                )
            )
        if node is not tree and node.via.startswith("include:") and node.record:
            own = node.record.all
            if own and own.qualifier == "+":
                out.append(
                    f.problem(
                        CHECK,
                        f"{node.via} ends in +all, so the include passes every sender.",
                        "Ask its owner to fix it, or remove the include.",
                    )
                )
    total = tree.total
    if total > MAX_LOOKUPS:
        path = " → ".join(n.via for n in tree.heaviest()[1:]) or top
        out.append(
            f.problem(
                CHECK,
                f"{total} DNS lookups, over the limit of {MAX_LOOKUPS}: receivers return "
                f"permerror and SPF fails for all mail (heaviest: {path}).",
                "Drop includes you no longer use, or replace the heaviest by its ip4/ip6 ranges.",
            )
        )
    voids = [name for node in tree.nodes() for name in node.voids]
    if len(voids) > MAX_VOIDS:
        out.append(
            f.problem(
                CHECK,
                f"{len(voids)} void lookups ({', '.join(voids)}), over the limit of {MAX_VOIDS}: "
                "receivers return permerror.",
                "Remove terms naming domains that do not exist or have no records.",
            )
        )
    final, owner = effective_all(tree)
    if final is None:
        out.append(
            f.warning(
                CHECK,
                f"{top}'s SPF record has no `all` and no redirect: mail from anywhere else is "
                "'neutral', neither passed nor failed.",
                "End the record with `~all` or `-all`.",
            )
        )
    elif final.qualifier == "+":
        out.append(
            f.problem(
                CHECK,
                f"{owner.domain}'s SPF record ends in +all: anyone may send mail as {top}.",
                "End it with `-all` (or `~all` while you check your senders).",
            )
        )
    elif final.qualifier == "?":
        out.append(
            f.warning(
                CHECK,
                f"{owner.domain}'s SPF record ends in ?all (neutral): forged mail is not failed.",
                "End it with `~all` or `-all`.",
            )
        )
    return out


def facts(tree: Node, limit: int = 24) -> list[str]:
    """The expanded tree, one record a line, shortened to `limit` lines."""
    lines: list[str] = []

    def add(node: Node, depth: int) -> None:
        label = node.via or node.domain
        if node.record:
            said = node.record.text if len(node.record.text) <= 100 else node.record.text[:99] + "…"
            count = f" ({node.total} lookups)" if node.children else ""
            lines.append(f"{'  ' * depth}{label}{count}  {said}")
        else:
            lines.append(f"{'  ' * depth}{label}  ({node.problem})")
        for child in node.children:
            add(child, depth + 1)

    add(tree, 0)
    if len(lines) > limit:
        lines = [*lines[: limit - 1], f"… {len(lines) - limit + 1} more records"]
    voids = sum(len(n.voids) for n in tree.nodes())
    if tree.record:
        lines.append(f"lookups {tree.total} of {MAX_LOOKUPS} · void lookups {voids} of {MAX_VOIDS}")
    return lines
