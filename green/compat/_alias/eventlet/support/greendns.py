"""eventlet.support.greendns: eventlet's resolver API, on green's resolver pieces and dnspython.

Why a second resolver layer
---------------------------
green's own name resolution (``green.resolver``, behind ``green.socket.getaddrinfo``) is a set of
functions: glibc's order and errors, nothing to replace. eventlet's users program against a
different shape, and this module gives them that shape:

- ``resolver``: a module-global `ResolverProxy` that programs replace or reconfigure (its
  ``_hosts`` is a `HostsResolver`, its ``_resolver`` a dnspython ``dns.resolver.Resolver``);
  ``clear()``/`reset` forget the cache and read resolv.conf again;
- `HostsResolver`: the hosts file as dnspython answers (A, AAAA, CNAME for aliases), read again
  when it changes, at most every ``interval`` seconds;
- `resolve`, `resolve_cname`, `getaliases`: one-question helpers over ``resolver`` that turn
  dnspython's errors into ``socket.gaierror``;
- `getaddrinfo`, `gethostbyname`, `gethostbyname_ex`, `getnameinfo` written over those helpers,
  looked up at call time, so a program (or a test) that replaces ``greendns.resolver`` or
  ``greendns.resolve`` changes what ``eventlet.green.socket.getaddrinfo`` answers;
- `udp` and `tcp`: ``dns.query.udp``/``tcp`` on green sockets (only the calling green thread waits).

The layering is eventlet's (a proxy that asks the hosts file first, then the nameservers, and
for a single-label name also the name as a top-level domain); the code is green's. What green
already has is used rather than written twice: the hosts file and resolv.conf are parsed by
``green.resolver``'s parsers (glibc's rules: at most three nameservers, 127.0.0.1 when none,
``LOCALDOMAIN``/``RES_OPTIONS``, the search domain from the host name), numeric addresses are
expanded by ``green.socket.getaddrinfo`` with ``AI_NUMERICHOST``, errors carry libc's EAI_* texts,
and the default files follow ``green.resolver.configure()`` / ``GREEN_RESOLV_CONF`` /
``GREEN_HOSTS`` / ``GREEN_DNS_PORT``.

dnspython itself is left as it is (eventlet patched a private copy of it): the default resolver is
a ``dns.resolver.Resolver`` subclass whose ``resolve`` sends its questions with this module's
`udp`/`tcp` and waits out dnspython's back-off with a green sleep (resolv.conf's ``use-vc``:
TCP only). Other kinds of nameserver a program configures (DNS over TLS/HTTPS) use dnspython's
own transport, which waits cooperatively only after monkey-patching.

``green.socket.getaddrinfo`` does not go through this module: green's programs keep the short
path; ``eventlet.green.socket`` is the socket module whose resolver functions are these.
"""

from __future__ import annotations

import os
import struct
import time
import warnings
from typing import Any, Callable, Iterable, NoReturn

import dns
import dns.exception
import dns.flags
import dns.inet
import dns.message
import dns.name
import dns.nameserver
import dns.query
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.PTR
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.resolver
import dns.reversename
import dns.rrset

from green.greenthread import sleep as _green_sleep
from green.resolver import _configuration
from green.resolver._configuration import _file_signature, _parse_hosts, _parse_resolv_conf, _read_lines
from green.resolver._errors import _gaierror
from green.resolver._numeric import AF_INET6, _is_link_local, _ntop
from green.socket import gethostbyaddr

from ..green import _socket_nodns

__all__ = [
    "DNS_QUERY_TIMEOUT",
    "EAI_EAGAIN_ERROR",
    "EAI_NODATA_ERROR",
    "EAI_NONAME_ERROR",
    "HOSTS_TTL",
    "HostsAnswer",
    "HostsResolver",
    "ResolverProxy",
    "dns",
    "getaddrinfo",
    "getaliases",
    "gethostbyaddr",
    "gethostbyname",
    "gethostbyname_ex",
    "getnameinfo",
    "is_ip_addr",
    "is_ipv4_addr",
    "is_ipv6_addr",
    "reset",
    "resolve",
    "resolve_cname",
    "resolver",
    "tcp",
    "udp",
]

#: The socket module this resolver uses: green's sockets and green's own (numeric) getaddrinfo.
socket: Any = _socket_nodns

#: Default seconds `udp` and `tcp` wait for an answer.
DNS_QUERY_TIMEOUT = 10.0
#: Default seconds between two looks at the hosts file (and the TTL of its answers).
HOSTS_TTL = 10.0

# eventlet's error values: templates, never raised themselves (see _raise_new_error).
EAI_EAGAIN_ERROR = _gaierror("EAI_AGAIN")
EAI_NONAME_ERROR = _gaierror("EAI_NONAME")
# eventlet reports a name without addresses as EAI_NONAME (RFC 3493 dropped EAI_NODATA) unless
# EVENTLET_DEPRECATED_EAI_NODATA asks for the old code.
EAI_NODATA_ERROR = EAI_NONAME_ERROR
if os.environ.get("EVENTLET_DEPRECATED_EAI_NODATA", "").lower() in ("1", "y", "yes") and hasattr(
    socket, "EAI_NODATA"
):
    EAI_NODATA_ERROR = _gaierror("EAI_NODATA")

# The proxy asks its dnspython resolver with the old ``query`` name (replacement resolvers that
# programs install define that one); dnspython warns on every such call. The warning is about
# this module's call, not the program's, so it is not shown.
warnings.filterwarnings(
    "ignore", message="please use dns.resolver.Resolver.resolve", category=DeprecationWarning, module=__name__
)


def _raise_new_error(error_instance: BaseException) -> NoReturn:
    """Raise a fresh exception like `error_instance` (the shared templates above never get a
    traceback, so they keep no frames alive)."""
    raise error_instance.__class__(*error_instance.args)


# -- addresses -----------------------------------------------------------------------------------


def is_ipv4_addr(host: object) -> bool:
    """Whether `host` is an IPv4 address in dotted-quad form."""
    if not isinstance(host, str):
        return False
    try:
        socket.inet_pton(socket.AF_INET, host)
    except (OSError, ValueError):
        return False
    return True


def is_ipv6_addr(host: object) -> bool:
    """Whether `host` is an IPv6 address (a ``%scope`` suffix allowed)."""
    if not isinstance(host, str):
        return False
    try:
        socket.inet_pton(socket.AF_INET6, host.split("%", 1)[0])
    except (OSError, ValueError):
        return False
    return True


def is_ip_addr(host: object) -> bool:
    """Whether `host` is an IPv4 or IPv6 address."""
    return is_ipv4_addr(host) or is_ipv6_addr(host)


def _as_name(qname: Any, origin: dns.name.Name | None = dns.name.root) -> dns.name.Name:
    if isinstance(qname, dns.name.Name):
        return qname
    if isinstance(qname, bytes):
        qname = qname.decode("ascii")
    return dns.name.from_text(qname, origin)


def _lookup_key(qname: Any) -> str:
    """The lower-case text of a name without its final dot (the hosts file's keys)."""
    if isinstance(qname, dns.name.Name):
        text = qname.to_text(omit_final_dot=True)
    elif isinstance(qname, bytes):
        text = qname.decode("ascii")
    else:
        text = str(qname)
    return text.rstrip(".").lower()


# -- the hosts file ------------------------------------------------------------------------------


class HostsAnswer(dns.resolver.Answer):
    """A dnspython Answer that no nameserver sent (from the hosts file, or an empty one).

    `rrset` is a dns.rrset.RRset (its ``ttl`` becomes the expiration) or any sequence of records.
    Raises dns.resolver.NoAnswer when it is empty and `raise_on_no_answer` is true.
    """

    def __init__(
        self,
        qname: Any,
        rdtype: int,
        rdclass: int,
        rrset: Any,
        raise_on_no_answer: bool = True,
    ) -> None:
        # dnspython's __init__ reads a response message; there is none here.
        self.response = None  # type: ignore[assignment]
        self.nameserver = None
        self.port = None
        self.qname = qname
        self.rdtype = rdtype  # type: ignore[assignment]  # any number, as the caller gave it
        self.rdclass = rdclass  # type: ignore[assignment]
        self.canonical_name = qname
        self.chaining_result = None  # type: ignore[assignment]
        if not rrset and raise_on_no_answer:
            raise dns.resolver.NoAnswer()
        self.rrset = rrset
        ttl = getattr(rrset, "ttl", None)
        self.expiration = time.time() + ttl if ttl is not None else 0


class HostsResolver:
    """The hosts file as a dnspython-style resolver: A, AAAA and (for aliases) CNAME answers.

    `fname` is the file (default: green's hosts file, /etc/hosts unless ``GREEN_HOSTS`` or
    ``green.resolver.configure(hosts=...)`` says otherwise). Names match case-insensitively, with
    or without a final dot. The file is looked at again at most every `interval` seconds and
    parsed again when it changed; the last line naming a host wins, as in eventlet. Link-local
    IPv6 addresses are left out (they need an interface to be usable).
    """

    def __init__(self, fname: str | None = None, interval: float = HOSTS_TTL) -> None:
        self._v4: dict[str, str] = {}  # name -> IPv4 address
        self._v6: dict[str, str] = {}  # name -> IPv6 address
        self._aliases: dict[str, str] = {}  # alias -> official name
        self.interval = interval
        self.fname = fname if fname is not None else _configuration._hosts_path()
        self._last_load = 0.0
        self._signature: tuple[int, int, int] | None = None
        if self.fname:
            self._load()

    def _readlines(self) -> Iterable[str]:
        """The file's lines without comments and surrounding blanks; empty ones left out."""
        lines = []
        for line in _read_lines(self.fname):
            # "\r" alone also ends a line here, as in text mode.
            for piece in line.split("\r"):
                text = piece.partition("#")[0].strip()
                if text:
                    lines.append(text)
        return lines

    def _load(self) -> None:
        """Read and parse the file now, whatever its age."""
        self._signature = _file_signature(self.fname)
        hosts = _parse_hosts(list(self._readlines()))
        v4: dict[str, str] = {}
        v6: dict[str, str] = {}
        aliases: dict[str, str] = {}
        # _parse_hosts lists, for each name, the lines naming it in file order: the last wins.
        for name, entries in hosts.by_name.items():
            for entry in entries:
                if entry.family == AF_INET6:
                    if _is_link_local(entry.packed):
                        continue
                    v6[name] = _ntop(entry.family, entry.packed)
                else:
                    v4[name] = _ntop(entry.family, entry.packed)
                official = entry.names[0].lower()
                if name != official or name in (alias.lower() for alias in entry.names[1:]):
                    aliases[name] = official
        self._v4, self._v6, self._aliases = v4, v6, aliases
        self._last_load = time.time()

    def _refresh(self, now: float) -> None:
        if self._last_load + self.interval < now:
            if _file_signature(self.fname) != self._signature:
                self._load()
            else:
                self._last_load = now

    def query(
        self,
        qname: Any,
        rdtype: int = dns.rdatatype.A,
        rdclass: int = dns.rdataclass.IN,
        tcp: bool = False,
        source: str | None = None,
        raise_on_no_answer: bool = True,
    ) -> HostsAnswer:
        """Answer `qname` from the file (`tcp` and `source` mean nothing here).

        A gives the IPv4 address, AAAA the IPv6 one, CNAME the official name of an alias; other
        types and classes have no answer: dns.resolver.NoAnswer, or an empty answer when
        `raise_on_no_answer` is false.
        """
        now = time.time()
        self._refresh(now)
        key = _lookup_key(qname)
        qname = _as_name(qname)
        rrset = dns.rrset.RRset(qname, dns.rdataclass.IN, dns.rdatatype.RdataType.make(rdtype))
        rrset.ttl = max(int(self._last_load + self.interval - now), 0)
        if rdclass == dns.rdataclass.IN:
            if rdtype == dns.rdatatype.A and key in self._v4:
                rrset.add(dns.rdtypes.IN.A.A(dns.rdataclass.IN, rdtype, self._v4[key]))
            elif rdtype == dns.rdatatype.AAAA and key in self._v6:
                rrset.add(dns.rdtypes.IN.AAAA.AAAA(dns.rdataclass.IN, rdtype, self._v6[key]))
            elif rdtype == dns.rdatatype.CNAME and key in self._aliases:
                target = dns.name.from_text(self._aliases[key])
                rrset.add(dns.rdtypes.ANY.CNAME.CNAME(dns.rdataclass.IN, rdtype, target))
        return HostsAnswer(qname, rdtype, dns.rdataclass.IN, rrset, raise_on_no_answer)

    def getaliases(self, hostname: Any) -> list[str]:
        """The other names of `hostname`'s line(s): its official name and aliases, not itself."""
        key = _lookup_key(hostname)
        official = self._aliases.get(key, key)
        names = [official] + [alias for alias, target in self._aliases.items() if target == official]
        return [name for name in dict.fromkeys(names) if name != key]


# -- the dnspython resolver on green sockets ----------------------------------------------------


class _GreenResolver(dns.resolver.Resolver):
    """dnspython's Resolver whose questions travel over green sockets (`udp`/`tcp` below).

    Everything else (search list, cache, rotation, lifetime, errors) is dnspython's own: its
    ``_Resolution`` decides what to ask whom, this loop only does the I/O and the back-off.
    `use_vc` (resolv.conf's ``options use-vc``) asks every question over TCP.
    """

    use_vc = False

    def resolve(  # type: ignore[override]
        self,
        qname: Any,
        rdtype: Any = dns.rdatatype.A,
        rdclass: Any = dns.rdataclass.IN,
        tcp: bool = False,
        source: str | None = None,
        raise_on_no_answer: bool = True,
        source_port: int = 0,
        lifetime: float | None = None,
        search: bool | None = None,
    ) -> dns.resolver.Answer:
        tcp = tcp or self.use_vc
        resolution = dns.resolver._Resolution(self, qname, rdtype, rdclass, tcp, raise_on_no_answer, search)
        started = time.time()
        while True:
            request, answer = resolution.next_request()
            if answer is not None:  # from the cache (an empty Answer is false: compare to None)
                return answer
            assert request is not None
            done = False
            while not done:
                nameserver, use_tcp, backoff = resolution.next_nameserver()
                if backoff:
                    _green_sleep(backoff)
                # dnspython 2.9 gives every try a fresh query id; 2.8 (the last for Python 3.10
                # here) keeps the first one, as its own resolve() does.
                set_random_id = getattr(request, "set_random_id", None)
                if set_random_id is not None:
                    set_random_id()
                timeout = self._compute_timeout(started, lifetime, resolution.errors)
                try:
                    response = _exchange(nameserver, request, timeout, source, source_port, use_tcp)
                except Exception as error:  # dnspython sorts I/O and parse errors out
                    _, done = resolution.query_result(None, error)
                    continue
                answer, done = resolution.query_result(response, None)
                if answer is not None:
                    return answer


def _exchange(
    nameserver: dns.nameserver.Nameserver,
    request: Any,
    timeout: float,
    source: str | None,
    source_port: int,
    use_tcp: bool,
) -> dns.message.Message:
    """One question to one nameserver: plain DNS with this module's `udp`/`tcp`, other kinds
    (TLS, HTTPS, QUIC) with dnspython's own transport."""
    if type(nameserver) is not dns.nameserver.Do53Nameserver:
        return nameserver.query(request, timeout, source, source_port, use_tcp)
    address, port = nameserver.address, nameserver.port
    if use_tcp:
        return tcp(request, address, timeout=timeout, port=port, source=source, source_port=source_port)
    return udp(
        request,
        address,
        timeout=timeout,
        port=port,
        source=source,
        source_port=source_port,
        ignore_unexpected=True,
        raise_on_truncation=True,
        ignore_errors=True,
    )


def _configured_resolver(filename: str | None) -> _GreenResolver:
    """A resolver set up from resolv.conf `filename` with green's parser (None: nothing read;
    eventlet's default /etc/resolv.conf means green's configured file)."""
    resolver = _GreenResolver(configure=False)
    if filename is None:
        return resolver
    if filename == "/etc/resolv.conf":
        filename = _configuration._resolv_conf_path()
    config = _parse_resolv_conf(_read_lines(filename))
    resolver.port = _configuration._nameserver_port()
    resolver.nameservers = list(config.nameservers)
    resolver.search = [dns.name.from_text(domain) for domain in config.search]
    resolver.use_search_by_default = True
    resolver.ndots = config.ndots
    resolver.timeout = config.timeout
    # glibc waits `timeout` for each server in each of `attempts` rounds.
    resolver.lifetime = config.timeout * config.attempts * max(len(config.nameservers), 1)
    resolver.rotate = config.rotate
    resolver.use_vc = config.use_tcp
    return resolver


class ResolverProxy:
    """The resolver eventlet's functions ask: the hosts file first, then the nameservers.

    `hosts_resolver` is a `HostsResolver` (or None: no hosts file); `filename` the resolv.conf
    its dnspython resolver reads (None: none; the default is green's configured file). The
    dnspython resolver is made on first use (a machine without DNS can still import this), and
    again by `clear`; programs may assign their own object with a ``query`` method to
    ``_resolver``, and another hosts resolver to ``_hosts``.
    """

    def __init__(self, hosts_resolver: Any = None, filename: str | None = "/etc/resolv.conf") -> None:
        self._hosts = hosts_resolver
        self._filename = filename
        self._cached_resolver: Any = None

    @property
    def _resolver(self) -> Any:
        if self._cached_resolver is None:
            self.clear()
        return self._cached_resolver

    @_resolver.setter
    def _resolver(self, value: Any) -> None:
        self._cached_resolver = value

    def clear(self) -> None:
        """Forget every cached answer and read the resolver configuration again."""
        resolver = _configured_resolver(self._filename)
        resolver.cache = dns.resolver.LRUCache()
        self._resolver = resolver

    def query(
        self,
        qname: Any,
        rdtype: int = dns.rdatatype.A,
        rdclass: int = dns.rdataclass.IN,
        tcp: bool = False,
        source: str | None = None,
        raise_on_no_answer: bool = True,
        _hosts_rdtypes: tuple[int, ...] = (dns.rdatatype.A, dns.rdatatype.AAAA),
        use_network: bool = True,
    ) -> Any:
        """Answer `qname` from the hosts file if it knows the name, else from the nameservers.

        A name of one label is asked as given (the search list applies) and also as a top-level
        name, the answers merged, as the C library's getaddrinfo does. With `use_network` false
        only the hosts file is asked. Errors are dnspython's (NXDOMAIN, NoAnswer, Timeout...).
        """
        if qname is None:
            qname = "0.0.0.0"
        qname = _as_name(qname, None)
        collected = _Collected()
        if self._hosts and rdclass == dns.rdataclass.IN and rdtype in _hosts_rdtypes:
            collected.ask(self._hosts.query, qname, rdtype, raise_on_no_answer=False)
            if collected.answer is not None or not use_network:
                return collected.finish(qname, raise_on_no_answer)
        resolver = self._resolver
        collected.ask(resolver.query, qname, rdtype, rdclass, tcp, source, raise_on_no_answer=False)
        if len(qname) == 1:
            top_level = qname.concatenate(dns.name.root)
            collected.ask(resolver.query, top_level, rdtype, rdclass, tcp, source, raise_on_no_answer=False)
        return collected.finish(qname, raise_on_no_answer)

    def getaliases(self, hostname: Any) -> list[str]:
        """The hosts file's other names for `hostname`, then the CNAME chain from the nameservers."""
        aliases: list[str] = list(self._hosts.getaliases(hostname)) if self._hosts else []
        resolver = self._resolver
        for _hop in range(_MAX_CNAME_HOPS):
            try:
                answer = resolver.query(hostname, dns.rdatatype.CNAME)
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                break
            aliases.extend(str(record.target) for record in answer.rrset)
            hostname = answer[0].target
        return aliases


_MAX_CNAME_HOPS = 16


class _Collected:
    """The answers of the questions one query asks (merged) and the last error among them."""

    def __init__(self) -> None:
        self.answer: Any = None
        self.empty: Any = None
        self.error: BaseException | None = None

    def ask(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        try:
            answer = function(*args, **kwargs)
        except Exception as error:  # any resolver's error is the query's answer
            self.error = error
            return
        if answer.rrset is not None and len(answer.rrset):
            if self.answer is None:
                self.answer = answer
            else:
                self.answer.rrset.union_update(answer.rrset)
        elif self.empty is None:
            self.empty = answer

    def finish(self, qname: dns.name.Name, raise_on_no_answer: bool) -> Any:
        if self.answer is not None:
            return self.answer
        if self.error is not None and (
            raise_on_no_answer or not isinstance(self.error, dns.resolver.NoAnswer)
        ):
            raise self.error
        if self.empty is not None or self.error is not None:
            if raise_on_no_answer:
                raise dns.resolver.NoAnswer()
            if self.empty is not None:
                return self.empty
        raise dns.resolver.NXDOMAIN(qnames=(qname,))


#: The resolver the module's functions ask; replace it or its ``_hosts``/``_resolver`` at will.
resolver: Any = ResolverProxy(hosts_resolver=HostsResolver())


def reset() -> None:
    """Forget the cached answers and read resolv.conf again."""
    resolver.clear()


# -- questions with socket errors ----------------------------------------------------------------


def resolve(
    name: Any,
    family: int = socket.AF_INET,
    raises: bool = True,
    _proxy: Any = None,
    use_network: bool = True,
) -> Any:
    """The A (AF_INET) or AAAA (AF_INET6) answer for `name` from `resolver` (or `_proxy`).

    With `raises` false a name without addresses gives an answer with an empty rrset instead of
    an error. Errors are socket.gaierror: EAI_FAMILY, EAI_AGAIN on a timeout, eventlet's
    EAI_NODATA_ERROR on any other DNS error. `use_network` false asks the hosts file only.
    """
    if family == socket.AF_INET:
        rdtype = dns.rdatatype.A
    elif family == socket.AF_INET6:
        rdtype = dns.rdatatype.AAAA
    else:
        raise _gaierror("EAI_FAMILY")
    proxy = resolver if _proxy is None else _proxy
    try:
        return proxy.query(name, rdtype, raise_on_no_answer=raises, use_network=use_network)
    except dns.resolver.NXDOMAIN:
        if raises:
            _raise_new_error(EAI_NODATA_ERROR)
        qname = _as_name(name)
        return HostsAnswer(
            qname, rdtype, dns.rdataclass.IN, dns.rrset.RRset(qname, dns.rdataclass.IN, rdtype), False
        )
    except dns.exception.Timeout:
        _raise_new_error(EAI_EAGAIN_ERROR)
    except dns.exception.DNSException:
        _raise_new_error(EAI_NODATA_ERROR)


def resolve_cname(host: Any) -> str:
    """The target of `host`'s CNAME record, or `host` when it has none (gaierror on errors)."""
    try:
        answer = resolver.query(host, dns.rdatatype.CNAME)
    except dns.resolver.NoAnswer:
        return str(host)
    except dns.exception.Timeout:
        _raise_new_error(EAI_EAGAIN_ERROR)
    except dns.exception.DNSException:
        _raise_new_error(EAI_NODATA_ERROR)
    return str(answer[0].target)


def getaliases(host: Any) -> list[str]:
    """`resolver`'s aliases of `host` (hosts file, then CNAME chain); gaierror on DNS errors."""
    try:
        return list(resolver.getaliases(host))
    except dns.exception.Timeout:
        _raise_new_error(EAI_EAGAIN_ERROR)
    except dns.exception.DNSException:
        _raise_new_error(EAI_NODATA_ERROR)


# -- the socket functions ------------------------------------------------------------------------

_SOFT_ERRORS = (socket.EAI_AGAIN, EAI_NONAME_ERROR.errno, EAI_NODATA_ERROR.errno)


def _addresses(answer: Any) -> list[str]:
    return [record.address for record in answer.rrset] if answer.rrset else []


def _lookup_addresses(host: str, family: int, flags: int) -> list[str]:
    """The address texts `resolve` finds for `host` (a name, not numeric) and `family`."""
    if flags & socket.AI_NUMERICHOST:
        _raise_new_error(EAI_NONAME_ERROR)
    if family == socket.AF_UNSPEC:
        found: list[str] = []
        error: BaseException | None = None
        # The hosts file for both families first: a name it knows is not asked of DNS.
        for use_network in (False, True):
            for each in (socket.AF_INET6, socket.AF_INET):
                try:
                    found.extend(_addresses(resolve(host, each, False, use_network=use_network)))
                except socket.gaierror as failure:
                    if failure.errno not in _SOFT_ERRORS:
                        raise
                    error = failure
            if found:
                return found
        if error is not None:
            raise error
        return found
    if family == socket.AF_INET6 and flags & socket.AI_V4MAPPED:
        found = _addresses(resolve(host, socket.AF_INET6, False))
        if not found or flags & socket.AI_ALL:
            found.extend("::ffff:" + address for address in _addresses(resolve(host, socket.AF_INET, False)))
        return found
    return _addresses(resolve(host, family, False))


def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> list:
    """socket.getaddrinfo answered through `resolve` (so through `resolver`).

    The addresses come from `resolve`; `socket.getaddrinfo` with AI_NUMERICHOST then builds the
    tuples, so ports, services, socket types and flags mean what they mean to the stdlib. With
    AI_ADDRCONFIG an address of a family the host cannot use is skipped. AI_CANONNAME puts the
    CNAME target (or the name) on the first tuple.
    """
    if isinstance(host, str):
        host = host.encode("idna").decode("ascii")
    elif isinstance(host, bytes):
        host = host.decode("ascii")
    if host is not None and not is_ip_addr(host):
        addresses: list[Any] = _lookup_addresses(host, family, flags)
    else:
        addresses = [host]
    numeric_flags = (flags | socket.AI_NUMERICHOST) & ~socket.AI_CANONNAME
    results: list[Any] = []
    skipped: OSError | None = None
    for address in addresses:
        try:
            results.extend(socket.getaddrinfo(address, port, family, type, proto, numeric_flags))
        except OSError as error:
            if not flags & socket.AI_ADDRCONFIG:
                raise
            skipped = error
    if not results:
        if skipped is not None:
            raise skipped
        _raise_new_error(EAI_NONAME_ERROR)
    if flags & socket.AI_CANONNAME and host is not None:
        canonical = host
        if not is_ip_addr(host):
            try:
                canonical = resolve_cname(host)
            except socket.gaierror:
                pass  # the addresses were found; the name itself is the best canonical name
            canonical = canonical.rstrip(".").encode("ascii").decode("idna")
        first = results[0]
        results[0] = (first[0], first[1], first[2], canonical, first[4])
    return results


def gethostbyname(hostname: Any) -> str:
    """socket.gethostbyname answered through `resolve`."""
    if is_ipv4_addr(hostname):
        return str(hostname)
    answer = resolve(hostname)
    return str(answer.rrset[0].address)


def gethostbyname_ex(hostname: Any) -> tuple[str, list[str], list[str]]:
    """socket.gethostbyname_ex answered through `resolve` and `getaliases`."""
    if is_ipv4_addr(hostname):
        return (hostname, [], [hostname])
    answer = resolve(hostname)
    aliases = getaliases(hostname)
    name = str(answer.qname)
    return (name[:-1] if name.endswith(".") else name, aliases, _addresses(answer))


def getnameinfo(sockaddr: Any, flags: int) -> tuple[str, str]:
    """socket.getnameinfo answered through `resolver`: a PTR question for a numeric host (an
    A question for a name), the service from the services database.

    Without NI_NAMEREQD a host without a name stays numeric; NI_NAMEREQD with NI_NUMERICHOST is
    an error, as is a name with several addresses.
    """
    if not isinstance(sockaddr, tuple):
        raise TypeError("getnameinfo() argument 1 must be a tuple")
    if len(sockaddr) not in (2, 4):
        raise TypeError("getnameinfo(): illegal sockaddr argument")
    host, port = sockaddr[0], sockaddr[1]
    if not isinstance(port, int):
        raise TypeError("'str' object cannot be interpreted as an integer")
    if flags & socket.NI_NAMEREQD and flags & socket.NI_NUMERICHOST:
        _raise_new_error(EAI_NONAME_ERROR)
    if is_ip_addr(host):
        if not flags & socket.NI_NUMERICHOST:
            try:
                answer = resolver.query(
                    dns.reversename.from_address(host.split("%", 1)[0]), dns.rdatatype.PTR
                )
                if len(answer) > 1:
                    raise OSError("sockaddr resolved to multiple addresses")
                host = answer[0].target.to_text(omit_final_dot=True)
            except dns.exception.Timeout:
                if flags & socket.NI_NAMEREQD:
                    _raise_new_error(EAI_EAGAIN_ERROR)
            except dns.exception.DNSException:
                if flags & socket.NI_NAMEREQD:
                    _raise_new_error(EAI_NONAME_ERROR)
    else:
        try:
            answer = resolver.query(host)
        except dns.exception.Timeout:
            _raise_new_error(EAI_EAGAIN_ERROR)
        except dns.exception.DNSException:
            raise _gaierror("EAI_NODATA") from None
        if len(answer) > 1:
            raise OSError("sockaddr resolved to multiple addresses")
        if flags & socket.NI_NUMERICHOST:
            host = answer[0].address
    service = str(port)
    if not flags & socket.NI_NUMERICSERV:
        try:
            service = socket.getservbyport(port, "udp" if flags & socket.NI_DGRAM else "tcp")
        except OSError:
            pass  # no name for that port: the number, as the C library answers
    return (host, service)


# -- DNS messages over green sockets ------------------------------------------------------------


def _destination(where: str, port: int, af: int | None) -> tuple[int, tuple[Any, ...]]:
    if af is None:
        try:
            af = dns.inet.af_for_address(where)
        except ValueError:
            af = socket.AF_INET
    if af == socket.AF_INET6:
        return af, (where, port, 0, 0)
    return socket.AF_INET, (where, port)


def _same_address(af: int, received: tuple[Any, ...], destination: tuple[Any, ...]) -> bool:
    """Whether a reply came from where the question went (address compared in binary form, so
    ``0:0::1`` is ``::1``)."""
    try:
        host = str(received[0]).split("%", 1)[0]
        return bool(
            socket.inet_pton(af, host) == socket.inet_pton(af, destination[0])
            and received[1] == destination[1]
        )
    except (OSError, ValueError, IndexError):
        return False


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _remaining(deadline: float | None) -> float | None:
    """Seconds left until `deadline` (None: no limit); dns.exception.Timeout when none is left."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise dns.exception.Timeout
    return left


def _open(af: int, kind: int, sock: Any, source: str | None, source_port: int) -> Any:
    if sock is not None:
        return sock
    new = socket.socket(af, kind)
    try:
        if source is not None or source_port:
            if source is None:
                source = "::" if af == socket.AF_INET6 else "0.0.0.0"
            new.bind((source, source_port, 0, 0) if af == socket.AF_INET6 else (source, source_port))
    except BaseException:
        new.close()
        raise
    return new


def udp(
    q: dns.message.Message,
    where: str,
    timeout: float | None = DNS_QUERY_TIMEOUT,
    port: int = 53,
    af: int | None = None,
    source: str | None = None,
    source_port: int = 0,
    ignore_unexpected: bool = False,
    one_rr_per_rrset: bool = False,
    ignore_trailing: bool = False,
    raise_on_truncation: bool = False,
    sock: Any = None,
    ignore_errors: bool = False,
) -> dns.message.Message:
    """dns.query.udp on a green socket: send `q` to `where`, wait for its answer.

    Arguments as dnspython's. Raises dns.exception.Timeout after `timeout` seconds (None: wait
    for ever), dns.query.UnexpectedSource for a reply from another address (skipped with
    `ignore_unexpected`), dns.query.BadResponse for an answer to another question and
    dnspython's parse errors (both skipped with `ignore_errors`), dns.message.Truncated when
    `raise_on_truncation`. A socket given as `sock` is used and left open.
    """
    wire = q.to_wire()
    af, destination = _destination(where, port, af)
    deadline = _deadline(timeout)
    s = _open(af, socket.SOCK_DGRAM, sock, source, source_port)
    try:
        s.settimeout(_remaining(deadline))
        try:
            s.sendto(wire, destination)
        except socket.timeout:
            raise dns.exception.Timeout from None
        while True:
            s.settimeout(_remaining(deadline))
            try:
                data, received_from = s.recvfrom(65535)
            except socket.timeout:
                continue  # _remaining raises once the time is up
            if not _same_address(af, received_from, destination):
                if ignore_unexpected:
                    continue
                raise dns.query.UnexpectedSource(
                    f"got a response from {received_from} instead of {destination}"
                )
            try:
                response = dns.message.from_wire(
                    data,
                    keyring=q.keyring,
                    request_mac=q.mac,
                    one_rr_per_rrset=one_rr_per_rrset,
                    ignore_trailing=ignore_trailing,
                    raise_on_truncation=raise_on_truncation,
                )
            except dns.message.Truncated as truncated:
                if ignore_errors and not q.is_response(truncated.message()):
                    continue
                raise
            except Exception:  # dnspython raises many kinds of errors on malformed input
                if ignore_errors:
                    continue
                raise
            if q.is_response(response):
                return response
            if not ignore_errors:
                raise dns.query.BadResponse
    finally:
        if sock is None:
            s.close()


def _receive_exactly(s: Any, size: int, deadline: float | None) -> bytes:
    data = bytearray()
    while len(data) < size:
        s.settimeout(_remaining(deadline))
        try:
            chunk = s.recv(size - len(data))
        except socket.timeout:
            continue
        if not chunk:
            raise EOFError("the nameserver closed the connection")
        data += chunk
    return bytes(data)


def tcp(
    q: dns.message.Message,
    where: str,
    timeout: float | None = DNS_QUERY_TIMEOUT,
    port: int = 53,
    af: int | None = None,
    source: str | None = None,
    source_port: int = 0,
    one_rr_per_rrset: bool = False,
    ignore_trailing: bool = False,
    sock: Any = None,
) -> dns.message.Message:
    """dns.query.tcp on a green socket: `q` with its two-byte length, then the answer.

    Raises dns.exception.Timeout after `timeout` seconds in all, EOFError when the server closes
    early, dns.query.BadResponse for an answer to another question. A connected socket given as
    `sock` is used and left open.
    """
    wire = q.to_wire()
    af, destination = _destination(where, port, af)
    deadline = _deadline(timeout)
    s = _open(af, socket.SOCK_STREAM, sock, source, source_port)
    try:
        try:
            if sock is None:
                s.settimeout(_remaining(deadline))
                s.connect(destination)
            s.settimeout(_remaining(deadline))
            s.sendall(struct.pack("!H", len(wire)) + wire)
            (length,) = struct.unpack("!H", _receive_exactly(s, 2, deadline))
            data = _receive_exactly(s, length, deadline)
        except socket.timeout:
            raise dns.exception.Timeout from None
    finally:
        if sock is None:
            s.close()
    response = dns.message.from_wire(
        data,
        keyring=q.keyring,
        request_mac=q.mac,
        one_rr_per_rrset=one_rr_per_rrset,
        ignore_trailing=ignore_trailing,
    )
    if not q.is_response(response):
        raise dns.query.BadResponse
    return response
