"""SSRF guard decisions. Nothing here connects anywhere: a fake resolver answers every lookup."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from shared.webhooks.ssrf import (
    Target,
    UnsafeUrl,
    check_url,
    parse_allowlist,
    parse_cidrs,
)

PUBLIC = "93.184.215.14"
PUBLIC6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


class FakeResolver:
    """Maps host names to canned answers and records every lookup."""

    def __init__(self, answers: dict[str, list[str]] | None = None) -> None:
        self.answers = answers or {}
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


DNS = {
    "hooks.example.com": [PUBLIC],
    "v6.example.com": [PUBLIC6],
    "loopback.example.com": ["127.0.0.1"],
    "loopback6.example.com": ["::1"],
    "mixed.example.com": [PUBLIC, "10.1.2.3"],
    "mixed-order.example.com": ["192.168.1.1", PUBLIC],
    "metadata.example.com": ["169.254.169.254"],
    "cgnat.example.com": ["100.64.0.1"],
    "ula.example.com": ["fd12:3456:789a::1"],
    "linklocal6.example.com": ["fe80::1%eth0"],
    "mapped.example.com": ["::ffff:10.0.0.1"],
    "dns64-public.example.com": ["64:ff9b::5db8:d70e"],
    "dns64-private.example.com": ["64:ff9b::a00:1"],
    "empty.example.com": [],
    "garbage.example.com": ["not-an-ip"],
    "localhost": ["127.0.0.1", "::1"],
}


def check(url: str, **kw: object) -> Target:
    kw.setdefault("allow_http", True)
    kw.setdefault("resolver", FakeResolver(DNS))
    return check_url(url, **kw)  # type: ignore[arg-type]


REFUSED = [
    # Loopback, metadata and private literals
    "http://127.0.0.1",
    "http://127.0.0.1:8080/hook",
    "http://127.1",
    "http://[::1]",
    "http://[::1]:443/",
    "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.1",
    "http://172.16.0.1",
    "http://172.31.255.255",
    "http://192.168.0.1",
    "http://0.0.0.0",
    "http://0",
    "http://[::]",
    "http://100.64.0.1",
    "http://224.0.0.1",
    "http://255.255.255.255",
    "http://198.18.0.1",
    "http://[fd00::1]",
    "http://[fe80::1]",
    "http://[ff02::1]",
    "http://[2001:db8::1]",
    # Alternative IPv4 spellings that getaddrinfo/inet_aton would accept
    "http://2130706433",
    "http://0177.0.0.1",
    "http://0x7f000001",
    "http://0x7f.0.0.1",
    "http://0x7F.1",
    "http://017700000001",
    "http://0xa9fea9fe",
    "http://3232235521",  # 192.168.0.1
    # IPv6 wrappers around private IPv4
    "http://[::ffff:127.0.0.1]",
    "http://[::ffff:7f00:1]",
    "http://[::ffff:169.254.169.254]",
    "http://[::127.0.0.1]",  # deprecated IPv4-compatible
    "http://[64:ff9b::a9fe:a9fe]",  # NAT64 -> 169.254.169.254
    "http://[64:ff9b::7f00:1]",  # NAT64 -> 127.0.0.1
    "http://[64:ff9b:1::a00:1]",  # local-use NAT64
    "http://[2002:a9fe:a9fe::]",  # 6to4 -> 169.254.169.254
    "http://[2002:7f00:1::1]",  # 6to4 -> 127.0.0.1
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]",  # Teredo client -> 127.0.0.1
    # Host names that resolve badly (fake resolver)
    "http://loopback.example.com/",
    "http://loopback6.example.com/",
    "http://localhost/",
    "http://mixed.example.com/hook",  # one public + one private: refuse
    "http://mixed-order.example.com/hook",
    "http://metadata.example.com/",
    "http://cgnat.example.com/",
    "http://ula.example.com/",
    "http://linklocal6.example.com/",
    "http://mapped.example.com/",
    "http://dns64-private.example.com/",
    "http://nxdomain.example.com/",
    "http://empty.example.com/",
    "http://garbage.example.com/",
    # Schemes, credentials, malformed
    "gopher://x",
    "gopher://127.0.0.1:6379/_INFO",
    "file:///etc/passwd",
    "ftp://hooks.example.com/",
    "dict://hooks.example.com:11211/",
    "ws://hooks.example.com/",
    "hooks.example.com/no-scheme",
    "",
    "http://user:pass@hooks.example.com/",
    "http://user@hooks.example.com/",
    "http://hooks.example.com@127.0.0.1/",
    "http://127.0.0.1#@hooks.example.com/",
    "http:///path-only",
    "http://hooks.example.com:0/",
    "http://hooks.example.com:99999/",
    "http://hooks.example.com:abc/",
    "http://hooks.example.com\\@127.0.0.1/",
    "http://hooks.example.com/\r\nX-Injected: 1",
    "http://hooks.example.com\t/",
    "http://[fe80::1%25eth0]/",
    "http://[not-v6]/",
    "http://1.2.3.256/",  # malformed IPv4: not a DNS name either
    "http://09.0.0.1/",  # 09 is not octal
    "http://host_with%zz.example.com/",
]


@pytest.mark.parametrize("url", REFUSED)
def test_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl) as info:
        check(url)
    assert info.value.reason  # a one-line explanation for the API error


def test_http_refused_unless_allowed() -> None:
    with pytest.raises(UnsafeUrl, match="scheme"):
        check("http://hooks.example.com/", allow_http=False)
    assert check("https://hooks.example.com/", allow_http=False).scheme == "https"
    assert check("http://hooks.example.com/", allow_http=True).scheme == "http"


def test_public_address_accepted_and_pinned() -> None:
    resolver = FakeResolver(DNS)
    t = check_url("https://Hooks.Example.com/ocr/done?x=1#frag", resolver=resolver)
    assert t == Target(scheme="https", host="hooks.example.com", port=443, path="/ocr/done?x=1", ip=PUBLIC)
    assert t.host_header == "hooks.example.com"
    assert resolver.calls == [("hooks.example.com", 443)]  # exactly one lookup


def test_public_ipv6_accepted() -> None:
    t = check("https://v6.example.com:8443")
    assert (t.ip, t.port, t.path, t.host_header) == (PUBLIC6, 8443, "/", "v6.example.com:8443")


def test_public_literals_skip_dns() -> None:
    resolver = FakeResolver()
    t = check_url(f"https://{PUBLIC}/x", resolver=resolver)
    assert (t.host, t.ip) == (PUBLIC, PUBLIC)
    t6 = check_url(f"https://[{PUBLIC6}]:444/x", resolver=resolver)
    assert (t6.ip, t6.host_header) == (PUBLIC6, f"[{PUBLIC6}]:444")
    assert resolver.calls == []


def test_legacy_ipv4_public_is_normalised() -> None:
    # 0x5db8d70e == 93.184.215.14: judged as that address and shown canonically.
    t = check("http://0x5db8d70e/")
    assert t.host == t.ip == PUBLIC


def test_dns64_of_public_address_accepted() -> None:
    # On IPv6-only networks DNS64 answers 64:ff9b::<ipv4>; a public embedded IPv4 is fine.
    assert check("https://dns64-public.example.com/").ip == "64:ff9b::5db8:d70e"


def test_idna_host_encoded() -> None:
    resolver = FakeResolver({"xn--bcher-kva.example": [PUBLIC]})
    t = check_url("https://bücher.example/", resolver=resolver)
    assert t.host == "xn--bcher-kva.example"


def test_loopback_allowed_by_allowlist() -> None:
    cidrs = [ipaddress.ip_network("127.0.0.0/8")]
    t = check("http://127.0.0.1:8080/hook", allow_cidrs=cidrs)
    assert (t.ip, t.port, t.path) == ("127.0.0.1", 8080, "/hook")
    assert check("http://loopback.example.com/", allow_cidrs=cidrs).ip == "127.0.0.1"
    # An allowed IPv4-mapped address is pinned as the plain IPv4 it stands for.
    assert check("http://[::ffff:127.0.0.1]/", allow_cidrs=cidrs).ip == "127.0.0.1"
    # The allowlist opens only what it names.
    for url in ("http://[::1]/", "http://10.0.0.1/", "http://169.254.169.254/", "http://localhost/"):
        with pytest.raises(UnsafeUrl):
            check(url, allow_cidrs=cidrs)


def test_allowlist_does_not_bypass_scheme_or_userinfo() -> None:
    cidrs = parse_cidrs("127.0.0.0/8")
    with pytest.raises(UnsafeUrl):
        check("gopher://127.0.0.1/", allow_cidrs=cidrs)
    with pytest.raises(UnsafeUrl):
        check("http://a:b@127.0.0.1/", allow_cidrs=cidrs)
    with pytest.raises(UnsafeUrl):
        check("http://127.0.0.1/", allow_cidrs=cidrs, allow_http=False)


def test_allowlist_strings_and_private_ranges() -> None:
    t = check("https://mixed.example.com/", allow_cidrs=["10.0.0.0/8"])
    assert t.ip == PUBLIC
    assert check("https://ula.example.com/", allow_cidrs=["fd00::/8"]).ip == "fd12:3456:789a::1"


def test_parse_cidrs() -> None:
    assert parse_cidrs("") == parse_allowlist("") == []
    assert parse_cidrs(" 10.0.0.0/8 , fd00::/8,127.0.0.1") == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fd00::/8"),
        ipaddress.ip_network("127.0.0.1/32"),
    ]


def test_default_resolver_uses_getaddrinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stub getaddrinfo: the guard must read every answer, and no real lookup happens.
    def fake_getaddrinfo(host: str, port: int, *args: object, **kw: object) -> list[tuple]:
        assert (host, port) == ("hooks.example.com", 443)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC, port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(UnsafeUrl, match="loopback"):
        check_url("https://hooks.example.com/")


def test_hosts_file_resolver_answers_from_the_file_alone(tmp_path):
    from shared.webhooks.ssrf import hosts_file_resolver

    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n10.1.2.3 wms.store.local wms  # the WMS on the store LAN\n::1 localhost\n")
    assert hosts_file_resolver("WMS", 443, hosts) == ["10.1.2.3"]
    assert hosts_file_resolver("localhost", 443, hosts) == ["127.0.0.1", "::1"]
    with pytest.raises(socket.gaierror):
        hosts_file_resolver("example.com", 443, hosts)


def test_hosts_mode_refuses_a_name_not_in_the_hosts_file_and_checks_listed_ones(tmp_path):
    from shared.webhooks import ssrf

    hosts = tmp_path / "hosts"
    hosts.write_text("10.1.2.3 wms\n")
    resolver = lambda h, p: ssrf.hosts_file_resolver(h, p, hosts)  # noqa: E731
    with pytest.raises(UnsafeUrl):
        check_url("https://not-listed.example/hook", resolver=resolver)
    with pytest.raises(UnsafeUrl):  # listed, but private: still refused without an allowlist
        check_url("https://wms/hook", resolver=resolver)
    assert check_url("https://wms/hook", resolver=resolver, allow_cidrs=["10.1.0.0/16"]).ip == "10.1.2.3"
    assert ssrf.resolver_for("hosts") is ssrf.hosts_file_resolver
    assert ssrf.resolver_for("system") is ssrf.system_resolver


def test_a_refusal_names_the_setting_that_would_allow_a_trusted_receiver() -> None:
    # An integrator's receiver on this machine or the LAN: the 400 says how an operator allows it.
    with pytest.raises(UnsafeUrl) as loop:
        check("http://127.0.0.1:8080/hook")
    assert "loopback" in str(loop.value) and "adds 127.0.0.1/32 to OCRQ_WEBHOOK_ALLOW_PRIVATE" in str(loop.value)
    with pytest.raises(UnsafeUrl) as lan:
        check("http://10.1.2.3/hook")
    assert "adds 10.1.2.3/32 to OCRQ_WEBHOOK_ALLOW_PRIVATE" in str(lan.value)
    # Cloud metadata and other link-local targets get no such hint: no operator should allow them.
    with pytest.raises(UnsafeUrl) as meta:
        check("http://169.254.169.254/latest/meta-data/")
    assert "OCRQ_WEBHOOK_ALLOW_PRIVATE" not in str(meta.value)
