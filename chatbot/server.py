"""`chatbot serve`: the service under uvicorn, configured for production."""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

log = logging.getLogger(__name__)


def event_loop() -> str:
    """The event loop uvicorn picks ("auto"): uvloop where it can be imported."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    # By now the app has shut down: answers delivered or excused, connections
    # closed, every log line written. The interpreter's own teardown (freeing
    # what 2,000 cancelled jobs left behind) took up to 0.6 s of the grace on
    # a busy 2-core machine, and there is nothing left for it to do.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def serve(host: str, port: int | None) -> int:
    """Run the service until SIGTERM; the exit status for the CLI."""
    import uvicorn

    from chatbot import config_errors, logs
    from chatbot.connections import uvicorn_options
    from chatbot.jobs import EXIT_SECONDS, NOTICE_SECONDS
    from chatbot.settings import env_file, get_settings
    from chatbot.web import MissingSecret, create_app

    settings = config_errors.load_or_complain(get_settings)
    if settings is None:
        return 2
    secret = settings.slack_signing_secret.get_secret_value()
    if not secret.strip():
        print(f"chatbot: {MissingSecret.message}", file=sys.stderr)
        return 2
    logs.configure(project=settings.google_cloud_project, secrets=(secret,))
    if env_file() is not None:
        logging.getLogger(__name__).info(
            "settings: read %s too; variables set in the environment win over it", env_file()
        )
    app = create_app(settings)
    jobs = app.state.jobs

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # The grace counts from the signal, not from when uvicorn has finished
            # with the requests in flight and runs the app's shutdown.
            jobs.stop()
            super().handle_exit(sig, frame)

    # uvicorn stops gracefully on SIGTERM, then re-raises it to the handler that
    # was in place before it ran. Exiting 0 there tells Docker and Cloud Run the
    # stop was clean instead of reporting a process killed by a signal (143).
    signal.signal(signal.SIGTERM, _exit_cleanly)
    config = uvicorn.Config(
        app,
        host=host,
        port=port or settings.port,
        proxy_headers=True,
        forwarded_allow_ips="*",
        log_config=None,
        # One summary line per command says more than an access log line.
        access_log=False,
        # uvicorn waits this long for requests in flight (inline answers, at most
        # the inline budget); deferred answers are the app's: its shutdown gives
        # them the rest of the grace, keeping the end back for restart notices.
        timeout_graceful_shutdown=max(
            1, int(settings.shutdown_grace_seconds - NOTICE_SECONDS - EXIT_SECONDS)
        ),
        # Read timeouts, keep-alive, the connection cap and backlog: chatbot/connections.py.
        **uvicorn_options(settings),
    )
    parser = getattr(config.http, "http_parser", config.http)
    log.info("serving on %s:%d (%s, %s)", host, config.port, event_loop(), parser)
    Server(config).run()
    return 0
