//! The metrics server against hostile clients, over real TCP: half-sent
//! requests are closed after `metrics_header_timeout`, connections past
//! `metrics_max_connections` are closed at once, both are counted, and
//! the server keeps serving scrapes (docs/reliability.md).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};

const PARTIAL: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";

/// A setup serving `/metrics` on a free port with these limits.
fn server(
    header_timeout_ms: u64,
    max_connections: usize,
) -> (observability_integration::Observability, SocketAddr) {
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .prometheus_port(0u16)
        .metrics_max_connections(max_connections)
        .metrics_header_timeout(Duration::from_millis(header_timeout_ms))
        .build()
        .unwrap();
    let obs = ObservabilityBuilder::new(cfg).logs(false).build();
    let addr = obs.report().metrics_addr.unwrap();
    (obs, addr)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Whether the server closed `s` within `within` (reads EOF or a reset).
fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            // A 408 or similar before closing is fine; keep reading.
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

fn scrape(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.starts_with("HTTP/1.1 200").then_some(out)
}

fn counter(text: &str, outcome: &str) -> f64 {
    let series =
        format!("observability_metrics_server_connections_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[test]
fn half_sent_requests_are_closed_after_the_header_timeout() {
    let (obs, addr) = server(500, 256);
    let before = open_fds();
    let mut clients: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(PARTIAL).unwrap();
            s
        })
        .collect();
    // Served while the slow clients hang on.
    assert!(scrape(addr).is_some(), "a scrape gets through");
    let deadline = Instant::now() + Duration::from_secs(5);
    for (i, c) in clients.iter_mut().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            closed_by_server(c, left.max(Duration::from_millis(1))),
            "connection {i} still open after the header timeout"
        );
    }
    drop(clients);
    // Both ends are closed: the process holds no more descriptors than before.
    let deadline = Instant::now() + Duration::from_secs(3);
    while open_fds() > before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(open_fds() <= before, "{} fds, {before} before", open_fds());
    let text = scrape(addr).unwrap();
    assert!(counter(&text, "header_timeout") >= 200.0, "{text}");
    obs.shutdown(Duration::from_secs(2));
}

#[test]
fn connections_past_the_limit_are_closed_at_once_and_counted() {
    let (obs, addr) = server(800, 8);
    let hold: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(PARTIAL).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut extra = TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    assert!(
        closed_by_server(&mut extra, Duration::from_millis(500)),
        "the ninth connection is closed"
    );
    assert!(started.elapsed() < Duration::from_millis(500));
    // Once the held ones time out, scrapes are served again.
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        if let Some(t) = scrape(addr) {
            break t;
        }
        assert!(Instant::now() < deadline, "the server never recovered");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(counter(&text, "refused") >= 1.0, "{text}");
    drop(hold);
    obs.shutdown(Duration::from_secs(2));
}

#[test]
fn an_idle_keep_alive_connection_closed_by_the_timer_is_not_a_fault() {
    let (obs, addr) = server(300, 256);
    // A scraper that keeps its connection open between scrapes.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    assert!(
        closed_by_server(&mut s, Duration::from_secs(3)),
        "idle: closed"
    );
    let text = scrape(addr).unwrap();
    assert_eq!(counter(&text, "header_timeout"), 0.0, "{text}");
    obs.shutdown(Duration::from_secs(2));
}

#[test]
fn huge_headers_and_unknown_methods_are_answered_and_nothing_stays_open() {
    let (obs, addr) = server(500, 256);
    let before = open_fds();
    let answer = |request: Vec<u8>| -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        // The server may answer and close before the whole request is in.
        let _ = s.write_all(&request);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    let started = Instant::now();
    let mut huge = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Huge: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1 << 20));
    huge.extend_from_slice(b"\r\n\r\n");
    let r = answer(huge);
    assert!(r.is_empty() || r.starts_with("HTTP/1.1 431"), "{r}");
    let r = answer(b"BREW /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec());
    assert!(
        r.starts_with("HTTP/1.1 405") || r.starts_with("HTTP/1.1 404"),
        "{r}"
    );
    let r = answer(b"\x16\x03\x01 not http at all\r\n\r\n".to_vec());
    assert!(r.is_empty() || r.starts_with("HTTP/1.1 400"), "{r}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(3);
    while open_fds() > before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(open_fds() <= before, "{} fds, {before} before", open_fds());
    assert!(scrape(addr).is_some(), "still serving");
    obs.shutdown(Duration::from_secs(2));
}
