//! CPU time and memory of a process, from `/proc` (Linux).

/// Clock ticks per second of `/proc/<pid>/stat` times. 100 on every Linux this runs on.
const CLK_TCK: f64 = 100.0;

/// User plus system CPU seconds of `pid` (`"self"` for this process).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLK_TCK)
}

fn status_kib(pid: &str, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Peak resident set size of `pid` in bytes (`VmHWM`).
pub fn peak_rss_bytes(pid: &str) -> Option<u64> {
    status_kib(pid, "VmHWM:").map(|k| k * 1024)
}

/// Current resident set size of `pid` in bytes.
pub fn rss_bytes(pid: &str) -> Option<u64> {
    status_kib(pid, "VmRSS:").map(|k| k * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_own_process() {
        assert!(super::cpu_seconds("self").is_some());
        assert!(super::peak_rss_bytes("self").unwrap() > 0);
    }
}
