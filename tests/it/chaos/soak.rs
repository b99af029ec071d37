//! The short soak CI runs: the same code as `portico soak`, for under a minute of workload and
//! faults, with two operator replicas electing a leader through a Lease; then every invariant
//! must hold, the Lease must have changed hands, and no two replicas may have led at once.

use std::sync::Arc;
use std::time::Duration;

use portico_testbed::soak::{SoakArgs, run_soak};

use crate::support::{self, captured_logs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_soak_keeps_every_invariant() {
    support::init();
    let args = SoakArgs {
        seed: 20261125,
        duration: Duration::from_secs(40),
        replicas: 2,
        settle_timeout: Duration::from_secs(90),
        ..SoakArgs::default()
    };
    let report = run_soak(&args, Arc::new(captured_logs))
        .await
        .expect("the soak runs");
    eprintln!("{report}");
    assert!(report.operations.values().sum::<u64>() > 50, "{report}");
    for fault in ["429 burst", "watch drop", "410 compaction", "operator kill"] {
        assert!(
            report.faults.get(fault).copied().unwrap_or(0) > 0,
            "no {fault} injected: {report}"
        );
    }
    assert!(report.restarts > 0, "{report}");
    assert!(
        report.leader_changes > 0,
        "the lease never changed hands: {report}"
    );
    assert_eq!(report.leader_overlaps, 0, "{report}");
    assert!(report.passed(), "{report}");
}

/// Regression: the soak's sandbox shutdown waited forever on watches still open (the token
/// watchers of stopped replicas). A short run with two replicas that are killed and restarted
/// must return a report; whether its invariants held is not the point here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soak_with_killed_replicas_always_returns() {
    support::init();
    let args = SoakArgs {
        seed: 1,
        duration: Duration::from_secs(6),
        replicas: 2,
        settle_timeout: Duration::from_secs(5),
        ..SoakArgs::default()
    };
    let report = tokio::time::timeout(
        Duration::from_secs(180),
        run_soak(&args, Arc::new(captured_logs)),
    )
    .await
    .expect("the soak returns")
    .expect("the soak runs");
    assert!(report.operations.values().sum::<u64>() > 0, "{report}");
}
