"""The one `Reply` a user reads, the same whichever protocol answered."""

from __future__ import annotations

from datetime import UTC, date, datetime

from chatbot.registration.records import RAW_LINES, Record, Target, When
from chatbot.reply import Part, Reply, code, context, text

EXPIRY_WARNING_DAYS = 30


def _days(expires: When, today: date) -> tuple[str, str | None]:
    assert expires.day is not None
    days = (expires.day - today).days
    if days < 0:
        return f"{expires} (expired {-days} days ago)", f":warning: Expired {-days} days ago."
    phrase = "today" if days == 0 else f"in {days} day" + ("" if days == 1 else "s")
    warning = f":warning: Expires {phrase}." if days <= EXPIRY_WARNING_DAYS else None
    return f"{expires} ({phrase})", warning


def _lines(pairs: list[tuple[str, str]]) -> str:
    return "\n".join(f"*{label}:* {value}" for label, value in pairs if value)


def render(target: Target, record: Record, today: date | None = None) -> Reply:
    today = today or datetime.now(UTC).date()
    small = [context(f"source: {record.source}"), *(context(note) for note in record.notes)]
    raw = [code(record.raw[:RAW_LINES], unit="lines")] if target.raw and record.raw else []
    if not record.found:
        sentence = (
            f"*{target.shown}* is not registered (no match)."
            if target.kind == "domain"
            else f"No registration found for *{target.shown}* (no match)."
        )
        return Reply(
            summary=f"{target.shown}: not registered (no match)"
            if target.kind == "domain"
            else f"{target.shown}: no match",
            parts=(text(sentence), *small, *raw),
        )
    parts: list[Part] = []
    if target.kind == "domain":
        expiry, warning = ("", None)
        if record.expires is not None:
            expiry, warning = (
                _days(record.expires, today) if record.expires.day else (str(record.expires), None)
            )
        dnssec = {True: "signed", False: "unsigned", None: ""}[record.dnssec]
        registrant = ", ".join(x for x in (record.registrant_org, record.registrant_country) if x)
        body = _lines(
            [
                ("Registrar", record.registrar),
                ("Created", str(record.created or "")),
                ("Changed", str(record.changed or "")),
                ("Expires", expiry),
                ("Status", ", ".join(record.statuses)),
                ("Name servers", ", ".join(record.nameservers)),
                ("DNSSEC", dnssec),
                ("Registrant", registrant),
                ("Abuse", record.abuse),
            ]
        )
        parts.append(text(f"*{target.shown}*\n{body}" if body else f"*{target.shown}*"))
        if warning:
            parts.append(text(warning))
        summary = f"{target.shown}: " + (
            ", ".join(
                x
                for x in (
                    f"registrar {record.registrar}" if record.registrar else "",
                    f"expires {expiry}" if expiry else "",
                )
                if x
            )
            or "registered"
        )
    elif target.kind == "ip":
        span = f"{record.start} - {record.end}" if record.start else ""
        cidr = ", ".join(record.cidrs)
        body = _lines(
            [
                ("Range", f"{span} ({cidr})" if span and cidr else span or cidr),
                ("Network", record.name or record.handle),
                ("Organisation", record.org),
                ("Country", record.country),
                ("Registry", record.registry),
                ("Abuse", record.abuse),
            ]
        )
        parts.append(text(f"*{target.shown}*\n{body}"))
        summary = f"{target.shown}: " + (
            ", ".join(x for x in (record.name, record.org, record.country) if x) or "registered"
        )
    else:
        body = _lines(
            [
                ("Name", record.name),
                ("Organisation", record.org),
                ("Country", record.country),
                ("Registry", record.registry),
                ("Abuse", record.abuse),
            ]
        )
        parts.append(text(f"*{target.shown}*\n{body}"))
        summary = f"{target.shown}: " + (
            ", ".join(x for x in (record.name, record.org) if x) or "registered"
        )
    return Reply(summary=summary, parts=(*parts, *small, *raw))
