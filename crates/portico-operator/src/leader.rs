//! Lease-based leader election (`coordination.k8s.io/v1`), with client-go's semantics: a
//! candidate takes the Lease when it is free or when its record has not changed for a whole
//! lease duration *as observed on the candidate's own clock* (no trust in other nodes' clocks);
//! the leader renews every retry period and gives up leading — before anyone else may take
//! over — when it has not renewed for the renew deadline; on shutdown it releases the Lease so
//! a standby takes over within one retry period instead of one lease duration.
//!
//! Every write is a `PUT` guarded by the Lease's `resourceVersion`, so two candidates can never
//! both believe they won: the loser gets `409 Conflict`.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Settings of one candidate.
#[derive(Debug, Clone)]
pub struct LeaderElectionConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub lease_name: String,
    /// This candidate's identity, unique among replicas (written as `holderIdentity`).
    pub identity: String,
    /// How long a silent leader's Lease stays valid for the others.
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal.
    pub renew_deadline: Duration,
    /// How often candidates try to acquire and the leader renews.
    pub retry_period: Duration,
}

impl LeaderElectionConfig {
    /// Checks that the durations can work together (as client-go requires).
    pub fn validate(&self) -> Result<(), String> {
        if self.retry_period.is_zero() {
            return Err("the retry period must be positive".into());
        }
        if self.renew_deadline <= self.retry_period {
            return Err(format!(
                "the renew deadline ({:?}) must be longer than the retry period ({:?})",
                self.renew_deadline, self.retry_period
            ));
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(format!(
                "the lease duration ({:?}) must be longer than the renew deadline ({:?})",
                self.lease_duration, self.renew_deadline
            ));
        }
        if self.identity.is_empty() {
            return Err("the identity must not be empty".into());
        }
        Ok(())
    }
}

/// Why leading ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeadEnd {
    /// Shutdown was requested; the work finished (or was abandoned after its bound).
    Shutdown,
    /// The Lease could not be renewed within the renew deadline, or someone else holds it.
    Lost,
    /// The work returned on its own.
    WorkEnded,
}

/// The record last seen, and when this candidate saw it change.
struct Observed {
    holder: Option<String>,
    renew_time: Option<jiff::Timestamp>,
    lease_duration: Duration,
    seen_at: Instant,
}

/// One election participant.
pub struct Elector {
    api: Api<Lease>,
    config: LeaderElectionConfig,
    observed: Option<Observed>,
}

fn now_micro() -> MicroTime {
    MicroTime(jiff::Timestamp::now())
}

fn seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs().max(1)).unwrap_or(i32::MAX)
}

impl Elector {
    /// A candidate for the Lease `config` names.
    pub fn new(client: Client, config: LeaderElectionConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
        }
    }

    /// Acquires or renews the Lease once. `Ok(true)` means this candidate holds it now.
    pub async fn try_acquire_or_renew(&mut self) -> kube::Result<bool> {
        let name = self.config.lease_name.clone();
        let lease = match self.api.get_opt(&name).await? {
            Some(lease) => lease,
            None => return self.create().await,
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let renew_time = spec.renew_time.as_ref().map(|t| t.0);
        let lease_duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(self.config.lease_duration);
        let changed = self
            .observed
            .as_ref()
            .is_none_or(|o| o.holder != holder || o.renew_time != renew_time);
        if changed {
            self.observed = Some(Observed {
                holder: holder.clone(),
                renew_time,
                lease_duration,
                seen_at: Instant::now(),
            });
        }
        let me = self.config.identity.as_str();
        let held_by_me = holder.as_deref() == Some(me);
        if let (Some(_), false) = (&holder, held_by_me) {
            let valid_until = self.observed.as_ref().map(|o| o.seen_at + o.lease_duration);
            if valid_until.is_some_and(|until| until > Instant::now()) {
                return Ok(false);
            }
        }
        let now = now_micro();
        let mut new_spec = LeaseSpec {
            holder_identity: Some(me.to_owned()),
            lease_duration_seconds: Some(seconds(self.config.lease_duration)),
            renew_time: Some(now.clone()),
            ..spec.clone()
        };
        if !held_by_me {
            new_spec.acquire_time = Some(now);
            new_spec.lease_transitions =
                Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        let updated = Lease {
            metadata: lease.metadata.clone(),
            spec: Some(new_spec),
        };
        match self
            .api
            .replace(&name, &PostParams::default(), &updated)
            .await
        {
            Ok(lease) => {
                self.remember(&lease);
                Ok(true)
            }
            // Someone else wrote first: they won this round.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(error) => Err(error),
        }
    }

    async fn create(&mut self) -> kube::Result<bool> {
        let now = now_micro();
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.config.lease_name.clone()),
                namespace: Some(self.config.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.config.identity.clone()),
                lease_duration_seconds: Some(seconds(self.config.lease_duration)),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(lease) => {
                self.remember(&lease);
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(error) => Err(error),
        }
    }

    fn remember(&mut self, lease: &Lease) {
        let spec = lease.spec.clone().unwrap_or_default();
        self.observed = Some(Observed {
            holder: spec.holder_identity,
            renew_time: spec.renew_time.map(|t| t.0),
            lease_duration: self.config.lease_duration,
            seen_at: Instant::now(),
        });
    }

    /// Gives the Lease up if this candidate holds it: no holder, and a one-second duration, so
    /// a standby takes over at its next try.
    pub async fn release(&mut self) -> kube::Result<()> {
        let Some(lease) = self.api.get_opt(&self.config.lease_name).await? else {
            return Ok(());
        };
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        let released = Lease {
            metadata: lease.metadata.clone(),
            spec: Some(LeaseSpec {
                holder_identity: None,
                lease_duration_seconds: Some(1),
                renew_time: Some(now_micro()),
                ..spec
            }),
        };
        match self
            .api
            .replace(&self.config.lease_name, &PostParams::default(), &released)
            .await
        {
            Ok(_) => Ok(()),
            // Taken over meanwhile: nothing of ours left to release.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Runs `work` whenever this candidate leads, until `shutdown`. `work` gets a token that is
    /// cancelled on shutdown (finish in-flight work, then return); when leadership is lost the
    /// work is dropped at once instead, because another replica may start within moments.
    /// `on_leading` is told every change of leadership. After shutdown, in-flight work gets
    /// `shutdown_bound` to finish, then the Lease is released.
    pub async fn run<W, F>(
        mut self,
        shutdown: CancellationToken,
        shutdown_bound: Duration,
        on_leading: impl Fn(bool),
        mut work: W,
    ) where
        W: FnMut(CancellationToken) -> F,
        F: Future<Output = ()>,
    {
        let retry = self.config.retry_period;
        loop {
            // Candidate: try until we lead or shutdown comes.
            loop {
                match self.try_acquire_or_renew().await {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(%error, "failed to read or acquire the leader lease")
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(retry) => {}
                }
            }
            tracing::info!(
                identity = %self.config.identity,
                lease = %format_args!("{}/{}", self.config.namespace, self.config.lease_name),
                "became the leader"
            );
            on_leading(true);
            let end = self.lead(&shutdown, shutdown_bound, &mut work).await;
            on_leading(false);
            match end {
                LeadEnd::Lost => {
                    tracing::warn!(identity = %self.config.identity, "lost the leader lease; stopped reconciling");
                }
                LeadEnd::Shutdown | LeadEnd::WorkEnded => {
                    if let Err(error) = self.release().await {
                        tracing::warn!(%error, "failed to release the leader lease");
                    } else {
                        tracing::info!(identity = %self.config.identity, "released the leader lease");
                    }
                    return;
                }
            }
        }
    }

    async fn lead<W, F>(
        &mut self,
        shutdown: &CancellationToken,
        shutdown_bound: Duration,
        work: &mut W,
    ) -> LeadEnd
    where
        W: FnMut(CancellationToken) -> F,
        F: Future<Output = ()>,
    {
        let stop = CancellationToken::new();
        let running = work(stop.clone());
        tokio::pin!(running);
        let mut last_renewal = Instant::now();
        let mut next_try = Instant::now() + self.config.retry_period;
        loop {
            tokio::select! {
                () = &mut running => return LeadEnd::WorkEnded,
                _ = shutdown.cancelled() => {
                    stop.cancel();
                    // Keep renewing while the work winds down, so nobody else starts early; if
                    // renewing fails past the deadline, the work is dropped like on a loss.
                    let renewing = async {
                        loop {
                            tokio::time::sleep(self.config.retry_period).await;
                            match self.try_acquire_or_renew().await {
                                Ok(true) => last_renewal = Instant::now(),
                                Ok(false) => return,
                                Err(error) => tracing::warn!(%error, "failed to renew the leader lease during shutdown"),
                            }
                            if last_renewal.elapsed() >= self.config.renew_deadline {
                                return;
                            }
                        }
                    };
                    tokio::select! {
                        () = &mut running => {}
                        () = renewing => {}
                        _ = tokio::time::sleep(shutdown_bound) => {
                            tracing::warn!(bound = ?shutdown_bound, "in-flight reconciles did not finish in time; abandoning them");
                        }
                    }
                    return LeadEnd::Shutdown;
                }
                _ = tokio::time::sleep_until(next_try) => {
                    let attempt = tokio::time::timeout_at(
                        last_renewal + self.config.renew_deadline,
                        self.try_acquire_or_renew(),
                    )
                    .await;
                    match attempt {
                        Ok(Ok(true)) => last_renewal = Instant::now(),
                        Ok(Ok(false)) => return LeadEnd::Lost,
                        Ok(Err(error)) => tracing::warn!(%error, "failed to renew the leader lease"),
                        Err(_elapsed) => {}
                    }
                    if last_renewal.elapsed() >= self.config.renew_deadline {
                        return LeadEnd::Lost;
                    }
                    next_try = Instant::now() + self.config.retry_period;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LeaderElectionConfig {
        LeaderElectionConfig {
            namespace: "portico-system".into(),
            lease_name: "portico-leader".into(),
            identity: "a".into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    #[test]
    fn durations_must_nest() {
        assert!(config().validate().is_ok());
        let mut bad = config();
        bad.renew_deadline = Duration::from_secs(15);
        assert!(bad.validate().unwrap_err().contains("lease duration"));
        let mut bad = config();
        bad.retry_period = Duration::from_secs(10);
        assert!(bad.validate().unwrap_err().contains("retry period"));
        let mut bad = config();
        bad.identity.clear();
        assert!(bad.validate().is_err());
    }
}
