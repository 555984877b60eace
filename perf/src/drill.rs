//! Drills run by the management thread while the jobs do I/O: the driver (or
//! LLDD instance) restarts (`--restart-every`), the link bounces
//! (`--link-bounce-every`) or the HBA firmware fails and recovers
//! (`--fw-error-every`). Each drill is a small state machine stepped from the
//! management loop over a [`Backend`]; it records how long the transport took to
//! give the port back (unregister → `remoteport_delete`) and how long I/O took
//! to resume.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::Backend;
use crate::error::PerfError;
use crate::job::JobShared;

/// Which drill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DrillKind {
    /// Unregister both ports, drop the LLDD instance, register the same WWNs
    /// from a new instance (emu/tests/seed.rs `seed_rebind_before_timeout`).
    Restart,
    /// The link goes down and comes back (fcloop: the remote port is
    /// unregistered and registered again on the same instance).
    LinkBounce,
    /// The HBA firmware fails with RN set and the driver recovers the port.
    FwError,
}

impl DrillKind {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            DrillKind::Restart => "restart",
            DrillKind::LinkBounce => "link-bounce",
            DrillKind::FwError => "fw-error",
        }
    }
}

/// One finished (or abandoned) drill.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DrillRecord {
    /// Which drill.
    pub kind: DrillKind,
    /// Seconds since the start of the run.
    pub start_s: f64,
    /// Unregister → `remoteport_delete` callback, ms (`null` if it never came).
    pub rport_delete_ms: Option<f64>,
    /// Drill start → first I/O completed successfully after the ports came
    /// back, ms (`null` when the run ended first).
    pub resume_ms: Option<f64>,
    /// I/Os that failed between the drill start and the resume.
    pub failed_ios: u64,
}

#[derive(Clone, Copy, Debug)]
enum Step {
    /// Waiting for the delete callbacks.
    Deleting,
    /// Ports registered again at this time; waiting for a completion.
    Resuming { reregistered_at: Duration },
}

#[derive(Debug)]
struct Active {
    kind: DrillKind,
    start: Duration,
    step: Step,
    errors_at_start: u64,
    record: DrillRecord,
}

/// Bound on each wait of a drill.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// The drill schedule and its records.
#[derive(Debug)]
pub struct Drills {
    schedule: Vec<(DrillKind, Duration, Duration)>,
    origin: Duration,
    active: Option<Active>,
    /// Finished drills, in order.
    pub records: Vec<DrillRecord>,
}

impl Drills {
    /// Drills every `every` of each kind, the first one `every` after `origin`
    /// (transport clock).
    pub fn new(every: &[(DrillKind, Duration)], origin: Duration) -> Self {
        Drills {
            schedule: every
                .iter()
                .filter(|(_, e)| !e.is_zero())
                .map(|&(k, e)| (k, e, origin + e))
                .collect(),
            origin,
            active: None,
            records: Vec::new(),
        }
    }

    /// A drill is in progress.
    pub fn active(&self) -> Option<DrillKind> {
        self.active.as_ref().map(|a| a.kind)
    }

    /// Steps the drill in progress or, if `start_new`, starts a due one. Call
    /// after `Transport::poll`.
    pub fn tick<B: Backend>(
        &mut self,
        world: &mut B,
        now: Duration,
        jobs: &[Arc<JobShared>],
        start_new: bool,
    ) -> Result<(), PerfError> {
        let errors = || {
            jobs.iter()
                .map(|j| j.errors.load(Ordering::Relaxed))
                .sum::<u64>()
        };
        let Some(a) = self.active.as_mut() else {
            if !start_new {
                return Ok(());
            }
            let Some(entry) = self.schedule.iter_mut().find(|(_, _, next)| now >= *next) else {
                return Ok(());
            };
            let kind = entry.0;
            entry.2 = now + entry.1;
            let begun = world.drill_begin(kind)?;
            let start = begun.start;
            log::info!("drill {}: started", kind.name());
            self.active = Some(Active {
                kind,
                start,
                step: match begun.back_at {
                    Some(reregistered_at) => Step::Resuming { reregistered_at },
                    None => Step::Deleting,
                },
                errors_at_start: errors(),
                record: DrillRecord {
                    kind,
                    start_s: ((start - self.origin).as_nanos() as f64 / 1e3).round() / 1e6,
                    rport_delete_ms: begun.rport_delete.map(ms),
                    resume_ms: None,
                    failed_ios: 0,
                },
            });
            return Ok(());
        };
        match a.step {
            Step::Deleting => {
                let gone = world.drill_gone(a.kind, a.start);
                if let Some(at) = gone.rport_deleted_at {
                    a.record
                        .rport_delete_ms
                        .get_or_insert(ms(at.saturating_sub(a.start)));
                }
                let deleted = gone.done;
                let late = now.saturating_sub(a.start) > STEP_TIMEOUT;
                if deleted || late {
                    if late {
                        log::warn!(
                            "drill {}: delete callbacks missing after {STEP_TIMEOUT:?}; registering again anyway",
                            a.kind.name()
                        );
                    }
                    let reregistered_at = world.drill_back(a.kind)?;
                    a.step = Step::Resuming { reregistered_at };
                }
            }
            Step::Resuming { reregistered_at } => {
                let since = u64::try_from(reregistered_at.as_nanos()).unwrap_or(u64::MAX);
                let resumed = jobs
                    .iter()
                    .map(|j| j.last_ok_ns.load(Ordering::Acquire))
                    .filter(|&t| t > since)
                    .min();
                let all_done = jobs.iter().all(|j| j.finished.load(Ordering::Acquire));
                if let Some(t) = resumed {
                    a.record.resume_ms = Some(ms(Duration::from_nanos(t).saturating_sub(a.start)));
                }
                if resumed.is_some()
                    || all_done
                    || now.saturating_sub(reregistered_at) > STEP_TIMEOUT
                {
                    a.record.failed_ios = errors().saturating_sub(a.errors_at_start);
                    log::info!("drill {}: {:?}", a.kind.name(), a.record);
                    self.records.push(a.record.clone());
                    self.active = None;
                }
            }
        }
        Ok(())
    }
}

/// Milliseconds, to the microsecond.
fn ms(d: Duration) -> f64 {
    (d.as_nanos() as f64 / 1e3).round() / 1e3
}
