//! HTTP/2 with prior knowledge (h2c) on the same port as HTTP/1.1, as a proxy in front speaks it:
//! many streams on one connection, each metered, and each body held to the edge's limits the
//! same as on HTTP/1.1 (a `413` or a `408` ends its stream alone, the connection goes on), and a
//! draining server sends `GOAWAY`, finishes the streams in flight and answers newcomers `503`.
//! A real hyper HTTP/2 client against the real listener.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use http::{Request, Response, StatusCode, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::harness::*;

/// Only reached when the server fails to act; the tests never wait on it otherwise.
const PATIENCE: Duration = Duration::from_secs(60);

type Outgoing = BoxBody<Bytes, Infallible>;

/// An HTTP/2 connection with prior knowledge to `addr`, driven in the background.
async fn connect(addr: SocketAddr) -> SendRequest<Outgoing> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("the server speaks HTTP/2 with prior knowledge");
    tokio::spawn(connection);
    send
}

fn post(t: &TestServer, path: &str, body: Outgoing) -> Request<Outgoing> {
    Request::post(format!("http://{}{path}", t.server.addr))
        .header("authorization", format!("Bearer {}", t.key))
        .header("content-type", "application/json")
        .body(body)
        .unwrap()
}

fn get(addr: SocketAddr, path: &str) -> Request<Outgoing> {
    Request::get(format!("http://{addr}{path}"))
        .body(Empty::new().boxed())
        .unwrap()
}

fn json_body(body: &Value) -> Outgoing {
    Full::new(Bytes::from(body.to_string())).boxed()
}

async fn send(connection: &mut SendRequest<Outgoing>, request: Request<Outgoing>) -> (u16, String) {
    let response = timeout(PATIENCE, connection.send_request(request))
        .await
        .expect("answered")
        .expect("the stream is answered");
    read(response).await
}

async fn read(response: Response<Incoming>) -> (u16, String) {
    assert_eq!(response.version(), Version::HTTP_2);
    let status = response.status().as_u16();
    let body = timeout(PATIENCE, response.into_body().collect())
        .await
        .expect("the body ends")
        .expect("the body is read whole")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn stream_body(request: usize) -> Value {
    let mut body = chat_body("mistral-small");
    body["stream"] = json!(true);
    body["messages"][0]["content"] = json!(format!("question {request}"));
    body
}

#[tokio::test]
async fn several_streams_on_one_connection_are_each_relayed_and_metered() {
    let t = TestServer::start(vec![instant_sim()], &one_endpoint("")).await;
    let connection = connect(t.server.addr).await;
    let streams = (0..8).map(|i| {
        let mut connection = connection.clone();
        let mut request = post(&t, "/v1/chat/completions", json_body(&stream_body(i)));
        request
            .headers_mut()
            .insert("x-client-request-id", format!("h2-{i}").parse().unwrap());
        async move { send(&mut connection, request).await }
    });
    for (status, text) in futures_util::future::join_all(streams).await {
        assert_eq!(status, 200, "{text}");
        assert_eq!(sse_data(&text).last().map(String::as_str), Some("[DONE]"));
        assert!(!sse_text(&text).is_empty(), "{text}");
    }
    // HTTP/1.1 on the same port, beside it.
    let (status, body) = t.chat("mistral-small").await;
    assert_eq!(status, 200, "{body}");

    let records = t.finish().await;
    assert_eq!(records.len(), 9, "{records:?}");
    for i in 0..8 {
        let id = format!("h2-{i}");
        let record = records
            .iter()
            .find(|r| r.client_request_id.as_deref() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("no usage record for stream {id}"));
        assert!(record.stream && record.status == 200, "{record:?}");
        assert!(record.completion_tokens > 0, "{record:?}");
    }
}

#[tokio::test]
async fn an_oversized_body_is_refused_413_and_its_connection_goes_on() {
    let t = TestServer::start(
        vec![instant_sim()],
        &one_endpoint("[server]\nmax_body_bytes = 1024\n"),
    )
    .await;
    let mut connection = connect(t.server.addr).await;
    let mut body = chat_body("mistral-small");
    body["messages"][0]["content"] = json!("a".repeat(64 * 1024));
    let (status, answer) = send(
        &mut connection,
        post(&t, "/v1/chat/completions", json_body(&body)),
    )
    .await;
    assert_eq!(status, 413, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["error"]["code"], "request_too_large", "{answer}");

    let (status, answer) = send(
        &mut connection,
        post(
            &t,
            "/v1/chat/completions",
            json_body(&chat_body("mistral-small")),
        ),
    )
    .await;
    assert_eq!(
        status, 200,
        "the connection serves its next stream: {answer}"
    );
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_408_and_its_connection_goes_on() {
    let t = TestServer::start(
        vec![instant_sim()],
        &one_endpoint("[server]\nbody_read_timeout_secs = 1\n"),
    )
    .await;
    let mut connection = connect(t.server.addr).await;
    // The start of a body, whose rest never comes.
    let start = futures_util::stream::once(async {
        Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"{\"model\": ")))
    });
    let never_ending = BodyExt::boxed(StreamBody::new(
        start.chain(futures_util::stream::pending()),
    ));
    let (status, answer) = send(
        &mut connection,
        post(&t, "/v1/chat/completions", never_ending),
    )
    .await;
    assert_eq!(status, 408, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["error"]["code"], "request_timeout", "{answer}");

    let (status, answer) = send(&mut connection, get(t.server.addr, "/healthz")).await;
    assert_eq!(
        (status, answer.as_str()),
        (200, "ok"),
        "the connection serves its next stream"
    );
}

#[tokio::test]
async fn a_draining_server_finishes_the_streams_in_flight_and_answers_newcomers_503() {
    // Twenty tokens at four a second: the stream is in flight while the server drains.
    let slow = sim::SimConfig {
        tokens_per_second: 4.0,
        ..instant_sim()
    };
    let t = TestServer::start(vec![slow], &one_endpoint("")).await;
    let addr = t.server.addr;
    let mut connection = connect(addr).await;
    let mut body = stream_body(0);
    body["max_tokens"] = json!(20);
    let response = timeout(
        PATIENCE,
        connection.send_request(post(&t, "/v1/chat/completions", json_body(&body))),
    )
    .await
    .expect("answered")
    .expect("the stream starts");
    assert_eq!(response.status(), StatusCode::OK);
    let in_flight = tokio::spawn(read(response));

    let store = t.server.store.clone();
    let stopping = tokio::spawn(t.server.shutdown());
    // Each try is one observation of the drain having begun; a connection opened just before it
    // may be sent `GOAWAY` under its request, which is then tried again.
    let refused = timeout(PATIENCE, async {
        loop {
            let mut newcomer = connect(addr).await;
            let Ok(response) = newcomer.send_request(get(addr, "/readyz")).await else {
                continue;
            };
            let (status, body) = read(response).await;
            if status == 503 {
                return body;
            }
        }
    })
    .await
    .expect("the server drains");
    let refused: Value = serde_json::from_str(&refused).unwrap();
    assert_eq!(refused["error"]["code"], "draining", "{refused}");

    let (status, text) = in_flight.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        sse_data(&text).last().map(String::as_str),
        Some("[DONE]"),
        "the stream in flight ran to its end: {text}"
    );
    timeout(PATIENCE, stopping)
        .await
        .expect("the server stops once its streams have ended")
        .unwrap();
    let records = store.list_usage(10).await.unwrap();
    let record = records
        .iter()
        .find(|r| r.stream)
        .expect("the stream's usage");
    assert_eq!(record.status, 200, "{record:?}");
    assert_eq!(record.completion_tokens, 20, "{record:?}");
}

#[tokio::test]
async fn with_http2_off_the_preface_is_refused_and_http1_still_served() {
    let t = TestServer::start(
        vec![instant_sim()],
        &one_endpoint("[server]\nhttp2 = false\n"),
    )
    .await;
    let tcp = TcpStream::connect(t.server.addr).await.unwrap();
    let refused = async {
        let (mut send, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await?;
        tokio::spawn(connection);
        send.send_request(get(t.server.addr, "/healthz")).await
    };
    let refused = timeout(PATIENCE, refused)
        .await
        .expect("the server answers");
    assert!(refused.is_err(), "HTTP/2 served: {refused:?}");
    let (status, body) = t.chat("mistral-small").await;
    assert_eq!(status, 200, "{body}");
}
