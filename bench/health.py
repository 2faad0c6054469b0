"""The probe both start-up benchmarks poll: is GET /health answering 200 yet?"""

from __future__ import annotations

import http.client


def healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()
