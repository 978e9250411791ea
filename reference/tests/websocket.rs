//! `http.WebSocket` (the reference's [`WebSocket`]) on real sockets: raw
//! tokio servers on 127.0.0.1 that answer the handshake and play crafted
//! frames, and one WebSocket server in Node (`support/ws-echo-server.mjs`)
//! when Node is on the PATH. Every wait is bounded by a short timeout.

use std::time::Duration;

use nodehttp::websocket::frame::{encode, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT};
use nodehttp::websocket::handshake::accept_for;
use nodehttp::websocket::{Event, MessageData, ReadyState, WebSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// Generous for loopback; a test that waits this long has failed.
const LIMIT: Duration = Duration::from_secs(5);

mod support;
use support::read_head;

fn key_of(head: &str) -> String {
    head.lines()
        .find_map(|l| l.strip_prefix("sec-websocket-key: "))
        .unwrap_or_default()
        .to_owned()
}

/// A 101 answer for `head`, with `extra` header lines.
fn upgrade(head: &str, extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{extra}\r\n",
        accept_for(&key_of(head))
    )
    .into_bytes()
}

/// A server frame.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    encode(true, opcode, payload, None)
}

/// Read one client frame: its opcode and unmasked payload; `None` at EOF.
async fn read_frame(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).await.ok()?;
    assert_eq!(h[1] & 0x80, 0x80, "client frames are masked");
    let len = match h[1] & 0x7f {
        126 => u64::from(s.read_u16().await.ok()?),
        127 => s.read_u64().await.ok()?,
        n => u64::from(n),
    };
    let mut key = [0u8; 4];
    s.read_exact(&mut key).await.ok()?;
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload).await.ok()?;
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
    Some((h[0] & 0x0f, payload))
}

/// Whether the client closed its side (EOF or reset) with nothing more.
async fn at_eof(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(timeout(LIMIT, s.read(&mut b)).await, Ok(Ok(0)) | Ok(Err(_)))
}

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, format!("ws://127.0.0.1:{port}"))
}

/// The events until the stream ends, as text.
async fn events(ws: &WebSocket) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(e) = timeout(LIMIT, ws.next_event())
        .await
        .expect("an event in time")
    {
        out.push(match e {
            Event::Open => "open".to_owned(),
            Event::Message(m) => match m.data {
                MessageData::Text(t) => format!("text {t}"),
                MessageData::Blob(b) => format!("blob {b:?}"),
                MessageData::ArrayBuffer(b) => format!("arraybuffer {b:?}"),
            },
            Event::Error(e) => format!("error {} ({:?})", e.message, e.ready_state),
            Event::Close(c) => format!("close {} {} {}", c.code, c.reason, c.was_clean),
        });
    }
    out
}

#[tokio::test]
async fn handshake_messages_and_server_close() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let head = read_head(&mut s).await;
        let mut out = upgrade(&head, "Sec-WebSocket-Protocol: p1\r\n");
        out.extend(frame(OP_TEXT, "héllo".as_bytes()));
        out.extend(frame(OP_BINARY, &[1, 2, 3]));
        out.extend(frame(OP_PING, b"ping!"));
        out.extend(frame(OP_CLOSE, b"\x03\xe8bye"));
        s.write_all(&out).await.unwrap();
        let pong = read_frame(&mut s).await;
        let close = read_frame(&mut s).await;
        drop(s);
        (head, pong, close)
    });
    let ws = WebSocket::new(&format!("{url}/chat?x=1"), &["p1", "p2"]).unwrap();
    assert_eq!(ws.ready_state(), ReadyState::Connecting);
    assert_eq!(ws.url(), format!("{url}/chat?x=1"));
    let seen = events(&ws).await;
    assert_eq!(
        seen,
        vec![
            "open",
            "text héllo",
            "blob [1, 2, 3]",
            "close 1000 bye true"
        ]
    );
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    assert_eq!(ws.protocol(), "p1");
    assert_eq!(ws.extensions(), "");
    let (head, pong, close) = server.await.unwrap();
    let port = url.rsplit(':').next().unwrap();
    let key = key_of(&head);
    assert_eq!(key.len(), 24);
    assert_eq!(
        head.replace(&key, "{key}"),
        format!(
            "GET /chat?x=1 HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-key: {{key}}\r\nsec-websocket-version: 13\r\nsec-websocket-protocol: p1, p2\r\nsec-websocket-extensions: permessage-deflate; client_max_window_bits\r\naccept: */*\r\naccept-language: *\r\nsec-fetch-mode: websocket\r\nuser-agent: node\r\npragma: no-cache\r\ncache-control: no-cache\r\naccept-encoding: gzip, deflate\r\n\r\n"
        )
    );
    assert_eq!(pong, Some((OP_PONG, b"ping!".to_vec())));
    assert_eq!(close, Some((OP_CLOSE, vec![0x03, 0xe8])));
}

#[tokio::test]
async fn client_send_close_and_buffered_amount() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let head = read_head(&mut s).await;
        s.write_all(&upgrade(&head, "")).await.unwrap();
        let mut got = Vec::new();
        loop {
            let (op, payload) = read_frame(&mut s).await.expect("a frame");
            got.push((op, payload.clone()));
            if op == OP_CLOSE {
                s.write_all(&frame(OP_CLOSE, &payload)).await.unwrap();
                break;
            }
            // Echo, as text.
            s.write_all(&frame(OP_TEXT, &payload)).await.unwrap();
        }
        drop(s);
        got
    });
    let ws = WebSocket::new(&url, &[]).unwrap();
    let e = ws.send_text("early").unwrap_err();
    assert_eq!(
        (e.name(), e.message()),
        ("InvalidStateError", "Sent before connected.")
    );
    assert_eq!(
        timeout(LIMIT, ws.next_event()).await.unwrap(),
        Some(Event::Open)
    );
    ws.set_binary_type("arraybuffer");
    assert_eq!(ws.binary_type().as_str(), "arraybuffer");
    ws.set_binary_type("nodebuffer");
    assert_eq!(ws.binary_type().as_str(), "blob");
    ws.send_text("héllo").unwrap();
    ws.send_binary(&[0u8; 70_000]).unwrap();
    assert!(ws.buffered_amount() >= 6);
    let Some(Event::Message(m)) = timeout(LIMIT, ws.next_event()).await.unwrap() else {
        panic!("an echo")
    };
    assert_eq!(m.data, MessageData::Text("héllo".into()));
    assert!(timeout(LIMIT, ws.next_event()).await.unwrap().is_some());
    let e = ws.close(Some(1001), None).unwrap_err();
    assert_eq!(
        (e.name(), e.message()),
        ("InvalidAccessError", "invalid code")
    );
    ws.close(Some(4000), Some("done")).unwrap();
    assert_eq!(ws.ready_state(), ReadyState::Closing);
    assert_eq!(events(&ws).await, vec!["close 4000 done true"]);
    assert_eq!(ws.buffered_amount(), 0);
    let got = server.await.unwrap();
    assert_eq!(got[0], (OP_TEXT, b"h\xc3\xa9llo".to_vec()));
    assert_eq!(got[1], (OP_BINARY, vec![0u8; 70_000]));
    assert_eq!(got[2], (OP_CLOSE, b"\x0f\xa0done".to_vec()));
}

#[tokio::test]
async fn a_failed_handshake_errors_and_never_closes() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        read_head(&mut s).await;
        s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: abc\r\n\r\n")
            .await
            .unwrap();
        // The client closes its side.
        at_eof(&mut s).await
    });
    let ws = WebSocket::new(&url, &[]).unwrap();
    assert_eq!(
        events(&ws).await,
        vec!["error Incorrect hash received in Sec-WebSocket-Accept header. (Connecting)"]
    );
    assert_eq!(ws.ready_state(), ReadyState::Connecting);
    assert!(server.await.unwrap());
    // close() now: one more error, readyState CLOSING for good.
    ws.close(None, None).unwrap();
    assert_eq!(
        events(&ws).await,
        vec!["error Connection was closed before it was established. (Connecting)"]
    );
    assert_eq!(ws.ready_state(), ReadyState::Closing);
}

#[tokio::test]
async fn a_refused_connection_is_a_network_error() {
    let (l, url) = listener().await;
    drop(l);
    let ws = WebSocket::new(&url, &[]).unwrap();
    assert_eq!(
        events(&ws).await,
        vec!["error Received network error or non-101 status code. (Connecting)"]
    );
}

#[tokio::test]
async fn close_while_connecting() {
    let (l, url) = listener().await;
    let ws = WebSocket::new(&url, &[]).unwrap();
    ws.close(Some(1000), Some("x")).unwrap();
    assert_eq!(ws.ready_state(), ReadyState::Closing);
    // The first error is dispatched before close() returns; the aborted
    // handshake's network error only later, as in Node.
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let first = ws.poll_next_event(&mut cx);
    assert!(
        matches!(first, std::task::Poll::Ready(Some(Event::Error(_)))),
        "{first:?}"
    );
    assert!(ws.poll_next_event(&mut cx).is_pending());
    assert_eq!(
        events(&ws).await,
        vec!["error Received network error or non-101 status code. (Closing)"]
    );
    drop(l);
}

#[tokio::test]
async fn constructor_errors() {
    for (url, protocols, message) in [
        (
            "ftp://x/",
            &[][..],
            "Expected a ws: or wss: protocol, got ftp:",
        ),
        ("ws://x/#", &[], "Got fragment"),
        ("nope", &[], "TypeError: Invalid URL"),
        (
            "ws://x/",
            &["a", "A"],
            "Invalid Sec-WebSocket-Protocol value",
        ),
    ] {
        let e = WebSocket::new(url, protocols).unwrap_err();
        assert_eq!(
            (e.name(), e.message(), e.code()),
            ("SyntaxError", message, 12)
        );
    }
}

#[tokio::test]
async fn a_bad_frame_fails_and_the_socket_closes() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let head = read_head(&mut s).await;
        let mut out = upgrade(&head, "");
        out.extend(frame(OP_TEXT, b"ok"));
        out.extend(frame(OP_CLOSE, b"\x03\xe7"));
        s.write_all(&out).await.unwrap();
        let answer = read_frame(&mut s).await;
        (answer, at_eof(&mut s).await)
    });
    let ws = WebSocket::new(&url, &[]).unwrap();
    assert_eq!(
        events(&ws).await,
        vec![
            "open",
            "text ok",
            "error Invalid status code (Closing)",
            "close 1006  false"
        ]
    );
    let (answer, eof) = server.await.unwrap();
    assert_eq!(
        answer,
        Some((OP_CLOSE, b"\x03\xeaInvalid status code".to_vec()))
    );
    assert!(eof);
}

#[tokio::test]
async fn the_server_closing_without_a_close_frame_is_1006() {
    let (l, url) = listener().await;
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let head = read_head(&mut s).await;
        let mut out = upgrade(&head, "");
        out.extend(frame(OP_TEXT, b"x"));
        s.write_all(&out).await.unwrap();
        s.shutdown().await.unwrap();
        at_eof(&mut s).await
    });
    let ws = WebSocket::new(&url, &[]).unwrap();
    assert_eq!(
        events(&ws).await,
        vec!["open", "text x", "close 1006  false"]
    );
}

#[tokio::test]
async fn compressed_messages() {
    let (l, url) = listener().await;
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let head = read_head(&mut s).await;
        let mut out = upgrade(&head, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
        let mut hello = frame(OP_TEXT, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        hello[0] |= 0x40;
        out.extend(hello);
        out.extend(frame(OP_CLOSE, b""));
        s.write_all(&out).await.unwrap();
        read_frame(&mut s).await;
    });
    let ws = WebSocket::new(&url, &[]).unwrap();
    assert_eq!(
        events(&ws).await,
        vec!["open", "text Hello", "close 1005  true"]
    );
    assert_eq!(ws.extensions(), "permessage-deflate");
}

/// Interop with a WebSocket server written on `node:http` (`'upgrade'`
/// and hand-made frames): it echoes each message with its type, then
/// closes when told to. Skipped without `node` on the PATH.
#[tokio::test]
async fn against_a_node_server() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/ws-echo-server.mjs"
    );
    let Ok(mut child) = tokio::process::Command::new("node")
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    else {
        eprintln!("node not found: skipped");
        return;
    };
    let mut out = child.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\n") {
        let n = timeout(LIMIT, out.read(&mut b)).await.unwrap().unwrap();
        assert!(n > 0, "the server printed no port");
        line.push(b[0]);
    }
    let port = String::from_utf8_lossy(&line).trim().to_owned();
    let ws = WebSocket::new(&format!("ws://127.0.0.1:{port}/echo"), &["echo"]).unwrap();
    assert_eq!(
        timeout(LIMIT, ws.next_event()).await.unwrap(),
        Some(Event::Open)
    );
    assert_eq!(ws.protocol(), "echo");
    let big = "é".repeat(40_000);
    ws.send_text("hi").unwrap();
    ws.send_binary(&[9, 8, 7]).unwrap();
    ws.send_text(&big).unwrap();
    ws.send_text("close").unwrap();
    assert_eq!(
        events(&ws).await,
        vec![
            "text hi".to_owned(),
            "blob [9, 8, 7]".to_owned(),
            format!("text {big}"),
            "close 4001 asked true".to_owned(),
        ]
    );
    let _ = child.kill().await;
}
