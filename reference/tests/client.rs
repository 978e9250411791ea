//! The reference client on real sockets (127.0.0.1, a Unix socket), with
//! raw servers written here; timeouts under tokio's paused clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nodehttp::client::{
    self, AbortController, Agent, AgentChoice, AgentOptions, ClientEvent, ClientRequest,
    MessageEvent, RequestOptions, Scheduling,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod support;
use support::read_head;

/// The events of `req` until `'close'`, named; a response's body is read
/// and shown as `body:...` after `response`.
async fn events(req: &ClientRequest) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(e) = req.next_event().await {
        match e {
            ClientEvent::Socket { reused } => out.push(format!("socket {reused}")),
            ClientEvent::Response(res) => {
                out.push(format!("response {}", res.status_code()));
                let mut body = Vec::new();
                while let Some(c) = res.read().await {
                    body.extend_from_slice(&c);
                }
                out.push(format!("body {}", String::from_utf8_lossy(&body)));
            }
            ClientEvent::Error(e) => out.push(format!("error {}", e.code().unwrap_or("-"))),
            // 'prefinish' always comes just before 'finish'.
            ClientEvent::Prefinish => {}
            other => out.push(format!("{other:?}").to_lowercase()),
        }
    }
    out
}

async fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

fn keep_alive_agent(opts: AgentOptions) -> Agent {
    Agent::new(AgentOptions {
        keep_alive: true,
        ..opts
    })
    .unwrap()
}

#[tokio::test]
async fn keep_alive_agent_reuses_the_connection() {
    let (l, port) = listener().await;
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        count.fetch_add(1, Ordering::SeqCst);
        for body in ["one", "two"] {
            let head = read_head(&mut s).await;
            assert!(head.contains("Connection: keep-alive\r\n"), "{head}");
            let answer = format!("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{body}");
            s.write_all(answer.as_bytes()).await.unwrap();
        }
        let _ = read_head(&mut s).await;
    });
    let agent = keep_alive_agent(AgentOptions::default());
    let name = format!("127.0.0.1:{port}:");
    let r1 = client::get(RequestOptions::new("127.0.0.1", port, "/1").agent(&agent)).unwrap();
    assert_eq!(
        events(&r1).await,
        [
            "socket false",
            "finish",
            "response 200",
            "body one",
            "close"
        ]
    );
    tokio::task::yield_now().await;
    assert_eq!(agent.free_sockets(), [(name.clone(), 1)]);
    assert!(agent.sockets().is_empty());
    let r2 = client::get(RequestOptions::new("127.0.0.1", port, "/2").agent(&agent)).unwrap();
    assert_eq!(
        events(&r2).await,
        ["socket true", "finish", "response 200", "body two", "close"]
    );
    assert!(r2.reused_socket());
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    agent.destroy();
}

#[tokio::test]
async fn a_pooled_socket_closed_by_the_server_is_dropped() {
    let (l, port) = listener().await;
    tokio::spawn(async move {
        // First connection: answer, then close while it is idle.
        let (mut s, _) = l.accept().await.unwrap();
        read_head(&mut s).await;
        s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(s);
        let (mut s, _) = l.accept().await.unwrap();
        read_head(&mut s).await;
        s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .await
            .unwrap();
        let _ = read_head(&mut s).await;
    });
    let agent = keep_alive_agent(AgentOptions::default());
    let r1 = client::get(RequestOptions::new("127.0.0.1", port, "/").agent(&agent)).unwrap();
    events(&r1).await;
    // Wait until the agent saw the close.
    for _ in 0..200 {
        if agent.free_sockets().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(agent.free_sockets().is_empty());
    let r2 = client::get(RequestOptions::new("127.0.0.1", port, "/").agent(&agent)).unwrap();
    assert_eq!(events(&r2).await[0], "socket false");
    agent.destroy();
}

#[tokio::test]
async fn max_sockets_queues_and_hands_the_socket_over() {
    let (l, port) = listener().await;
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        for _ in 0..2 {
            read_head(&mut s).await;
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
                .await
                .unwrap();
        }
        let _ = read_head(&mut s).await;
    });
    let agent = keep_alive_agent(AgentOptions {
        max_sockets: Some(1),
        ..AgentOptions::default()
    });
    let name = format!("127.0.0.1:{port}:");
    let r1 = client::get(RequestOptions::new("127.0.0.1", port, "/a").agent(&agent)).unwrap();
    let r2 = client::get(RequestOptions::new("127.0.0.1", port, "/b").agent(&agent)).unwrap();
    assert_eq!(agent.requests(), [(name.clone(), 1)]);
    assert_eq!(agent.sockets(), [(name.clone(), 1)]);
    let (e1, e2) = tokio::join!(events(&r1), events(&r2));
    assert_eq!(e1.last().map(String::as_str), Some("close"));
    // A queued request gets the socket through 'free': not reusedSocket.
    assert_eq!(e2[0], "socket false");
    assert_eq!(e2[3], "body x");
    assert!(agent.requests().is_empty());
    agent.destroy();
}

#[rstest::rstest]
#[case::lifo(Scheduling::Lifo, "/second")]
#[case::fifo(Scheduling::Fifo, "/first")]
#[tokio::test]
async fn scheduling_picks_the_free_socket(#[case] scheduling: Scheduling, #[case] expect: &str) {
    let (l, port) = listener().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        for _ in 0..2 {
            let (mut s, _) = l.accept().await.unwrap();
            let tx = tx.clone();
            tokio::spawn(async move {
                let first = read_head(&mut s).await;
                let path = first.split(' ').nth(1).unwrap_or("").to_owned();
                s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                    .await
                    .unwrap();
                // The next request on this connection says which it was.
                if !read_head(&mut s).await.is_empty() {
                    let _ = tx.send(path);
                    s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                        .await
                        .unwrap();
                }
                let _ = read_head(&mut s).await;
            });
        }
    });
    let agent = keep_alive_agent(AgentOptions {
        scheduling,
        ..AgentOptions::default()
    });
    let a = client::get(RequestOptions::new("127.0.0.1", port, "/first").agent(&agent)).unwrap();
    let b = client::get(RequestOptions::new("127.0.0.1", port, "/second").agent(&agent)).unwrap();
    // '/first' is freed first.
    events(&a).await;
    events(&b).await;
    tokio::task::yield_now().await;
    let c = client::get(RequestOptions::new("127.0.0.1", port, "/third").agent(&agent)).unwrap();
    assert_eq!(events(&c).await[0], "socket true");
    assert_eq!(rx.recv().await.as_deref(), Some(expect));
    agent.destroy();
}

#[tokio::test]
async fn connection_refused_is_an_error_then_close() {
    let (l, port) = listener().await;
    drop(l);
    let req = client::get(RequestOptions::new("127.0.0.1", port, "/")).unwrap();
    let mut out = Vec::new();
    while let Some(e) = req.next_event().await {
        if let ClientEvent::Error(e) = &e {
            assert_eq!(
                e.message(),
                format!("connect ECONNREFUSED 127.0.0.1:{port}")
            );
        }
        out.push(format!("{e:?}"));
    }
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(out[1].starts_with("Error(Some(\"ECONNREFUSED\")"));
}

#[tokio::test(start_paused = true)]
async fn the_timeout_option_emits_timeout_without_aborting() {
    let (l, port) = listener().await;
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        read_head(&mut s).await;
        tokio::time::sleep(Duration::from_secs(3600)).await;
        drop(s);
    });
    let req = client::get(RequestOptions {
        timeout: Some(Duration::from_millis(100)),
        ..RequestOptions::new("127.0.0.1", port, "/")
    })
    .unwrap();
    let mut seen = Vec::new();
    while let Some(e) = req.next_event().await {
        let timeout = matches!(e, ClientEvent::Timeout);
        seen.push(format!("{e:?}"));
        if timeout {
            assert!(!req.destroyed());
            req.destroy(None);
        }
    }
    assert_eq!(
        seen,
        [
            "Socket { reused: false }",
            "Prefinish",
            "Finish",
            "Timeout",
            "Error(Some(\"ECONNRESET\"), \"socket hang up\")",
            "Close"
        ]
    );
}

#[tokio::test]
async fn abort_signal_destroys_with_abort_err() {
    let (l, port) = listener().await;
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        read_head(&mut s).await;
        let _ = read_head(&mut s).await;
    });
    let controller = AbortController::new();
    let req = client::get(RequestOptions {
        signal: Some(controller.signal()),
        ..RequestOptions::new("127.0.0.1", port, "/")
    })
    .unwrap();
    let mut seen = Vec::new();
    while let Some(e) = req.next_event().await {
        if matches!(e, ClientEvent::Finish) {
            controller.abort();
        }
        seen.push(format!("{e:?}"));
    }
    assert_eq!(
        seen[3],
        "Error(Some(\"ABORT_ERR\"), \"The operation was aborted\")"
    );
    assert_eq!(seen.last().map(String::as_str), Some("Close"));
    assert!(controller.signal().aborted());
}

#[tokio::test]
async fn upgrade_hands_over_the_socket_and_head() {
    let (l, port) = listener().await;
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        read_head(&mut s).await;
        s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhi",
        )
        .await
        .unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).await.unwrap();
        s.write_all(&b).await.unwrap();
    });
    let req = client::request(RequestOptions {
        headers: Some(client::RequestHeaders::Object(vec![
            ("Connection".into(), "Upgrade".into()),
            ("Upgrade".into(), "echo".into()),
        ])),
        ..RequestOptions::new("127.0.0.1", port, "/")
    })
    .unwrap();
    req.end(None).unwrap();
    let mut socket = None;
    while let Some(e) = req.next_event().await {
        if let ClientEvent::Upgrade {
            res,
            socket: s,
            head,
        } = e
        {
            assert_eq!(res.status_code(), 101);
            assert_eq!(head, b"hi");
            socket = Some(s);
        }
    }
    let mut s = socket.expect("an upgrade");
    s.write_all(b"ping").await.unwrap();
    let mut b = [0u8; 4];
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"ping");
}

#[tokio::test]
async fn bodies_stream_both_ways() {
    const N: usize = 1 << 20;
    let (l, port) = listener().await;
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let head = read_head(&mut s).await;
        assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
        // Read the chunked body until the last chunk.
        let mut body = Vec::new();
        let mut b = vec![0u8; 8192];
        while !body.ends_with(b"0\r\n\r\n") {
            let n = s.read(&mut b).await.unwrap();
            assert!(n > 0);
            body.extend_from_slice(&b[..n]);
        }
        s.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {N}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let chunk = vec![b'z'; 4096];
        for _ in 0..N / 4096 {
            s.write_all(&chunk).await.unwrap();
        }
    });
    let req = client::request(RequestOptions::new("127.0.0.1", port, "/").method("PUT")).unwrap();
    let piece = vec![b'a'; 16 * 1024];
    let mut refused = 0;
    for _ in 0..64 {
        if !req.write(&piece).unwrap() {
            refused += 1;
            req.drained().await;
        }
    }
    req.end(None).unwrap();
    assert!(
        refused > 0,
        "a 1 MiB body cannot fit under the high-water mark"
    );
    let mut total = 0;
    let mut chunks = 0;
    while let Some(e) = req.next_event().await {
        if let ClientEvent::Response(res) = e {
            while let Some(c) = res.read().await {
                total += c.len();
                chunks += 1;
            }
            assert!(res.complete());
        }
    }
    assert_eq!(total, N);
    assert!(chunks > 1);
}

#[tokio::test]
async fn create_connection_and_lookup_hooks() {
    let (l, port) = listener().await;
    tokio::spawn(async move {
        for _ in 0..2 {
            let (mut s, _) = l.accept().await.unwrap();
            let head = read_head(&mut s).await;
            assert!(
                head.starts_with("GET / HTTP/1.1\r\nHost: example.test"),
                "{head}"
            );
            s.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
        }
    });
    let hook: client::CreateConnection = Arc::new(move |host: &str, p: u16| {
        assert_eq!((host, p), ("example.test", 80));
        Box::pin(async move {
            let s = TcpStream::connect(("127.0.0.1", port)).await?;
            Ok(Box::new(s) as client::BoxStream)
        })
    });
    let req = client::get(RequestOptions {
        host: Some("example.test".into()),
        create_connection: Some(hook),
        ..RequestOptions::default()
    })
    .unwrap();
    assert_eq!(events(&req).await[2], "response 204");

    let lookups = Arc::new(AtomicUsize::new(0));
    let seen = lookups.clone();
    let lookup: client::Lookup = Arc::new(move |host: &str, _family| {
        assert_eq!(host, "example.test");
        seen.fetch_add(1, Ordering::SeqCst);
        Ok(vec!["127.0.0.1".parse().unwrap()])
    });
    let req = client::get(RequestOptions {
        host: Some("example.test".into()),
        port: Some(port),
        lookup: Some(lookup),
        agent: AgentChoice::Fresh,
        ..RequestOptions::default()
    })
    .unwrap();
    assert_eq!(events(&req).await[2], "response 204");
    assert_eq!(lookups.load(Ordering::SeqCst), 1);
}

#[cfg(unix)]
#[tokio::test]
async fn socket_path_uses_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("nodehttp-client-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("s.sock");
    let _ = std::fs::remove_file(&path);
    let l = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).await.unwrap_or(0) == 1 {
            head.push(b[0]);
        }
        assert!(head.starts_with(b"GET /u HTTP/1.1\r\nHost: localhost\r\n"));
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nunix")
            .await
            .unwrap();
    });
    let agent = keep_alive_agent(AgentOptions::default());
    let req = client::get(RequestOptions {
        path: Some("/u".into()),
        socket_path: Some(path.to_string_lossy().into_owned()),
        agent: AgentChoice::Agent(agent.clone()),
        ..RequestOptions::default()
    })
    .unwrap();
    let ev = events(&req).await;
    assert_eq!(ev[3], "body unix");
    let name = agent.get_name(&client::NameOptions {
        host: Some("localhost".into()),
        port: Some(80),
        socket_path: Some(path.to_string_lossy().into_owned()),
        ..Default::default()
    });
    assert_eq!(name, format!("localhost:80::{}", path.display()));
    agent.destroy();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn get_name_follows_node() {
    let agent = Agent::new(AgentOptions::default()).unwrap();
    let name = |host: Option<&str>, port, local: Option<&str>, family| {
        agent.get_name(&client::NameOptions {
            host: host.map(str::to_owned),
            port,
            local_address: local.map(|l| l.parse().unwrap()),
            family,
            socket_path: None,
        })
    };
    assert_eq!(name(None, None, None, None), "localhost::");
    assert_eq!(name(Some("a"), Some(80), None, Some(4)), "a:80::4");
    assert_eq!(
        name(Some("a"), Some(1), Some("127.0.0.2"), Some(5)),
        "a:1:127.0.0.2"
    );
    assert_eq!(
        Agent::new(AgentOptions {
            max_total_sockets: Some(0),
            ..AgentOptions::default()
        })
        .unwrap_err()
        .code(),
        "ERR_OUT_OF_RANGE"
    );
    assert!(client::global_agent().keep_alive());
    assert_eq!(
        client::global_agent().options().timeout,
        Some(Duration::from_millis(5000))
    );
}

#[tokio::test]
async fn response_events_follow_nodes_order_on_premature_close() {
    let (l, port) = listener().await;
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        read_head(&mut s).await;
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab")
            .await
            .unwrap();
    });
    let req = client::get(RequestOptions::new("127.0.0.1", port, "/")).unwrap();
    let mut res = None;
    let mut seen = Vec::new();
    while let Some((seq, e)) = req.next_event_ordered().await {
        if let ClientEvent::Response(r) = &e {
            res = Some(r.clone());
        }
        seen.push((seq, format!("{e:?}")));
    }
    let res = res.expect("a response");
    while let Some(e) = std::future::poll_fn(|cx| res.poll_next_event(cx)).await {
        seen.push((e.0, format!("res {:?}", e.1)));
    }
    seen.sort();
    let names: Vec<&str> = seen.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        names,
        [
            "Socket { reused: false }",
            "Prefinish",
            "Finish",
            "Response(200)",
            "res Data([97, 98])",
            "res Aborted",
            "Close",
            "res Error(ClientError { code: Some(\"ECONNRESET\"), name: \"Error\", message: \"aborted\" })",
            "res Close",
        ]
    );
    assert!(res.aborted() && !res.complete());
    let _ = MessageEvent::End;
}
