//! Unit tests of which hosts count as loopback, and of the refusal.

use axum::http::HeaderValue;

use super::*;

#[test]
fn loopback_names_and_addresses_pass_with_or_without_a_port() {
    for authority in [
        "localhost",
        "LocalHost:6443",
        "localhost:",
        "127.0.0.1",
        "127.0.0.1:6443",
        "127.8.9.10:80",
        "[::1]",
        "[::1]:6443",
        "[::ffff:127.0.0.1]:6443",
    ] {
        assert!(is_loopback_authority(authority), "{authority}");
    }
}

#[test]
fn other_hosts_fail() {
    for authority in [
        "evil.example:6443",
        "evil.example",
        "localhost.evil.example",
        "localhost.",
        "127.0.0.1.evil.example",
        "128.0.0.1",
        "10.0.0.1:6443",
        "0.0.0.0:6443",
        "[::2]:6443",
        "[::1]x",
        "[::1",
        "::1",
        "localhost:64a3",
        "localhost:6443:1",
        "127.1",
        "",
    ] {
        assert!(!is_loopback_authority(authority), "{authority}");
    }
}

#[test]
fn a_foreign_host_is_refused_with_a_forbidden_status() {
    let mut headers = HeaderMap::new();
    headers.insert(header::HOST, HeaderValue::from_static("evil.example:6443"));
    let error = check(&headers, &Uri::from_static("/api/v1/secrets")).expect_err("refused");
    assert_eq!((error.code, error.reason), (403, "Forbidden"));
    assert!(error.message.starts_with("forbidden: "));
    assert!(error.message.contains("\"evil.example:6443\""));
    assert_eq!(
        error.to_status()["details"],
        json!({}),
        "NewForbidden always carries details"
    );
}

#[test]
fn every_named_host_must_be_loopback() {
    let mut headers = HeaderMap::new();
    headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:6443"));
    assert!(check(&headers, &Uri::from_static("/api")).is_ok());
    // An absolute-form target names a host too.
    let absolute = Uri::from_static("http://evil.example:6443/api");
    assert!(check(&headers, &absolute).is_err());
    headers.append(header::HOST, HeaderValue::from_static("evil.example"));
    assert!(check(&headers, &Uri::from_static("/api")).is_err());
}

#[test]
fn a_request_naming_no_host_is_admitted() {
    assert!(check(&HeaderMap::new(), &Uri::from_static("/api")).is_ok());
    assert!(
        check(
            &HeaderMap::new(),
            &Uri::from_static("http://localhost:1/api")
        )
        .is_ok()
    );
}
