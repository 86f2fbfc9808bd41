"""Peer for tests/federate_prometheus.rs: the real OpenZiti C SDK (PyPI openziti 0.6.0, C SDK
0.29.3) hosting a tiny HTTP metrics responder on a ziti socket.

  python c_sdk_metrics_host.py IDENTITY SERVICE

Binds SERVICE, prints {"step": "bound"}, then answers every connection's request with one
HTTP/1.1 response in text format 0.0.4 (a counter of requests served) and closes it. Runs
until killed.
"""
import json
import sys
import threading

import openziti

SERVED = 0
LOCK = threading.Lock()


def say(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def answer(conn):
    global SERVED
    try:
        request = b""
        while b"\r\n\r\n" not in request and len(request) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                return
            request += chunk
        with LOCK:
            SERVED += 1
            served = SERVED
        body = (
            "# HELP c_sdk_requests_total Requests served by the C SDK peer.\n"
            "# TYPE c_sdk_requests_total counter\n"
            f"c_sdk_requests_total {served}\n"
        ).encode()
        head = (
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        conn.sendall(head + body)
    except OSError as err:
        say(step="conn-error", error=str(err))
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    identity, service = sys.argv[1:3]
    ztx = openziti.load(identity)
    server = ztx.bind(service)
    server.listen(16)
    say(step="bound", service=service)
    while True:
        conn, _peer = server.accept()
        threading.Thread(target=answer, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
