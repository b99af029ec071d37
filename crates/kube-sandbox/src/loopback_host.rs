//! DNS-rebinding defence: the server answers only requests addressed to a loopback host.
//!
//! The sandbox speaks plain HTTP on loopback, usually without auth. A web page cannot reach it
//! directly (its origin differs), but through DNS rebinding it can: the page's own name is
//! re-pointed at 127.0.0.1, and the browser then sends the page's requests, same-origin, to the
//! sandbox, with the attacker's name in `Host`. So a request is answered only when its `Host`
//! (and, for an absolute-form or HTTP/2 request, the URI's authority) names a loopback host:
//! `localhost` (any case), an IPv4 address in 127.0.0.0/8, or `[::1]` (or an IPv4-mapped
//! loopback address), each with or without a port. Anything else is `403 Forbidden` with a
//! `Status`, shaped as kube-apiserver's authorization refusals are.
//!
//! A request with no host at all (HTTP/1.0 without `Host`) is admitted: browsers always send
//! `Host`, so such a request cannot come from a rebinding page, and simple tools that speak
//! HTTP/1.0 keep working.

use std::net::{Ipv4Addr, Ipv6Addr};

use axum::http::{HeaderMap, Uri, header};
use serde_json::json;

use super::error::ApiError;

/// Whether an authority (`host[:port]`) names a loopback host.
pub fn is_loopback_authority(authority: &str) -> bool {
    let (loopback, port) = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((address, after)) => {
                let loopback = address.parse::<Ipv6Addr>().is_ok_and(|ip| {
                    ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
                });
                match after {
                    "" => (loopback, None),
                    _ => match after.strip_prefix(':') {
                        Some(port) => (loopback, Some(port)),
                        None => return false,
                    },
                }
            }
            None => return false,
        },
        None => {
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback());
            (loopback, port)
        }
    };
    // An empty port is allowed by RFC 3986 (`port = *DIGIT`).
    loopback && port.is_none_or(|port| port.bytes().all(|b| b.is_ascii_digit()))
}

/// `Ok` when every host the request names is a loopback host (or it names none), else the
/// `403` to answer.
pub fn check(headers: &HeaderMap, uri: &Uri) -> Result<(), ApiError> {
    let from_headers = headers
        .get_all(header::HOST)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let from_uri = uri
        .authority()
        .map(|authority| authority.as_str().to_owned());
    for host in from_headers.chain(from_uri) {
        if !is_loopback_authority(&host) {
            return Err(refusal(&host));
        }
    }
    Ok(())
}

/// The refusal, worded as kube-apiserver's `NewForbidden` words one without a resource.
fn refusal(host: &str) -> ApiError {
    let mut error = ApiError::forbidden(format!(
        "forbidden: the sandbox API server answers only requests addressed to a loopback host \
         (localhost, 127.0.0.0/8 or [::1]), and Host {host:?} is not one"
    ));
    error.details = json!({});
    error
}

#[cfg(test)]
#[path = "loopback_host_tests.rs"]
mod tests;
