//! What the control-plane tests share: a database of its own for each test
//! on the PostgreSQL `./scripts/test` starts (`CLOUDOPTIM_POSTGRES_URL`),
//! the API served on loopback, and plain HTTP/1.1 calls to it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use cloudoptim::runtime::api::{router, ApiState};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A variable `./scripts/test` sets.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run ./scripts/test, which starts the services the tests use")
    })
}

/// A new, empty database named `name`; its URL.
pub async fn fresh_database(name: &str) -> String {
    let base = env("CLOUDOPTIM_POSTGRES_URL");
    let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    // One statement each: DROP DATABASE cannot run in a transaction block.
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        client.batch_execute(&sql).await.unwrap();
    }
    let (prefix, _) = base.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}

/// The API over `state`, on a loopback port of its own.
pub async fn serve(state: Arc<ApiState>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
    addr
}

/// One HTTP/1.1 request; (status, JSON body, or the text when not JSON).
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let key = key
        .map(|k| format!("x-api-key: {k}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n{key}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, rest) = response.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let json = if rest.trim().is_empty() {
        Value::Null
    } else if head.to_ascii_lowercase().contains("application/json") {
        serde_json::from_str(rest).unwrap_or_else(|e| panic!("{e}: {rest}"))
    } else {
        Value::String(rest.to_owned())
    };
    (status, json)
}
