//! DarkStream against a scripted router on an in-memory pipe: 64 KiB frames, sealed or
//! not, vectored writes, FIN both ways, StateClosed as EOF, writes after close, channel
//! loss, and what a drained stream keeps of the receive buffer.

use std::io::IoSlice;

use futures_util::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::*;
use crate::channel::StreamEvent;
use crate::context::DialOptions;
use crate::scripted_router::{
    connected_stream, dialer_channel, next_frame, spawn_dial, RouterRead,
};
use crate::wire::consts::flags;
use crate::wire::edge::Connect;
use crate::wire::edge::{PublicKey as WirePublicKey, StateClosed, StateConnected};

/// A stream that has handed out all it received holds no reference to the receive
/// buffer its data was cut from: 1,000 idle streams once pinned ~16 MiB of chunks.
#[tokio::test]
async fn a_drained_stream_holds_no_reference_to_the_receive_chunk() {
    let (channel, _read, _write) = crate::scripted_router::scripted_channel(1 << 20, "me").await;
    let (tx, rx) = mpsc::channel(4);
    let info = StreamInfo {
        service: "svc".into(),
        router: "r".into(),
        conn_id: 7,
        circuit_id: None,
        role: StreamRole::Dialer,
        encrypted: false,
    };
    let mut stream = DarkStream::new(channel, info, rx, None);
    let chunk = Bytes::from(vec![7u8; 16 * 1024]);
    tx.send(StreamEvent::Data(chunk.slice(..100)))
        .await
        .unwrap();
    let mut buf = [0u8; 100];
    stream.read_exact(&mut buf).await.unwrap();
    assert!(
        chunk.is_unique(),
        "the stream still references the 16 KiB chunk after handing out all its bytes"
    );
}

#[tokio::test]
async fn encrypted_writes_leave_as_one_sealed_frame_per_64_kib() {
    let (_channel, mut read, _write, mut stream, host) = connected_stream(true).await;
    assert!(stream.is_encrypted());
    let mut host = host.expect("encrypted dial sends a key");

    // 200 000 bytes: three full 64 KiB payloads and the rest, each sealed whole (a sealed
    // body is 17 bytes over 64 KiB rather than a 64 KiB body plus a 17-byte frame).
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    stream.write_all(&big).await.unwrap();
    let payload = crate::stream::MAX_DATA_PAYLOAD;
    let mut got = Vec::new();
    for want in [payload, payload, payload, 200_000 - 3 * payload] {
        let d = Data::from_frame(&next_frame(&mut read).await).unwrap();
        assert_eq!(d.payload.len(), want + crate::e2ee::SEAL_OVERHEAD);
        got.extend_from_slice(&host.open(d.payload).unwrap().unwrap());
    }
    assert!(got == big, "plaintext differs after opening");
}

#[tokio::test]
async fn vectored_writes_gather_into_one_frame_sealed_or_not() {
    for encrypted in [false, true] {
        let (_channel, mut read, _write, mut stream, mut host) = connected_stream(encrypted).await;
        assert!(stream.is_write_vectored());
        assert_eq!(host.is_some(), encrypted);
        async fn next_plain(read: &mut RouterRead, host: &mut Option<E2eeSession>) -> Vec<u8> {
            let d = Data::from_frame(&next_frame(read).await).unwrap();
            match host {
                Some(h) => h.open(d.payload).unwrap().unwrap().to_vec(),
                None => d.payload.to_vec(),
            }
        }
        // Header block and body as two slices (an empty one in between): one frame.
        let head = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        let body = vec![7u8; 1000];
        let slices = [IoSlice::new(&head), IoSlice::new(&[]), IoSlice::new(&body)];
        let n = stream.write_vectored(&slices).await.unwrap();
        assert_eq!(n, head.len() + body.len());
        assert_eq!(
            next_plain(&mut read, &mut host).await,
            [head.clone(), body].concat()
        );
        // More than one frame carries: the first MAX_DATA_PAYLOAD bytes are taken.
        let big = vec![1u8; crate::stream::MAX_DATA_PAYLOAD];
        let slices = [IoSlice::new(&head), IoSlice::new(&big)];
        let n = stream.write_vectored(&slices).await.unwrap();
        assert_eq!(n, crate::stream::MAX_DATA_PAYLOAD);
        let got = next_plain(&mut read, &mut host).await;
        assert_eq!(got.len(), n);
        assert_eq!(&got[..head.len()], &head[..]);
        assert!(got[head.len()..].iter().all(|&b| b == 1));
    }
}

#[tokio::test]
async fn stream_frames_writes_and_honours_fin_and_close() {
    let (channel, mut read, mut write) = dialer_channel().await;
    let dial = spawn_dial(&channel, false, DialOptions::default());
    let connect_frame = next_frame(&mut read).await;
    let conn_id = Connect::from_frame(&connect_frame).unwrap().conn_id;
    let connected = StateConnected {
        conn_id,
        circuit_id: Some("circ-1".into()),
        public_key: Some(WirePublicKey([9; 32])),
        ..StateConnected::default()
    }
    .to_frame(1)
    .replying_to(connect_frame.sequence);
    // Host data may follow StateConnected at once: it must not be lost.
    let early = Data {
        conn_id,
        payload: Bytes::from_static(b"early"),
        ..Data::default()
    }
    .to_frame(2);
    write.send(&connected).await.unwrap();
    write.send(&early).await.unwrap();
    let mut stream = dial.await.unwrap().unwrap();
    assert!(!stream.is_encrypted());
    assert_eq!(stream.info().circuit_id.as_deref(), Some("circ-1"));

    // A 200 000-byte write leaves as frames of at most 64 KiB, in order.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    stream.write_all(&big).await.unwrap();
    let mut got = Vec::new();
    while got.len() < big.len() {
        let d = Data::from_frame(&next_frame(&mut read).await).unwrap();
        assert_eq!(d.conn_id, conn_id);
        assert!(d.payload.len() <= crate::stream::MAX_DATA_PAYLOAD);
        got.extend_from_slice(&d.payload);
    }
    assert!(got == big);
    // shutdown = FIN: empty, flag 1.
    stream.shutdown().await.unwrap();
    let fin = Data::from_frame(&next_frame(&mut read).await).unwrap();
    assert_eq!(fin.flags, flags::FIN);
    assert!(fin.payload.is_empty());
    assert!(stream.write_all(b"x").await.is_err(), "write after FIN");

    // Peer FIN: EOF after buffered data.
    let more = Data {
        conn_id,
        payload: Bytes::from_static(b" and late"),
        ..Data::default()
    }
    .to_frame(3);
    let peer_fin = Data {
        conn_id,
        flags: flags::FIN,
        ..Data::default()
    }
    .to_frame(4);
    write.send(&more).await.unwrap();
    write.send(&peer_fin).await.unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    assert_eq!(text, "early and late");
    assert_eq!(stream.read(&mut [0u8; 4]).await.unwrap(), 0);

    // Drop = StateClosed for the conn, and the id is freed.
    drop(stream);
    let closed = StateClosed::from_frame(&next_frame(&mut read).await).unwrap();
    assert_eq!(closed.conn_id, conn_id);
    assert_eq!(channel.conn_count(), 0);
}

#[tokio::test]
async fn peer_close_is_eof_and_channel_loss_is_an_error() {
    let (channel, mut read, mut write) = dialer_channel().await;
    let mut streams = Vec::new();
    for seq in 0..2 {
        let dial = spawn_dial(&channel, false, DialOptions::default());
        let connect_frame = next_frame(&mut read).await;
        let conn_id = Connect::from_frame(&connect_frame).unwrap().conn_id;
        let connected = StateConnected {
            conn_id,
            ..StateConnected::default()
        }
        .to_frame(10 + seq)
        .replying_to(connect_frame.sequence);
        write.send(&connected).await.unwrap();
        streams.push((conn_id, dial.await.unwrap().unwrap()));
    }
    let (first_id, mut first) = streams.remove(0);
    let (_, mut second) = streams.remove(0);
    let close = StateClosed {
        conn_id: first_id,
        reason: Bytes::from_static(b"circuit ended"),
        ..StateClosed::default()
    }
    .to_frame(20);
    write.send(&close).await.unwrap();
    assert_eq!(first.read(&mut [0u8; 8]).await.unwrap(), 0);
    let err = first.write_all(b"x").await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    // The router goes away: the other stream fails instead of reading EOF.
    drop(write);
    drop(read);
    let err = second.read(&mut [0u8; 8]).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionAborted);
    assert!(!channel.is_open());
}
