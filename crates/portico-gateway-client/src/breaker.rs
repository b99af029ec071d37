//! The admin-credential breaker: once the gateway refuses the admin token (401 or 403), no call
//! is made with that token again until it changes — or, after [`REPROBE_AFTER`], one probe —
//! and while a token is unproven only one call at a time tries it. A wrong token therefore
//! costs one refused call, not one per object.

use std::sync::Mutex;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// How long a refusal stands before one call may try the same token again (the gateway's token
/// store may have been wrong, not the token).
pub const REPROBE_AFTER: Duration = Duration::from_secs(300);

/// What is known of one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Not proven either way yet.
    Unknown,
    /// The gateway accepted it.
    Accepted,
    /// The gateway refused it at this time.
    Refused(Instant),
}

struct State {
    /// The token the verdict is about; another token starts unknown.
    token: Option<SecretString>,
    verdict: Verdict,
}

/// Whether a call may go out.
pub(crate) enum Admission<'a> {
    /// Yes; with a permit while it is the probe of an unproven token.
    Go(Option<SemaphorePermit<'a>>),
    /// No: the gateway refused this token.
    Refused,
}

/// One per client; shared by its clones.
pub(crate) struct CredentialBreaker {
    state: Mutex<State>,
    probe: Semaphore,
}

impl CredentialBreaker {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State {
                token: None,
                verdict: Verdict::Unknown,
            }),
            probe: Semaphore::new(1),
        }
    }

    fn verdict_for(&self, token: &SecretString) -> Verdict {
        let Ok(state) = self.state.lock() else {
            return Verdict::Unknown;
        };
        match &state.token {
            Some(known) if known.expose_secret() == token.expose_secret() => state.verdict,
            _ => Verdict::Unknown,
        }
    }

    /// Waits until a call with `token` may go out, or says it may not.
    pub(crate) async fn admit(&self, token: &SecretString) -> Admission<'_> {
        let open = |verdict| match verdict {
            Verdict::Accepted => Some(Admission::Go(None)),
            Verdict::Refused(at) if at.elapsed() < REPROBE_AFTER => Some(Admission::Refused),
            _ => None,
        };
        if let Some(admission) = open(self.verdict_for(token)) {
            return admission;
        }
        // Unproven (or a refusal old enough to try again): one call at a time.
        let Ok(permit) = self.probe.acquire().await else {
            return Admission::Go(None);
        };
        match open(self.verdict_for(token)) {
            Some(admission) => admission,
            None => Admission::Go(Some(permit)),
        }
    }

    /// Records what the gateway answered a call made with `token` (`None`: no answer).
    pub(crate) fn record(&self, token: &SecretString, status: Option<u16>) {
        let verdict = match status {
            Some(401 | 403) => Verdict::Refused(Instant::now()),
            // Past authentication: the token is good. (429, 408 and 5xx may come before it.)
            Some(status) if (200..500).contains(&status) && !matches!(status, 407 | 408 | 429) => {
                Verdict::Accepted
            }
            _ => return,
        };
        if let Ok(mut state) = self.state.lock() {
            state.token = Some(token.clone());
            state.verdict = verdict;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(value: &str) -> SecretString {
        SecretString::from(value.to_owned())
    }

    #[tokio::test]
    async fn a_refused_token_is_not_sent_again_until_it_changes() {
        let breaker = CredentialBreaker::new();
        let wrong = token("wrong");
        // Unproven: the first call is a probe.
        assert!(matches!(
            breaker.admit(&wrong).await,
            Admission::Go(Some(_))
        ));
        breaker.record(&wrong, Some(401));
        assert!(matches!(breaker.admit(&wrong).await, Admission::Refused));
        // Another token is unproven again, and accepted for good once it works.
        let right = token("right");
        assert!(matches!(
            breaker.admit(&right).await,
            Admission::Go(Some(_))
        ));
        breaker.record(&right, Some(200));
        assert!(matches!(breaker.admit(&right).await, Admission::Go(None)));
        // A later refusal of the accepted token stops it too.
        breaker.record(&right, Some(403));
        assert!(matches!(breaker.admit(&right).await, Admission::Refused));
    }

    #[tokio::test]
    async fn answers_before_authentication_prove_nothing() {
        let breaker = CredentialBreaker::new();
        let unproven = token("t");
        for status in [None, Some(429), Some(503), Some(408)] {
            breaker.record(&unproven, status);
            assert!(matches!(
                breaker.admit(&unproven).await,
                Admission::Go(Some(_))
            ));
        }
        breaker.record(&unproven, Some(404));
        assert!(matches!(
            breaker.admit(&unproven).await,
            Admission::Go(None)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_probed_again_after_a_while() {
        let breaker = CredentialBreaker::new();
        let wrong = token("wrong");
        breaker.record(&wrong, Some(401));
        assert!(matches!(breaker.admit(&wrong).await, Admission::Refused));
        tokio::time::advance(REPROBE_AFTER).await;
        assert!(matches!(
            breaker.admit(&wrong).await,
            Admission::Go(Some(_))
        ));
    }

    #[tokio::test]
    async fn only_one_probe_at_a_time() {
        let breaker = CredentialBreaker::new();
        let unproven = token("t");
        let Admission::Go(Some(first)) = breaker.admit(&unproven).await else {
            panic!("the first call probes");
        };
        let second = tokio::time::timeout(Duration::from_millis(50), breaker.admit(&unproven));
        assert!(second.await.is_err(), "a second call waited for the probe");
        breaker.record(&unproven, Some(401));
        drop(first);
        assert!(matches!(breaker.admit(&unproven).await, Admission::Refused));
    }
}
