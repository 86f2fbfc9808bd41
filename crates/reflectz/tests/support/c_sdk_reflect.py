"""Peer for tests/lab_reflectz.rs: the real OpenZiti C SDK (PyPI openziti 0.6.0, C SDK 0.29.3)
as a reflectz client.

  python c_sdk_reflect.py IDENTITY ECHO_SERVICE METRICS_SERVICE TERMINATOR LINE...

Dials ECHO_SERVICE, sends each LINE followed by a newline, and reads one reply line per line
sent; then dials METRICS_SERVICE addressed to TERMINATOR, sends an HTTP/1.0 GET /metrics and
reads the answer to its end. Prints one JSON object per step on stdout.
"""
import json
import os
import socket
import sys

import openziti
from openziti import zitilib


def say(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def dial(ztx, service, terminator):
    fd = zitilib.ziti_socket(socket.SOCK_STREAM)
    term = terminator.encode() if terminator else None
    zitilib.check_error(zitilib._ziti_connect(fd, ztx._ctx, service.encode(), term))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fd)
    sock.settimeout(30)
    return sock


def read_line(sock, pending):
    while b"\n" not in pending:
        chunk = sock.recv(4096)
        if not chunk:
            break
        pending += chunk
    line, sep, rest = pending.partition(b"\n")
    return line + sep, rest


def main():
    identity, echo_service, metrics_service, terminator = sys.argv[1:5]
    lines = sys.argv[5:]
    ztx = openziti.load(identity)
    say(step="loaded")
    keep = []
    sock = dial(ztx, echo_service, None)
    keep.append(sock)
    pending = b""
    for line in lines:
        sock.sendall(line.encode() + b"\n")
        reply, pending = read_line(sock, pending)
        say(step="echo", sent=line, reply=reply.decode(errors="replace"))
    scrape = dial(ztx, metrics_service, terminator)
    keep.append(scrape)
    scrape.sendall(b"GET /metrics HTTP/1.0\r\nHost: reflectz\r\nAccept: text/plain;version=0.0.4\r\n\r\n")
    answer = bytearray()
    while True:
        chunk = scrape.recv(65536)
        if not chunk:
            break
        answer.extend(chunk)
    say(step="scrape", response=answer.decode(errors="replace"))
    # Sockets are closed only at exit (libziti 0.29.3 keeps closed fds in its table for a
    # while), and the library's threads may keep the interpreter alive: leave at once.
    os._exit(0)


if __name__ == "__main__":
    main()
