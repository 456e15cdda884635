"""The DNS exchange: queries over non-blocking UDP (TCP when truncated or ``use-vc``), the
nameserver rotation and timeouts of res_send, the search order of res_search, CNAME chains."""

from __future__ import annotations

import errno
import random
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from green._stdlib import original
from green.hubs import get_hub
from green.hubs import monotonic as _monotonic
from green.hubs import wait_until as _wait_until
from green.resolver import _configuration
from green.resolver._configuration import _nameserver_port, _ResolvConf
from green.resolver._errors import _LookupFailed
from green.resolver._numeric import AF_INET, AF_INET6, _parse_ipv6

_socket = original("socket")

_MAX_CNAME_HOPS = 8

_random = random.Random()
_TC = 0x0200


def _new_id(taken: set[int]) -> int:
    while True:
        query_id = _random.getrandbits(16)
        if query_id not in taken:
            taken.add(query_id)
            return query_id


def _socket_address(server: str, port: int) -> tuple[int, tuple[Any, ...]]:
    if ":" in server:
        parsed = _parse_ipv6(server)
        scope = parsed[1] if parsed else 0
        return AF_INET6, (server.partition("%")[0], port, 0, scope)
    return AF_INET, (server, port)


def _close(sock: Any) -> None:
    get_hub().notify_closing(sock.fileno())
    sock.close()


def _udp_exchange(
    server: str, port: int, queries: dict[int, dns.message.Message], timeout: float
) -> tuple[dict[int, dns.message.Message], set[int]]:
    """Send every query to `server` at once; collect answers until all came or `timeout` passed.

    Returns (answers by query key, keys whose answer was truncated). Replies that do not parse
    or match no query are ignored. An unreachable server (ICMP) ends the exchange early.
    """
    family, address = _socket_address(server, port)
    answers: dict[int, dns.message.Message] = {}
    truncated: set[int] = set()
    by_id = {query.id: key for key, query in queries.items()}
    sock = _socket.socket(family, _socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect(address)
        for query in queries.values():
            sock.send(query.to_wire())
        deadline = _monotonic() + timeout
        while len(answers) + len(truncated) < len(queries):
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                if not _wait_until(sock.fileno(), False, deadline):
                    break
                continue
            except OSError:  # ICMP port/host unreachable: this server is not there
                break
            if len(data) < 12:
                continue
            key = by_id.get(int.from_bytes(data[:2], "big"))
            if key is None or key in answers or key in truncated:
                continue
            if data[2] & 0x80 and int.from_bytes(data[2:4], "big") & _TC:
                truncated.add(key)
                continue
            try:
                response = dns.message.from_wire(data, ignore_trailing=True)
            except Exception:  # dnspython raises many types for malformed input
                continue
            if queries[key].is_response(response):
                answers[key] = response
    except OSError:
        pass
    finally:
        _close(sock)
    return answers, truncated


def _receive_exactly(sock: Any, size: int, deadline: float) -> bytes | None:
    chunks = []
    while size:
        try:
            chunk = sock.recv(size)
        except BlockingIOError:
            if not _wait_until(sock.fileno(), False, deadline):
                return None
            continue
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _tcp_exchange(
    server: str, port: int, query: dns.message.Message, timeout: float
) -> dns.message.Message | None:
    """One query over TCP (two-byte length prefix); None on any failure or timeout."""
    family, address = _socket_address(server, port)
    deadline = _monotonic() + timeout
    sock = _socket.socket(family, _socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        error = sock.connect_ex(address)
        if error:
            if error not in (errno.EINPROGRESS, errno.EAGAIN):
                return None
            if not _wait_until(sock.fileno(), True, deadline):
                return None
            if sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR):
                return None
        wire = query.to_wire()
        data = len(wire).to_bytes(2, "big") + wire
        while data:
            try:
                data = data[sock.send(data) :]
            except BlockingIOError:
                if not _wait_until(sock.fileno(), True, deadline):
                    return None
        header = _receive_exactly(sock, 2, deadline)
        if header is None:
            return None
        body = _receive_exactly(sock, int.from_bytes(header, "big"), deadline)
        if body is None:
            return None
        try:
            response = dns.message.from_wire(body)
        except Exception:  # malformed answer
            return None
        return response if query.is_response(response) else None
    except OSError:
        return None
    finally:
        _close(sock)


# Outcome of one question, also used as the precedence of outcomes within one search candidate.
_FOUND = "found"
_TIMEOUT = "timeout"
_NODATA = "nodata"
_SERVFAIL = "servfail"
_NXDOMAIN = "nxdomain"

_RETRY_NEXT_SERVER = {dns.rcode.SERVFAIL, dns.rcode.REFUSED, dns.rcode.NOTIMP}


def _ask(
    qname: dns.name.Name, rdtypes: list[int], config: _ResolvConf
) -> dict[int, dns.message.Message | None]:
    """Ask every server, round by round, until each rdtype has a usable answer.

    A SERVFAIL/REFUSED/NOTIMP answer moves on to the next server but is kept in case no better
    one comes. None for an rdtype means no server answered in time.
    """
    port = _nameserver_port()
    taken: set[int] = set()
    pending: dict[int, dns.message.Message] = {
        rdtype: dns.message.make_query(qname, dns.rdatatype.RdataType.make(rdtype), id=_new_id(taken))
        for rdtype in rdtypes
    }
    results: dict[int, dns.message.Message | None] = dict.fromkeys(rdtypes)
    servers = list(config.nameservers)
    if config.rotate and len(servers) > 1:
        shift = _random.randrange(len(servers))
        servers = servers[shift:] + servers[:shift]
    for _attempt in range(config.attempts):
        for server in servers:
            if not pending:
                return results
            if config.use_tcp:
                answers: dict[int, dns.message.Message] = {}
                truncated = set(pending)
            else:
                answers, truncated = _udp_exchange(server, port, pending, config.timeout)
            for rdtype in truncated:
                response = _tcp_exchange(server, port, pending[rdtype], config.timeout)
                if response is not None:
                    answers[rdtype] = response
            for rdtype, response in answers.items():
                results[rdtype] = response
                if response.rcode() not in _RETRY_NEXT_SERVER:
                    del pending[rdtype]
    return results


def _follow_chain(
    response: dns.message.Message, qname: dns.name.Name, rdtype: int
) -> tuple[dns.name.Name, list[dns.name.Name], list[Any]]:
    """(canonical name, alias names passed on the way, records of `rdtype` at the end)."""
    name = qname
    aliases: list[dns.name.Name] = []
    for _hop in range(_MAX_CNAME_HOPS * 2):
        records = [
            rrset
            for rrset in response.answer
            if rrset.name == name and rrset.rdtype == rdtype and rrset.rdclass == dns.rdataclass.IN
        ]
        if records:
            return name, aliases, [record for rrset in records for record in rrset]
        cnames = [
            rrset for rrset in response.answer if rrset.name == name and rrset.rdtype == dns.rdatatype.CNAME
        ]
        if not cnames:
            break
        aliases.append(name)
        name = cnames[0][0].target
    return name, aliases, []


@dataclass
class _Answer:
    outcome: str
    canonical: dns.name.Name | None = None
    aliases: list[dns.name.Name] = field(default_factory=list)
    records: dict[int, list[Any]] = field(default_factory=dict)


def _classify(response: dns.message.Message | None) -> str:
    if response is None:
        return _TIMEOUT
    rcode = response.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return _NXDOMAIN
    if rcode == dns.rcode.NOERROR:
        return _NODATA
    return _SERVFAIL  # SERVFAIL, REFUSED, NOTIMP, FORMERR...: glibc says "try again" for all


def _resolve_rdtype(
    qname: dns.name.Name, rdtype: int, response: dns.message.Message | None, config: _ResolvConf
) -> tuple[str, dns.name.Name | None, list[dns.name.Name], list[Any]]:
    """(outcome, canonical name, aliases, records) for one rdtype, finishing a CNAME chain.

    A recursive server answers with the whole chain; when it stops in the middle (the target
    lies elsewhere), the target is asked for here, at most _MAX_CNAME_HOPS times.
    """
    outcome = _classify(response)
    if response is None or outcome != _NODATA:
        return outcome, None, [], []
    canonical, aliases, records = _follow_chain(response, qname, rdtype)
    start = qname
    hops = 0
    while not records and canonical != start and hops < _MAX_CNAME_HOPS:
        hops += 1
        start = canonical
        response = _ask(canonical, [rdtype], config)[rdtype]
        outcome = _classify(response)
        if response is None or outcome != _NODATA:
            # The alias exists; a missing target makes it a name without data.
            return (_NODATA if outcome == _NXDOMAIN else outcome), canonical, aliases, []
        canonical, more_aliases, records = _follow_chain(response, start, rdtype)
        aliases = aliases + more_aliases
    return (_FOUND if records else _NODATA), canonical, aliases, records


def _query_name(qname: dns.name.Name, rdtypes: list[int], config: _ResolvConf) -> _Answer:
    """Ask for `rdtypes` of one fully qualified name; the outcome is the best of theirs."""
    answer = _Answer(_NXDOMAIN)
    outcomes = []
    responses = _ask(qname, rdtypes, config)
    for rdtype in rdtypes:
        outcome, canonical, aliases, records = _resolve_rdtype(qname, rdtype, responses[rdtype], config)
        outcomes.append(outcome)
        if records:
            answer.records[rdtype] = records
        # The canonical name comes from the first rdtype that found records, else the first chain.
        if canonical is not None and (answer.canonical is None or (records and len(answer.records) == 1)):
            answer.canonical, answer.aliases = canonical, aliases
    for outcome in (_FOUND, _TIMEOUT, _NODATA, _SERVFAIL):
        if outcome in outcomes:
            answer.outcome = outcome
            break
    return answer


def _search_names(name: str, config: _ResolvConf) -> list[dns.name.Name]:
    """The fully qualified names res_search tries for `name`, in order."""
    try:
        if name.endswith("."):
            return [dns.name.from_text(name)]
        dots = name.count(".")
        candidates = []
        if dots >= config.ndots:
            candidates.append(name)
        candidates.extend(f"{name}.{domain}" for domain in config.search)
        if dots < config.ndots:
            candidates.append(name)
        return [dns.name.from_text(candidate) for candidate in dict.fromkeys(candidates)]
    except (dns.exception.DNSException, ValueError):
        return []


def _dns_lookup(name: str, rdtypes: list[int]) -> _Answer:
    """Search for `name` like res_search; raises _LookupFailed with the EAI_* name on failure."""
    config = _configuration._resolv_conf()
    got_nodata = got_servfail = False
    for qname in _search_names(name, config):
        answer = _query_name(qname, rdtypes, config)
        if answer.outcome == _FOUND:
            return answer
        if answer.outcome == _TIMEOUT:
            raise _LookupFailed("EAI_AGAIN")
        if answer.outcome == _NODATA:
            got_nodata = True
        elif answer.outcome == _SERVFAIL:
            got_servfail = True
    if got_nodata:
        raise _LookupFailed("EAI_NODATA")
    if got_servfail:
        raise _LookupFailed("EAI_AGAIN")
    raise _LookupFailed("EAI_NONAME")


def _text(name: dns.name.Name) -> str:
    return str(name.to_text(omit_final_dot=True))
