"""Port-43 WHOIS servers on several loopback addresses sharing one port.

Each `WhoisServer` answers from a table of query -> response, the way a real
server replays a record; `mode` makes one drip bytes slowly or flood more
than any client should read. `WhoisNet` starts them on 127.0.0.2, 127.0.0.3,
... on the same port, so referrals can name a bare host and rely on the
configured port, as real ones do.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal

# answer: the record; drip: a byte every `drip_seconds`; flood: `flood_bytes` of
# lines; garbage: binary bytes; endless: one line that never ends (until
# `flood_bytes`); refer-self: `refer:` naming this very server; close: accept and
# close at once, the query unread (the kernel resets the connection); silent-close:
# read the query, then close without a word; reset: accept and reset at once.
Mode = Literal[
    "answer",
    "drip",
    "flood",
    "garbage",
    "endless",
    "refer-self",
    "close",
    "silent-close",
    "reset",
]


@dataclass
class WhoisServer:
    host: str
    answers: dict[str, str] = field(default_factory=dict)
    default: str = "No match for this query.\r\n"
    mode: Mode = "answer"
    drip_seconds: float = 0.2
    flood_bytes: int = 300 * 1024
    encoding: str = "utf-8"
    queries: list[str] = field(default_factory=list)
    sent: int = 0
    hold_seconds: float = 0.0  # wait before answering, so connections overlap
    active: int = 0  # connections open right now, and the most ever at once
    most: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self, port: int) -> int:
        self._server = await asyncio.start_server(self._handle, self.host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in self._handlers:
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.active += 1
        self.most = max(self.most, self.active)
        try:
            if self.mode == "close":
                return
            if self.mode == "reset":  # SO_LINGER 0: the close is a reset
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            line = await asyncio.wait_for(reader.readline(), 5)
            query = line.decode("utf-8").rstrip("\r\n")
            self.queries.append(query)
            if self.mode == "silent-close":
                return
            body = self.answers.get(query, self.default).encode(self.encoding)
            await asyncio.sleep(self.hold_seconds)
            if self.mode == "garbage":
                body = bytes(range(256)) * 16
            elif self.mode == "refer-self":
                body = f"% IANA WHOIS server\n\nrefer:        {self.host}\n\ndomain:       COM\n".encode()
            if self.mode == "endless":
                block, here = b"x" * 1024, 0
                while here < self.flood_bytes:  # per connection: every query floods
                    writer.write(block)
                    await writer.drain()
                    self.sent += len(block)
                    here += len(block)
            elif self.mode == "drip":
                for byte in body:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    self.sent += 1
                    await asyncio.sleep(self.drip_seconds)
            elif self.mode == "flood":
                block, here = b"remarks: " + b"x" * 1014 + b"\r\n", 0
                while here < self.flood_bytes:  # per connection: every query floods
                    writer.write(block)
                    await writer.drain()
                    self.sent += len(block)
                    here += len(block)
            else:
                writer.write(body)
                await writer.drain()
                self.sent += len(body)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client hung up early, as it should on floods and timeouts
        except asyncio.CancelledError:
            # Closing the server mid-drip; Python 3.11's stream callback would log
            # a cancelled handler as an error, so it ends quietly instead.
            pass
        finally:
            self.active -= 1
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class WhoisNet:
    """Servers on 127.0.0.2, 127.0.0.3, ... all on one port."""

    def __init__(self) -> None:
        self.servers: dict[str, WhoisServer] = {}
        self.port = 0

    def address(self, index: int) -> str:
        return f"127.0.0.{index + 2}"

    async def add(self, make: Callable[[str, int], WhoisServer]) -> WhoisServer:
        """Start the next server; `make(host, port)` builds it knowing where the net lives."""
        if not self.port:
            # Port first, so the first server's answers can name it too.
            probe = await asyncio.start_server(lambda r, w: None, "127.0.0.2", 0)
            self.port = int(probe.sockets[0].getsockname()[1])
            probe.close()
            await probe.wait_closed()
        host = self.address(len(self.servers))
        server = make(host, self.port)
        await server.start(self.port)
        self.servers[host] = server
        return server

    async def close(self) -> None:
        for server in self.servers.values():
            await server.close()


@contextlib.asynccontextmanager
async def whois_net() -> AsyncIterator[WhoisNet]:
    net = WhoisNet()
    try:
        yield net
    finally:
        await net.close()


# --- a small internet's worth of registries, in their own formats -----------

IANA_COM = """\
% IANA WHOIS server
% for more information on IANA, visit http://www.iana.org
% This query returned 1 object

refer:        {registry}

domain:       COM

organisation: VeriSign Global Registry Services
address:      12061 Bluemont Way
address:      Reston VA 20190
address:      United States of America (the)

contact:      administrative
name:         Registry Customer Service
organisation: VeriSign Global Registry Services
e-mail:       info@verisign-grs.com

nserver:      A.GTLD-SERVERS.NET 192.5.6.30 2001:503:a83e:0:0:0:2:30
nserver:      B.GTLD-SERVERS.NET 192.33.14.30 2001:503:231d:0:0:0:2:30
ds-rdata:     19718 13 2 8acbb0cd28f41250a80a491389424d341522d946b0da0c0291f2d3d771d7805a

whois:        whois.verisign-grs.com

status:       ACTIVE
remarks:      Registration information: http://www.verisigninc.com

created:      1985-01-01
changed:      2023-12-07
source:       IANA

"""

IANA_JP = """\
% IANA WHOIS server
% for more information on IANA, visit http://www.iana.org
% This query returned 1 object

refer:        {jprs}

domain:       JP

organisation: Japan Registry Services Co., Ltd.
address:      Chiyoda First Bldg. East 13F, 3-8-1 Nishi-Kanda
address:      Chiyoda-ku Tokyo 101-0065
address:      Japan

nserver:      A.DNS.JP 203.119.1.1 2001:dc4:0:0:0:0:0:1
whois:        whois.jprs.jp

status:       ACTIVE
created:      1986-08-05
changed:      2024-06-20
source:       IANA

"""

IANA_193 = """\
% IANA WHOIS server
% for more information on IANA, visit http://www.iana.org
% This query returned 1 object

refer:        {arin}

inetnum:      193.0.0.0 - 193.255.255.255
organisation: RIPE NCC
status:       ALLOCATED

whois:        whois.ripe.net

changed:      1993-05
source:       IANA

"""

IANA_PRIVATE = """\
% IANA WHOIS server
% for more information on IANA, visit http://www.iana.org
% This query returned 1 object

inetnum:      10.0.0.0 - 10.255.255.255
organisation: IANA - Private Use
status:       RESERVED

remarks:      Reserved for Private-Use Networks [RFC1918].
remarks:      Complete registration details are found iniana-ipv4-special-registry

changed:      1995-06
source:       IANA

"""

IANA_NONE = """\
% IANA WHOIS server
% for more information on IANA, visit http://www.iana.org
%
% This query returned 0 objects.
"""

VERISIGN_GOOGLE = """\
   Domain Name: GOOGLE.COM
   Registry Domain ID: 2138514_DOMAIN_COM-VRSN
   Registrar WHOIS Server: {registrar}
   Registrar URL: http://www.markmonitor.com
   Updated Date: 2019-09-09T15:39:04Z
   Creation Date: 1997-09-15T04:00:00Z
   Registry Expiry Date: 2028-09-14T04:00:00Z
   Registrar: MarkMonitor Inc.
   Registrar IANA ID: 292
   Registrar Abuse Contact Email: abusecomplaints@markmonitor.com
   Registrar Abuse Contact Phone: +1.2086851750
   Domain Status: clientDeleteProhibited https://icann.org/epp#clientDeleteProhibited
   Domain Status: clientTransferProhibited https://icann.org/epp#clientTransferProhibited
   Domain Status: clientUpdateProhibited https://icann.org/epp#clientUpdateProhibited
   Domain Status: serverDeleteProhibited https://icann.org/epp#serverDeleteProhibited
   Domain Status: serverTransferProhibited https://icann.org/epp#serverTransferProhibited
   Domain Status: serverUpdateProhibited https://icann.org/epp#serverUpdateProhibited
   Name Server: NS1.GOOGLE.COM
   Name Server: NS2.GOOGLE.COM
   Name Server: NS3.GOOGLE.COM
   Name Server: NS4.GOOGLE.COM
   DNSSEC: unsigned
   URL of the ICANN Whois Inaccuracy Complaint Form: https://www.icann.org/wicf/
>>> Last update of whois database: 2024-11-28T23:30:04Z <<<

For more information on Whois status codes, please visit https://icann.org/epp

NOTICE: The expiration date displayed in this record is the date the
registrar's sponsorship of the domain name registration in the registry is
currently set to expire. This date does not necessarily reflect the expiration
date of the domain name registrant's agreement with the sponsoring
registrar.  Users may consult the sponsoring registrar's Whois database to
view the registrar's reported date of expiration for this registration.

TERMS OF USE: You are not authorized to access or query our Whois
database through the use of electronic processes that are high-volume and
automated except as reasonably necessary to register domain names or
modify existing registrations; the Data in VeriSign Global Registry
Services' ("VeriSign") Whois database is provided by VeriSign for
information purposes only, and to assist persons in obtaining information
about or related to a domain name registration record. VeriSign does not
guarantee its accuracy.
"""

VERISIGN_NO_MATCH = """\
No match for "{query}".
>>> Last update of whois database: 2024-11-28T23:30:04Z <<<

NOTICE: The expiration date displayed in this record is the date the
registrar's sponsorship of the domain name registration in the registry is
currently set to expire.
"""

MARKMONITOR_GOOGLE = """\
Domain Name: google.com
Registry Domain ID: 2138514_DOMAIN_COM-VRSN
Registrar WHOIS Server: {registrar}
Registrar URL: http://www.markmonitor.com
Updated Date: 2024-08-02T02:17:33+0000
Creation Date: 1997-09-15T07:00:00+0000
Registrar Registration Expiration Date: 2028-09-13T07:00:00+0000
Registrar: MarkMonitor, Inc.
Registrar IANA ID: 292
Registrar Abuse Contact Email: abusecomplaints@markmonitor.com
Registrar Abuse Contact Phone: +1.2086851750
Domain Status: clientUpdateProhibited (https://www.icann.org/epp#clientUpdateProhibited)
Domain Status: clientTransferProhibited (https://www.icann.org/epp#clientTransferProhibited)
Registrant Organization: Google LLC
Registrant State/Province: CA
Registrant Country: US
Registrant Email: Select Request Email Form at https://domains.markmonitor.com/whois/google.com
Admin Organization: Google LLC
Admin State/Province: CA
Admin Country: US
Tech Organization: Google LLC
Tech State/Province: CA
Tech Country: US
Name Server: ns1.google.com
Name Server: ns2.google.com
Name Server: ns4.google.com
Name Server: ns3.google.com
DNSSEC: unsigned
URL of the ICANN WHOIS Data Problem Reporting System: http://wdprs.internic.net/
>>> Last update of WHOIS database: 2024-11-28T23:25:21+0000 <<<
"""

JPRS_ENGLISH = """\
[ JPRS database provides information on network administration. Its use is    ]
[ restricted to network administration purposes. For further information,     ]
[ use 'whois -h whois.jprs.jp help'. To suppress Japanese output, add'/e'     ]
[ at the end of command, e.g. 'whois -h whois.jprs.jp xxx/e'.                 ]

Domain Information:
[Domain Name]                   JPRS.JP

[Registrant]                    Japan Registry Services Co., Ltd.

[Name Server]                   ns1.jprs.co.jp
[Name Server]                   ns2.jprs.co.jp
[Name Server]                   ns3.jprs.co.jp
[Name Server]                   ns4.jprs.co.jp
[Signing Key]                   

[Created on]                    2001/05/08
[Expires on]                    2027/05/31
[Status]                        Active
[Last Updated]                  2026/06/01 01:05:04 (JST)

Contact Information:
[Name]                          Japan Registry Services Co., Ltd.
[Email]                         info@jprs.jp
[Web Page]                       
[Postal code]                   101-0065
[Postal Address]                Chiyoda-ku, Tokyo
                                3-8-1 Nishi-Kanda, Chiyoda First Bldg. East 13F
[Phone]                         03-5215-8451
[Fax]                           
"""

# A co.jp (organisational) domain, as JPRS answers with /e: no expiry line, the
# date is in [State]'s "Connected (YYYY/MM/DD)".
JPRS_CO_JP = """\
[ JPRS database provides information on network administration. Its use is    ]
[ restricted to network administration purposes. For further information,     ]
[ use 'whois -h whois.jprs.jp help'. To suppress Japanese output, add'/e'     ]
[ at the end of command, e.g. 'whois -h whois.jprs.jp xxx/e'.                 ]

Domain Information:
a. [Domain Name]                JPRS.CO.JP
g. [Organization]               Japan Registry Services Co., Ltd.
l. [Organization Type]          Corporation
m. [Administrative Contact]     JL062JP
n. [Technical Contact]          MO5920JP
n. [Technical Contact]          TW124137JP
p. [Name Server]                ns1.jprs.co.jp
p. [Name Server]                ns2.jprs.co.jp
p. [Name Server]                ns3.jprs.co.jp
p. [Name Server]                ns4.jprs.co.jp
s. [Signing Key]                
[State]                         Connected (2027/03/31)
[Lock Status]                   AgentChangeLocked
[Registered Date]               2001/03/26
[Connected Date]                2001/03/26
[Last Update]                   2026/04/01 01:07:33 (JST)

Contact Information:
[Name]                          Japan Registry Services Co., Ltd.
[Email]                         info@jprs.jp
"""

# What JPRS sends without /e: Japanese in ISO-2022-JP.
JPRS_JAPANESE = "[ドメイン名]                     JPRS.JP\n[登録者名]                       株式会社日本レジストリサービス\n"

ARIN_RIPE_BLOCK = """\

#
# ARIN WHOIS data and services are subject to the Terms of Use
# available at: https://www.arin.net/resources/registry/whois/tou/
#
# If you see inaccuracies in the results, please report at
# https://www.arin.net/resources/registry/whois/inaccuracy_reporting/
#
# Copyright 1997-2026, American Registry for Internet Numbers, Ltd.
#


NetRange:       193.0.0.0 - 193.255.255.255
CIDR:           193.0.0.0/8
NetName:        RIPE-CIDR-BLOCK
NetHandle:      NET-193-0-0-0-0
Parent:          ()
NetType:        Allocated to RIPE NCC
OriginAS:       
Organization:   RIPE Network Coordination Centre (RIPE)
RegDate:        1993-07-21
Updated:        2009-05-18
Ref:            https://rdap.arin.net/registry/ip/193.0.0.0

ResourceLink:  https://apps.db.ripe.net/db-web-ui/query
ResourceLink:  whois.ripe.net


OrgName:        RIPE Network Coordination Centre
OrgId:          RIPE
Address:        P.O. Box 10096
City:           Amsterdam
StateProv:      
PostalCode:     1001EB
Country:        NL
RegDate:        
Updated:        2013-07-29
Ref:            https://rdap.arin.net/registry/entity/RIPE

ReferralServer:  rwhois://rwhois.example.net:4321
ReferralServer:  whois://{ripe}:{port}
ResourceLink:  https://apps.db.ripe.net/db-web-ui/query

OrgAbuseHandle: ABUSE3850-ARIN
OrgAbuseName:   Abuse Contact
OrgAbusePhone:  +31205354444 
OrgAbuseEmail:  abuse@ripe.net
OrgAbuseRef:    https://rdap.arin.net/registry/entity/ABUSE3850-ARIN

#
# ARIN WHOIS data and services are subject to the Terms of Use
# available at: https://www.arin.net/resources/registry/whois/tou/
#
"""

ARIN_GOOGLE = """\

#
# ARIN WHOIS data and services are subject to the Terms of Use
# available at: https://www.arin.net/resources/registry/whois/tou/
#


# start

NetRange:       8.0.0.0 - 8.127.255.255
CIDR:           8.0.0.0/9
NetName:        LVLT-ORG-8-8
NetHandle:      NET-8-0-0-0-1
Parent:          ()
NetType:        Direct Allocation
Organization:   Level 3 Parent, LLC (LPL-141)
RegDate:        1992-12-01
Updated:        2018-04-23
Ref:            https://rdap.arin.net/registry/ip/8.0.0.0


OrgName:        Level 3 Parent, LLC
OrgId:          LPL-141
Country:        US
OrgAbuseEmail:  abuse@level3.com

# end


# start

NetRange:       8.8.8.0 - 8.8.8.255
CIDR:           8.8.8.0/24
NetName:        GOGL
NetHandle:      NET-8-8-8-0-2
Parent:         LVLT-ORG-8-8 (NET-8-0-0-0-1)
NetType:        Direct Allocation
Organization:   Google LLC (GOGL)
RegDate:        2023-12-28
Updated:        2023-12-28
Ref:            https://rdap.arin.net/registry/ip/8.8.8.0


OrgName:        Google LLC
OrgId:          GOGL
Address:        1600 Amphitheatre Parkway
City:           Mountain View
StateProv:      CA
PostalCode:     94043
Country:        US

OrgAbuseHandle: ABUSE5250-ARIN
OrgAbuseName:   Abuse
OrgAbusePhone:  +1-650-253-0000 
OrgAbuseEmail:  network-abuse@google.com

# end
"""

RIPE_NCC = """\
% This is the RIPE Database query service.
% The objects are in RPSL format.
%
% The RIPE Database is subject to Terms and Conditions.
% See https://docs.db.ripe.net/terms-conditions.html

% Note: this output has been filtered.
%       To receive output for a database update, use the "-B" flag.

% Information related to '193.0.0.0 - 193.0.7.255'

% Abuse contact for '193.0.0.0 - 193.0.7.255' is 'abuse@ripe.net'

inetnum:        193.0.0.0 - 193.0.7.255
netname:        RIPE-NCC
descr:          RIPE Network Coordination Centre
org:            ORG-RIEN1-RIPE
descr:          Amsterdam, Netherlands
remarks:        Used for RIPE NCC infrastructure.
country:        NL
admin-c:        BRD-RIPE
tech-c:         OPS4-RIPE
status:         ASSIGNED PA
mnt-by:         RIPE-NCC-MNT
created:        2003-03-17T12:15:57Z
last-modified:  2017-12-04T14:42:31Z
source:         RIPE

organisation:   ORG-RIEN1-RIPE
org-name:       Reseaux IP Europeens Network Coordination Centre (RIPE NCC)
country:        NL
org-type:       RIR
address:        P.O. Box 10096
address:        1001 EB
address:        Amsterdam
address:        NETHERLANDS
mnt-ref:        RIPE-NCC-MNT
mnt-by:         RIPE-NCC-MNT
created:        2012-03-09T13:56:56Z
last-modified:  2017-10-30T14:38:38Z
source:         RIPE

% Information related to '193.0.0.0/21AS3333'

route:          193.0.0.0/21
descr:          RIPE-NCC
origin:         AS3333
mnt-by:         RIPE-NCC-MNT
created:        2008-09-10T14:27:53Z
last-modified:  2008-09-10T14:27:53Z
source:         RIPE

% This query was served by the RIPE Database Query Service version 1.114 (SHETLAND)
"""

RIPE_AS3333 = """\
% This is the RIPE Database query service.
% The objects are in RPSL format.

% Abuse contact for 'AS3333' is 'abuse@ripe.net'

aut-num:        AS3333
as-name:        RIPE-NCC-AS
descr:          Reseaux IP Europeens Network Coordination Centre (RIPE NCC)
org:            ORG-RIEN1-RIPE
status:         ASSIGNED
mnt-by:         RIPE-NCC-MNT
created:        2002-08-20T09:06:43Z
last-modified:  2024-01-11T10:11:32Z
source:         RIPE

organisation:   ORG-RIEN1-RIPE
org-name:       Reseaux IP Europeens Network Coordination Centre (RIPE NCC)
country:        NL
org-type:       RIR
source:         RIPE
"""

DENIC_DE = """\
Domain: denic.de
Nserver: ns1.denic.de
Nserver: ns2.denic.net
Nserver: ns3.denic.de
Nserver: ns4.denic.net
Dnskey: 257 3 8 AwEAAb/xrM2MD+xm84YNYby6TxkMaC6PtzF2bB9WBB7ux7iqzhViob4GKvQ6L7CkXjyAxfKbTzrdvXoAPpsAPW4pkThReDAVp3QxvUKrkBM8/uWRF3wpaUoPsAHm1dbcL9aiW3lqlLMZjDEwDfU6lxLcPg9d14fq4dc44FvPx6aYcymkgJoYvR6P1wECpxqlEAR2K1cvMtqCqvVESBQV/EUtWiALNuwR2PbhwtBWJd+e8BdFI7OLkit4uYYux6Yu35uyGQ==
Status: connect
Changed: 2018-03-12T21:44:25+01:00
"""

DENIC_FREE = "Domain: {query}\nStatus: free\n"

RATE_LIMITED = "%% Your query limit exceeded. Please try again later.\r\n"


@dataclass
class World:
    """The standard servers and the aliases that make them well-known hosts."""

    net: WhoisNet
    iana: WhoisServer
    registry: WhoisServer
    registrar: WhoisServer
    jprs: WhoisServer
    arin: WhoisServer
    ripe: WhoisServer
    denic: WhoisServer

    @property
    def aliases(self) -> dict[str, str]:
        return {
            self.iana.host: "whois.iana.org",
            self.registry.host: "whois.verisign-grs.com",
            self.registrar.host: "whois.markmonitor.com",
            self.jprs.host: "whois.jprs.jp",
            self.arin.host: "whois.arin.net",
            self.ripe.host: "whois.ripe.net",
            self.denic.host: "whois.denic.de",
        }


async def world(net: WhoisNet) -> World:
    """IANA on 127.0.0.2 referring to Verisign, MarkMonitor, JPRS, ARIN, RIPE and DENIC."""
    names = {
        "registry": net.address(1),
        "registrar": net.address(2),
        "jprs": net.address(3),
        "arin": net.address(4),
        "ripe": net.address(5),
        "denic": net.address(6),
    }

    def fmt(template: str, port: int, **extra: str) -> str:
        return template.format(port=port, **names, **extra)

    iana = await net.add(
        lambda host, port: WhoisServer(
            host,
            {
                "google.com": fmt(IANA_COM, port),
                "nope.com": fmt(IANA_COM, port),
                "jprs.jp": fmt(IANA_JP, port),
                "jprs.co.jp": fmt(IANA_JP, port),
                "193.0.6.139": fmt(IANA_193, port),
                "AS3333": fmt(IANA_193, port),
                "10.1.2.3": IANA_PRIVATE,
                "denic.de": f"refer:        {names['denic']}\n\ndomain:       DE\n",
                "nic-frei.de": f"refer:        {names['denic']}\n\ndomain:       DE\n",
            },
            default=IANA_NONE,
        )
    )
    registry = await net.add(
        lambda host, port: WhoisServer(
            host,
            {"domain google.com": fmt(VERISIGN_GOOGLE, port)},
            default=fmt(VERISIGN_NO_MATCH, port, query="NOPE.COM"),
        )
    )
    registrar = await net.add(
        lambda host, port: WhoisServer(host, {"google.com": fmt(MARKMONITOR_GOOGLE, port)})
    )
    jprs = await net.add(
        lambda host, port: WhoisServer(
            host,
            {"jprs.jp/e": JPRS_ENGLISH, "jprs.jp": JPRS_JAPANESE, "jprs.co.jp/e": JPRS_CO_JP},
            default="No match!!\n",
            encoding="iso-2022-jp",
        )
    )
    arin = await net.add(
        lambda host, port: WhoisServer(
            host,
            {
                "n + 193.0.6.139": fmt(ARIN_RIPE_BLOCK, port),
                "n + 8.8.8.8": ARIN_GOOGLE,
                "a + 3333": fmt(ARIN_RIPE_BLOCK, port),
            },
            default="No match found for n + 192.0.2.1.\n",
        )
    )
    ripe = await net.add(
        lambda host, port: WhoisServer(
            host,
            {"193.0.6.139": RIPE_NCC, "AS3333": RIPE_AS3333},
            default="%ERROR:101: no entries found\n",
        )
    )
    denic = await net.add(
        lambda host, port: WhoisServer(
            host,
            {"-T dn,ace denic.de": DENIC_DE},
            default=DENIC_FREE.format(query="nic-frei.de"),
        )
    )
    return World(net, iana, registry, registrar, jprs, arin, ripe, denic)
