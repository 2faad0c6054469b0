"""chatbot: Slack slash commands for /dig, /whois and /tls.

`chatbot:app` is the ASGI app. It is made on first access, not at import,
so the CLI and tests can import the package without a signing secret.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "app"]


def __getattr__(name: str) -> Any:
    if name == "app":
        from chatbot.web import app_from_environment

        app = app_from_environment()
        globals()["app"] = app
        return app
    raise AttributeError(f"module 'chatbot' has no attribute {name!r}")
