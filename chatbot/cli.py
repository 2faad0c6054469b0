"""The `chatbot` command: serve the app, or run a slash command in the terminal."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from chatbot import terminal
from chatbot.commands import COMMANDS, HELP_WORDS, Command, Invocation, execute
from chatbot.reply import Reply
from chatbot.settings import Settings

EXIT_ANSWER, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Sub-commands of our own; `main` tries registry names first, so no slash
# command may be called one of these (tests/test_cli.py holds the registry to it).
ACTIONS = ("serve", "manifest", "send")


def _command_list() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [f"  {name:<{width}}  {c.description}" for name, c in COMMANDS.items()]
    return (
        "commands (the slash commands, run here; chatbot COMMAND --help for each):\n"
        + "\n".join(lines)
    )


def usage_line(command: Command) -> str:
    return f"usage: chatbot {command.name} {command.usage_hint}".rstrip()


def examples(command: Command) -> list[str]:
    return [f"  chatbot {command.name} {example}" for example in command.examples]


def command_help(command: Command) -> str:
    """`chatbot NAME --help`: the command's usage, options and examples as shell lines."""
    lines = [usage_line(command), "", command.description]
    if command.options:
        width = max(len(option.synopsis) for option in command.options)
        lines += ["", "options:"]
        for option in command.options:
            also = f" (also {', '.join(option.aliases)})" if option.aliases else ""
            lines.append(f"  {option.synopsis:<{width}}  {option.help}{also}")
    if command.examples:
        lines += ["", "examples:", *examples(command)]
    return "\n".join(lines)


def usage_error(command: Command, reply: Reply, colour: bool = False) -> str:
    """What the terminal shows for a command it could not read: the sentence that says
    why, then the usage and examples as shell lines (Slack gets them as slash commands)."""
    lines = [terminal.inline(reply.parts[0].text, colour=colour), "", usage_line(command)]
    if command.examples:
        lines += ["", "examples:", *examples(command)]
    lines += ["", f"chatbot {command.name} --help lists the options."]
    return "\n".join(lines)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0 to 3600")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatbot",
        usage="chatbot [-h] ACTION ... | chatbot COMMAND [WORDS ...]",
        description="Slack slash commands for network tools. chatbot serve runs the "
        "service; chatbot dig example.com MX runs a command here and prints what "
        "Slack would show, as terminal text. Settings come from the environment and "
        "from a .env file in this directory (the environment wins).",
        epilog=_command_list(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", title="actions")
    serve = sub.add_parser("serve", help="run the web service (needs SLACK_SIGNING_SECRET)")
    serve.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")  # noqa: S104
    serve.add_argument("--port", type=int, help="port to bind (default $PORT, else 8080)")
    manifest = sub.add_parser(
        "manifest",
        help="print the Slack app manifest (YAML) for a service at --url",
        description="Print a Slack app manifest (YAML) with every slash command of this "
        "version, each pointing at URL/slash-commands/NAME. Paste it at api.slack.com/apps "
        "-> Create New App -> From a manifest.",
    )
    manifest.add_argument(
        "--url",
        required=True,
        help="the service's public https base URL, e.g. https://chatbot.example.com",
    )
    manifest.add_argument(
        "--name", default="chatbot", help="the app's name in Slack (default chatbot)"
    )
    send = sub.add_parser(
        "send",
        help="send a signed slash command to a running service and print its answers",
        description="Send one slash command to a running service exactly as Slack would: "
        "the same form fields, signed with SLACK_SIGNING_SECRET. Its response_url is a "
        "receiver started here on 127.0.0.1, so the immediate answer and the deferred one "
        "are both printed. The service must allow that receiver: start it with "
        "CHATBOT_RESPONSE_URL_PREFIXES=http://127.0.0.1:. Exits 0 when an answer was "
        "printed; 1 when the service is unreachable, refuses the signature or sends no "
        "deferred answer in time; 2 without a secret.",
        epilog="examples:\n"
        '  chatbot send "/hello world"\n'
        '  chatbot send "/dig example.com MX"\n'
        '  chatbot send --json "/dig example.com" | jq .blocks\n'
        '  chatbot send --click share "/dig example.com"',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    send.add_argument(
        "line",
        nargs="+",
        metavar="COMMAND",
        help='the slash command as typed; quote it when it has options: "/dig -x 8.8.8.8"',
    )
    send.add_argument(
        "--url",
        help="the service's base URL (default http://127.0.0.1:$PORT, as chatbot serve "
        "listens; PORT unset: 8080)",
    )
    send.add_argument(
        "--json",
        action="store_true",
        help="print each message the service sends as Slack's JSON, one per line, "
        "instead of as text",
    )
    send.add_argument(
        "--wait",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for a deferred answer (default 30)",
    )
    send.add_argument(
        "--click",
        choices=("share", "again"),
        help='then click the answer\'s "Share in channel" or "Run again" button as Slack '
        "would (a signed interaction payload to /slack/interactions) and print what the "
        "service posts for it",
    )
    send.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="HTTP timeout of the request to the service (default 10)",
    )
    # The commands are listed once, in the epilog; main() runs them before argparse.
    for name in COMMANDS:
        sub.add_parser(name, add_help=False)
    return parser


def _settings() -> Settings | None:
    """The settings (environment, then `.env`), or None after one line per problem."""
    from chatbot import config_errors
    from chatbot.settings import get_settings, use_env_file

    try:
        use_env_file()
    except FileNotFoundError as exc:
        print(f"chatbot: {exc}", file=sys.stderr)
        return None
    return config_errors.load_or_complain(get_settings)


def _run(name: str, words: list[str], settings: Settings) -> int:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "you"
    command = COMMANDS[name]
    reply = asyncio.run(
        execute(command, Invocation(text=" ".join(words), user_name=user), settings)
    )
    colour = terminal.use_colour(sys.stdout)
    if reply.is_usage and reply.is_error and reply.parts:
        print(usage_error(command, reply, colour))
    else:
        print(terminal.render(reply, colour=colour))
    if not reply.is_error:
        return EXIT_ANSWER
    return EXIT_USAGE if reply.is_usage else EXIT_FAILED


def _serve(host: str, port: int | None) -> int:
    from chatbot import server

    return server.serve(host, port)


def _manifest(url: str, name: str) -> int:
    from chatbot.manifest import ManifestError, base_url, build, dump

    try:
        base = base_url(url)
    except ManifestError as exc:
        print(f"chatbot manifest: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        text = dump(build(COMMANDS.values(), base, name=name))
    except ManifestError as exc:
        print(f"chatbot manifest: Slack would reject this manifest: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if base.startswith("http://"):
        print("chatbot manifest: warning: Slack only calls https request URLs", file=sys.stderr)
    sys.stdout.write(text)
    return EXIT_ANSWER


def _send(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot import send

    return send.run(
        " ".join(args.line),
        args.url or f"http://127.0.0.1:{settings.port}",
        settings.slack_signing_secret.get_secret_value(),
        wait=args.wait,
        timeout=args.timeout,
        out=lambda text: print(text, flush=True),
        err=lambda text: print(text, file=sys.stderr, flush=True),
        click=args.click,
        raw=args.json,
        colour=terminal.use_colour(sys.stdout),
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Command words go to the command untouched: `-x 8.8.8.8` and `+short` are
    # dig's options, not ours.
    if argv and argv[0] in COMMANDS:
        command = COMMANDS[argv[0]]
        asked = " ".join(argv[1:]).strip().lower()
        if asked in HELP_WORDS and (asked or command.needs_help_without_text):
            print(command_help(command))
            return EXIT_ANSWER
        settings = _settings()
        return EXIT_USAGE if settings is None else _run(argv[0], argv[1:], settings)
    args = _parser().parse_args(argv)
    if args.action is None:
        _parser().print_help()
        return EXIT_USAGE
    # Every action refuses to start on settings it could not run with.
    settings = _settings()
    if settings is None:
        return EXIT_USAGE
    if args.action == "serve":
        return _serve(args.host, args.port)
    if args.action == "manifest":
        return _manifest(args.url, args.name)
    if args.action == "send":
        return _send(args, settings)
    _parser().print_help()
    return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
