"""The registration family (/whois): RDAP, port-43 WHOIS, one record, one answer."""
