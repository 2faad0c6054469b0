"""/tls answers as a neutral `Reply`: the verdict first, every reason, then the facts."""

from __future__ import annotations

import datetime as dt

from chatbot.reply import Part, Reply, code, context, text
from chatbot.tls import certificate
from chatbot.tls.check import OLD_VERSIONS, Report


def _date(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _facts(report: Report) -> list[str]:
    session, leaf = report.session, report.session.chain[0]
    expiry = report.verdict.expiry
    alpn = f" · ALPN {session.alpn}" if session.alpn else " · no ALPN"
    return [
        f"subject    {leaf.subject.rfc4514_string() or '(empty)'}",
        f"names      {certificate.shown_names(leaf)}",
        f"issuer     {leaf.issuer.rfc4514_string() or '(empty)'}",
        f"valid      {_date(leaf.not_valid_before_utc)} -> "
        f"{_date(leaf.not_valid_after_utc)} ({expiry})",
        f"key        {certificate.key_description(leaf)}",
        f"signature  {certificate.signature_name(leaf)}",
        f"protocol   {session.version} · {session.cipher}{alpn}",
        f"OCSP       {_STAPLING[session.ocsp_stapled]}",
    ]


_STAPLING = {True: "response stapled", False: "no response stapled", None: "stapling unknown"}


def _chain_lines(report: Report) -> list[str]:
    return [
        f"{index} {certificate.cn(cert.subject)} -> {certificate.cn(cert.issuer)} · "
        f"expires {cert.not_valid_after_utc:%Y-%m-%d}"
        for index, cert in enumerate(report.session.chain)
    ]


def _protocol_parts(protocols: dict[str, str]) -> list[Part]:
    if not protocols:
        return []
    lines = [f"{name}  {result}" for name, result in protocols.items()]
    parts: list[Part] = [
        text("*Protocol versions, each tried on its own*"),
        code(lines, "versions"),
    ]
    old = [name for name in OLD_VERSIONS if protocols.get(name) == "accepted"]
    if old:
        parts.append(
            text(
                f":warning: The server still accepts {' and '.join(sorted(old))}, deprecated "
                "since 2021 (RFC 8996); turn them off."
            )
        )
    return parts


def render(report: Report) -> Reply:
    target, session, verdict = report.target, report.session, report.verdict
    where = target.server(session.address)
    name = target.shown
    if target.sni and target.sni != target.host:
        where += f" · SNI {target.sni}"
        name = f"{target.sni} on {target.shown}"
    if verdict.valid:
        headline = f":white_check_mark: *{name}*: the certificate is valid"
        summary = f"{name}: certificate valid, {verdict.expiry}"
    else:
        headline = f":x: *{name}*: the certificate is *not valid*"
        summary = f"{name}: certificate not valid: {verdict.reasons[0]}"
    parts: list[Part] = [text(headline), context(where)]
    parts += [text(f"• {reason}") for reason in verdict.reasons]
    warning_icon = ":rotating_light:" if 0 <= verdict.days_left <= 7 else ":warning:"
    parts += [text(f"{warning_icon} {warning}") for warning in verdict.warnings]
    parts += [context(note) for note in report.notes]
    if session.version in OLD_VERSIONS:
        parts.append(
            text(
                f":warning: The connection used {session.version}, deprecated since 2021 "
                "(RFC 8996): the server offers nothing newer."
            )
        )
    parts.append(code(_facts(report), unit="lines"))
    parts.append(text("*Chain as sent by the server*"))
    parts.append(code(_chain_lines(report), unit="certificates"))
    parts += _protocol_parts(report.protocols)
    openssl = session.openssl
    said = str(openssl)
    parts.append(
        context(
            f"verified against {report.store_name} · OpenSSL: {said} · "
            f"handshake {session.milliseconds:.0f} ms"
        )
    )
    return Reply(summary=summary, parts=tuple(parts))
