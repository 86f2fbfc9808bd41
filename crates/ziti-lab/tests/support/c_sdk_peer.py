"""Drives the real OpenZiti C SDK (PyPI openziti 0.6.0, libziti 0.29.3) against a ziti-lab.

Usage:
  c_sdk_peer.py enroll-load JWT_FILE IDENTITY_OUT   enroll with the JWT, save the identity, load it
  c_sdk_peer.py load IDENTITY_FILE                  load an existing identity file

Prints one JSON object per step on stdout; exits 0 only when every step succeeded. The caller
bounds the run time (openziti.load blocks until the first service list arrives).
"""
import json

from peer_report import emit, finish, run


def main(argv):
    import openziti

    emit(step="start", openziti=openziti.__version__)
    if len(argv) == 4 and argv[1] == "enroll-load":
        jwt_path, out_path = argv[2], argv[3]
        with open(jwt_path, "r", encoding="utf-8") as f:
            jwt = f.read().strip()
        identity_json = openziti.enroll(jwt)
        identity = json.loads(identity_json)
        with open(out_path, "w", encoding="utf-8") as f:
            f.write(identity_json)
        emit(step="enrolled", ztAPI=identity.get("ztAPI"),
             has_cert=identity.get("id", {}).get("cert", "").startswith("-----BEGIN CERTIFICATE"),
             has_key="PRIVATE KEY" in identity.get("id", {}).get("key", ""),
             has_ca="BEGIN CERTIFICATE" in identity.get("id", {}).get("ca", ""))
        load_path = out_path
    elif len(argv) == 3 and argv[1] == "load":
        load_path = argv[2]
    else:
        emit(step="usage", error=__doc__)
        finish(2)
    ztx = openziti.load(load_path)
    emit(step="loaded", context=ztx is not None)
    finish(0)


if __name__ == "__main__":
    run(main)
