"""Real OpenZiti C SDK (PyPI openziti 0.6.0, libziti 0.29.3) host or dialer for the lab router.

Usage:
  router_c_sdk_peer.py host IDENTITY SERVICE TAG CONNS [TERMINATOR]
      bind SERVICE (addressable as TERMINATOR when given), then serve CONNS connections: read one
      line, answer "TAG|<caller id>|<the line>" and close.
  router_c_sdk_peer.py dial IDENTITY SERVICE SIZE [TERMINATOR]
      dial SERVICE (addressed to TERMINATOR when given), send a line of SIZE pseudo-random
      printable bytes, read the answer line, report it.

Prints one JSON object per step on stdout; exits 0 only when every step succeeded. The Rust
test bounds the run time and kills the process.
"""
import hashlib
import socket

from peer_report import emit, finish, run

MAX_LINE = 4 * 1024 * 1024


def read_line(sock):
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_LINE:
            raise RuntimeError("line too long")
    return bytes(data)


def payload(size):
    # Deterministic printable bytes without a newline.
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(str(counter).encode()).hexdigest().encode()
        counter += 1
    return bytes(out[:size])


def host(identity, service, tag, conns, terminator):
    import openziti

    ztx = openziti.load(identity)
    emit(step="loaded")
    server = ztx.bind(service, terminator)
    server.listen(8)
    emit(step="listening", service=service, terminator=terminator)
    for _ in range(conns):
        conn, peer = server.accept()
        caller = peer[0]
        line = read_line(conn)
        conn.sendall(f"{tag}|{caller}|".encode() + line)
        # The C library forwards socket data asynchronously: keep the conn (and the process)
        # until the dialer has read the answer and closed its end.
        conn.settimeout(20)
        rest = conn.recv(1)
        emit(step="served", caller=caller, bytes=len(line), dialer_closed=(rest == b""))
        conn.close()
    finish(0)


def dial(identity, service, size, terminator):
    import openziti
    from openziti import zitilib

    ztx = openziti.load(identity)
    emit(step="loaded")
    fd = zitilib.ziti_socket(socket.SOCK_STREAM)
    term = terminator.encode() if terminator else None
    # ZitiContext.connect of 0.6.0 is broken for plain service names; call the library.
    rc = zitilib._ziti_connect(fd, ztx._ctx, service.encode(), term)
    if rc != 0:
        err = zitilib._ziti_lasterr()
        emit(step="dial-failed", rc=rc, error=zitilib.errorstr(err))
        finish(3)
    sock = socket.socket(fileno=fd)
    emit(step="connected")
    data = payload(size) + b"\n"
    sock.sendall(data)
    answer = read_line(sock)
    parts = answer.rstrip(b"\n").split(b"|", 2)
    ok = len(parts) == 3 and parts[2] == data.rstrip(b"\n")
    emit(step="answered", tag=parts[0].decode() if parts else "",
         caller=parts[1].decode() if len(parts) > 1 else "",
         echo_ok=ok, bytes=len(answer))
    sock.close()
    finish(0 if ok else 4)


def main(argv):
    import openziti

    emit(step="start", openziti=openziti.__version__)
    if len(argv) in (6, 7) and argv[1] == "host":
        host(argv[2], argv[3], argv[4], int(argv[5]), argv[6] if len(argv) == 7 else None)
    elif len(argv) in (5, 6) and argv[1] == "dial":
        dial(argv[2], argv[3], int(argv[4]), argv[5] if len(argv) == 6 else None)
    else:
        emit(step="usage", error=__doc__)
        finish(2)


if __name__ == "__main__":
    run(main)
