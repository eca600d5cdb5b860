//! Bodies that are too large or too slow: the 413 reaches a client that writes its whole body
//! before it reads, a body declared past what may be drained is refused without reading, and
//! a trickling body is cut with 408.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http::header::CONTENT_LENGTH;
use http::StatusCode;
use http_body::Frame;
use http_body_util::StreamBody;
use mcp_tower::{McpLayer, RejectionKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::{Layer, ServiceExt};

use crate::example;
use crate::support::*;

/// Writes a whole POST of `size` bytes to `addr` before reading anything, as Python's
/// `http.client` does, and returns what the server answered.
async fn post_everything_then_read(addr: std::net::SocketAddr, size: usize) -> String {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {LOCAL_HOST}\r\nAccept: {ACCEPT_BOTH}\r\n\
         Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    );
    let body = vec![b' '; size];
    let written = async {
        conn.write_all(head.as_bytes()).await?;
        conn.write_all(&body).await?;
        conn.flush().await
    };
    within(written)
        .await
        .expect("the server reset the connection while the body was being written");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = within(conn.read(&mut buf))
            .await
            .expect("the answer could not be read");
        answer.extend_from_slice(&buf[..n]);
        if n == 0 || answer.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_client_that_writes_the_whole_oversized_body_first_reads_the_413() {
    // Streamed, with Content-Length, 6 MiB against a 1 MiB limit: the 5 MiB past the limit
    // are read and thrown away before the answer goes out.
    let layer = McpLayer::new()
        .max_body_bytes(1024 * 1024)
        .oversize_drain(8 * 1024 * 1024, Duration::from_secs(10));
    let served = serve(layer.layer(tower::service_fn(example::handle))).await;
    let answer = post_everything_then_read(served.addr, 6 * 1024 * 1024).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test]
async fn a_body_declared_past_the_drain_budget_is_refused_without_reading() {
    // A body that never sends a byte: reading it would hang until the test's patience ends.
    let never = stream::pending::<Result<Frame<Bytes>, Infallible>>();
    let req = post_builder()
        .header(CONTENT_LENGTH, 81)
        .body(StreamBody::new(never))
        .unwrap();
    let layer = McpLayer::new()
        .max_body_bytes(64)
        .oversize_drain(16, Duration::from_secs(10));
    let sessions = layer.sessions();
    let svc = layer.layer(tower::service_fn(example::handle));
    let res = within(svc.oneshot(req)).await.unwrap();
    rejection(
        res,
        StatusCode::PAYLOAD_TOO_LARGE,
        RejectionKind::PayloadTooLarge,
        -32000,
    )
    .await;
    assert!(sessions.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_trickling_body_is_cut_with_408() {
    let layer = McpLayer::new().body_read_timeout(Duration::from_secs(2));
    let sessions = layer.sessions();
    let svc = layer.layer(tower::service_fn(example::handle));
    // One byte, then nothing more.
    let first = stream::iter([Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"{")))]);
    let body = StreamBody::new(futures_util::StreamExt::chain(first, stream::pending()));
    let req = post_builder().body(body).unwrap();
    let started = tokio::time::Instant::now();
    let res = within(svc.oneshot(req)).await.unwrap();
    let (_, message) = rejection(
        res,
        StatusCode::REQUEST_TIMEOUT,
        RejectionKind::BodyTimeout,
        -32000,
    )
    .await;
    assert!(message.contains("body_read_timeout"), "{message}");
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(2),
        "cut at the timeout, not before"
    );
    assert!(sessions.is_empty());
}

#[tokio::test]
async fn a_batch_past_its_cap_is_400() {
    let server = Server::example(McpLayer::new().max_batch_len(3));
    let id = server.open_session("2025-03-26").await;
    let batch = |n: i64| serde_json::Value::Array((1..=n).map(|i| echo(i, "x")).collect());
    let req = post_with(Some(&id), Some("2025-03-26"), &batch(4));
    let (_, message) = rejection(
        server.send(req).await,
        StatusCode::BAD_REQUEST,
        RejectionKind::InvalidMessage,
        -32600,
    )
    .await;
    assert!(message.contains("at most 3"), "{message}");
    let req = post_with(Some(&id), Some("2025-03-26"), &batch(3));
    let answers = json_reply(server.send(req).await).await;
    assert_eq!(answers.as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn malformed_json_of_every_kind_is_400_with_a_json_rpc_error() {
    let server = Server::example(McpLayer::new());
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(&str, Vec<u8>, i64, RejectionKind)> = vec![
        (
            "deeply nested",
            nested.into_bytes(),
            -32700,
            RejectionKind::ParseError,
        ),
        (
            "a number too large for a double",
            br#"{"jsonrpc":"2.0","id":1e400,"method":"initialize"}"#.to_vec(),
            -32700,
            RejectionKind::ParseError,
        ),
        (
            "a duplicate key",
            br#"{"jsonrpc":"2.0","id":1,"method":"initialize","method":"ping"}"#.to_vec(),
            -32600,
            RejectionKind::InvalidMessage,
        ),
        (
            "invalid UTF-8",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}".to_vec(),
            -32700,
            RejectionKind::ParseError,
        ),
        (
            "a lone surrogate",
            br#"{"jsonrpc":"2.0","id":1,"method":"\ud800"}"#.to_vec(),
            -32700,
            RejectionKind::ParseError,
        ),
        (
            "a huge integer id",
            br#"{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"initialize"}"#
                .to_vec(),
            -32600,
            RejectionKind::InvalidMessage,
        ),
    ];
    for (what, body, code, kind) in cases {
        let req = post_builder().body(raw(body)).unwrap();
        let res = server.send(req).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
        rejection(res, StatusCode::BAD_REQUEST, kind, code).await;
    }
    assert!(server.sessions.is_empty());
}
