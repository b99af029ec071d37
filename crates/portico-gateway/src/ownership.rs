//! Who manages a gateway object: the `owner` query parameter (`<cluster>/<namespace>/<name>/<uid>`
//! of a custom resource), recorded by the first write that names one, and the rule that a write,
//! deletion or key operation naming another owner is refused with `409 owned_by_another` —
//! across clusters too. Requests without an owner (an administrator's) are not checked.

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;

use crate::error::ApiError;

/// Longest `owner` value accepted (the contract's `OwnerRef`).
const MAX_OWNER: usize = 512;

#[derive(serde::Deserialize)]
pub(crate) struct OwnerQuery {
    owner: Option<String>,
}

/// The `owner` a request names, if any; a malformed one is a `400`.
pub(crate) fn claimed(
    query: Result<Query<OwnerQuery>, QueryRejection>,
) -> Result<Option<String>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    match query.owner {
        Some(owner) if owner.is_empty() || owner.len() > MAX_OWNER => Err(ApiError::bad_request(
            format!("owner must be 1 to {MAX_OWNER} characters"),
        )),
        owner => Ok(owner),
    }
}

/// The part of an owner that identifies it: the uid (the last segment).
fn identity(owner: &str) -> &str {
    owner.rsplit('/').next().unwrap_or(owner)
}

/// Checks `claimed` against the `recorded` owner of `what` (e.g. `model team-a/summarizer`).
pub(crate) fn check(
    recorded: Option<&str>,
    claimed: Option<&str>,
    what: &str,
) -> Result<(), ApiError> {
    match (recorded, claimed) {
        (Some(recorded), Some(claimed)) if identity(recorded) != identity(claimed) => {
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "owned_by_another",
                format!("{what} is managed by {recorded}; {claimed} may not change or delete it"),
            ))
        }
        _ => Ok(()),
    }
}

/// Checks, then records the claimed owner on an object no resource claimed yet (adoption).
pub(crate) fn claim(
    recorded: &mut Option<String>,
    claimed: Option<&str>,
    what: &str,
) -> Result<(), ApiError> {
    check(recorded.as_deref(), claimed, what)?;
    if recorded.is_none() {
        *recorded = claimed.map(str::to_owned);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_compared_by_uid() {
        let a = Some("east/team-a/m/uid-1");
        assert!(check(a, Some("east/team-a/m/uid-1"), "m").is_ok());
        // The same resource seen under a renamed cluster is still itself.
        assert!(check(a, Some("west/team-a/m/uid-1"), "m").is_ok());
        let refused = check(a, Some("west/team-a/m/uid-2"), "model team-a/m");
        let error = refused.expect_err("another owner is refused");
        assert_eq!(error.status, StatusCode::CONFLICT);
        assert_eq!(error.code, "owned_by_another");
        assert!(error.message.contains("east/team-a/m/uid-1"));
        // Unclaimed objects and owner-less (administrator) requests are not checked.
        assert!(check(None, Some("x/y/z/u"), "m").is_ok());
        assert!(check(a, None, "m").is_ok());
    }

    #[test]
    fn the_first_claim_is_recorded() {
        let mut recorded = None;
        claim(&mut recorded, Some("c/ns/a/u1"), "m").expect("first claim");
        assert_eq!(recorded.as_deref(), Some("c/ns/a/u1"));
        assert!(claim(&mut recorded, Some("c/ns/b/u2"), "m").is_err());
        assert_eq!(recorded.as_deref(), Some("c/ns/a/u1"));
    }
}
