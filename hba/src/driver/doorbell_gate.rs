//! The doorbell gate of one I/O queue pair: how a port incarnation that is
//! going away stops the threads that own its queues from ringing doorbells.
//!
//! An owner thread checks that the pair is alive and then writes its
//! doorbell; management closes the pair and then destroys or resets the
//! queues. With only a flag, an owner can pass the check, be preempted, and
//! ring once after the queue is gone (on hardware: a doorbell for a queue id
//! a new incarnation may already have reused). The gate closes that window
//! with a Dekker pair of sequentially consistent accesses:
//!
//! - owner: `ringing = true` (SeqCst), load `open` (SeqCst), ring only if
//!   open, `ringing = false` (Release);
//! - management: `open = false` (SeqCst), then wait until `ringing` (SeqCst)
//!   reads false.
//!
//! In the single total order of SeqCst accesses either the owner's load of
//! `open` comes after management's store (it sees closed and does not ring)
//! or management's load of `ringing` comes after the owner's store (it waits
//! for the doorbell write to finish). Either way no doorbell is written after
//! management moves on. The owner pays one SeqCst store and one load per
//! doorbell section: no read-modify-write, no lock.

use std::sync::atomic::{AtomicBool, Ordering};

/// One queue pair's gate; on its own cache line (its owner writes it on
/// every doorbell).
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct DoorbellGate {
    /// The pair's queues exist in the current port incarnation.
    open: AtomicBool,
    /// The owner is between its look at `open` and the end of its doorbell
    /// write.
    ringing: AtomicBool,
}

impl DoorbellGate {
    /// An open gate.
    pub fn new() -> DoorbellGate {
        DoorbellGate {
            open: AtomicBool::new(true),
            ringing: AtomicBool::new(false),
        }
    }

    /// Owner: runs `ring` (the doorbell write) if the gate is open; returns
    /// whether it ran.
    #[inline]
    pub fn ring(&self, ring: impl FnOnce()) -> bool {
        self.ringing.store(true, Ordering::SeqCst);
        let open = self.open.load(Ordering::SeqCst);
        if open {
            ring();
        }
        // Release: management that reads false sees the doorbell written.
        self.ringing.store(false, Ordering::Release);
        open
    }

    /// Whether the pair's queues still exist (a hint for the owner: new work
    /// is refused early; [`Self::ring`] is what keeps doorbells safe).
    #[inline]
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Management: no doorbell starts after this returns.
    pub fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
    }

    /// Management, after [`Self::close`]: an owner may still be writing a
    /// doorbell it started before the close.
    pub fn ringing(&self) -> bool {
        self.ringing.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    #[test]
    fn a_closed_gate_rings_nothing() {
        let g = DoorbellGate::new();
        let mut rung = 0;
        assert!(g.ring(|| rung += 1));
        g.close();
        assert!(!g.is_open());
        assert!(!g.ring(|| rung += 1));
        assert_eq!(rung, 1);
        assert!(!g.ringing());
    }

    /// An owner rings as fast as it can while management closes the gate:
    /// once management saw the gate closed and no doorbell in progress, the
    /// count of doorbells never moves again.
    #[test]
    fn no_doorbell_after_close_and_drain() {
        for _ in 0..200 {
            let g = Arc::new(DoorbellGate::new());
            let rung = Arc::new(AtomicU64::new(0));
            let owner = {
                let (g, rung) = (Arc::clone(&g), Arc::clone(&rung));
                std::thread::spawn(move || {
                    let mut closed_seen = 0;
                    while closed_seen < 1000 {
                        if !g.ring(|| {
                            let n = rung.load(Ordering::Relaxed);
                            rung.store(n + 1, Ordering::Relaxed);
                        }) {
                            closed_seen += 1;
                        }
                    }
                })
            };
            while rung.load(Ordering::Relaxed) < 10 {
                std::thread::yield_now();
            }
            g.close();
            while g.ringing() {
                std::hint::spin_loop();
            }
            let at_close = rung.load(Ordering::Acquire);
            owner.join().unwrap();
            assert_eq!(rung.load(Ordering::Acquire), at_close);
        }
    }
}
