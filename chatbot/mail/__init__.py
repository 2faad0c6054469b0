"""/mail: a domain's mail setup (MX, SPF, DMARC, DKIM, MTA-STS, TLS-RPT, BIMI, STARTTLS, DANE)."""
