//! Cross-checks `dark_listener::e2ee` against real libsodium, driven through PyNaCl by
//! `tests/support/libsodium_peer.py` (one JSON request on stdin, one JSON answer on stdout).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use dark_listener::e2ee::{E2eeError, E2eeSession, KeyPair, PublicKey, Role, SessionKeys};
use serde_json::{json, Value};
use testbed::peers::peer_python;

/// Runs one request through libsodium and returns its JSON answer.
fn libsodium(request: Value) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/libsodium_peer.py");
    let mut child = Command::new(peer_python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn peer python: run scripts/install-test-deps.sh");
    // Feed stdin and drain stdout/stderr on threads so large answers cannot deadlock the pipes.
    let mut stdin = child.stdin.take().unwrap();
    let request = request.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(request.as_bytes()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stdout.read_to_end(&mut buf).map(|_| buf)
    });
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stderr.read_to_end(&mut buf).map(|_| buf)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("libsodium peer did not answer within 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = reader.join().unwrap().unwrap();
    let stderr = err_reader.join().unwrap().unwrap();
    assert!(
        status.success(),
        "libsodium peer failed ({status}); if PyNaCl is missing run scripts/install-test-deps.sh: {}",
        String::from_utf8_lossy(&stderr)
    );
    writer
        .join()
        .unwrap()
        .expect("write request to libsodium peer");
    serde_json::from_slice(&stdout).expect("peer answer is JSON")
}

fn field(v: &Value, name: &str) -> Vec<u8> {
    hex::decode(
        v[name]
            .as_str()
            .unwrap_or_else(|| panic!("no field {name} in {v}")),
    )
    .unwrap()
}

fn key32(v: &Value, name: &str) -> [u8; 32] {
    field(v, name).try_into().unwrap()
}

fn messages() -> Vec<Vec<u8>> {
    vec![
        b"GET /metrics HTTP/1.1\r\n\r\n".to_vec(),
        Vec::new(),
        (0..65536u32).map(|i| (i * 7 % 256) as u8).collect(),
        vec![0xff; 1],
        (0..1000u32).map(|i| (i % 13) as u8).collect(),
    ]
}

#[test]
fn key_exchange_matches_libsodium_for_both_roles() {
    let client_sk = [0x11u8; 32];
    let server_sk = [0x5au8; 32];
    let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
    let answer = libsodium(json!({
        "op": "kx",
        "client_sk": hex::encode(client_sk),
        "server_sk": hex::encode(server_sk),
        "seed": hex::encode(seed),
    }));
    let client = KeyPair::from_secret_bytes(client_sk);
    let server = KeyPair::from_secret_bytes(server_sk);
    assert_eq!(client.public_key().as_bytes(), &key32(&answer, "client_pk"));
    assert_eq!(server.public_key().as_bytes(), &key32(&answer, "server_pk"));

    let dialer_keys = client
        .session_keys(Role::Dialer, server.public_key())
        .unwrap();
    let host_keys = server
        .session_keys(Role::Host, client.public_key())
        .unwrap();
    assert_eq!(dialer_keys.rx(), &key32(&answer, "client_rx"));
    assert_eq!(dialer_keys.tx(), &key32(&answer, "client_tx"));
    assert_eq!(host_keys.rx(), &key32(&answer, "server_rx"));
    assert_eq!(host_keys.tx(), &key32(&answer, "server_tx"));

    // crypto_kx_seed_keypair: same secret and public key from the same seed.
    let seeded = KeyPair::from_seed(&seed);
    assert_eq!(seeded.secret_bytes(), key32(&answer, "seed_sk"));
    assert_eq!(seeded.public_key().as_bytes(), &key32(&answer, "seed_pk"));
}

#[test]
fn stream_pushed_by_libsodium_pulls_here() {
    let rx = [0x42u8; 32];
    let msgs = messages();
    let answer = libsodium(json!({
        "op": "push",
        "key": hex::encode(rx),
        "messages": msgs.iter().map(hex::encode).collect::<Vec<_>>(),
    }));
    let header = field(&answer, "header");
    assert_eq!(header.len(), 24);
    let cts: Vec<Vec<u8>> = answer["ciphertexts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| hex::decode(c.as_str().unwrap()).unwrap())
        .collect();

    // Header sent alone, as both SDKs do.
    let mut session = E2eeSession::new(&SessionKeys::from_bytes(rx, [0; 32]));
    assert_eq!(session.open(Bytes::from(header.clone())).unwrap(), None);
    for (ct, msg) in cts.iter().zip(&msgs) {
        assert_eq!(ct.len(), msg.len() + 17);
        let plain = session.open(Bytes::from(ct.clone())).unwrap().unwrap();
        assert_eq!(&plain[..], &msg[..]);
    }

    // Header concatenated with the first ciphertext (accepted by the C SDK).
    let mut session = E2eeSession::new(&SessionKeys::from_bytes(rx, [0; 32]));
    let mut first = header.clone();
    first.extend_from_slice(&cts[0]);
    assert_eq!(
        session.open(Bytes::from(first)).unwrap().as_deref(),
        Some(&msgs[0][..])
    );
    for (ct, msg) in cts.iter().zip(&msgs).skip(1) {
        assert_eq!(
            &session.open(Bytes::from(ct.clone())).unwrap().unwrap()[..],
            &msg[..]
        );
    }

    // Tampered libsodium ciphertext is rejected, with every byte position class covered:
    // encrypted tag byte, body, MAC.
    for pos in [0usize, 5, cts[0].len() - 1] {
        let mut session = E2eeSession::new(&SessionKeys::from_bytes(rx, [0; 32]));
        session.open(Bytes::from(header.clone())).unwrap();
        let mut bad = BytesMut::from(&cts[0][..]);
        bad[pos] ^= 0x80;
        assert_eq!(
            session.open(bad.freeze()),
            Err(E2eeError::AuthenticationFailed),
            "tampered byte {pos}"
        );
    }

    // Wrong key is rejected.
    let mut session = E2eeSession::new(&SessionKeys::from_bytes([0x43; 32], [0; 32]));
    session.open(Bytes::from(header)).unwrap();
    assert_eq!(
        session.open(Bytes::from(cts[0].clone())),
        Err(E2eeError::AuthenticationFailed)
    );
}

#[test]
fn stream_pushed_here_pulls_in_libsodium() {
    let tx = [0x24u8; 32];
    let msgs = messages();
    let mut session = E2eeSession::new(&SessionKeys::from_bytes([0; 32], tx));
    let header = session.outgoing_header();
    let cts: Vec<Bytes> = msgs.iter().map(|m| session.seal(m)).collect();
    let mut tampered = BytesMut::from(&cts[2][..]);
    tampered[100] ^= 1;

    let answer = libsodium(json!({
        "op": "pull",
        "key": hex::encode(tx),
        "header": hex::encode(&header),
        "ciphertexts": cts.iter().map(hex::encode).collect::<Vec<_>>(),
    }));
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), msgs.len());
    for (r, msg) in results.iter().zip(&msgs) {
        assert_eq!(r["ok"], json!(true), "libsodium rejected our message: {r}");
        assert_eq!(field(r, "plaintext"), *msg);
        assert_eq!(r["tag"], json!(0), "we push TAG_MESSAGE only");
    }

    // libsodium rejects our stream when a byte is flipped (sanity check of the check).
    let answer = libsodium(json!({
        "op": "pull",
        "key": hex::encode(tx),
        "header": hex::encode(&header),
        "ciphertexts": [hex::encode(&cts[0]), hex::encode(&cts[1]), hex::encode(&tampered)],
    }));
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[1]["ok"], json!(true));
    assert_eq!(results[2]["ok"], json!(false));
}

#[test]
fn full_exchange_with_libsodium_derived_keys() {
    // Our dialer talks to a libsodium host: keys from libsodium's kx, stream from our seal.
    let answer = libsodium(json!({
        "op": "kx",
        "client_sk": hex::encode([3u8; 32]),
        "server_sk": hex::encode([4u8; 32]),
        "seed": hex::encode([0u8; 32]),
    }));
    let dialer = KeyPair::from_secret_bytes([3; 32]);
    let host_pk = PublicKey::from_slice(&field(&answer, "server_pk")).unwrap();
    let mut session = E2eeSession::establish(&dialer, Role::Dialer, &host_pk).unwrap();
    let header = session.outgoing_header();
    let sealed = session.seal(b"scrape me");
    let pulled = libsodium(json!({
        "op": "pull",
        "key": hex::encode(field(&answer, "server_rx")),
        "header": hex::encode(&header),
        "ciphertexts": [hex::encode(&sealed)],
    }));
    assert_eq!(field(&pulled["results"][0], "plaintext"), b"scrape me");
}

/// Messages of every length residue mod 16 (libsodium's MAC padding depends on it) and a
/// stream-sized one, both directions.
fn sized_messages() -> Vec<Vec<u8>> {
    (0..40usize)
        .chain([255, 256, 257, 32 * 1024 - 17, 64 * 1024 - 17])
        .map(|len| (0..len).map(|i| (i * 17 % 253) as u8).collect())
        .collect()
}

#[test]
fn every_length_residue_agrees_with_libsodium_both_ways() {
    let key = [0x61u8; 32];
    let msgs = sized_messages();
    let answer = libsodium(json!({
        "op": "push",
        "key": hex::encode(key),
        "messages": msgs.iter().map(hex::encode).collect::<Vec<_>>(),
    }));
    let mut session = E2eeSession::new(&SessionKeys::from_bytes(key, [0; 32]));
    assert_eq!(
        session.open(Bytes::from(field(&answer, "header"))).unwrap(),
        None
    );
    for (ct, msg) in answer["ciphertexts"].as_array().unwrap().iter().zip(&msgs) {
        let ct = hex::decode(ct.as_str().unwrap()).unwrap();
        let plain = session.open(Bytes::from(ct)).unwrap().unwrap();
        assert_eq!(plain.len(), msg.len());
        assert_eq!(&plain[..], &msg[..], "length {}", msg.len());
    }

    let mut session = E2eeSession::new(&SessionKeys::from_bytes([0; 32], key));
    let header = session.outgoing_header();
    let mut out = BytesMut::new();
    let cts: Vec<String> = msgs
        .iter()
        .map(|m| {
            out.clear();
            session.seal_into(m, &mut out);
            hex::encode(&out)
        })
        .collect();
    let answer = libsodium(json!({
        "op": "pull",
        "key": hex::encode(key),
        "header": hex::encode(&header),
        "ciphertexts": cts,
    }));
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), msgs.len());
    for (r, msg) in results.iter().zip(&msgs) {
        assert_eq!(r["ok"], json!(true), "length {}: {r}", msg.len());
        assert_eq!(field(r, "plaintext"), *msg);
    }
}

#[test]
fn libsodium_push_rekey_and_final_tags_keep_our_pull_in_step() {
    // TAG_MESSAGE 0, TAG_PUSH 1, TAG_REKEY 2, TAG_FINAL 3: REKEY and FINAL rekey both
    // states; a pull that missed a rekey would fail on the next message.
    let key = [0x5cu8; 32];
    let tags = [0, 2, 1, 0, 2, 2, 3, 0];
    let msgs: Vec<Vec<u8>> = (0..tags.len()).map(|i| vec![i as u8; 33 + i]).collect();
    let answer = libsodium(json!({
        "op": "push",
        "key": hex::encode(key),
        "messages": msgs.iter().map(hex::encode).collect::<Vec<_>>(),
        "tags": tags,
    }));
    let mut session = E2eeSession::new(&SessionKeys::from_bytes(key, [0; 32]));
    session.open(Bytes::from(field(&answer, "header"))).unwrap();
    for (i, (ct, msg)) in answer["ciphertexts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&msgs)
        .enumerate()
    {
        let ct = hex::decode(ct.as_str().unwrap()).unwrap();
        let plain = session.open(Bytes::from(ct)).unwrap_or_else(|e| {
            panic!("message {i} (after tag {}): {e}", tags[i.saturating_sub(1)])
        });
        assert_eq!(plain.as_deref(), Some(&msg[..]));
    }
}
