#!/usr/bin/env python3
"""The comparison's second reference: Python's own socketserver, threading.

Same flags and "listening on" line as echo_server; echoes line by line (TCP,
Unix) or each datagram (UDP, Unix datagram). SIGTERM/SIGINT end it with 0.
"""
import argparse
import os
import signal
import socketserver
import sys
import threading


class LineEcho(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)


class DatagramEcho(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(data, self.client_address)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--proto", default="tcp", choices=["tcp", "udp", "unix", "unix-dgram"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9999)
    p.add_argument("--path")
    a = p.parse_args()

    servers = {
        "tcp": (socketserver.ThreadingTCPServer, LineEcho),
        "udp": (socketserver.ThreadingUDPServer, DatagramEcho),
        "unix": (socketserver.ThreadingUnixStreamServer, LineEcho),
        "unix-dgram": (socketserver.ThreadingUnixDatagramServer, DatagramEcho),
    }
    cls, handler = servers[a.proto]
    cls.daemon_threads = True
    cls.allow_reuse_address = True
    cls.request_queue_size = 4096  # the default of 5 would refuse connections, not measure Python
    if a.proto.startswith("unix"):
        if a.path and os.path.exists(a.path):
            os.unlink(a.path)
        server = cls(a.path, handler)
        url = ("unix:" if a.proto == "unix" else "unix-dgram:") + a.path
    else:
        server = cls((a.host, a.port), handler)
        url = "%s://%s:%d" % (a.proto, a.host, server.server_address[1])

    def stop(*_):
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("listening on " + url, flush=True)
    server.serve_forever()
    server.server_close()
    if a.proto.startswith("unix"):
        os.unlink(a.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
