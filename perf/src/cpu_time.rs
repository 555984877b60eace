//! CPU time from getrusage(2): what a run got of a shared machine. A syscall,
//! read at the edges of a measurement, never on the I/O path.

use std::time::Duration;

pub use nix::sys::resource::UsageWho;

/// CPU time of `who` (user, kernel); zero when getrusage fails, so a report
/// shows no rate rather than the run failing.
pub fn cpu_time(who: UsageWho) -> (Duration, Duration) {
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec().max(0) as u64)
            + Duration::from_micros(t.tv_usec().max(0) as u64)
    };
    nix::sys::resource::getrusage(who).map_or((Duration::ZERO, Duration::ZERO), |u| {
        (tv(u.user_time()), tv(u.system_time()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_thread_accumulates_cpu_time() {
        let (u0, s0) = cpu_time(UsageWho::RUSAGE_THREAD);
        let mut x = 0u64;
        let mut n = 0u32;
        // Spin until the clock moves: rusage granularity is a tick, so loop on it
        // rather than a fixed amount of work.
        loop {
            for i in 0..100_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            let (u1, s1) = cpu_time(UsageWho::RUSAGE_THREAD);
            if u1 + s1 > u0 + s0 {
                break;
            }
            n += 1;
            assert!(n < 1_000_000, "thread CPU time never advanced");
        }
    }
}
