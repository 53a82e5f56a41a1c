//! Ports and waits for tests and tools that start processes on loopback.

use std::time::{Duration, Instant};

/// A free loopback port: bound, then released. Another process may take it before the
/// caller binds it; on a test machine that is rare, and the caller's bind then fails
/// loudly rather than silently.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Polls `f` every `every` until it returns true or `timeout` passes; returns whether it
/// did. `f` is always called at least once, and once more after the deadline.
pub fn wait_until(timeout: Duration, every: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(every);
    }
}

/// A blocking HTTP/1.0 GET on loopback (`http://host:port/path`): status and body, or
/// `None` when the peer cannot be reached or answers something that is not HTTP.
pub fn http_get(url: &str, timeout: Duration) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let out = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = out.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_until_reports_whether_the_condition_held() {
        let mut n = 0;
        assert!(wait_until(Duration::from_secs(5), Duration::ZERO, || {
            n += 1;
            n == 3
        }));
        assert_eq!(n, 3);
        assert!(!wait_until(Duration::ZERO, Duration::ZERO, || false));
    }

    #[test]
    fn http_get_of_a_closed_port_is_none() {
        let port = free_port().expect("a free port");
        assert_eq!(
            http_get(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(1)),
            None
        );
    }
}
