//! Resident memory of a process as Linux reports it in `/proc/<pid>/status`: `VmRSS` (now) and
//! `VmHWM` (the peak since the process started).

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
    fn reads_this_process() {
        let memory = Memory::of_self().expect("readable");
        assert!(memory.hwm_kib >= memory.rss_kib && memory.rss_kib > 0);
    }
}
