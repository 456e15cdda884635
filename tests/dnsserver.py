"""A small authoritative-looking DNS server on loopback for the resolver tests.

It runs on a real OS thread with the real socket module (never green), serving UDP and TCP on
the same random port of 127.0.0.1. Records come from a dict; some names misbehave on purpose:

* ``silent.*``     never answered (the resolver must time out);
* ``garbage.*``    answered with bytes that are not DNS, then with a reply carrying a wrong id;
* ``truncated.*``  answered over UDP with the TC bit and no records, properly over TCP;
* ``servfail.*``   SERVFAIL;  ``refused.*`` REFUSED;
* ``partial-*``    only the first CNAME of the chain is sent, like a server that stops at its
  zone's edge.

Every query is recorded in `queries` as (transport, name, type) for the tests to inspect. A test
may set `responder` to a function ``(query, transport) -> [reply bytes]`` that answers every
query instead (the fuzz tests use it to send arbitrary bytes; over TCP the bytes include the
two-byte length prefix).
"""

from __future__ import annotations

from typing import Any, Callable

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from green._stdlib import original

# The real modules, also in the patched run (GREEN_MONKEY_PATCH=1), where the plain names would
# give green objects parked on a hub the server thread does not run.
os = original("os")
select = original("select")
socket = original("socket")
_thread = original("_thread")


class DNSServer:
    def __init__(
        self, records: dict[str, list[tuple[str, str]]], address: str = "127.0.0.1", port: int = 0
    ) -> None:
        # name (absolute, lower case) -> [(type text, rdata text)]
        self.records = {name.lower(): list(values) for name, values in records.items()}
        self.queries: list[tuple[str, str, str]] = []
        self.responder: Callable[[dns.message.Message, str], list[bytes]] | None = None
        self._lock = _thread.allocate_lock()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        for _ in range(20):
            self.udp.bind((address, port))
            self.port = self.udp.getsockname()[1]
            try:
                self.tcp.bind((address, self.port))
                break
            except OSError:
                self.udp.close()
                self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.tcp.listen(8)
        self._stop_read, self._stop_write = os.pipe()
        self._running = _thread.allocate_lock()

    def __enter__(self) -> DNSServer:
        self._running.acquire()
        _thread.start_new_thread(self._run, ())
        return self

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            self._running.release()

    def __exit__(self, *exc_info: Any) -> None:
        os.write(self._stop_write, b"x")
        if self._running.acquire(True, 5):
            self._running.release()
        for sock in (self.udp, self.tcp):
            sock.close()
        os.close(self._stop_read)
        os.close(self._stop_write)

    def names_asked(self, transport: str | None = None) -> list[str]:
        with self._lock:
            return [name for used, name, _ in self.queries if transport in (None, used)]

    # -- serving ------------------------------------------------------------------------------

    def _serve(self) -> None:
        while True:
            readable, _, _ = select.select([self.udp, self.tcp, self._stop_read], [], [])
            if self._stop_read in readable:
                return
            if self.udp in readable:
                data, peer = self.udp.recvfrom(65535)
                for reply in self._answer(data, "udp"):
                    self.udp.sendto(reply, peer)
            if self.tcp in readable:
                connection, _ = self.tcp.accept()
                with connection:
                    connection.settimeout(2)
                    try:
                        self._serve_tcp(connection)
                    except OSError:
                        pass

    def _serve_tcp(self, connection: socket.socket) -> None:
        header = connection.recv(2)
        size = int.from_bytes(header, "big")
        data = b""
        while len(data) < size:
            chunk = connection.recv(size - len(data))
            if not chunk:
                return
            data += chunk
        for reply in self._answer(data, "tcp"):
            # A responder's bytes go out as they are: it writes (or fuzzes) the length prefix.
            framed = reply if self.responder is not None else len(reply).to_bytes(2, "big") + reply
            connection.sendall(framed)

    def _answer(self, data: bytes, transport: str) -> list[bytes]:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text().lower()
        first_label = name.split(".")[0]
        with self._lock:
            self.queries.append((transport, name, dns.rdatatype.to_text(question.rdtype)))
        responder = self.responder
        if responder is not None:
            return responder(query, transport)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA | dns.flags.RA
        if first_label == "silent":
            return []
        if first_label == "garbage":
            wrong_id = dns.message.make_response(query)
            wrong_id.id = (query.id + 1) % 65536
            return [b"\x13\x37 this is not DNS", wrong_id.to_wire()]
        if first_label == "servfail":
            response.set_rcode(dns.rcode.SERVFAIL)
            return [response.to_wire(want_shuffle=False)]
        if first_label == "refused":
            response.set_rcode(dns.rcode.REFUSED)
            return [response.to_wire(want_shuffle=False)]
        if first_label == "truncated" and transport == "udp":
            response.flags |= dns.flags.TC
            return [response.to_wire(want_shuffle=False)]
        self._fill(response, question.name, question.rdtype, follow=not first_label.startswith("partial-"))
        return [response.to_wire(want_shuffle=False)]

    def _fill(self, response: dns.message.Message, qname: dns.name.Name, rdtype: int, follow: bool) -> None:
        name = qname.to_text().lower()
        for _hop in range(16):
            entries = self.records.get(name)
            if entries is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                return
            cnames = [value for kind, value in entries if kind == "CNAME"]
            if cnames and rdtype != dns.rdatatype.CNAME:
                response.answer.append(dns.rrset.from_text(name, 300, "IN", "CNAME", cnames[0]))
                if not follow:
                    return
                name = cnames[0].lower()
                continue
            values = [value for kind, value in entries if dns.rdatatype.from_text(kind) == rdtype]
            if values:
                response.answer.append(dns.rrset.from_text(name, 300, "IN", rdtype, *values))
            return
