"""Peer for tests/sdk_c_interop.rs: the real OpenZiti C SDK (PyPI openziti 0.6.0, C SDK 0.29.3).

Modes (one JSON object per stdout line, flushed):
  host IDENTITY SERVICE       bind SERVICE, print {"step": "bound"}, then echo every accepted
                              connection chunk by chunk until the peer closes; runs until killed.
  dial IDENTITY SERVICE N...  for each size N: connect, send N pseudo-random bytes while reading
                              the echo back, compare; print {"step": "echoed", "size", "ok", "sha256",
                              "nudges"}.

C SDK 0.29.3 quirk the dialer works around: a channel holds at most 32 received messages
that the application has not consumed (library/channel.c, `in_msg_pool`). When that pool is
full, `process_inbound` stops and leaves the bytes already read from the router in the
channel's buffer, and `channel_alloc_cb` refuses new reads; nothing looks at the buffer again
until more bytes arrive from the router. If the echo's last messages were in that buffer,
the dialer waits forever. So after NUDGE_AFTER seconds without data the dialer opens one
more connection to the service, whose Dial answer is such bytes: the parked messages are
then delivered in order. The number of nudges is reported; the data must still be exact.
(Later C SDK versions process the parked bytes again when the pool frees up.) It stalled
about one 1 MiB encrypted echo in five here, where the echo's 32 KiB messages outrun the
Python reader.
"""
import hashlib
import json
import os
import socket
import sys
import threading
import time

import openziti
from openziti import zitilib


def say(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def serve_one(conn):
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            conn.sendall(chunk)
    except OSError as err:
        say(step="conn-error", error=str(err))
    finally:
        try:
            conn.close()
        except OSError:
            pass


def host(identity, service):
    ztx = openziti.load(identity)
    server = ztx.bind(service)
    server.listen(16)
    say(step="bound", service=service)
    while True:
        conn, peer = server.accept()
        say(step="accepted", caller=peer[0])
        threading.Thread(target=serve_one, args=(conn,), daemon=True).start()


NUDGE_AFTER = 2.0
RECV_DEADLINE = 30.0


def nudge(ztx, service, keep):
    """Makes the router send bytes on the channel: a new connection's Dial answer."""
    fd = zitilib.ziti_socket(socket.SOCK_STREAM)
    zitilib.check_error(zitilib._ziti_connect(fd, ztx._ctx, service.encode(), None))
    keep.append(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fd))


def dial_once(ztx, service, size, keep):
    fd = zitilib.ziti_socket(socket.SOCK_STREAM)
    zitilib.check_error(zitilib._ziti_connect(fd, ztx._ctx, service.encode(), None))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fd)
    data = os.urandom(size)
    errors = []

    def send_all():
        try:
            sock.sendall(data)
        except OSError as err:
            errors.append(str(err))

    sender = threading.Thread(target=send_all, daemon=True)
    sender.start()
    received = bytearray()
    nudges = 0
    sock.settimeout(NUDGE_AFTER)
    deadline = time.monotonic() + RECV_DEADLINE
    while len(received) < size:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            if time.monotonic() > deadline:
                say(step="stalled", size=size, received=len(received), nudges=nudges)
                raise
            nudge(ztx, service, keep)
            nudges += 1
            continue
        if not chunk:
            break
        received.extend(chunk)
    sender.join(30)
    # Closed only at exit: libziti 0.29.3 keeps a closed fd in its table for a while and
    # refuses a new connect on a reused fd number ("already connecting/connected").
    keep.append(sock)
    ok = bytes(received) == data
    say(step="echoed", size=size, received=len(received), ok=ok, errors=errors,
        sha256=hashlib.sha256(data).hexdigest(), nudges=nudges)
    return ok


def dial(identity, service, sizes):
    ztx = openziti.load(identity)
    say(step="loaded")
    all_ok = True
    keep = []
    for size in sizes:
        all_ok = dial_once(ztx, service, size, keep) and all_ok
    say(step="done", ok=all_ok)
    sys.stdout.flush()
    # The library's threads may keep the interpreter alive: leave at once.
    os._exit(0 if all_ok else 1)


def main():
    mode = sys.argv[1]
    if mode == "host":
        host(sys.argv[2], sys.argv[3])
    elif mode == "dial":
        dial(sys.argv[2], sys.argv[3], [int(n) for n in sys.argv[4:]])
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
