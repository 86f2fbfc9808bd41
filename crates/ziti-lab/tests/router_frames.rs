//! The lab router over real TLS, driven with raw frames and checked frame by frame.
//!
//! Golden bytes come from ziti-edge-protocol.md §1.1 / §1.6 (typed in as hex, not produced by
//! our encoder); everything else is built with the typed messages of dark-listener and the
//! replies are checked header by header.

#[path = "support/router_lab.rs"]
mod router_lab;

use std::time::Duration;

use bytes::Bytes;
use dark_listener::wire::consts::{
    content_type as ct, flags, header as h, ConnType, ROUTER_CONN_ID_START,
};
use dark_listener::wire::edge::{
    Bind, ConnInspectResponse, Connect, Data, DialFailed, DialSuccess, LatencyProbe, PublicKey,
    StateClosed, StructuredError, UpdateBind,
};
use dark_listener::wire::frame::Frame;
use router_lab::{identity_id, router_provided_id, service_id, RawChannel, ReadEnd, TestLab, STEP};
use ziti_lab::router::RouterOptions;
use ziti_lab::PolicyType;

fn hex(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap())
        .collect()
}

fn reply_for(f: &Frame) -> i32 {
    f.reply_for().unwrap().expect("frame is not a reply")
}

/// Sends a latency probe stamped `timestamp` on `ch` and asserts that the router answers it
/// (the channel is still usable).
async fn assert_probe_answered(ch: &mut RawChannel, timestamp: u64) {
    let seq = ch
        .send_seq(LatencyProbe::from_timestamp(timestamp).to_frame(0))
        .await;
    assert_eq!(reply_for(&ch.expect(ct::RESULT).await), seq);
}

fn conn_id(f: &Frame) -> u32 {
    f.headers.get_u32(h::CONN_ID).unwrap().expect("no conn id")
}

fn string(f: &Frame, id: i32) -> Option<String> {
    f.headers.get_string(id).unwrap()
}

fn structured(f: &Frame) -> StructuredError {
    serde_json::from_slice(f.headers.get_bytes(h::STRUCTURED_ERROR).expect("no 1033")).unwrap()
}

const KEY_A: PublicKey = PublicKey([7; 32]);
const KEY_B: PublicKey = PublicKey([9; 32]);

/// A host channel with one Bind (router-provided ids unless `legacy`); returns it and its
/// bind token.
async fn bound_host(
    lab: &TestLab,
    identity: &str,
    service: &str,
    bind: Bind,
) -> (RawChannel, Bytes) {
    let (mut host, api) = lab.channel(identity).await;
    let token = Bytes::from(lab.session(&api, service, PolicyType::Bind));
    let bind = Bind {
        token: token.clone(),
        ..bind
    };
    let want_ids = bind.router_provided_conn_id;
    let seq = host.send_seq(bind.to_frame(0)).await;
    let ok = host.expect(ct::STATE_CONNECTED).await;
    assert_eq!(reply_for(&ok), seq);
    assert_eq!(conn_id(&ok), bind.conn_id);
    assert_eq!(
        ok.headers.get_bool(h::ROUTER_PROVIDED_CONN_ID).unwrap(),
        want_ids.then_some(true)
    );
    (host, token)
}

fn plain_bind(conn_id: u32) -> Bind {
    Bind {
        conn_id,
        router_provided_conn_id: true,
        ..Bind::default()
    }
}

async fn dialer(lab: &TestLab, service: &str) -> (RawChannel, Bytes) {
    let (ch, api) = lab.channel("dialer").await;
    let token = Bytes::from(lab.session(&api, service, PolicyType::Dial));
    (ch, token)
}

#[tokio::test]
async fn golden_hello_is_acknowledged_then_the_bad_token_closes_the_channel() {
    let lab = TestLab::start().await;
    let (tls, _token) = lab.login("dialer");
    let mut ch = RawChannel::connect(lab.running.router_addr(), tls).await;
    // §1.1 worked example: SDK hello, seq -1, header 1002 = "abc", body "id".
    ch.send_bytes(&hex(
        "03 06 09 0c 00 00 00 00 ff ff ff ff 0b 00 00 00 02 00 00 00 \
         ea 03 00 00 03 00 00 00 61 62 63 69 64",
    ))
    .await;
    let ack = ch.recv().await;
    assert_eq!(ack.content_type, ct::RESULT);
    assert_eq!(ack.sequence, -1);
    assert_eq!(reply_for(&ack), -1);
    assert_eq!(
        ack.headers.get_bytes(h::RESULT_SUCCESS).unwrap().as_ref(),
        [1]
    );
    assert!(string(&ack, h::CONNECTION_ID).is_some_and(|c| !c.is_empty()));
    assert_eq!(
        string(&ack, h::ID).unwrap(),
        lab.lab.state().edge_router().id
    );
    let version = string(&ack, h::HELLO_VERSION).unwrap();
    assert_eq!(version.split('|').count(), 5, "{version}");
    assert_eq!(
        ack.headers
            .get_bytes(h::SUPPORTS_BIND_SUCCESS)
            .unwrap()
            .as_ref(),
        [1]
    );
    assert!(ack.body.is_empty());
    // "abc" is no API session: after the ack the router closes without a message.
    ch.expect_closed("the channel").await;
}

#[tokio::test]
async fn valid_hello_keeps_the_channel_and_latency_echoes_header_128() {
    let lab = TestLab::start().await;
    let (mut ch, _) = lab.channel("dialer").await;
    // An unknown content type is dropped without an answer.
    ch.send_seq(Frame::new(12345, 0, Bytes::from_static(b"?")))
        .await;
    let probe = LatencyProbe::from_timestamp(0x0102_0304_0506_0708).to_frame(0);
    let seq = ch.send_seq(probe).await;
    let reply = ch.expect(ct::RESULT).await;
    assert_eq!(reply_for(&reply), seq);
    assert_eq!(
        reply.headers.get_bool(h::RESULT_SUCCESS).unwrap(),
        Some(true)
    );
    assert_eq!(
        reply.headers.get_bytes(h::REFLECTED).unwrap().as_ref(),
        0x0102_0304_0506_0708u64.to_le_bytes()
    );
    ch.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn bad_magic_gets_the_unknown_version_reply() {
    let lab = TestLab::start().await;
    let (tls, _) = lab.login("dialer");
    let mut ch = RawChannel::connect(lab.running.router_addr(), tls).await;
    ch.send_bytes(&hex(
        "03 06 09 0d 00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00",
    ))
    .await;
    let bytes = ch.read_to_end().await;
    assert_eq!(
        bytes,
        hex("03 06 09 0a 02 00 00 00 01 00 00 00 02 00 00 00"),
        "§1.6 unknown-version reply, then close"
    );
}

#[tokio::test]
async fn a_client_without_certificate_is_refused() {
    let lab = TestLab::start().await;
    let (_, token) = lab.login("dialer");
    let tls = router_lab::client_tls(None, lab.lab.state().pki().ca_der());
    let tcp = tokio::net::TcpStream::connect(lab.running.router_addr())
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let connected = tokio::time::timeout(
        STEP,
        tokio_rustls::TlsConnector::from(tls).connect(name, tcp),
    )
    .await
    .unwrap();
    // TLS 1.3 finishes the client side before the server checks; then the alert arrives.
    if let Ok(stream) = connected {
        let mut ch = RawChannel::from_stream(stream);
        let hello = dark_listener::wire::edge::Hello {
            session_token: Bytes::from(token),
            ..Default::default()
        }
        .to_frame(-1);
        let _ =
            tokio::io::AsyncWriteExt::write_all(&mut ch.stream, &hello.to_bytes().unwrap()).await;
        ch.expect_closed("a certificate-less client's channel")
            .await;
    }
}

#[tokio::test]
async fn connect_to_an_unbound_service_is_refused() {
    let lab = TestLab::start().await;
    let (mut d, token) = dialer(&lab, "plain").await;
    let seq = d.send_connect(5, token).await;
    let closed = d.expect(ct::STATE_CLOSED).await;
    assert_eq!(reply_for(&closed), seq);
    assert_eq!(conn_id(&closed), 5);
    assert_eq!(
        closed.body.as_ref(),
        format!("service {} has no terminators", service_id("plain")).as_bytes()
    );
    assert_eq!(closed.headers.get_u32(h::ERROR_CODE).unwrap(), Some(1));
}

#[tokio::test]
async fn connect_without_conn_id_is_refused() {
    let lab = TestLab::start().await;
    let (mut d, token) = dialer(&lab, "plain").await;
    let seq = d.send_seq(Frame::new(ct::CONNECT, 0, token)).await;
    let closed = d.expect(ct::STATE_CLOSED).await;
    assert_eq!(reply_for(&closed), seq);
    assert_eq!(closed.body.as_ref(), b"connId not set, required");
}

#[tokio::test]
async fn wrong_session_types_and_invalid_sessions_are_refused_with_codes() {
    let lab = TestLab::start().await;
    let (mut ch, api) = lab.channel("both").await;
    let bind_token = lab.session(&api, "plain", PolicyType::Bind);
    let dial_token = lab.session(&api, "plain", PolicyType::Dial);

    // Its own Bind token in a Connect: "incorrect session type", code 4, start over.
    let seq = ch.send_connect(1, Bytes::from(bind_token.clone())).await;
    let closed = ch.expect(ct::STATE_CLOSED).await;
    assert_eq!(reply_for(&closed), seq);
    assert_eq!(closed.body.as_ref(), b"incorrect session type");
    assert_eq!(closed.headers.get_u32(h::ERROR_CODE).unwrap(), Some(4));
    let s = structured(&closed);
    assert_eq!(
        (s.code, s.retry_hint, s.message.as_str()),
        (4, 2, "incorrect session type")
    );

    // Its own Dial token in a Bind: the real router's bind-path text.
    let seq = ch
        .send_seq(
            Bind {
                conn_id: 4,
                token: Bytes::from(dial_token.clone()),
                router_provided_conn_id: true,
                ..Bind::default()
            }
            .to_frame(0),
        )
        .await;
    let closed = ch.expect(ct::STATE_CLOSED).await;
    assert_eq!(reply_for(&closed), seq);
    assert_eq!(
        closed.body.as_ref(),
        b"rejecting bind, invalid session type. expected Bind, got Dial"
    );

    // A token nobody issued: "invalid session", code 3.
    ch.send_connect(2, Bytes::from_static(b"st-not-a-session"))
        .await;
    let closed = ch.expect(ct::STATE_CLOSED).await;
    assert_eq!(closed.body.as_ref(), b"invalid session");
    assert_eq!(closed.headers.get_u32(h::ERROR_CODE).unwrap(), Some(3));

    // Another identity's valid tokens do not belong to this channel's API session.
    let (mut other, _) = lab.channel("dialer").await;
    for frame in [
        Connect {
            conn_id: 3,
            token: Bytes::from(dial_token),
            ..Connect::default()
        }
        .to_frame(0),
        Bind {
            conn_id: 3,
            token: Bytes::from(bind_token),
            ..Bind::default()
        }
        .to_frame(0),
    ] {
        let seq = other.send_seq(frame).await;
        let closed = other.expect(ct::STATE_CLOSED).await;
        assert_eq!(reply_for(&closed), seq);
        assert_eq!(closed.body.as_ref(), b"invalid session");
    }
}

#[tokio::test]
async fn router_provided_ids_dial_data_fin_and_close_both_ways() {
    let lab = TestLab::start().await;
    let (mut host, bind_token) = bound_host(&lab, "host-a", "plain", plain_bind(11)).await;
    let (mut d, token) = dialer(&lab, "plain").await;

    let mut connect = Connect {
        conn_id: 3,
        token: token.clone(),
        caller_id: Some("me".into()),
        app_data: Some(Bytes::from_static(b"{\"x\":1}")),
        connection_marker: Some("mark".into()),
        ..Connect::default()
    }
    .to_frame(0);
    connect
        .headers
        .put_bytes(h::REFLECTED, Bytes::from_static(b"trace-uuid-0001!"));
    let connect_seq = d.send_seq(connect).await;

    let dial = host.expect(ct::DIAL).await;
    assert_eq!(conn_id(&dial), 11, "Dial carries the bind conn id");
    let new_id = router_provided_id(&dial);
    assert!(
        new_id >= ROUTER_CONN_ID_START,
        "router ids start at 2^31: {new_id}"
    );
    assert_eq!(dial.body, bind_token, "Dial body is the host's bind token");
    let circuit = string(&dial, h::CIRCUIT_ID).expect("1026");
    assert_eq!(string(&dial, h::CALLER_ID).as_deref(), Some("me"));
    assert_eq!(
        dial.headers.get_bytes(h::APP_DATA).unwrap().as_ref(),
        b"{\"x\":1}"
    );
    assert_eq!(string(&dial, h::CONNECTION_MARKER).as_deref(), Some("mark"));
    assert_eq!(
        string(&dial, h::DIALER_IDENTITY_ID),
        Some(identity_id("dialer"))
    );
    assert_eq!(
        string(&dial, h::DIALER_IDENTITY_NAME).as_deref(),
        Some("dialer")
    );
    assert!(dial.headers.get_bytes(h::PUBLIC_KEY).is_none());

    let ok = DialSuccess {
        bind_conn_id: 11,
        new_conn_id: new_id,
        public_key: None,
    }
    .to_frame(0)
    .replying_to(dial.sequence);
    host.send_seq(ok).await;

    let connected = d.expect(ct::STATE_CONNECTED).await;
    assert_eq!(reply_for(&connected), connect_seq);
    assert_eq!(conn_id(&connected), 3);
    assert_eq!(string(&connected, h::CIRCUIT_ID), Some(circuit));
    assert_eq!(
        connected.headers.get_bytes(h::REFLECTED).unwrap().as_ref(),
        b"trace-uuid-0001!"
    );
    assert!(connected
        .headers
        .get_bytes(h::ROUTER_PROVIDED_CONN_ID)
        .is_none());
    // Router-provided mode: no StateConnected goes to the host.
    host.expect_silence(Duration::from_millis(200)).await;

    // Dialer → host, with Seq (1001) that must not be relayed and a trace UUID that must.
    let mut data = Data {
        conn_id: 3,
        flags: 0,
        uuid: Some(Bytes::from_static(b"0123456789abcdef")),
        payload: Bytes::from_static(b"hello host"),
    }
    .to_frame(0);
    data.headers.put_u32(h::SEQ, 0);
    d.send_seq(data).await;
    let got = host.expect(ct::DATA).await;
    assert_eq!(conn_id(&got), new_id);
    assert_eq!(got.body.as_ref(), b"hello host");
    let ids: Vec<i32> = got.headers.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 2, "only 1000 and 128 relayed: {ids:?}");
    assert_eq!(
        got.headers.get_bytes(h::UUID).unwrap().as_ref(),
        b"0123456789abcdef"
    );

    // Host → dialer, a large body.
    let big = Bytes::from(vec![0x5au8; 200_000]);
    host.send_data(new_id, big.clone()).await;
    let got = d.expect(ct::DATA).await;
    assert_eq!(conn_id(&got), 3);
    assert_eq!(got.body, big);
    assert_eq!(got.headers.len(), 1, "only 1000: {:?}", got.headers);

    // FIN from the host is relayed as is (empty, flag set).
    host.send_seq(
        Data {
            conn_id: new_id,
            flags: flags::FIN,
            ..Data::default()
        }
        .to_frame(0),
    )
    .await;
    let fin = d.expect(ct::DATA).await;
    assert_eq!(conn_id(&fin), 3);
    assert_eq!(fin.headers.get_u32(h::FLAGS).unwrap(), Some(flags::FIN));
    assert!(fin.body.is_empty());

    // The dialer can still write after the host's FIN.
    d.send_data(3, Bytes::from_static(b"after fin")).await;
    assert_eq!(host.expect(ct::DATA).await.body.as_ref(), b"after fin");

    // Dialer closes: the host gets StateClosed for its conn with a reason.
    d.send_seq(
        StateClosed {
            conn_id: 3,
            ..StateClosed::default()
        }
        .to_frame(0),
    )
    .await;
    let closed = host.expect(ct::STATE_CLOSED).await;
    assert_eq!(conn_id(&closed), new_id);
    assert_eq!(closed.body.as_ref(), b"close called");

    // Data for the dead conn is ignored on both sides.
    d.send_data(3, Bytes::from_static(b"late")).await;
    host.expect_silence(Duration::from_millis(200)).await;

    // Second circuit, closed by the host this time.
    let seq2 = d.send_connect(4, token.clone()).await;
    let dial = host.expect(ct::DIAL).await;
    let id2 = host.accept_dial(&dial, 11).await;
    assert_ne!(id2, new_id);
    let connected = d.expect(ct::STATE_CONNECTED).await;
    assert_eq!(reply_for(&connected), seq2);
    host.send_seq(
        StateClosed {
            conn_id: id2,
            ..StateClosed::default()
        }
        .to_frame(0),
    )
    .await;
    let closed = d.expect(ct::STATE_CLOSED).await;
    assert_eq!(conn_id(&closed), 4);
    assert!(!closed.body.is_empty());
    // StateClosed for an unknown conn is ignored; the channel stays usable.
    d.send_seq(
        StateClosed {
            conn_id: 999,
            ..StateClosed::default()
        }
        .to_frame(0),
    )
    .await;
    assert_probe_answered(&mut d, 1).await;
}

#[tokio::test]
async fn legacy_host_picks_the_conn_id_and_gets_state_connected() {
    let lab = TestLab::start().await;
    // C SDK 0.29.3 style: no 1012 in the Bind, 4-byte cost, Seq headers everywhere.
    let (mut host, api) = lab.channel("host-a").await;
    let bind_token = lab.session(&api, "plain", PolicyType::Bind);
    let mut bind = Bind {
        conn_id: 1,
        token: Bytes::from(bind_token),
        ..Bind::default()
    }
    .to_frame(0);
    bind.headers.put_u32(h::SEQ, 0);
    bind.headers.put_u32(h::COST, 100);
    bind.headers.put_string(h::CALLER_ID, "host-a");
    let seq = host.send_seq(bind).await;
    let ok = host.expect(ct::STATE_CONNECTED).await;
    assert_eq!(reply_for(&ok), seq);
    assert!(ok.headers.get_bytes(h::ROUTER_PROVIDED_CONN_ID).is_none());

    let (mut d, token) = dialer(&lab, "plain").await;
    let connect_seq = d.send_connect(1, token).await;
    let dial = host.expect(ct::DIAL).await;
    assert!(
        dial.headers.get_bytes(h::ROUTER_PROVIDED_CONN_ID).is_none(),
        "legacy Bind: no conn id in Dial"
    );
    assert_eq!(
        string(&dial, h::CALLER_ID).as_deref(),
        Some(""),
        "1008 always present"
    );
    let mut ok = DialSuccess {
        bind_conn_id: 1,
        new_conn_id: 2,
        public_key: None,
    }
    .to_frame(0)
    .replying_to(dial.sequence);
    ok.headers.put_u32(h::SEQ, 0);
    let success_seq = host.send_seq(ok).await;
    let ack = host.expect(ct::STATE_CONNECTED).await;
    assert_eq!(
        reply_for(&ack),
        success_seq,
        "router answers the host's DialSuccess"
    );
    assert_eq!(conn_id(&ack), 2);
    let connected = d.expect(ct::STATE_CONNECTED).await;
    assert_eq!(reply_for(&connected), connect_seq);
    assert_eq!(conn_id(&connected), 1);

    // Same numeric conn id on both channels, two different conns.
    host.send_data(2, Bytes::from_static(b"from host")).await;
    let got = d.expect(ct::DATA).await;
    assert_eq!((conn_id(&got), got.body.as_ref()), (1, &b"from host"[..]));
    d.send_data(1, Bytes::from_static(b"from dialer")).await;
    let got = host.expect(ct::DATA).await;
    assert_eq!((conn_id(&got), got.body.as_ref()), (2, &b"from dialer"[..]));
}

#[tokio::test]
async fn dial_failed_and_dial_timeout_reach_the_dialer() {
    let lab = TestLab::start_with(RouterOptions {
        dial_timeout: Duration::from_millis(400),
        ..RouterOptions::default()
    })
    .await;
    let (mut host, _) = bound_host(&lab, "host-a", "plain", plain_bind(1)).await;
    let (mut d, token) = dialer(&lab, "plain").await;
    let seq = d.send_connect(1, token.clone()).await;
    let dial = host.expect(ct::DIAL).await;
    host.send_seq(
        DialFailed {
            bind_conn_id: 1,
            reason: Bytes::from_static(b"rejected by application"),
        }
        .to_frame(0)
        .replying_to(dial.sequence),
    )
    .await;
    let closed = d.expect(ct::STATE_CLOSED).await;
    assert_eq!(reply_for(&closed), seq);
    let body = String::from_utf8(closed.body.to_vec()).unwrap();
    assert!(
        body.starts_with("failed to establish connection with terminator address lab-t")
            && body.ends_with(". error: (rejected by application)"),
        "{body}"
    );

    // The host never answers: the dialer hears about it after the dial timeout.
    let seq = d.send_connect(2, token).await;
    let dial = host.expect(ct::DIAL).await;
    let closed = d.expect(ct::STATE_CLOSED).await;
    assert_eq!(reply_for(&closed), seq);
    assert!(
        closed
            .body
            .starts_with(b"failed to establish connection with terminator address"),
        "{:?}",
        closed.body
    );
    // A late DialSuccess is answered with StateClosed for that conn.
    let late_id = host.accept_dial(&dial, 1).await;
    let refused = host.expect(ct::STATE_CLOSED).await;
    assert_eq!(conn_id(&refused), late_id);
    d.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_dropped_host_channel_closes_its_circuits_and_terminators() {
    let lab = TestLab::start().await;
    let (mut host, _) = bound_host(&lab, "host-a", "plain", plain_bind(1)).await;
    let (mut d, token) = dialer(&lab, "plain").await;
    d.send_connect(8, token.clone()).await;
    host.answer_dial(1).await;
    d.expect(ct::STATE_CONNECTED).await;
    drop(host);
    let closed = d.expect(ct::STATE_CLOSED).await;
    assert_eq!(conn_id(&closed), 8);
    assert!(!closed.body.is_empty());
    // The terminator went with the channel.
    d.send_connect(9, token).await;
    let closed = d.expect(ct::STATE_CLOSED).await;
    assert_eq!(
        closed.body.as_ref(),
        format!("service {} has no terminators", service_id("plain")).as_bytes()
    );
}

#[tokio::test]
async fn a_dropped_dialer_closes_the_host_side() {
    let lab = TestLab::start().await;
    let (mut host, _) = bound_host(&lab, "host-a", "plain", plain_bind(1)).await;
    let (mut d, token) = dialer(&lab, "plain").await;
    d.send_connect(8, token).await;
    let id = host.answer_dial(1).await;
    d.expect(ct::STATE_CONNECTED).await;
    drop(d);
    let closed = host.expect(ct::STATE_CLOSED).await;
    assert_eq!(conn_id(&closed), id);
}

#[tokio::test]
async fn encryption_required_needs_keys_on_both_sides() {
    let lab = TestLab::start().await;
    let (mut d, token) = dialer(&lab, "secret").await;
    // No dialer key: code 11 before any terminator is looked at.
    let seq = d.send_connect(1, token.clone()).await;
    let closed = d.expect(ct::STATE_CLOSED).await;
    assert_eq!(reply_for(&closed), seq);
    assert_eq!(
        closed.body.as_ref(),
        b"encryption required on service, initiator did not send public header"
    );
    assert_eq!(closed.headers.get_u32(h::ERROR_CODE).unwrap(), Some(11));
    assert_eq!(structured(&closed).code, 11);

    // A host that bound without a key cannot take the dial either.
    let (host_nokey, _) = bound_host(&lab, "host-b", "secret", plain_bind(1)).await;
    d.send_seq(
        Connect {
            conn_id: 2,
            token: token.clone(),
            public_key: Some(KEY_A),
            ..Connect::default()
        }
        .to_frame(0),
    )
    .await;
    let closed = d.expect(ct::STATE_CLOSED).await;
    assert_eq!(
        closed.body.as_ref(),
        b"encryption required on service, terminator did not send public header"
    );
    assert_eq!(closed.headers.get_u32(h::ERROR_CODE).unwrap(), Some(11));
    drop(host_nokey);

    // Both keys: the Dial carries the dialer's key, StateConnected the host's (from the Bind).
    let (mut host, _) = bound_host(
        &lab,
        "host-a",
        "secret",
        Bind {
            public_key: Some(KEY_B),
            ..plain_bind(2)
        },
    )
    .await;
    // The keyless host's channel is gone; wait for its terminator to be removed.
    let mut connected = None;
    for attempt in 0..50 {
        let seq = d
            .send_seq(
                Connect {
                    conn_id: 10 + attempt,
                    token: token.clone(),
                    public_key: Some(KEY_A),
                    ..Connect::default()
                }
                .to_frame(0),
            )
            .await;
        let reply_or_dial = tokio::select! {
            f = host.recv() => (true, f),
            f = d.recv() => (false, f),
        };
        match reply_or_dial {
            (true, dial) => {
                assert_eq!(dial.content_type, ct::DIAL);
                assert_eq!(
                    dial.headers.get_bytes(h::PUBLIC_KEY).unwrap().as_ref(),
                    KEY_A.0
                );
                host.accept_dial(&dial, 2).await;
                let ok = d.expect(ct::STATE_CONNECTED).await;
                assert_eq!(reply_for(&ok), seq);
                connected = Some(ok);
                break;
            }
            (false, refused) => {
                assert_eq!(refused.content_type, ct::STATE_CLOSED);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let ok = connected.expect("never reached the keyed host");
    assert_eq!(
        ok.headers.get_bytes(h::PUBLIC_KEY).unwrap().as_ref(),
        KEY_B.0
    );
}

#[tokio::test]
async fn addressable_terminators_follow_the_instance_id_rule() {
    let lab = TestLab::start().await;
    let (mut alpha, _) = bound_host(
        &lab,
        "host-a",
        "plain",
        Bind {
            terminator_identity: Some("alpha".into()),
            ..plain_bind(1)
        },
    )
    .await;
    let (mut d, token) = dialer(&lab, "plain").await;
    // Only an addressable terminator exists: a plain dial finds none.
    d.send_connect(1, token.clone()).await;
    let closed = d.expect(ct::STATE_CLOSED).await;
    assert_eq!(
        closed.body.as_ref(),
        format!(
            "service {} has no terminators for instanceId ",
            service_id("plain")
        )
        .as_bytes()
    );

    let (mut plain, _) = bound_host(&lab, "host-b", "plain", plain_bind(1)).await;
    for (conn, instance, expect_alpha) in [(2, Some("alpha"), true), (3, None, false)] {
        d.send_seq(
            Connect {
                conn_id: conn,
                token: token.clone(),
                terminator_identity: instance.map(str::to_owned),
                ..Connect::default()
            }
            .to_frame(0),
        )
        .await;
        let (host, other) = if expect_alpha {
            (&mut alpha, &mut plain)
        } else {
            (&mut plain, &mut alpha)
        };
        let dial = host.expect(ct::DIAL).await;
        other.expect_silence(Duration::from_millis(100)).await;
        host.send_seq(
            DialFailed {
                bind_conn_id: 1,
                reason: Bytes::from_static(b"test"),
            }
            .to_frame(0)
            .replying_to(dial.sequence),
        )
        .await;
        d.expect(ct::STATE_CLOSED).await;
    }
    d.send_seq(
        Connect {
            conn_id: 4,
            token,
            terminator_identity: Some("beta".into()),
            ..Connect::default()
        }
        .to_frame(0),
    )
    .await;
    let closed = d.expect(ct::STATE_CLOSED).await;
    assert_eq!(
        closed.body.as_ref(),
        format!(
            "service {} has no terminators for instanceId beta",
            service_id("plain")
        )
        .as_bytes()
    );

    // host-b may not take over "alpha": confirmed, then refused with code 13.
    let (mut thief, api) = lab.channel("host-b").await;
    let bind_token = lab.session(&api, "plain", PolicyType::Bind);
    let seq = thief
        .send_seq(
            Bind {
                conn_id: 5,
                token: Bytes::from(bind_token),
                terminator_identity: Some("alpha".into()),
                router_provided_conn_id: true,
                ..Bind::default()
            }
            .to_frame(0),
        )
        .await;
    assert_eq!(reply_for(&thief.expect(ct::STATE_CONNECTED).await), seq);
    let refused = thief.expect(ct::STATE_CLOSED).await;
    assert_eq!(conn_id(&refused), 5);
    assert!(refused.reply_for().unwrap().is_none(), "unsolicited");
    assert_eq!(refused.headers.get_u32(h::ERROR_CODE).unwrap(), Some(13));
    assert!(refused
        .body
        .ends_with(b"with shared identity alpha belongs to different identity"));
}

#[tokio::test]
async fn precedence_and_update_bind_steer_dials() {
    let lab = TestLab::start().await;
    let (mut cheap, cheap_token) = bound_host(
        &lab,
        "host-a",
        "plain",
        Bind {
            cost: Some(10),
            ..plain_bind(1)
        },
    )
    .await;
    let (mut dear, _) = bound_host(
        &lab,
        "host-b",
        "plain",
        Bind {
            cost: Some(1000),
            ..plain_bind(1)
        },
    )
    .await;
    let (mut d, token) = dialer(&lab, "plain").await;
    let connect = |conn_id: u32| {
        Connect {
            conn_id,
            token: token.clone(),
            ..Connect::default()
        }
        .to_frame(0)
    };
    d.send_seq(connect(1)).await;
    let dial = cheap.expect(ct::DIAL).await;
    dear.expect_silence(Duration::from_millis(100)).await;
    cheap
        .send_seq(
            DialFailed {
                bind_conn_id: 1,
                reason: Bytes::from_static(b"x"),
            }
            .to_frame(0)
            .replying_to(dial.sequence),
        )
        .await;
    d.expect(ct::STATE_CLOSED).await;
    // Mark the cheap one failed: the dear one wins now. No reply to UpdateBind.
    cheap
        .send_seq(
            UpdateBind {
                conn_id: 1,
                token: cheap_token,
                cost: None,
                precedence: Some(dark_listener::wire::consts::Precedence::Failed),
            }
            .to_frame(0),
        )
        .await;
    cheap.expect_silence(Duration::from_millis(100)).await;
    d.send_seq(connect(2)).await;
    dear.expect(ct::DIAL).await;
}

#[tokio::test]
async fn inspect_keeps_confirmed_binds_and_drops_denied_ones() {
    let lab = TestLab::start_with(RouterOptions {
        inspect_interval: Duration::from_millis(300),
        inspect_attempts: 2,
        ..RouterOptions::default()
    })
    .await;
    let (mut host, api) = lab.channel("host-a").await;
    let token = Bytes::from(lab.session(&api, "plain", PolicyType::Bind));
    for (bind_id, answer) in [
        (1u32, Some(ConnType::Bind)),
        (2, Some(ConnType::Dial)),
        (3, None),
    ] {
        let seq = host
            .send_seq(
                Bind {
                    conn_id: bind_id,
                    token: token.clone(),
                    router_provided_conn_id: true,
                    supports_inspect: true,
                    supports_bind_success: true,
                    ..Bind::default()
                }
                .to_frame(0),
            )
            .await;
        assert_eq!(reply_for(&host.expect(ct::STATE_CONNECTED).await), seq);
        assert_eq!(conn_id(&host.expect(ct::BIND_SUCCESS).await), bind_id);
        let inspect = host.expect(ct::CONN_INSPECT_REQUEST).await;
        assert_eq!(conn_id(&inspect), bind_id);
        match answer {
            Some(conn_type) => {
                host.send_seq(
                    ConnInspectResponse {
                        conn_id: bind_id,
                        conn_type,
                        details: Bytes::from_static(b"{}"),
                    }
                    .to_frame(0)
                    .replying_to(inspect.sequence),
                )
                .await;
                if conn_type != ConnType::Bind {
                    let closed = host.expect(ct::STATE_CLOSED).await;
                    assert_eq!(conn_id(&closed), bind_id);
                } else {
                    host.expect_silence(Duration::from_millis(500)).await;
                }
            }
            None => {
                // Unanswered: re-sent once, then dropped.
                assert_eq!(
                    conn_id(&host.expect(ct::CONN_INSPECT_REQUEST).await),
                    bind_id
                );
                let closed = host.expect(ct::STATE_CLOSED).await;
                assert_eq!(conn_id(&closed), bind_id);
                assert_eq!(closed.body.as_ref(), b"post-create inspect timed out");
            }
        }
    }
    // Only bind 1 is left: every dial lands there.
    let (mut d, dial_token) = dialer(&lab, "plain").await;
    for conn in 1..=3 {
        d.send_connect(conn, dial_token.clone()).await;
        let dial = host.expect(ct::DIAL).await;
        assert_eq!(conn_id(&dial), 1);
        host.send_seq(
            DialFailed {
                bind_conn_id: 1,
                reason: Bytes::from_static(b"x"),
            }
            .to_frame(0)
            .replying_to(dial.sequence),
        )
        .await;
        d.expect(ct::STATE_CLOSED).await;
    }
}

#[tokio::test]
async fn unbind_removes_the_terminator_without_reply() {
    let lab = TestLab::start().await;
    let (mut host, token) = bound_host(&lab, "host-a", "plain", plain_bind(4)).await;
    host.send_seq(
        dark_listener::wire::edge::Unbind {
            conn_id: 4,
            token,
            listener_id: None,
        }
        .to_frame(0),
    )
    .await;
    host.expect_silence(Duration::from_millis(200)).await;
    let (mut d, dial_token) = dialer(&lab, "plain").await;
    d.send_connect(1, dial_token).await;
    let closed = d.expect(ct::STATE_CLOSED).await;
    assert!(closed.body.ends_with(b"has no terminators"));
}

#[tokio::test]
async fn a_malformed_frame_closes_only_its_channel() {
    let lab = TestLab::start().await;
    let (mut bad, _) = lab.channel("dialer").await;
    let (mut good, _) = lab.channel("host-a").await;
    // Header section of 3 bytes: too short for one entry.
    bad.send_bytes(&hex(
        "03 06 09 0c 6e ed 00 00 01 00 00 00 03 00 00 00 00 00 00 00 01 02 03",
    ))
    .await;
    bad.expect_closed("the bad channel").await;
    // Bad magic in the middle of a stream, on another fresh channel.
    let (mut bad2, _) = lab.channel("dialer").await;
    bad2.send_bytes(&hex(
        "00 11 22 33 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
    ))
    .await;
    bad2.expect_closed("the second bad channel").await;
    assert_probe_answered(&mut good, 5).await;
}

#[tokio::test]
async fn golden_connect_bytes_are_understood() {
    // §1.1 worked example: Connect, seq 5, header 1000 = 1, body "tok" (an unknown token).
    let lab = TestLab::start().await;
    let (mut d, _) = lab.channel("dialer").await;
    d.send_bytes(&hex(
        "03 06 09 0c 6f ed 00 00 05 00 00 00 0c 00 00 00 03 00 00 00 \
         e8 03 00 00 04 00 00 00 01 00 00 00 74 6f 6b",
    ))
    .await;
    let closed = d.expect(ct::STATE_CLOSED).await;
    assert_eq!(reply_for(&closed), 5);
    assert_eq!(conn_id(&closed), 1);
    assert_eq!(closed.body.as_ref(), b"invalid session");
}

#[tokio::test]
async fn silent_and_oversized_hellos_are_cut_off() {
    let lab = TestLab::start_with(RouterOptions {
        hello_timeout: Duration::from_millis(300),
        ..RouterOptions::default()
    })
    .await;
    // Nothing sent: closed after the hello timeout, without any frame.
    let (tls, _) = lab.login("dialer");
    let mut silent = RawChannel::connect(lab.running.router_addr(), tls.clone()).await;
    let started = std::time::Instant::now();
    silent.expect_closed("the channel").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // A hello announcing 20000 header bytes (limit 16384): closed without an answer.
    let mut big = RawChannel::connect(lab.running.router_addr(), tls).await;
    big.send_bytes(&hex(
        "03 06 09 0c 00 00 00 00 ff ff ff ff 20 4e 00 00 00 00 00 00",
    ))
    .await;
    big.expect_closed("the channel").await;
}

#[tokio::test]
async fn tls12_clients_are_served() {
    let lab = TestLab::start().await;
    let state = lab.lab.state();
    let (cert, key) = state.issue_client_cert("dialer").unwrap();
    let api = state
        .authenticate(Some(&cert.cert_der), Vec::new(), "127.0.0.1".into())
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            state.pki().ca_der().to_vec(),
        ))
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![rustls::pki_types::CertificateDer::from(
                cert.cert_der.clone(),
            )],
            rustls_pemfile::private_key(&mut key.as_bytes())
                .unwrap()
                .unwrap(),
        )
        .unwrap();
    let mut ch = RawChannel::connect(lab.running.router_addr(), std::sync::Arc::new(config)).await;
    assert_eq!(
        ch.stream.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert!(ch.stream.get_ref().1.alpn_protocol().is_none(), "no ALPN");
    ch.send(
        dark_listener::wire::edge::Hello {
            session_token: Bytes::from(api.token),
            ..Default::default()
        }
        .to_frame(1),
    )
    .await;
    let ack = ch.expect(ct::RESULT).await;
    assert_eq!(
        reply_for(&ack),
        1,
        "ReplyFor follows the hello's own sequence"
    );
    assert_probe_answered(&mut ch, 3).await;
}

#[tokio::test]
async fn bad_dial_success_bodies_fail_the_dial_on_both_sides() {
    let lab = TestLab::start().await;
    let (mut host, _) = bound_host(&lab, "host-a", "plain", plain_bind(1)).await;
    let (mut d, token) = dialer(&lab, "plain").await;
    let mut connect = Connect {
        conn_id: 6,
        token,
        ..Connect::default()
    }
    .to_frame(0);
    connect.headers.put_bool(h::ROUTER_PROVIDED_CONN_ID, true);
    let seq = d.send_seq(connect.clone()).await;
    let dial = host.expect(ct::DIAL).await;
    let id = router_provided_id(&dial);
    let mut bad = Frame::new(ct::DIAL_SUCCESS, 0, Bytes::from_static(&[1, 2, 3]));
    bad.headers.put_u32(h::CONN_ID, 1);
    bad.set_reply_for(dial.sequence);
    host.send_seq(bad).await;
    let closed = host.expect(ct::STATE_CLOSED).await;
    assert_eq!(conn_id(&closed), id);
    let refused = d.expect(ct::STATE_CLOSED).await;
    assert_eq!(reply_for(&refused), seq);
    assert!(refused.body.starts_with(b"failed to establish connection"));

    // Done right, and the Connect asked for 1012: StateConnected confirms it.
    let seq = d
        .send_seq({
            let mut c = connect;
            c.headers.put_u32(h::CONN_ID, 7);
            c
        })
        .await;
    host.answer_dial(1).await;
    let ok = d.expect(ct::STATE_CONNECTED).await;
    assert_eq!(reply_for(&ok), seq);
    assert_eq!(conn_id(&ok), 7);
    assert_eq!(
        ok.headers.get_bool(h::ROUTER_PROVIDED_CONN_ID).unwrap(),
        Some(true)
    );
}

#[tokio::test]
async fn conn_ids_in_use_and_bind_limits_are_refused() {
    let lab = TestLab::start_with(RouterOptions {
        max_binds_per_channel: 2,
        ..RouterOptions::default()
    })
    .await;
    let (mut host, api) = lab.channel("host-a").await;
    let token = Bytes::from(lab.session(&api, "plain", PolicyType::Bind));
    for bind_id in [1, 2, 2, 3] {
        let seq = host
            .send_seq(
                Bind {
                    conn_id: bind_id,
                    token: token.clone(),
                    router_provided_conn_id: true,
                    ..Bind::default()
                }
                .to_frame(0),
            )
            .await;
        let reply = host.recv().await;
        assert_eq!(reply_for(&reply), seq);
        if bind_id == 3 {
            assert_eq!(reply.content_type, ct::STATE_CLOSED);
            assert_eq!(
                reply.body.as_ref(),
                b"too many binds on this channel (2 allowed)"
            );
        } else {
            // A re-bind of conn id 2 replaces its terminator and stays within the limit.
            assert_eq!(reply.content_type, ct::STATE_CONNECTED, "{reply:?}");
        }
    }
    let (mut d, dial_token) = dialer(&lab, "plain").await;
    let connect = Connect {
        conn_id: 9,
        token: dial_token,
        ..Connect::default()
    }
    .to_frame(0);
    d.send_seq(connect.clone()).await;
    let _dial = host.expect(ct::DIAL).await;
    // Same conn id again while the first dial is pending.
    let seq = d.send_seq(connect).await;
    let refused = d.expect(ct::STATE_CLOSED).await;
    assert_eq!(reply_for(&refused), seq);
    assert_eq!(
        refused.body.as_ref(),
        b"conn id 9 is already in use on this channel"
    );
}

#[tokio::test]
async fn update_token_is_refused_and_the_channel_closed() {
    let lab = TestLab::start().await;
    let (mut ch, _) = lab.channel("dialer").await;
    let seq = ch
        .send_seq(
            dark_listener::wire::edge::UpdateToken {
                token: Bytes::from_static(b"eyJhbGciOiJub25lIn0.e30."),
            }
            .to_frame(0),
        )
        .await;
    let reply = ch.expect(ct::UPDATE_TOKEN_FAILURE).await;
    assert_eq!(reply_for(&reply), seq);
    assert!(!reply.body.is_empty());
    ch.expect_closed("the channel").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialer_that_stops_reading_is_closed_and_its_host_told() {
    // Bounded by frame count.
    stalled_dialer_is_cut_off(RouterOptions {
        outbound_queue_frames: 4,
        stall_timeout: Duration::from_millis(500),
        ..RouterOptions::default()
    })
    .await;
    // Bounded by bytes: a frame budget that alone would hold the whole transfer.
    stalled_dialer_is_cut_off(RouterOptions {
        outbound_queue_frames: 100_000,
        outbound_queue_bytes: 1024 * 1024,
        stall_timeout: Duration::from_millis(500),
        ..RouterOptions::default()
    })
    .await;
}

async fn stalled_dialer_is_cut_off(options: RouterOptions) {
    let lab = TestLab::start_with(options).await;
    let (mut host, _) = bound_host(&lab, "host-a", "plain", plain_bind(1)).await;
    let (mut d, token) = dialer(&lab, "plain").await;
    d.send_connect(1, token).await;
    let id = host.answer_dial(1).await;
    d.expect(ct::STATE_CONNECTED).await;
    // The dialer reads nothing from now on. 32 MiB is far more than the socket buffers and the
    // outbound queue hold, so the router's relay stalls, closes the dialer's channel after
    // 500 ms, and the host's writes flow again (into a closed conn).
    let chunk = Bytes::from(vec![1u8; 256 * 1024]);
    let sent = tokio::time::timeout(Duration::from_secs(60), async {
        for _ in 0..128 {
            host.send_data(id, chunk.clone()).await;
        }
    })
    .await;
    assert!(
        sent.is_ok(),
        "the host stayed blocked: the stalled peer was never cut off"
    );
    let closed = host.expect(ct::STATE_CLOSED).await;
    assert_eq!(conn_id(&closed), id);
    // The dialer's channel is gone: after what was buffered, the stream ends.
    let mut frames = 0;
    loop {
        match d.try_recv(STEP).await {
            Ok(_) => frames += 1,
            Err(ReadEnd::Closed) | Err(ReadEnd::Error(_)) => break,
            Err(ReadEnd::Timeout) => panic!("the stalled dialer's channel stayed open"),
        }
        assert!(frames < 200, "more frames than the host sent");
    }
    // The host's channel is unaffected.
    assert_probe_answered(&mut host, 9).await;
}

/// The hello reply says what a 2.0.3 router's says (openziti/ziti v2.0.3
/// `router/xgress_edge/factory.go`): its version, BindSuccess support and posture-check support
/// (SDKs with legacy API sessions still send posture data to the controller).
#[tokio::test]
async fn the_hello_reply_advertises_what_a_2_0_router_does() {
    let lab = TestLab::start().await;
    let (tls, token) = lab.login("host-a");
    let mut ch = RawChannel::connect(lab.running.router_addr(), tls).await;
    let hello = dark_listener::wire::edge::Hello {
        session_token: Bytes::from(token),
        identifier: Bytes::from_static(b"router-test"),
        ..Default::default()
    }
    .to_frame(-1);
    ch.send(hello).await;
    let reply = dark_listener::wire::edge::HelloReply::from_frame(&ch.recv().await).unwrap();
    assert!(reply.success);
    assert!(reply.supports_bind_success);
    assert!(reply.supports_posture_checks);
    assert!(reply.version.is_some() && reply.router_id.is_some());
    // 2.0.x routers send no capability bits (header 1039 is new in 2.1).
    assert!(reply.capabilities.is_none());
}
