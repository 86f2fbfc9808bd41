//! Frames captured from a peer we did not write: the OpenZiti Go SDK (sdk-golang v1.9.0,
//! `tests/peers/go-peer`), as it sent them to the lab router in one hosting and dialing
//! session (`tests/fixtures/go_sdk_v1.9.0_frames.txt`, written by
//! `tests/fixtures/capture_go_frames.sh` from the router's raw frame capture; no peer is
//! needed here).
//!
//! For each captured frame: our decoder takes it (whole and byte by byte), the fields that
//! matter have the values the session implies (the Data of a dial carries the Connect's conn
//! id, the DialSuccess names the Bind's conn id, …), and for every message our SDK sends too,
//! the frame our SDK would build for the same fields (built as the named SDK source file
//! builds it) has the same content type and the same header ids with the same value widths.
//! Where the two SDKs write different header ids, the difference is listed below, per
//! message, with why it is harmless; a new or vanished difference fails the test.
//!
//! ## Known header differences (Go SDK v1.9.0 vs ours)
//!
//! | message | Go only | ours only | why it does not matter |
//! | --- | --- | --- | --- |
//! | Bind | 1024 SupportsBindSuccess, 1028 UseXgressToSdk = false; e2ee: 1009 CryptoMethod = 0 | – | we do not wait for BindSuccess (the router only sends it when asked); 1028 false is the default; 1009 absent means libsodium |
//! | Connect | 1008 CallerId (the identity's name), 1025 ConnectionMarker, 1028 = false; e2ee: 1009 = 0 | – | 1008 is optional (ours is written only when `DialOptions::caller_id` is set, so a host sees no caller id from our dialer by default, where a Go dialer shows its name); the marker only labels logs; as above |
//! | DialSuccess (e2ee) | – | 1003 host public key | Go's key reaches the dialer from its Bind (the router copies it into StateConnected); ours sends the same listener key in both |
//! | Data (first of a conn) | 1010 Flags = 4 MULTIPART ("I accept multipart Data"; with e2ee the first Data is the 24-byte secretstream header) | – | ours never announces it, so a Go peer never sends us multipart Data (flag 16); later Go Data carry only 1000, as ours |
//! | StateClosed | 1001 Seq | – | routers do not read it on StateClosed |
//! | Unbind | – | 1021 ListenerId | optional; the router identifies the bind by conn id and token |
//!
//! Hello, ConnInspectResponse, LatencyProbe and UpdateToken: the same header ids and widths
//! (Hello and UpdateToken byte for byte).

#[macro_use]
mod golden;

use std::collections::{BTreeMap, BTreeSet};

use dark_listener::wire::consts::{content_type as ct, flags, header, ConnType, HELLO_SEQUENCE};
use dark_listener::wire::edge::{
    Bind, ConnInspectResponse, Connect, CryptoMethod, Data, DialSuccess, Hello, LatencyProbe,
    StateClosed, Unbind, UpdateToken,
};
use dark_listener::wire::frame::Frame;
use golden::{decode_one, encode, header_map};

const FIXTURE: &str = include_str!("fixtures/go_sdk_v1.9.0_frames.txt");

/// One captured frame with what its comment line says about it.
#[derive(Debug, Clone)]
struct Captured {
    name: String,
    content_type: i32,
    from: String,
    login: String,
    fin: bool,
    header_ids: Vec<i32>,
    bytes: Vec<u8>,
}

impl Captured {
    fn frame(&self) -> Frame {
        decode_one(&self.bytes)
    }
}

fn fixture() -> Vec<Captured> {
    let mut out = Vec::new();
    let mut pending: Option<BTreeMap<String, String>> = None;
    for line in FIXTURE.lines() {
        if let Some(fields) = line.strip_prefix("# frame ") {
            assert!(pending.is_none(), "two frame comments in a row: {line}");
            assert!(
                line.contains("sdk=\"sdk-golang v1.9.0\"") && line.contains("captured=20"),
                "the comment names the SDK version and the date: {line}"
            );
            let kv = fields
                .split_whitespace()
                .filter_map(|t| t.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            pending = Some(kv);
        } else if line.starts_with('#') || line.trim().is_empty() {
            continue;
        } else {
            let kv = pending.take().expect("hex line without a frame comment");
            let ids = match kv["headers"].as_str() {
                "-" => Vec::new(),
                list => list.split(',').map(|i| i.parse().unwrap()).collect(),
            };
            out.push(Captured {
                name: kv["name"].clone(),
                content_type: kv["content_type"].parse().unwrap(),
                from: kv["from"].clone(),
                login: kv["login"].clone(),
                fin: kv["fin"] == "true",
                header_ids: ids,
                bytes: golden::unhex(line),
            });
        }
    }
    assert!(pending.is_none(), "a frame comment without hex");
    out
}

/// The first captured frame from `from` of `content_type` in the `login` run whose FIN flag
/// is `fin` (Data) and that has (`with`) or lacks header `id`.
fn find(login: &str, from: &str, content_type: i32, pick: impl Fn(&Captured) -> bool) -> Captured {
    fixture()
        .into_iter()
        .find(|c| c.login == login && c.from == from && c.content_type == content_type && pick(c))
        .unwrap_or_else(|| panic!("no captured {content_type} from {from} ({login})"))
}

fn legacy(from: &str, content_type: i32) -> Captured {
    find("legacy", from, content_type, |_| true)
}

/// id → value width.
fn widths(map: &BTreeMap<i32, Vec<u8>>) -> BTreeMap<i32, usize> {
    map.iter().map(|(id, v)| (*id, v.len())).collect()
}

/// Asserts that `ours` (our encoder's frame for the same fields) has `go`'s content type and
/// the same header ids with the same widths, apart from exactly `go_only` and `ours_only`.
fn assert_same_headers(go: &Captured, ours: &Frame, go_only: &[i32], ours_only: &[i32]) {
    let ours_bytes = encode(ours);
    assert_eq!(ours_bytes[4..8], go.bytes[4..8], "{} content type", go.name);
    let go_map = widths(&header_map(&go.bytes));
    let our_map = widths(&header_map(&ours_bytes));
    let go_ids: BTreeSet<i32> = go_map.keys().copied().collect();
    let our_ids: BTreeSet<i32> = our_map.keys().copied().collect();
    let only_go: BTreeSet<i32> = go_ids.difference(&our_ids).copied().collect();
    let only_ours: BTreeSet<i32> = our_ids.difference(&go_ids).copied().collect();
    assert_eq!(
        only_go,
        go_only.iter().copied().collect(),
        "{} from {}: header ids the Go SDK writes and ours does not (update the table in the \
         module docs if this is a real change)",
        go.name,
        go.from
    );
    assert_eq!(
        only_ours,
        ours_only.iter().copied().collect(),
        "{} from {}: header ids ours writes and the Go SDK does not",
        go.name,
        go.from
    );
    for id in go_ids.intersection(&our_ids) {
        assert_eq!(
            go_map[id], our_map[id],
            "{} from {}: width of header {id}",
            go.name, go.from
        );
    }
}

fn u32_header(f: &Frame, id: i32) -> u32 {
    f.headers
        .get_u32(id)
        .unwrap()
        .unwrap_or_else(|| panic!("header {id} missing"))
}

fn bool_header(f: &Frame, id: i32) -> Option<bool> {
    f.headers.get_bytes(id).map(|v| {
        assert_eq!(v.len(), 1, "header {id} is a 1-byte bool");
        v[0] != 0
    })
}

fn is_jwt(token: &[u8]) -> bool {
    std::str::from_utf8(token).is_ok_and(|t| t.split('.').count() == 3 && t.starts_with("eyJ"))
}

#[test]
fn every_captured_frame_decodes_and_matches_its_comment() {
    let frames = fixture();
    let mut kinds = BTreeSet::new();
    for c in &frames {
        let f = c.frame();
        assert_eq!(f.content_type, c.content_type, "{c:?}");
        let mut ids: Vec<i32> = f.headers.iter().map(|(id, _)| id).collect();
        ids.sort_unstable();
        let mut listed = c.header_ids.clone();
        listed.sort_unstable();
        assert_eq!(ids, listed, "{} from {}", c.name, c.from);
        assert_eq!(
            header_map(&c.bytes).keys().copied().collect::<Vec<_>>(),
            listed,
            "{} from {}: our decoder and the independent header reader agree",
            c.name,
            c.from
        );
        if c.content_type == ct::DATA {
            assert_eq!(Data::from_frame(&f).unwrap().is_fin(), c.fin);
        }
        kinds.insert(c.content_type);
    }
    // What the Go SDK sent in the capture session: hosting, dialing, half-closing, closing,
    // inspect answers, latency probes, and (OIDC run) UpdateToken and an Unbind.
    let expected = [
        ct::HELLO,
        ct::LATENCY,
        ct::CONNECT,
        ct::STATE_CLOSED,
        ct::DATA,
        ct::DIAL_SUCCESS,
        ct::BIND,
        ct::UNBIND,
        ct::CONN_INSPECT_RESPONSE,
        ct::UPDATE_TOKEN,
    ];
    assert_eq!(kinds, expected.into_iter().collect());
}

#[test]
fn hello_carries_the_api_session_token_and_ours_is_the_same_bytes() {
    for (login, from) in [
        ("legacy", "go-host-plain"),
        ("legacy", "go-dialer-e2ee"),
        ("oidc", "go-host-plain"),
    ] {
        let go = find(login, from, ct::HELLO, |_| true);
        let f = go.frame();
        assert_eq!(f.sequence, HELLO_SEQUENCE, "the Go dialer forces -1");
        let hello = Hello::from_frame(&f).unwrap();
        assert!(!hello.session_token.is_empty());
        assert_eq!(is_jwt(&hello.session_token), login == "oidc", "{login}");
        // channel/mod.rs: token and identifier, nothing else.
        let ours = Hello {
            session_token: hello.session_token.clone(),
            identifier: hello.identifier.clone(),
            ..Hello::default()
        }
        .to_frame(HELLO_SEQUENCE);
        assert_eq!(encode(&ours), go.bytes, "Hello from {from} ({login})");
    }
}

#[test]
fn bind_flags_key_and_our_bind_headers() {
    for (from, e2ee) in [("go-host-plain", false), ("go-host-e2ee", true)] {
        let go = legacy(from, ct::BIND);
        let f = go.frame();
        let bind = Bind::from_frame(&f).unwrap();
        assert!(bind.conn_id >= 1, "SDK-chosen bind conn id");
        assert!(!bind.token.is_empty());
        assert_eq!(bool_header(&f, header::SUPPORTS_INSPECT), Some(true));
        assert_eq!(bool_header(&f, header::SUPPORTS_BIND_SUCCESS), Some(true));
        assert_eq!(bool_header(&f, header::ROUTER_PROVIDED_CONN_ID), Some(true));
        assert_eq!(bool_header(&f, header::USE_XGRESS_TO_SDK), Some(false));
        assert!(bind.supports_inspect && bind.supports_bind_success);
        assert!(bind.router_provided_conn_id);
        assert!(bind.listener_id.as_deref().is_some_and(|l| !l.is_empty()));
        assert_eq!(bind.cost, None);
        assert_eq!(bind.precedence, None);
        assert_eq!(
            f.headers.get_bytes(header::PUBLIC_KEY).map(|k| k.len()),
            e2ee.then_some(32),
            "{from}: 32-byte X25519 key only for the encrypted service"
        );
        assert_eq!(bind.public_key.is_some(), e2ee);
        assert_eq!(
            f.headers
                .get_bytes(header::CRYPTO_METHOD)
                .map(|v| v.to_vec()),
            e2ee.then(|| vec![0]),
            "{from}: Go's CryptoMethod byte 0 = libsodium"
        );
        assert_eq!(bind.crypto_method, CryptoMethod::Libsodium);
        // listener/router_bind.rs.
        let ours = Bind {
            conn_id: bind.conn_id,
            token: bind.token.clone(),
            listener_id: bind.listener_id.clone(),
            router_provided_conn_id: true,
            supports_inspect: true,
            public_key: bind.public_key,
            ..Bind::default()
        }
        .to_frame(go.frame().sequence);
        let mut go_only = vec![header::SUPPORTS_BIND_SUCCESS, header::USE_XGRESS_TO_SDK];
        if e2ee {
            go_only.push(header::CRYPTO_METHOD);
        }
        assert_same_headers(&go, &ours, &go_only, &[]);
        let our_map = header_map(&encode(&ours));
        let go_map = header_map(&go.bytes);
        for id in [header::CONN_ID, header::LISTENER_ID, header::PUBLIC_KEY] {
            assert_eq!(
                our_map.get(&id),
                go_map.get(&id),
                "{from}: header {id} bytes"
            );
        }
    }
}

#[test]
fn connect_token_conn_id_key_and_our_connect_headers() {
    for (from, e2ee) in [("go-dialer-plain", false), ("go-dialer-e2ee", true)] {
        let go = legacy(from, ct::CONNECT);
        let f = go.frame();
        let connect = Connect::from_frame(&f).unwrap();
        assert!(
            connect.conn_id >= 1 && connect.conn_id < 1 << 31,
            "SDK-chosen id"
        );
        assert!(!connect.token.is_empty() && std::str::from_utf8(&connect.token).is_ok());
        assert_eq!(connect.public_key.is_some(), e2ee);
        assert_eq!(
            f.headers.get_bytes(header::PUBLIC_KEY).map(|k| k.len()),
            e2ee.then_some(32)
        );
        assert_eq!(
            connect.caller_id.as_deref(),
            Some(from),
            "Go sends its identity's name as caller id"
        );
        assert!(connect.connection_marker.is_some());
        assert_eq!(connect.use_xgress_to_sdk, Some(false));
        assert_eq!(connect.terminator_identity, None);
        // context/dial.rs.
        let ours = Connect {
            conn_id: connect.conn_id,
            token: connect.token.clone(),
            public_key: connect.public_key,
            ..Connect::default()
        }
        .to_frame(f.sequence);
        let mut go_only = vec![
            header::CALLER_ID,
            header::CONNECTION_MARKER,
            header::USE_XGRESS_TO_SDK,
        ];
        if e2ee {
            go_only.push(header::CRYPTO_METHOD);
        }
        assert_same_headers(&go, &ours, &go_only, &[]);
        assert!(
            encode(&ours).ends_with(&connect.token),
            "the body is the session token"
        );
        assert!(go.bytes.ends_with(&connect.token));
    }
}

#[test]
fn dial_success_names_the_bind_and_a_router_provided_id() {
    for (host, e2ee) in [("go-host-plain", false), ("go-host-e2ee", true)] {
        let bind = Bind::from_frame(&legacy(host, ct::BIND).frame()).unwrap();
        let go = legacy(host, ct::DIAL_SUCCESS);
        let f = go.frame();
        let success = DialSuccess::from_frame(&f).unwrap();
        assert_eq!(
            success.bind_conn_id, bind.conn_id,
            "{host}: the Bind's conn id"
        );
        assert!(
            success.new_conn_id >= 1 << 31,
            "the router-provided id from the Dial"
        );
        assert_eq!(
            success.public_key, None,
            "Go sends its key in the Bind only"
        );
        let reply_for = f.reply_for().unwrap().expect("a reply to the Dial");
        // listener/router_bind.rs: our host adds its (listener) key for e2ee.
        let ours = DialSuccess {
            bind_conn_id: success.bind_conn_id,
            new_conn_id: success.new_conn_id,
            public_key: e2ee.then(|| bind.public_key.unwrap()),
        }
        .to_frame(f.sequence)
        .replying_to(reply_for);
        let ours_only: &[i32] = if e2ee { &[header::PUBLIC_KEY] } else { &[] };
        assert_same_headers(&go, &ours, &[], ours_only);
        assert_eq!(encode(&ours)[16..20], go.bytes[16..20], "4-byte body");
    }
}

#[test]
fn data_carries_the_conn_id_and_the_fin_flag() {
    for (dialer, host, e2ee) in [
        ("go-dialer-plain", "go-host-plain", false),
        ("go-dialer-e2ee", "go-host-e2ee", true),
    ] {
        let connect = Connect::from_frame(&legacy(dialer, ct::CONNECT).frame()).unwrap();
        let success = DialSuccess::from_frame(&legacy(host, ct::DIAL_SUCCESS).frame()).unwrap();
        for (from, conn_id) in [(dialer, connect.conn_id), (host, success.new_conn_id)] {
            for fin in [false, true] {
                let go = find("legacy", from, ct::DATA, |c| {
                    c.fin == fin && c.header_ids.contains(&header::FLAGS)
                });
                let f = go.frame();
                let data = Data::from_frame(&f).unwrap();
                if fin {
                    // The FIN comes from the `pipe` run, a later conn (a new process for the
                    // dialer, the next router-provided id for the host).
                    assert_eq!(
                        data.conn_id >= 1 << 31,
                        conn_id >= 1 << 31,
                        "{from} FIN Data conn id {} in the range of {conn_id}",
                        data.conn_id
                    );
                } else {
                    assert_eq!(data.conn_id, conn_id, "{from} first Data conn id");
                }
                assert_eq!(data.is_fin(), fin);
                // Go's first Data of a conn says MULTIPART: "I can take multipart Data".
                let expected = if fin { flags::FIN } else { flags::MULTIPART };
                assert_eq!(data.flags, expected, "{from}");
                assert_eq!(u32_header(&f, header::FLAGS), data.flags);
                if fin {
                    assert!(data.payload.is_empty(), "{from}: FIN carries no payload");
                } else {
                    // The first Data: 5 echo bytes (`go-peer dial … 5`), or for e2ee the
                    // 24-byte secretstream header, which goes first.
                    assert_eq!(data.payload.len(), if e2ee { 24 } else { 5 }, "{from}");
                }
                // stream/mod.rs: poll_write (no flags) and poll_shutdown (FIN).
                let ours = Data {
                    conn_id: data.conn_id,
                    flags: data.flags & flags::FIN,
                    payload: data.payload.clone(),
                    ..Data::default()
                }
                .to_frame(f.sequence);
                let go_only: &[i32] = if fin { &[] } else { &[header::FLAGS] };
                assert_same_headers(&go, &ours, go_only, &[]);
            }
            if e2ee {
                // Later Data carry no Flags, as ours: here the 5 echo bytes sealed as one
                // secretstream message (5 + 17 bytes of tag and MAC).
                let go = find("legacy", from, ct::DATA, |c| {
                    c.header_ids == [header::CONN_ID]
                });
                let data = Data::from_frame(&go.frame()).unwrap();
                assert_eq!(data.conn_id, conn_id);
                assert_eq!(data.payload.len(), 5 + 17, "{from}: one sealed message");
                let ours = Data {
                    conn_id,
                    payload: data.payload.clone(),
                    ..Data::default()
                }
                .to_frame(go.frame().sequence);
                assert_eq!(encode(&ours), go.bytes, "{from}: e2ee header Data");
            }
        }
    }
}

#[test]
fn state_closed_ends_the_conn_without_a_reason() {
    for (from, other) in [
        ("go-dialer-plain", None),
        ("go-host-plain", Some("go-dialer-plain")),
        ("go-dialer-e2ee", None),
        ("go-host-e2ee", Some("go-dialer-e2ee")),
    ] {
        let go = legacy(from, ct::STATE_CLOSED);
        let f = go.frame();
        let closed = StateClosed::from_frame(&f).unwrap();
        assert!(
            closed.reason.is_empty(),
            "{from}: an SDK close has no reason"
        );
        assert_eq!(f.headers.get_bytes(header::SEQ).map(|v| v.len()), Some(4));
        if other.is_none() {
            let connect = Connect::from_frame(&legacy(from, ct::CONNECT).frame()).unwrap();
            assert_eq!(closed.conn_id, connect.conn_id, "{from}: closes its dial");
        } else {
            assert!(closed.conn_id >= 1 << 31, "{from}: closes an accepted conn");
        }
        // channel/core/replies.rs close_frame.
        let ours = StateClosed {
            conn_id: closed.conn_id,
            ..StateClosed::default()
        }
        .to_frame(f.sequence);
        assert_same_headers(&go, &ours, &[header::SEQ], &[]);
    }
}

#[test]
fn unbind_names_the_refused_bind() {
    let bind =
        Bind::from_frame(&find("oidc", "go-host-plain", ct::BIND, |_| true).frame()).unwrap();
    let go = find("oidc", "go-host-plain", ct::UNBIND, |_| true);
    let f = go.frame();
    let unbind = Unbind::from_frame(&f).unwrap();
    assert_eq!(unbind.conn_id, bind.conn_id);
    assert_eq!(unbind.token, bind.token, "the Bind session token");
    assert_eq!(unbind.listener_id, None);
    // listener/router_bind.rs: ours names the listener too.
    let ours = Unbind {
        conn_id: unbind.conn_id,
        token: unbind.token.clone(),
        listener_id: bind.listener_id.clone(),
    }
    .to_frame(f.sequence);
    assert_same_headers(&go, &ours, &[], &[header::LISTENER_ID]);
}

#[test]
fn conn_inspect_response_says_the_bind_is_a_bind() {
    for host in ["go-host-plain", "go-host-e2ee"] {
        let bind = Bind::from_frame(&legacy(host, ct::BIND).frame()).unwrap();
        let go = legacy(host, ct::CONN_INSPECT_RESPONSE);
        let f = go.frame();
        let response = ConnInspectResponse::from_frame(&f).unwrap();
        assert_eq!(response.conn_id, bind.conn_id);
        assert_eq!(response.conn_type, ConnType::Bind);
        let reply_for = f.reply_for().unwrap().expect("a reply to the request");
        // channel/core/mod.rs.
        let ours = ConnInspectResponse {
            conn_id: response.conn_id,
            conn_type: ConnType::Bind,
            details: response.details.clone(),
        }
        .to_frame(f.sequence)
        .replying_to(reply_for);
        assert_same_headers(&go, &ours, &[], &[]);
        let (ours, go) = (header_map(&encode(&ours)), header_map(&go.bytes));
        assert_eq!(ours, go, "{host}: same header bytes");
    }
}

#[test]
fn latency_probe_carries_a_u64_timestamp() {
    for host in ["go-host-plain", "go-host-e2ee"] {
        let go = legacy(host, ct::LATENCY);
        let f = go.frame();
        let probe = LatencyProbe::from_frame(&f).unwrap();
        let stamp = probe.timestamp().expect("8-byte header 128");
        assert!(
            stamp > 1_600_000_000_000_000_000,
            "nanoseconds since 1970: {stamp}"
        );
        assert!(f.body.is_empty());
        // channel/mod.rs latency probe.
        let ours = LatencyProbe::from_timestamp(stamp).to_frame(f.sequence);
        assert_eq!(encode(&ours), go.bytes, "{host}");
    }
}

#[test]
fn update_token_is_the_bare_access_jwt_and_ours_is_the_same_bytes() {
    let go = find("oidc", "go-host-plain", ct::UPDATE_TOKEN, |_| true);
    let f = go.frame();
    let update = UpdateToken::from_frame(&f).unwrap();
    assert!(is_jwt(&update.token));
    assert!(f.headers.is_empty());
    // channel/mod.rs update_token.
    let ours = UpdateToken {
        token: update.token.clone(),
    }
    .to_frame(f.sequence);
    assert_eq!(encode(&ours), go.bytes);
}
