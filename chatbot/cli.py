"""The `chatbot` command: serve the app, or run a slash command in the terminal."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import signal
import sys

from chatbot.commands import COMMANDS, Invocation, execute
from chatbot.reply import plain

EXIT_ANSWER, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _command_list() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [f"  {name:<{width}}  {c.description}" for name, c in COMMANDS.items()]
    return "slash commands (run `chatbot NAME help` for each):\n" + "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatbot",
        description="Slack slash commands for network tools. `chatbot serve` runs the "
        "service; `chatbot dig example.com MX` runs a command here and prints what "
        "Slack would show.",
        epilog=_command_list(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    serve = sub.add_parser("serve", help="run the web service (needs SLACK_SIGNING_SECRET)")
    serve.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")  # noqa: S104
    serve.add_argument("--port", type=int, help="port to bind (default $PORT, else 8080)")
    for name, command in COMMANDS.items():
        sub.add_parser(name, help=command.description, add_help=False)
    return parser


def _run(name: str, words: list[str]) -> int:
    from chatbot.errors import UsageError  # noqa: F401  (keeps import cost off `serve`)
    from chatbot.settings import Settings

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "you"
    command = COMMANDS[name]
    reply = asyncio.run(
        execute(command, Invocation(text=" ".join(words), user_name=user), Settings())
    )
    print(plain(reply))
    if not reply.is_error:
        return EXIT_ANSWER
    return EXIT_USAGE if reply.parts[1:] == command.usage.parts[1:] else EXIT_FAILED


def _serve(host: str, port: int | None) -> int:
    import uvicorn

    from chatbot import logs
    from chatbot.settings import get_settings
    from chatbot.web import RESTART_NOTICE_SECONDS, MissingSecret

    settings = get_settings()
    secret = settings.slack_signing_secret.get_secret_value()
    if not secret.strip():
        print(f"chatbot: {MissingSecret.message}", file=sys.stderr)
        return EXIT_USAGE
    logs.configure(project=settings.google_cloud_project, secrets=(secret,))
    # uvicorn stops gracefully on SIGTERM, then re-raises it to the handler that
    # was in place before it ran. Exiting 0 there tells Docker and Cloud Run the
    # stop was clean instead of reporting a process killed by a signal (143).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(EXIT_ANSWER))
    uvicorn.run(
        "chatbot:app",
        host=host,
        port=port or settings.port,
        proxy_headers=True,
        forwarded_allow_ips="*",
        log_config=None,
        # One summary line per command says more than an access log line.
        access_log=False,
        # On SIGTERM, in-flight answers get the grace less what is kept back to
        # tell the unfinished ones to retry; all of it fits in Cloud Run's 10 s.
        timeout_graceful_shutdown=settings.shutdown_grace_seconds - RESTART_NOTICE_SECONDS,
    )
    return EXIT_ANSWER


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Command words go to the command untouched: `-x 8.8.8.8` and `+short` are
    # dig's options, not ours.
    if argv and argv[0] in COMMANDS:
        return _run(argv[0], argv[1:])
    args = _parser().parse_args(argv)
    if args.action == "serve":
        return _serve(args.host, args.port)
    _parser().print_help()
    return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
