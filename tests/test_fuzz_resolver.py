"""Fuzzing the DNS answer path of green.resolver with hypothesis.

A real DNS server on loopback (tests/dnsserver.py) answers every query with bytes drawn by
hypothesis: responses built with dnspython (random rcodes, flags, answer and authority records
of many types, CNAME chains that loop or lead nowhere, owner names that match or not), sent as
they are or mutated at the byte level, with the right or a wrong id, sometimes several replies to
one query, over UDP and over TCP (after a truncated UDP answer) with a right or wrong length
prefix; or plain random bytes. getaddrinfo, gethostbyname_ex, gethostbyaddr and getnameinfo must
then either return well-formed results or raise their documented errors (`socket.gaierror`,
`socket.herror`), within a bounded time, leaving no socket behind.

The second test feeds the same kind of bytes straight to the parsing step the resolver uses
(`dns.message.from_wire`, then the CNAME-chain walk and the record extraction).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from dnsserver import DNSServer
from fuzzing import TIMEOUT, apply_mutations, fuzz_settings, mutations
from hypothesis import given
from hypothesis import strategies as st

from green import resolver
from green.resolver import _configuration, _exchange
from green.timeout import Timeout

# Per-server wait of the resolver during the fuzz run: short, so that an answer the resolver
# rightly ignores costs little.
SERVER_TIMEOUT = 0.1
# The longest a lookup may take: the first name, up to 8 CNAME hops, each maybe over UDP then
# TCP, plus a wide margin for a loaded machine.
LOOKUP_LIMIT = 30.0

OWNERS = ["query", "alias1", "alias2", "other", "root"]
TARGETS = ["alias1", "alias2", "query", "other", "root", "long"]
RDATA_TYPES = ["A", "AAAA", "CNAME", "PTR", "DNAME", "TXT", "MX", "SOA", "NS"]
RCODES = [
    dns.rcode.NOERROR,
    dns.rcode.NOERROR,
    dns.rcode.NOERROR,
    dns.rcode.NXDOMAIN,
    dns.rcode.SERVFAIL,
    dns.rcode.REFUSED,
    dns.rcode.FORMERR,
    dns.rcode.NOTIMP,
    dns.rcode.YXDOMAIN,
]


def name_for(choice: str, query_name: dns.name.Name) -> dns.name.Name:
    if choice == "query":
        return query_name
    if choice == "root":
        return dns.name.root
    if choice == "long":
        return dns.name.from_text(".".join(["l" * 63] * 3) + ".fuzz.test.")
    return dns.name.from_text(f"{choice}.fuzz.test.")


def rdata_text(kind: str, value: int, target: str, query_name: dns.name.Name) -> str:
    if kind == "A":
        return socket.inet_ntop(socket.AF_INET, (value % (1 << 32)).to_bytes(4, "big"))
    if kind == "AAAA":
        return socket.inet_ntop(
            socket.AF_INET6, (value * 0x9E3779B97F4A7C15 % (1 << 128)).to_bytes(16, "big")
        )
    if kind in ("CNAME", "PTR", "DNAME", "NS"):
        return name_for(target, query_name).to_text()
    if kind == "TXT":
        return f'"text {value}"'
    if kind == "MX":
        return f"{value % 100} {name_for(target, query_name).to_text()}"
    return f"ns.fuzz.test. admin.fuzz.test. {value % 100000} 1 1 1 1"  # SOA


records = st.tuples(
    st.sampled_from(OWNERS),
    st.sampled_from(RDATA_TYPES),
    st.integers(0, (1 << 32) - 1),
    st.sampled_from(TARGETS),
    st.sampled_from(["IN", "IN", "IN", "CH"]),
)


@st.composite
def recipes(draw: Any) -> dict[str, Any]:
    """How to answer any query: drawn once per example, applied by the server thread."""
    return {
        "kind": draw(st.sampled_from(["built", "built", "built", "random"])),
        "random": draw(st.binary(min_size=0, max_size=200)),
        "rcode": draw(st.sampled_from(RCODES)),
        "flags": draw(st.sampled_from(["", "AA", "TC", "TC AA", "RA", "no-QR"])),
        "question": draw(st.sampled_from(["keep", "keep", "keep", "drop", "other"])),
        # A CNAME chain from the query name (it may loop back or stop short of the records).
        "chain": draw(st.lists(st.sampled_from(["alias1", "alias2", "other", "query"]), max_size=4)),
        "final": draw(st.sampled_from(["end of chain", "end of chain", "query", "nowhere"])),
        "answer": draw(st.lists(records, max_size=6)),
        "authority": draw(st.lists(records, max_size=2)),
        "mutations": draw(st.one_of(st.just([]), mutations())),
        "fix_id": draw(st.sampled_from([True, True, True, False])),
        "replies": draw(st.sampled_from(["one", "one", "twice", "wrong id first", "none"])),
        "tcp_prefix": draw(st.sampled_from(["right", "right", "longer", "shorter", "huge"])),
    }


def build_wire(recipe: dict[str, Any], query: dns.message.Message) -> bytes:
    question = query.question[0]
    if recipe["kind"] == "random":
        data = recipe["random"]
    else:
        response = dns.message.make_response(query)
        response.set_rcode(recipe["rcode"])
        for flag in recipe["flags"].split():
            if flag == "no-QR":
                response.flags &= ~dns.flags.QR
            else:
                response.flags |= dns.flags.from_text(flag)
        if recipe["question"] == "drop":
            response.question = []
        elif recipe["question"] == "other":
            response.question = [
                dns.rrset.RRset(dns.name.from_text("other.fuzz.test."), question.rdclass, question.rdtype)
            ]
        hops = ["query", *recipe["chain"]]
        for owner, target in zip(hops, hops[1:], strict=False):
            response.answer.append(
                dns.rrset.from_text(
                    name_for(owner, question.name),
                    300,
                    "IN",
                    "CNAME",
                    name_for(target, question.name).to_text(),
                )
            )
        final_owner = {"end of chain": hops[-1], "query": "query", "nowhere": "other"}[recipe["final"]]
        if question.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.PTR):
            kind = dns.rdatatype.to_text(question.rdtype)
            text = rdata_text(kind, len(hops), "alias2", question.name)
            response.answer.append(
                dns.rrset.from_text(name_for(final_owner, question.name), 300, "IN", kind, text)
            )
        for section, entries in (
            (response.answer, recipe["answer"]),
            (response.authority, recipe["authority"]),
        ):
            for owner, kind, value, target, rdclass in entries:
                text = rdata_text(kind, value, target, question.name)
                if kind in ("A", "AAAA"):
                    rdclass = "IN"  # (a CH-class A record is a Chaosnet address, another format)
                section.append(dns.rrset.from_text(name_for(owner, question.name), 300, rdclass, kind, text))
        data = response.to_wire(want_shuffle=False)
    data = apply_mutations(data, recipe["mutations"]) if recipe["mutations"] else data
    if recipe["fix_id"] and len(data) >= 2:
        data = query.id.to_bytes(2, "big") + data[2:]
    return data[:4096]


def responder_for(recipe: dict[str, Any]) -> Any:
    def respond(query: dns.message.Message, transport: str) -> list[bytes]:
        data = build_wire(recipe, query)
        if recipe["replies"] == "none":
            return []
        replies = [data]
        if recipe["replies"] == "twice":
            replies = [data, data]
        elif recipe["replies"] == "wrong id first" and len(data) >= 2:
            replies = [((query.id + 1) % 65536).to_bytes(2, "big") + data[2:], data]
        if transport == "tcp":
            size = {"right": len(data), "longer": len(data) + 7, "shorter": max(0, len(data) - 3)}.get(
                recipe["tcp_prefix"], 65535
            )
            replies = [size.to_bytes(2, "big") + reply for reply in replies]
        return replies

    return respond


@pytest.fixture(scope="module")
def server() -> Iterator[DNSServer]:
    with DNSServer({}) as running:
        yield running


@pytest.fixture
def fuzz_resolver(server: DNSServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[DNSServer]:
    config = _configuration._ResolvConf(
        nameservers=["127.0.0.1"], search=["fuzz.test"], ndots=1, timeout=SERVER_TIMEOUT, attempts=1
    )
    monkeypatch.setattr(_configuration, "_resolv_conf", lambda: config)
    monkeypatch.setattr(_configuration, "_hosts", lambda: _configuration._Hosts())
    resolver.configure(port=server.port)
    try:
        yield server
    finally:
        server.responder = None
        resolver.configure()


def check_getaddrinfo(results: list[tuple[Any, ...]]) -> None:
    assert results
    for family, kind, protocol, canonical, sockaddr in results:
        assert family in (socket.AF_INET, socket.AF_INET6)
        assert isinstance(kind, socket.SocketKind) and isinstance(protocol, int)
        assert isinstance(canonical, str)
        socket.inet_pton(family, sockaddr[0])
        assert len(sockaddr) == (2 if family == socket.AF_INET else 4)


def check_host_triple(result: tuple[str, list[str], list[str]], family: int = socket.AF_INET) -> None:
    name, aliases, addresses = result
    assert isinstance(name, str) and all(isinstance(alias, str) for alias in aliases)
    for address in addresses:
        socket.inet_pton(family, address)


CALLS = {
    "getaddrinfo": (
        lambda: resolver.getaddrinfo("fuzzhost", 80, 0, socket.SOCK_STREAM, 0, socket.AI_CANONNAME),
        check_getaddrinfo,
        (socket.gaierror,),
    ),
    "getaddrinfo v4-mapped": (
        lambda: resolver.getaddrinfo(
            "fuzzhost.fuzz.test.",
            80,
            socket.AF_INET6,
            socket.SOCK_STREAM,
            0,
            socket.AI_V4MAPPED | socket.AI_ALL,
        ),
        check_getaddrinfo,
        (socket.gaierror,),
    ),
    "gethostbyname_ex": (
        lambda: resolver.gethostbyname_ex("fuzzhost.fuzz.test"),
        check_host_triple,
        (socket.gaierror,),
    ),
    "gethostbyaddr": (
        lambda: resolver.gethostbyaddr("192.0.2.1"),
        check_host_triple,
        (socket.herror, socket.gaierror),
    ),
    "getnameinfo": (
        lambda: resolver.getnameinfo(("192.0.2.1", 80), socket.NI_NAMEREQD),
        lambda result: (
            (isinstance(result[0], str) and isinstance(result[1], str)) or pytest.fail(repr(result))
        ),
        (socket.gaierror,),
    ),
}


@pytest.mark.timeout(TIMEOUT)
def test_fuzzed_dns_answers(fuzz_resolver: DNSServer) -> None:
    @fuzz_settings(examples_scale=0.4)
    @given(recipes(), st.sampled_from(sorted(CALLS)))
    def case(recipe: dict[str, Any], call_name: str) -> None:
        call, check, documented = CALLS[call_name]
        fuzz_resolver.responder = responder_for(recipe)
        with Timeout(LOOKUP_LIMIT, AssertionError(f"{call_name} hung")):
            try:
                result = call()
            except documented:
                return
        check(result)

    case()


@pytest.mark.timeout(TIMEOUT)
def test_fuzzed_messages_through_the_parser() -> None:
    """Bytes that pass the resolver's id/QR pre-checks, straight through its parsing steps."""
    query = dns.message.make_query("fuzzhost.fuzz.test.", "A", id=4660)

    @fuzz_settings()
    @given(recipes())
    def case(recipe: dict[str, Any]) -> None:
        data = build_wire(recipe, query)
        try:
            response = dns.message.from_wire(data, ignore_trailing=True)
        except dns.exception.DNSException:
            return
        except (ValueError, IndexError, UnicodeError, TypeError):
            return  # the resolver catches Exception here: dnspython raises these too
        if not query.is_response(response):
            return
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.PTR):
            outcome = _exchange._classify(response)
            assert outcome in (_exchange._NXDOMAIN, _exchange._NODATA, _exchange._SERVFAIL)
            canonical, aliases, found = _exchange._follow_chain(response, query.question[0].name, rdtype)
            assert isinstance(canonical, dns.name.Name) and len(aliases) <= 2 * _exchange._MAX_CNAME_HOPS
            for record in found:
                if rdtype == dns.rdatatype.PTR:
                    _exchange._text(record.target)
                else:
                    socket.inet_pton(
                        socket.AF_INET if rdtype == dns.rdatatype.A else socket.AF_INET6, record.address
                    )

    case()
