//! `portico bench` end to end at a tiny size, so the benchmark cannot rot unnoticed: it runs
//! every phase (convergence, steady state, memory, crash restart, reconcile latency), prints
//! the documented keys and a `summary:` line, and exits 0. The figures themselves are measured
//! in release mode and recorded in docs/benchmarks.md, never asserted here.

use std::process::Command;

#[test]
fn bench_runs_every_phase_and_prints_the_documented_keys() {
    let output = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args([
            "bench",
            "--count",
            "12",
            "--poll-interval",
            "2s",
            "--steady-intervals",
            "1",
            "--timeout",
            "120s",
        ])
        .output()
        .expect("portico bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for key in [
        "build",
        "convergence_seconds",
        "gateway_calls_per_cr",
        "apiserver_writes_per_cr",
        "steady_gateway_writes",
        "steady_apiserver_writes",
        "peak_rss_mib",
        "restart_resume_seconds",
        "restart_recheck_seconds",
        "restart_gateway_writes",
        "reconcile_p50_ms",
        "reconcile_p99_ms",
    ] {
        assert!(
            stdout
                .lines()
                .any(|line| line.starts_with(&format!("{key}="))),
            "no {key}= line in:\n{stdout}"
        );
    }
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("summary:") && last.contains("PASS"),
        "{last}"
    );
    // The quiet steady state and the restart are exact counts, whatever the speed.
    for key in [
        "steady_gateway_writes",
        "steady_apiserver_writes",
        "restart_gateway_writes",
    ] {
        assert!(
            stdout.contains(&format!("\n{key}=0\n")),
            "{key} is not 0:\n{stdout}"
        );
    }
    assert!(stdout.contains("gateway_calls_per_cr=2"), "{stdout}");
}
