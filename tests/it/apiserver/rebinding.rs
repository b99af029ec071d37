//! Sandbox API server scenarios about DNS rebinding: a request addressed to a host that is not
//! loopback is refused with a `403` Status before anything runs; loopback names and addresses,
//! and HTTP/1.0 requests naming no host, are served. Spoken over raw TCP, so `Host` is exactly
//! what the test writes.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube_sandbox::ApiServer;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::start;

const SECRETS: &str = "/api/v1/namespaces/default/secrets";

/// A response read off the wire.
struct Answer {
    status: u16,
    head: String,
    body: Value,
}

/// Sends `request` verbatim on a fresh connection and reads the response to the end.
async fn exchange(server: &ApiServer, request: &str) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(server.addr())
        .await
        .expect("connects");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request written");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("answered in time")
        .expect("response read");
    let text = String::from_utf8(raw).expect("UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "whole bodies come with a length: {head}"
    );
    let body = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
    Answer {
        status,
        head: head.to_ascii_lowercase(),
        body,
    }
}

fn get(path: &str, host: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
}

#[tokio::test]
async fn requests_addressed_to_another_host_are_refused() {
    let (server, client) = start().await;
    for host in [
        "evil.example:6443",
        "evil.example",
        "localhost.evil.example",
        "127.0.0.1.evil.example:6443",
        "10.0.0.1:6443",
    ] {
        for path in [SECRETS, "/api", "/apis", "/healthz", "/version"] {
            let answer = exchange(&server, &get(path, host)).await;
            assert_eq!(answer.status, 403, "{host} {path}");
            assert!(answer.head.contains("content-type: application/json"));
            assert!(answer.head.contains("x-content-type-options: nosniff"));
            let status = &answer.body;
            assert_eq!(status["kind"], "Status", "{status}");
            assert_eq!(status["apiVersion"], "v1");
            assert_eq!(status["status"], "Failure");
            assert_eq!(status["reason"], "Forbidden");
            assert_eq!(status["code"], 403);
            assert_eq!(status["details"], serde_json::json!({}));
            let message = status["message"].as_str().expect("message");
            assert!(message.starts_with("forbidden: "), "{message}");
            assert!(message.contains(&format!("{host:?}")), "{message}");
        }
    }

    // A refused write writes nothing.
    let body = r#"{"metadata":{"name":"rebound"},"stringData":{"k":"v"}}"#;
    let post = format!(
        "POST {SECRETS} HTTP/1.1\r\nHost: evil.example:6443\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(exchange(&server, &post).await.status, 403);
    let secrets: Api<Secret> = Api::namespaced(client, "default");
    assert!(
        secrets
            .get_opt("rebound")
            .await
            .expect("kube-rs is served")
            .is_none()
    );
}

#[tokio::test]
async fn loopback_hosts_and_requests_naming_no_host_are_served() {
    let (server, client) = start().await;
    let port = server.addr().port();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}"),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        format!("127.1.2.3:{port}"),
        format!("[::1]:{port}"),
        "[::1]".to_string(),
    ] {
        let answer = exchange(&server, &get(SECRETS, &host)).await;
        assert_eq!(answer.status, 200, "{host}: {}", answer.body);
        assert_eq!(answer.body["kind"], "SecretList");
    }
    // HTTP/1.0 needs no Host; no browser leaves it out, so such a request is no rebinding.
    let answer = exchange(&server, &format!("GET {SECRETS} HTTP/1.0\r\n\r\n")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // An absolute-form target must name a loopback host too.
    let absolute = format!(
        "GET http://evil.example:{port}{SECRETS} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(exchange(&server, &absolute).await.status, 403);

    // kube-rs (Host: 127.0.0.1:PORT) is served as before.
    let secrets: Api<Secret> = Api::namespaced(client, "default");
    secrets
        .list(&ListParams::default())
        .await
        .expect("kube-rs is served");
}
