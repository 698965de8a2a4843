//! The clock of the hot path. Two reads of the standard wall clock cost
//! ~60 ns on this project's VMs; a step needs two (start and end, shared by
//! the span timestamps and the duration histogram). quanta reads the TSC
//! where it is reliable (a few ns) and falls back to the OS clock where it
//! is not. Wall-clock time is an anchor plus the monotonic delta, re-anchored
//! every second per thread so it never drifts from the system clock by more
//! than the clock's drift over one second.

use std::cell::Cell;
use std::time::{Duration, SystemTime};

const REANCHOR: Duration = Duration::from_secs(1);

thread_local! {
    static ANCHOR: Cell<Option<(quanta::Instant, SystemTime)>> = const { Cell::new(None) };
}

/// Wall-clock now, cheaply.
pub(crate) fn now() -> SystemTime {
    let mono = quanta::Instant::now();
    ANCHOR.with(|a| match a.get() {
        Some((at, wall)) => {
            let delta = mono.saturating_duration_since(at);
            if delta < REANCHOR {
                wall + delta
            } else {
                let wall = SystemTime::now();
                a.set(Some((mono, wall)));
                wall
            }
        }
        None => {
            let wall = SystemTime::now();
            a.set(Some((mono, wall)));
            wall
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_the_system_clock() {
        for _ in 0..1000 {
            let ours = now();
            let sys = SystemTime::now();
            let diff = match sys.duration_since(ours) {
                Ok(d) => d,
                Err(e) => e.duration(),
            };
            assert!(diff < Duration::from_millis(5), "{diff:?}");
        }
        let a = now();
        std::thread::sleep(Duration::from_millis(20));
        let b = now();
        assert!(b.duration_since(a).unwrap() >= Duration::from_millis(19));
    }
}
