//! Resident memory of a process as Linux reports it in `/proc/<pid>/status` (`VmRSS` now,
//! `VmHWM` the peak since the process started), and its CPU time from `/proc/<pid>/stat`.

use anyhow::Context as _;

/// Resident set sizes in KiB.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

impl Memory {
    pub(crate) fn of_self() -> anyhow::Result<Self> {
        Self::read("/proc/self/status")
    }

    pub(crate) fn of_pid(pid: u32) -> anyhow::Result<Self> {
        Self::read(&format!("/proc/{pid}/status"))
    }

    fn read(path: &str) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("failed to read {path}"))?;
        Self::parse(&text).with_context(|| format!("no VmRSS/VmHWM in {path}"))
    }

    fn parse(status: &str) -> Option<Self> {
        let field = |name: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        };
        Some(Self {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on every Linux build
/// that matters here).
const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system CPU seconds of all threads of a process (`None` for self reads `self`).
pub(crate) fn cpu_seconds(pid: Option<u32>) -> anyhow::Result<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("failed to read {path}"))?;
    parse_cpu_ticks(&text)
        .map(|ticks| ticks as f64 / TICKS_PER_SECOND)
        .with_context(|| format!("no utime/stime in {path}"))
}

/// `utime` and `stime` are fields 14 and 15; the command name (field 2) may hold spaces, so
/// counting starts after its closing parenthesis (field 3 is then the first).
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernel_format() {
        let status = "Name:\tportico\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n";
        let memory = Memory::parse(status).expect("parsed");
        assert_eq!((memory.rss_kib, memory.hwm_kib), (40960, 51200));
    }

    #[test]
    fn cpu_ticks_skip_a_command_name_with_spaces() {
        let stat = "42 (tokio runtime) S 1 42 42 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 4 0";
        assert_eq!(parse_cpu_ticks(stat), Some(281));
    }

    #[test]
    fn reads_this_process() {
        assert!(cpu_seconds(None).expect("readable") >= 0.0);
        let memory = Memory::of_self().expect("readable");
        assert!(memory.hwm_kib >= memory.rss_kib && memory.rss_kib > 0);
    }
}
