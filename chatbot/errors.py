"""One small hierarchy of errors, each with the one sentence a user sees."""

from __future__ import annotations

from typing import Any


class ChatbotError(Exception):
    """Base class: `template` is formatted with the keyword arguments."""

    template = "Something went wrong on our side. Please try again."

    def __init__(self, template: str | None = None, /, **fields: Any) -> None:
        self.fields = fields
        self.message = (template or self.template).format(**fields)
        super().__init__(self.message)


class UsageError(ChatbotError):
    """The command text could not be understood; the usage text follows."""

    template = "I could not understand that."


class TargetRefused(ChatbotError):
    """The address policy forbids contacting this target."""

    template = "{target} resolves to {address}, a {kind} address, which I may not contact."
    literal = "{address} is a {kind} address, which I may not contact."


class NotResolvable(ChatbotError):
    template = "{name} does not resolve to an address."


class Timeout(ChatbotError):
    template = "No answer from {server} within {seconds:g} s."


class ConnectFailed(ChatbotError):
    template = "Could not connect to {server}: {reason}."


class Closed(ChatbotError):
    """The peer accepted the connection, then closed it without an answer."""

    template = "{server} closed the connection without answering."


class RateLimited(ChatbotError):
    template = "{server} is rate limiting us; try again in a minute."


class ProtocolError(ChatbotError):
    template = "{server} answered with something I could not read: {reason}."
