"""socketserver.ThreadingTCPServer and http.server.ThreadingHTTPServer each serve 500 concurrent
clients (green threads, one connection each, all open at the same time)."""

import green

green.monkey_patch()

import http.client  # noqa: E402
import http.server  # noqa: E402
import socket  # noqa: E402
import socketserver  # noqa: E402
import threading  # noqa: E402

CLIENTS = 500


class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline()
        self.wfile.write(line.upper())


class TCPServer(socketserver.ThreadingTCPServer):
    request_queue_size = 1024
    daemon_threads = True
    allow_reuse_address = True


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class HTTPServer(http.server.ThreadingHTTPServer):
    request_queue_size = 1024


def serve(server):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    return thread


def run_clients(client):
    barrier = threading.Barrier(CLIENTS)  # every client connected before any finishes
    answers = []

    def one(number):
        answers.append(client(number, barrier))

    threads = [threading.Thread(target=one, args=(number,)) for number in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def tcp_client(address):
    def client(number, barrier):
        with socket.create_connection(address, timeout=10) as connection:
            barrier.wait()
            connection.sendall(b"client %d\n" % number)
            with connection.makefile("rb") as reader:
                return reader.readline()

    return client


def http_client(address):
    def client(number, barrier):
        connection = http.client.HTTPConnection(*address, timeout=10)
        connection.connect()
        barrier.wait()
        connection.request("GET", f"/client/{number}")
        body = connection.getresponse().read()
        connection.close()
        return body

    return client


tcp = TCPServer(("127.0.0.1", 0), Echo)
tcp_thread = serve(tcp)
answers = run_clients(tcp_client(tcp.server_address))
tcp.shutdown()
tcp_thread.join()
tcp.server_close()
assert sorted(answers) == sorted(b"CLIENT %d\n" % number for number in range(CLIENTS)), answers[:3]

web = HTTPServer(("127.0.0.1", 0), Hello)
web_thread = serve(web)
answers = run_clients(http_client(web.server_address))
web.shutdown()
web_thread.join()
web.server_close()
assert sorted(answers) == sorted(b"/client/%d" % number for number in range(CLIENTS)), answers[:3]
print("pass")
