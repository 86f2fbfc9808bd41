"""Test peer for tests/e2ee_libsodium.rs: runs libsodium operations through PyNaCl.

Reads one JSON request from stdin and writes one JSON response to stdout. Byte strings
travel as lowercase hex. Requests:

  {"op": "kx", "client_sk": hex, "server_sk": hex, "seed": hex}
      -> {"client_pk", "server_pk", "client_rx", "client_tx", "server_rx", "server_tx",
          "seed_pk", "seed_sk"}
  {"op": "push", "key": hex, "messages": [hex, ...], "tags": [int, ...] (optional)}
      -> {"header": hex, "ciphertexts": [hex, ...]}
     Every message is pushed with TAG_MESSAGE unless "tags" gives its tag.
  {"op": "pull", "key": hex, "header": hex, "ciphertexts": [hex, ...]}
      -> {"results": [{"ok": true, "plaintext": hex, "tag": int} | {"ok": false, "error": str}]}
     Pulling stops at the first failure (libsodium state is undefined afterwards).
"""

import json
import sys

import nacl.bindings as sodium
from nacl.exceptions import CryptoError


def unhex(value):
    return bytes.fromhex(value)


def kx(req):
    client_sk = unhex(req["client_sk"])
    server_sk = unhex(req["server_sk"])
    client_pk = sodium.crypto_scalarmult_base(client_sk)
    server_pk = sodium.crypto_scalarmult_base(server_sk)
    client_rx, client_tx = sodium.crypto_kx_client_session_keys(client_pk, client_sk, server_pk)
    server_rx, server_tx = sodium.crypto_kx_server_session_keys(server_pk, server_sk, client_pk)
    seed_pk, seed_sk = sodium.crypto_kx_seed_keypair(unhex(req["seed"]))
    return {
        "client_pk": client_pk.hex(),
        "server_pk": server_pk.hex(),
        "client_rx": client_rx.hex(),
        "client_tx": client_tx.hex(),
        "server_rx": server_rx.hex(),
        "server_tx": server_tx.hex(),
        "seed_pk": seed_pk.hex(),
        "seed_sk": seed_sk.hex(),
    }


def push(req):
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    header = sodium.crypto_secretstream_xchacha20poly1305_init_push(state, unhex(req["key"]))
    out = []
    messages = req["messages"]
    tags = req.get("tags", [sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE] * len(messages))
    for message, tag in zip(messages, tags):
        out.append(sodium.crypto_secretstream_xchacha20poly1305_push(state, unhex(message), None, tag).hex())
    return {"header": header.hex(), "ciphertexts": out}


def pull(req):
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, unhex(req["header"]), unhex(req["key"]))
    results = []
    for ciphertext in req["ciphertexts"]:
        try:
            plaintext, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, unhex(ciphertext), None)
        except (CryptoError, ValueError) as err:
            results.append({"ok": False, "error": str(err)})
            break
        results.append({"ok": True, "plaintext": plaintext.hex(), "tag": tag})
    return {"results": results}


def main():
    req = json.load(sys.stdin)
    handlers = {"kx": kx, "push": push, "pull": pull}
    op = req.get("op")
    if op not in handlers:
        sys.stderr.write("unknown op %r\n" % (op,))
        return 2
    json.dump(handlers[op](req), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
