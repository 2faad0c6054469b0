"""`chatbot serve`: the service under uvicorn, configured for production."""

from __future__ import annotations

import signal
import sys


def serve(host: str, port: int | None) -> int:
    """Run the service until SIGTERM; the exit status for the CLI."""
    import uvicorn

    from chatbot import config_errors, logs
    from chatbot.connections import uvicorn_options
    from chatbot.jobs import RESTART_NOTICE_SECONDS
    from chatbot.settings import get_settings
    from chatbot.web import MissingSecret

    try:
        settings = config_errors.load(get_settings)
    except config_errors.BadSettings as exc:
        for line in exc.lines:
            print(f"chatbot: {line}", file=sys.stderr)
        return 2
    secret = settings.slack_signing_secret.get_secret_value()
    if not secret.strip():
        print(f"chatbot: {MissingSecret.message}", file=sys.stderr)
        return 2
    logs.configure(project=settings.google_cloud_project, secrets=(secret,))
    # uvicorn stops gracefully on SIGTERM, then re-raises it to the handler that
    # was in place before it ran. Exiting 0 there tells Docker and Cloud Run the
    # stop was clean instead of reporting a process killed by a signal (143).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
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
        # Read timeouts, keep-alive, the connection cap and backlog: chatbot/connections.py.
        **uvicorn_options(settings),
    )
    return 0
