"""The TLS family (/tls): one verifying handshake, the certificate judged, the answer."""
