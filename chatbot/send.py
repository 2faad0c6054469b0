"""`chatbot send`: one slash command to a running service, exactly as Slack sends it.

The request is the form Slack posts, signed with the signing secret; its
`response_url` points at a receiver started here on 127.0.0.1, so a deferred
answer comes back to this terminal instead of to Slack.
"""

from __future__ import annotations

import getpass
import json
import queue
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from chatbot import terminal
from chatbot.manifest import ManifestError, base_url

# What the service answers at once when it defers (Command.acknowledgement),
# and when it may not post to our receiver (web.py); tests pin both to the app.
_ACKNOWLEDGEMENT = re.compile(r"Looking up .*, the answer follows\.", re.DOTALL)
_NO_RESPONSE_URL = "no usable response_url"
HINT = (
    "hint: the service posts deferred answers only to response URLs starting with one of "
    "CHATBOT_RESPONSE_URL_PREFIXES; run it on this machine and start it with "
    "CHATBOT_RESPONSE_URL_PREFIXES=http://127.0.0.1:"
)
MAX_BODY = 1 << 20  # a Slack message is far smaller; refuse anything odd

Write = Callable[[str], None]


class SendError(Exception):
    """A failure worth one line to the person at the terminal."""


def parse_line(line: str) -> tuple[str, str]:
    """`"/dig example.com MX"` -> `("dig", "example.com MX")`; the slash may be left out."""
    name, _, text = line.strip().partition(" ")
    name = name.removeprefix("/")
    if not name:
        raise SendError('give a slash command, e.g. chatbot send "/dig example.com MX"')
    return name, text.strip()


def form(name: str, text: str, response_url: str, user_name: str) -> bytes:
    """The body Slack posts for a slash command, field for field and in Slack's order."""
    fields = {
        # The legacy verification token; signed requests make it meaningless.
        "token": "chatbot-send",
        "team_id": "T0CHATBOT",
        "team_domain": "chatbot-send",
        "channel_id": "C0CHATBOT",
        "channel_name": "chatbot-send",
        "user_id": "U0CHATBOT",
        "user_name": user_name,
        "command": f"/{name}",
        # Slack escapes its three control characters in what the user typed.
        "text": text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
        "api_app_id": "A0CHATBOT",
        "response_url": response_url,
        "trigger_id": f"{int(time.time())}.0.{secrets.token_hex(16)}",
    }
    return urlencode(fields).encode()


def signed_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None  # only None when timestamp or body is None
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": signature,
    }


def message_text(payload: Any, colour: bool = False) -> str:
    """A Slack message as terminal text, as `terminal.render` shows the reply it was made from."""
    shown = terminal.message_text(payload, colour=colour)
    if shown is None:
        raise SendError("the service answered with something that is not a Slack message")
    return shown


class Printer:
    """Prints each message received: as terminal text, or (`raw`) as Slack's JSON, one a line."""

    def __init__(self, out: Write, *, raw: bool = False, colour: bool = False) -> None:
        self.out, self.raw, self.colour = out, raw, colour

    def __call__(self, payload: Any) -> str:
        """Print `payload`; returns its plain text, for deciding what comes next."""
        text = message_text(payload)
        if self.raw:
            self.out(json.dumps(payload, ensure_ascii=False))
        else:
            self.out(message_text(payload, self.colour) if self.colour else text)
        return text


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A delivery that broke off is the service's to retry; a traceback
        # here would bury the answer the user is waiting for.
        pass


class Receiver:
    """A one-off `response_url` on 127.0.0.1: a secret path, JSON POSTs queued."""

    def __init__(self) -> None:
        self.messages: queue.Queue[Any] = queue.Queue()
        path = f"/commands/{secrets.token_urlsafe(16)}"
        messages = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                try:
                    length = int(self.headers.get("content-length") or 0)
                except ValueError:
                    length = 0
                if self.path != path or not 0 < length <= MAX_BODY:
                    self._answer(404 if self.path != path else 400)
                    return
                try:
                    messages.put(json.loads(self.rfile.read(length)))
                except ValueError:
                    self._answer(400)
                    return
                self._answer(200)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the answer is what gets printed, not the access log

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    @contextmanager
    def running(self) -> Iterator[Receiver]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(timeout=2)

    def next(self, timeout: float) -> Any | None:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            return None


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Any:
    response = _send(url, body, headers, timeout)
    try:
        return response.json()
    except ValueError:
        raise SendError("the service answered with something that is not a Slack message") from None


def _send(url: str, body: bytes, headers: dict[str, str], timeout: float) -> httpx.Response:
    try:
        # trust_env off: the service and the receiver are ours, not a proxy's business.
        response = httpx.post(url, content=body, headers=headers, timeout=timeout, trust_env=False)
    except httpx.TimeoutException:
        raise SendError(f"no answer from {url} within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise SendError(f"could not reach {url}: {str(exc) or type(exc).__name__}") from None
    if response.status_code == 401:
        raise SendError(
            "the service refused the signature (HTTP 401): SLACK_SIGNING_SECRET here "
            "differs from the service's"
        )
    if response.status_code == 404:
        raise SendError(f"the service has no such command: POST {url} gave HTTP 404")
    if not response.is_success:
        raise SendError(f"the service answered HTTP {response.status_code}")
    return response


def buttons(message: Any) -> dict[str, dict[str, Any]]:
    """The buttons of a Slack message by action_id (the terminal shows none of them)."""
    found: dict[str, dict[str, Any]] = {}
    blocks = message.get("blocks") if isinstance(message, dict) else None
    for block in blocks if isinstance(blocks, list) else []:
        if isinstance(block, dict) and block.get("type") == "actions":
            for element in block.get("elements") or []:
                if isinstance(element, dict) and isinstance(element.get("action_id"), str):
                    found.setdefault(element["action_id"], element)
    return found


def click_payload(
    button: dict[str, Any], response_url: str, user_name: str, *, ephemeral: bool
) -> dict[str, Any]:
    """The block_actions payload Slack sends when `button` is clicked, field for field."""
    now = time.time()
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {
            "id": "U0CHATBOT",
            "username": user_name,
            "name": user_name,
            "team_id": "T0CHATBOT",
        },
        "api_app_id": "A0CHATBOT",
        "token": "chatbot-send",
        "container": {
            "type": "message",
            "message_ts": f"{now:.6f}",
            "channel_id": "C0CHATBOT",
            "is_ephemeral": ephemeral,
        },
        "trigger_id": f"{int(now)}.0.{secrets.token_hex(16)}",
        "team": {"id": "T0CHATBOT", "domain": "chatbot-send"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": "C0CHATBOT", "name": "chatbot-send"},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": button["action_id"],
                # Slack makes one up for a block sent without a block_id.
                "block_id": secrets.token_urlsafe(4),
                "text": button.get("text"),
                "value": button.get("value", ""),
                "type": "button",
                "action_ts": f"{now:.6f}",
            }
        ],
    }
    if not ephemeral:
        # Slack sends a copy of the message clicked on when it is not ephemeral.
        payload["message"] = {"type": "message", "text": "", "ts": f"{now:.6f}"}
    return payload


# `--click` names and the buttons they click.
CLICKS = {"share": ("share", "Share in channel"), "again": ("run_again", "Run again")}


def _click(
    which: str,
    answer: Any,
    url: str,
    secret: str,
    receiver: Receiver,
    user: str,
    *,
    wait: float,
    timeout: float,
    show: Printer,
) -> None:
    """Click a button of `answer` as Slack would, and print what the service posts for it."""
    action_id, label = CLICKS[which]
    button = buttons(answer).get(action_id)
    if button is None:
        raise SendError(
            f'the answer has no "{label}" button (errors, usage texts and refusals have none)'
        )
    ephemeral = answer.get("response_type") == "ephemeral"
    payload = click_payload(button, receiver.url, user, ephemeral=ephemeral)
    body = urlencode({"payload": json.dumps(payload)}).encode()
    _send(f"{base_url(url)}/slack/interactions", body, signed_headers(body, secret), timeout)
    ends = time.monotonic() + wait
    while True:
        posted = receiver.next(max(ends - time.monotonic(), 0))
        if posted is None:
            raise SendError(f'nothing posted for "{label}" within {wait:g} s\n{HINT}')
        if isinstance(posted, dict) and posted.get("delete_original") is True:
            return  # the ephemeral original removed: the share is complete
        text = show(posted)
        if _ACKNOWLEDGEMENT.fullmatch(text):
            continue  # "Looking up…" in place while the command runs again
        if which == "share" and posted.get("response_type") == "in_channel":
            continue  # then the original is deleted
        return


def run(
    line: str,
    url: str,
    secret: str,
    *,
    wait: float,
    timeout: float,
    out: Write,
    err: Write,
    click: str | None = None,
    raw: bool = False,
    colour: bool = False,
) -> int:
    """Send one slash command; print the immediate answer, then the deferred one if any.

    `click` ("share" or "again") then clicks that button of the answer as Slack
    would and prints what the service posts for it. Each message is printed as
    terminal text (`colour`: with ANSI styles), or with `raw` as Slack's JSON.

    Exit status 0 when an answer was printed, 1 on failure (one line on `err`,
    and a hint when the deferred answer cannot reach us), 2 without a secret.
    """
    if not secret.strip():
        err("chatbot send: SLACK_SIGNING_SECRET is not set; requests are signed with it")
        return 2
    try:
        name, text = parse_line(line)
        endpoint = f"{base_url(url)}/slash-commands/{quote(name, safe='')}"
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "you"
        with Receiver().running() as receiver:
            body = form(name, text, receiver.url, user)
            show = Printer(out, raw=raw, colour=colour)
            answer = _post(endpoint, body, signed_headers(body, secret), timeout)
            immediate = show(answer)
            if _NO_RESPONSE_URL in immediate:
                raise SendError(f"the service refused to answer later at 127.0.0.1\n{HINT}")
            if _ACKNOWLEDGEMENT.fullmatch(immediate):
                answer = receiver.next(wait)
                if answer is None:
                    raise SendError(f"no deferred answer within {wait:g} s\n{HINT}")
                show(answer)
            if click is not None:
                _click(
                    click,
                    answer,
                    url,
                    secret,
                    receiver,
                    user,
                    wait=wait,
                    timeout=timeout,
                    show=show,
                )
        return 0
    except (SendError, ManifestError) as exc:
        err(f"chatbot send: {exc}")
        return 1
