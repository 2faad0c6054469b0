# Two stages: the builder has uv and whatever building a wheel needs; the
# runtime image gets only the finished virtual environment.

FROM python:3.13-slim AS builder
# binutils for `strip`; it stays in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
# uv comes from PyPI, pinned, so the image builds where only PyPI is reachable.
RUN pip install --no-cache-dir "uv==0.13.9"
ENV UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Dependencies first, in their own layer: it is reused until uv.lock changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project
# Then the project itself, installed as a wheel (not a link back to /src).
COPY README.md ./
COPY chatbot ./chatbot
RUN uv sync --locked --no-dev --no-editable
# Some wheels ship their native libraries with symbols and debug information
# (PyYAML's, cryptography's): about 5 MB that nothing reads in production.
RUN find /app/.venv -name "*.so" -exec strip --strip-unneeded {} +
# Sources and stubs the compiled extensions were built from (uvloop's Cython,
# wrapt's C) and type stubs: nothing reads them at run time (about 0.8 MB).
RUN find /app/.venv/lib -type f \( -name "*.pyx" -o -name "*.pxd" -o -name "*.pyi" \
       -o -name "*.c" -o -name "*.h" \) -delete
# Byte code for what the service runs, not for every module of every library
# (slack_sdk's web client, pydantic.v1, ...: about 3 MB of .pyc never loaded).
# Whole packages where modules load lazily (dnspython's record types, uvicorn's
# protocols, httpcore's and anyio's backends, what chatbot imports inside
# functions); then importing every chatbot module and building the app writes
# .pyc for everything they import.
RUN cd /app/.venv/lib/python3*/site-packages \
    && /app/.venv/bin/python -m compileall -q -j 0 chatbot dns uvicorn httpcore httpx anyio h11 \
       cryptography OpenSSL publicsuffixlist yaml uvloop httptools \
    && SLACK_SIGNING_SECRET=build-only /app/.venv/bin/python -c "import chatbot, importlib, pkgutil; \
[importlib.import_module(m.name) for m in pkgutil.walk_packages(chatbot.__path__, 'chatbot.')]; chatbot.app"

FROM python:3.13-slim
# A fixed numeric id, so "runAsNonRoot" checks can verify it without /etc/passwd.
RUN groupadd --system --gid 10001 chatbot \
    && useradd --system --uid 10001 --gid chatbot --no-create-home --shell /usr/sbin/nologin chatbot
# Owned by root and so read-only for the service: the byte code written at
# build time is what runs.
COPY --from=builder /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8080
USER 10001:10001
WORKDIR /app
EXPOSE 8080
# `chatbot serve` binds 0.0.0.0:$PORT and stops gracefully on SIGTERM. The exec
# form makes it PID 1, so the signal reaches it directly.
CMD ["chatbot", "serve"]
