//! The listener's edge: the connection limit, the header and body deadlines, and a 413 that
//! reaches a client sending its whole body. Raw sockets on loopback, so each test says exactly
//! what the client sends and when.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::harness::{ADMIN_KEY, TestServer, instant_sim, one_endpoint};
use crate::process::Serve;
use crate::scim::scim_token;

/// Only reached when the server fails to act; the tests never wait on it otherwise.
const PATIENCE: Duration = Duration::from_secs(60);

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: fabrique\r\n\r\n";

#[tokio::test]
async fn a_body_past_the_limit_gets_its_413_after_the_client_sent_it_whole() {
    let t = TestServer::start(vec![instant_sim()], &one_endpoint("")).await;
    let body_len = 20 * 1024 * 1024;
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: fabrique\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {body_len}\r\n\r\n",
        t.key
    );
    let (mut reader, mut writer) = TcpStream::connect(t.server.addr)
        .await
        .unwrap()
        .into_split();
    let sending = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..body_len / chunk.len() {
            writer.write_all(&chunk).await?;
        }
        writer.shutdown().await
    });
    let mut response = Vec::new();
    let read = timeout(PATIENCE, reader.read_to_end(&mut response))
        .await
        .expect("the server answers");
    sending
        .await
        .unwrap()
        .expect("the whole body is sent, no reset");
    read.expect("the answer is read to its end, no reset");
    let (status, body) = parse_response(&response);
    assert_eq!(status, 413, "{body}");
    assert_eq!(error_code(&body), "request_too_large");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_408() {
    let config = one_endpoint("[server]\nbody_read_timeout_secs = 1\n");
    let t = TestServer::start(vec![instant_sim()], &config).await;
    let (_, scim) = scim_token(&t, None).await;
    for (path, key) in [
        ("/v1/chat/completions", t.key.as_str()),
        ("/admin/v1/users", ADMIN_KEY),
        ("/scim/v2/Users", scim.as_str()),
    ] {
        let mut stream = TcpStream::connect(t.server.addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: fabrique\r\nauthorization: Bearer {key}\r\n\
             content-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"model\": "
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // The rest of the body never comes: the server answers and closes.
        let mut response = Vec::new();
        timeout(PATIENCE, stream.read_to_end(&mut response))
            .await
            .expect("the server gives up on the body")
            .unwrap();
        let (status, body) = parse_response(&response);
        assert_eq!(status, 408, "{path}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        match path.starts_with("/scim/") {
            true => assert_eq!(body["status"], "408", "{body}"),
            false => assert_eq!(body["error"]["code"], "request_timeout", "{body}"),
        }
    }
}

#[tokio::test]
async fn trickled_request_heads_cannot_hold_the_listener() {
    let dir = tempfile::tempdir().unwrap();
    let serve = serve_with(
        dir.path(),
        "[server]\nmax_connections = 4\nheader_read_timeout_secs = 1\n",
    );
    let addr = serve.base.trim_start_matches("http://").to_owned();
    // As many slow clients as the server takes connections, connected first so the listener
    // takes them first, each sending a request head that never ends, a byte at a time.
    let mut slow = Vec::new();
    for _ in 0..4 {
        let stream = TcpStream::connect(&addr).await.unwrap();
        slow.push(tokio::spawn(trickle(stream)));
    }
    // A client that asks properly is answered once the server has cut the slow ones off.
    let mut client = TcpStream::connect(&addr).await.unwrap();
    client.write_all(HEALTHZ).await.unwrap();
    let (status, body) = timeout(PATIENCE, read_response(&mut client))
        .await
        .expect("answered once the slow clients are cut off");
    assert_eq!((status, body.as_str()), (200, "ok"));
    for trickler in slow {
        timeout(PATIENCE, trickler)
            .await
            .expect("the server closes a trickling connection")
            .unwrap();
    }
    // Its connection, idle now, is closed by the server too.
    let mut rest = Vec::new();
    let closed = timeout(PATIENCE, client.read_to_end(&mut rest))
        .await
        .expect("the server closes an idle connection");
    assert!(closed.is_ok() && rest.is_empty(), "{closed:?} {rest:?}");
}

#[tokio::test]
async fn past_max_connections_a_client_waits_for_a_free_slot() {
    let dir = tempfile::tempdir().unwrap();
    let serve = serve_with(
        dir.path(),
        "[server]\nmax_connections = 1\nheader_read_timeout_secs = 600\n",
    );
    let addr = serve.base.trim_start_matches("http://").to_owned();
    // The listener takes connections in order: `first` holds the only slot.
    let mut first = TcpStream::connect(&addr).await.unwrap();
    let mut waiting = TcpStream::connect(&addr).await.unwrap();
    waiting.write_all(HEALTHZ).await.unwrap();
    for _ in 0..3 {
        first.write_all(HEALTHZ).await.unwrap();
        let answered = timeout(PATIENCE, read_response(&mut first)).await;
        assert_eq!(answered.expect("the held connection is served").0, 200);
    }
    let mut unanswered = [0u8; 1];
    assert!(
        matches!(waiting.try_read(&mut unanswered), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the connection past the limit is not served while the slot is held"
    );
    drop(first);
    let (status, _) = timeout(PATIENCE, read_response(&mut waiting))
        .await
        .expect("served once the slot is free");
    assert_eq!(status, 200);
}

/// `fabrique serve` (the binary) with `config` as its configuration file, its data in `dir`.
fn serve_with(dir: &Path, config: &str) -> Serve {
    let path = dir.join("fabrique.toml");
    std::fs::write(&path, config).unwrap();
    Serve::start(&path, &dir.join("data"))
}

/// Sends a request head that never ends, one byte every 100 ms, until the server closes the
/// connection (a write fails or a read sees its end).
async fn trickle(mut stream: TcpStream) {
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let head = b"GET /healthz HTTP/1.1\r\nhost: fabrique\r\nx-slow: ";
    let bytes = head.iter().copied().chain(std::iter::repeat(b'a'));
    let mut seen = [0u8; 1];
    for byte in bytes {
        ticker.tick().await;
        if stream.write_all(&[byte]).await.is_err() {
            return;
        }
        // Anything but "nothing to read yet" means the server has closed the connection.
        match stream.try_read(&mut seen) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            _ => return,
        }
    }
}

/// Reads one response with a `content-length`: its status and body.
async fn read_response(stream: &mut (impl AsyncRead + Unpin)) -> (u16, String) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map_or(0, |value| value.trim().parse().unwrap());
            if received.len() >= end + 4 + length {
                return parse_response(&received[..end + 4 + length]);
            }
        }
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the connection closed mid-response: {received:?}");
        received.extend_from_slice(&buffer[..read]);
    }
}

/// The status and body of a whole response.
fn parse_response(response: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text}"));
    (status, body.to_owned())
}

fn error_code(body: &str) -> String {
    let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON: {body}"));
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
