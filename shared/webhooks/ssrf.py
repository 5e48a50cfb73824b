"""SSRF guard for webhook URLs: decide whether a customer URL may be called, and pin the IP.

The decision is pure: URL and resolved addresses in, verdict out. The resolver is injected
so tests (and callers with their own DNS cache) never have to touch the network.

Why pin: checking a hostname and then letting the HTTP client resolve it again opens a DNS
rebinding window (first answer public, second answer 127.0.0.1). ``check_url`` returns the
one address it checked and the sender connects to exactly that address.

Why so many IPv6 cases: an IPv6 address can carry an IPv4 address (IPv4-mapped, NAT64,
6to4, Teredo) that the network will eventually deliver to; Python's ``ipaddress`` reports
NAT64 and 6to4 as global, so we unwrap the embedded IPv4 and judge it too.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

DEFAULT_PORTS = {"https": 443, "http": 80}

# Ranges ``ipaddress`` does not flag (or flags only in some Python versions) that must
# still never be reached from a webhook.
_EXTRA_BLOCKED: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
        "100.64.0.0/10",  # shared address space (carrier-grade NAT), RFC 6598
        "192.0.0.0/24",  # IETF protocol assignments
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "198.18.0.0/15",  # benchmarking
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. 255.255.255.255 broadcast
        "64:ff9b:1::/48",  # local-use NAT64, RFC 8215
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
        "100::/64",  # discard-only
        "2001:db8::/32",  # documentation
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

# A DNS host name after IDNA encoding: letters, digits, hyphen, underscore; dot-separated.
_HOSTNAME_RE = re.compile(r"^(?=.{1,253}\.?$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*"
                          r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.?$")
# Something an inet_aton-style parser (and so getaddrinfo) would read as an IPv4 address:
# up to four dot-separated parts of decimal, 0-octal or 0x-hex digits.
_LEGACY_IPV4_PART = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class UnsafeUrl(ValueError):
    """The URL may not be called; ``reason`` is one line fit for the API error message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Target:
    """A checked destination. Connect to ``ip``; send ``host`` as Host header and TLS SNI."""

    scheme: str
    host: str  # IDNA-encoded hostname, or canonical IP text for IP-literal URLs
    port: int
    path: str  # path + query, never empty
    ip: str  # the single checked address to connect to

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The URL as the receiver sees it (for logs; never used to connect)."""
        return f"{self.scheme}://{self.host_header}{self.path}"


def parse_cidrs(text: str) -> list[IPNetwork]:
    """Parse the comma-separated ``OCRQ_WEBHOOK_ALLOW_PRIVATE`` setting."""
    return [ipaddress.ip_network(p.strip(), strict=True) for p in text.split(",") if p.strip()]


# The name the gateway's submit-time check (api/webhook_guard.py) imports.
parse_allowlist = parse_cidrs


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``getaddrinfo`` returns for host:port (TCP), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def hosts_file_resolver(host: str, port: int, hosts_file: Path = Path("/etc/hosts")) -> list[str]:
    """Addresses for host from the hosts file alone: no DNS query ever leaves the machine.

    For offline edge boxes, where the WMS is named in /etc/hosts and a DNS lookup would only
    time out (OCRQ_WEBHOOK_DNS=hosts). A name not listed is not resolvable.
    """
    found: list[str] = []
    for line in hosts_file.read_text(errors="replace").splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and host.lower() in (name.lower() for name in fields[1:]):
            found.append(fields[0])
    if not found:
        raise socket.gaierror(socket.EAI_NONAME, f"{host} is not in {hosts_file}")
    return found


def resolver_for(mode: str) -> Resolver:
    """The resolver OCRQ_WEBHOOK_DNS names: `system` (getaddrinfo) or `hosts` (hosts file only)."""
    return hosts_file_resolver if mode == "hosts" else system_resolver


def check_url(
    url: str,
    *,
    allow_http: bool = False,
    allow_cidrs: Iterable[IPNetwork | str] = (),
    resolver: Resolver | None = None,
) -> Target:
    """Return a pinned Target for ``url`` or raise UnsafeUrl.

    Every address the host resolves to must be public or inside ``allow_cidrs``; one bad
    answer refuses the URL, since we cannot know which one a later lookup would favour.
    """
    allowed = [ipaddress.ip_network(c, strict=True) if isinstance(c, str) else c for c in allow_cidrs]
    scheme, host, port, path = _split(url, allow_http)

    literal = _ip_literal(host)
    if literal is not None:
        # No DNS for literals: resolving "2130706433" would just re-derive what we parsed.
        addresses = [literal]
        host = str(literal)
    else:
        addresses = _resolve(resolver or system_resolver, host, port)

    for addr in addresses:
        _check_address(addr, allowed)
    return Target(scheme=scheme, host=host, port=port, path=path, ip=_connect_text(addresses[0]))


def _connect_text(addr: IPAddress) -> str:
    # Connect to ::ffff:a.b.c.d as plain IPv4: hosts with IPV6_V6ONLY cannot reach it otherwise.
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def _split(url: str, allow_http: bool) -> tuple[str, str, int, str]:
    if not isinstance(url, str) or not url:
        raise UnsafeUrl("URL is empty")
    if any(c.isspace() or ord(c) < 0x20 or c == "\\" for c in url):
        # urlsplit silently drops tabs/newlines and browsers read "\" as "/": parser
        # differentials are how guards get bypassed, so refuse instead of guessing.
        raise UnsafeUrl("URL contains whitespace, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port_text = parts.port  # raises ValueError for non-numeric or out-of-range ports
    except ValueError as exc:
        raise UnsafeUrl(f"URL is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    permitted = ("https", "http") if allow_http else ("https",)
    if scheme not in permitted:
        raise UnsafeUrl(f"scheme must be {' or '.join(permitted)}, not {scheme or 'missing'!r}")
    if "@" in parts.netloc:
        raise UnsafeUrl("URL must not contain credentials (user@host)")
    if not parts.hostname:
        raise UnsafeUrl("URL has no host")
    port = DEFAULT_PORTS[scheme] if port_text is None else port_text
    if not 0 < port < 65536:
        raise UnsafeUrl("URL port is not a number in 1-65535")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, _normalise_host(parts.hostname, bracketed=parts.netloc.find("[") != -1), port, path


def _normalise_host(host: str, *, bracketed: bool) -> str:
    if bracketed:
        if "%" in host:
            raise UnsafeUrl("IPv6 zone identifiers are not allowed")
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            raise UnsafeUrl("bracketed host is not an IPv6 address") from None
    try:
        # urlsplit already lower-cased; IDNA turns "bücher.example" into its xn-- form.
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise UnsafeUrl("host name is not valid IDNA") from None
    ascii_host = ascii_host.lower()
    if not _HOSTNAME_RE.match(ascii_host):
        raise UnsafeUrl("host name contains characters not allowed in DNS names")
    return ascii_host


def _ip_literal(host: str) -> IPAddress | None:
    """The address a host string denotes on its own, or None if it is a DNS name.

    Accepts the inet_aton forms getaddrinfo accepts ("2130706433", "0177.0.0.1",
    "0x7f000001", "127.1") so they are judged as the address they really are.
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    parts = host.rstrip(".").split(".") if host != "." else [""]
    if not all(_LEGACY_IPV4_PART.match(p) for p in parts):
        # A final all-numeric label still makes the whole thing an IPv4 attempt (WHATWG URL
        # rules); such hosts are not real DNS names, so refuse rather than resolve them.
        if _LEGACY_IPV4_PART.match(parts[-1]):
            raise UnsafeUrl("host looks like a malformed IPv4 address")
        return None
    value = _parse_legacy_ipv4(parts)
    if value is None:
        raise UnsafeUrl("host looks like a malformed IPv4 address")
    return ipaddress.IPv4Address(value)


def _parse_legacy_ipv4(parts: list[str]) -> int | None:
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for p in parts:
        if p.startswith("0x"):
            if p == "0x":
                numbers.append(0)  # inet_aton reads a bare "0x" as zero
                continue
            numbers.append(int(p[2:], 16))
        elif len(p) > 1 and p.startswith("0"):
            if any(c in "89" for c in p):
                return None
            numbers.append(int(p, 8))
        else:
            numbers.append(int(p))
    # a.b.c.d / a.b.c (c is 16 bits) / a.b (b is 24 bits) / a (32 bits)
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    value = 0
    for n in head:
        value = value << 8 | n
    return value << (8 * (4 - len(head))) | last


def _resolve(resolver: Resolver, host: str, port: int) -> list[IPAddress]:
    try:
        answers = resolver(host, port)
    except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
        raise UnsafeUrl(f"host does not resolve: {exc}") from None
    if not answers:
        raise UnsafeUrl("host does not resolve to any address")
    addresses: list[IPAddress] = []
    for text in answers:
        try:
            # Scope ids ("fe80::1%eth0") only come with link-local addresses, refused below.
            addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
        except ValueError:
            raise UnsafeUrl(f"resolver returned a non-address {text!r}") from None
    return addresses


def _embedded_ipv4(addr: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address will be translated or tunnelled to."""
    if not isinstance(addr, ipaddress.IPv6Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if addr.ipv4_mapped is not None:
        found.append(addr.ipv4_mapped)
    if addr in _NAT64:
        found.append(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    if addr.sixtofour is not None:
        found.append(addr.sixtofour)
    if addr.teredo is not None:
        found.extend(addr.teredo)  # (server, client); the client is de-obfuscated already
    return found


def _check_address(addr: IPAddress, allowed: list[IPNetwork]) -> None:
    if _in_allowlist(addr, allowed):
        return
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        # ::ffff:a.b.c.d is the very same socket destination as a.b.c.d.
        if _in_allowlist(addr.ipv4_mapped, allowed):
            return
    embedded = _embedded_ipv4(addr)
    # A translation/tunnel address goes where its embedded IPv4 goes, so that decides.
    # (Judging the wrapper would wrongly pass 6to4/NAT64 -- ``ipaddress`` calls them
    # global -- or wrongly refuse DNS64 answers for public hosts on IPv6-only networks.)
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [*embedded] if embedded else [addr]
    for candidate in candidates:
        reason = _blocked_reason(candidate)
        if reason is not None:
            shown = str(addr) if candidate == addr else f"{addr} (embeds {candidate})"
            hint = ""
            if reason in ("loopback", "private"):  # a receiver an operator may trust; never link-local
                own = f"{candidate}/{candidate.max_prefixlen}"
                hint = f"; an operator who trusts it adds {own} to OCRQ_WEBHOOK_ALLOW_PRIVATE"
            raise UnsafeUrl(f"address {shown} is {reason}{hint}")


def _in_allowlist(addr: IPAddress, allowed: list[IPNetwork]) -> bool:
    return any(addr.version == net.version and addr in net for net in allowed)


def _blocked_reason(addr: IPAddress) -> str | None:
    # Order matters only for the message; any hit refuses.
    checks = (
        ("unspecified", addr.is_unspecified),
        ("loopback", addr.is_loopback),
        ("link-local", addr.is_link_local),
        ("multicast", addr.is_multicast),
        ("private", addr.is_private),
        ("reserved", addr.is_reserved),
    )
    for name, hit in checks:
        if hit:
            return name
    for net in _EXTRA_BLOCKED:
        if addr.version == net.version and addr in net:
            return f"in the non-public range {net}"
    if not addr.is_global:
        return "not globally routable"
    return None
