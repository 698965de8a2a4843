//! The clock of the hot path. A step needs two time stamps (start and end,
//! shared by the span timestamps and the duration histogram), and two reads
//! of the standard wall clock cost ~60 ns on this project's VMs. quanta reads
//! the TSC where it is reliable (a few ns) and falls back to the OS clock
//! where it is not; we keep the raw counter value and only scale it when a
//! duration or a wall-clock time is asked for.
//!
//! Wall-clock time is a per-thread anchor (counter value, system time) plus
//! the scaled delta, re-anchored every second so it never drifts from the
//! system clock by more than the clock's drift over one second.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

const REANCHOR_NS: u64 = 1_000_000_000;

static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

thread_local! {
    static ANCHOR: Cell<Option<(u64, SystemTime)>> = const { Cell::new(None) };
}

fn clock() -> &'static quanta::Clock {
    // quanta calibrates the TSC on first use (up to ~200 ms): `init` is
    // called when telemetry is built, off the hot path.
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Calibrates the clock now rather than on the first observed step.
pub(crate) fn init() {
    let _ = clock();
}

/// A raw clock reading: cheap to take, scaled only when used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp(u64);

impl Stamp {
    /// Now.
    #[inline]
    pub(crate) fn now() -> Stamp {
        Stamp(clock().raw())
    }

    /// Nanoseconds from `self` to `later` (0 if `later` is earlier).
    #[inline]
    pub(crate) fn nanos_until(self, later: Stamp) -> u64 {
        clock().delta_as_nanos(self.0, later.0)
    }

    /// Time from `self` to `later`.
    pub(crate) fn until(self, later: Stamp) -> Duration {
        Duration::from_nanos(self.nanos_until(later))
    }

    /// The wall-clock time of this reading.
    pub(crate) fn wall(self) -> SystemTime {
        ANCHOR.with(|a| {
            if let Some((at, wall)) = a.get() {
                if self.0 >= at {
                    let ahead = clock().delta_as_nanos(at, self.0);
                    if ahead < REANCHOR_NS {
                        return wall + Duration::from_nanos(ahead);
                    }
                } else {
                    // Taken before this thread's anchor moved on.
                    let behind = clock().delta_as_nanos(self.0, at);
                    if behind < REANCHOR_NS {
                        return wall - Duration::from_nanos(behind);
                    }
                }
            }
            let (now_raw, now_wall) = (clock().raw(), SystemTime::now());
            a.set(Some((now_raw, now_wall)));
            if self.0 <= now_raw {
                now_wall - Duration::from_nanos(clock().delta_as_nanos(self.0, now_raw))
            } else {
                now_wall
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_the_system_clock() {
        for _ in 0..1000 {
            let ours = Stamp::now().wall();
            let sys = SystemTime::now();
            let diff = match sys.duration_since(ours) {
                Ok(d) => d,
                Err(e) => e.duration(),
            };
            assert!(diff < Duration::from_millis(5), "{diff:?}");
        }
        let a = Stamp::now();
        std::thread::sleep(Duration::from_millis(20));
        let b = Stamp::now();
        assert!(a.until(b) >= Duration::from_millis(19));
        assert!(b.wall().duration_since(a.wall()).unwrap() >= Duration::from_millis(19));
        assert_eq!(b.until(a), Duration::ZERO, "never negative");
    }

    #[test]
    fn old_stamps_convert_after_reanchoring() {
        let old = Stamp::now();
        let old_wall = SystemTime::now();
        std::thread::sleep(Duration::from_millis(1100));
        let _ = Stamp::now().wall(); // re-anchors
        let diff = match old.wall().duration_since(old_wall) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        assert!(diff < Duration::from_millis(5), "{diff:?}");
    }
}
