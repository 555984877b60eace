//! Runnable examples of ufc, each on the in-process emulated HBA, so they
//! need neither hardware nor root:
//!
//! ```text
//! cargo run -p ufc-examples --example hello_world   # connect, write a block, read it back
//! cargo run -p ufc-examples --example identify      # ports, controllers, namespaces
//! cargo run -p ufc-examples --example restart       # Hba::restart under I/O: the timeline
//! ```
//!
//! The library holds only what every example repeats and nothing about FC:
//! the polling loop with its deadline and an `ensure` for checks. The
//! setup (model, device, transport, `Hba::open`) stays in each example, so
//! that it reads top to bottom.

use std::error::Error;
use std::time::{Duration, Instant};

use ufc_hba::{Hba, HbaLldd};
use ufc_transport::Transport;

/// What the examples return: any error, printed by `main`, exit code 1.
pub type Result<T = ()> = std::result::Result<T, Box<dyn Error>>;

/// The driver and the transport are polled, never interrupt-driven: nothing
/// moves unless the application calls `poll`. Spins until `done` holds, for
/// at most 10 s of the real clock; the error names `what` was awaited.
pub fn poll_until(
    hba: &mut Hba,
    transport: &Transport<HbaLldd>,
    what: &str,
    mut done: impl FnMut(&Hba) -> bool,
) -> Result {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(hba) {
        hba.poll()?;
        transport.poll();
        if Instant::now() > deadline {
            return Err(format!("timed out after 10 s waiting for {what}").into());
        }
    }
    Ok(())
}

/// Fails with `why` unless `cond` holds.
pub fn ensure(cond: bool, why: impl Into<String>) -> Result {
    if cond {
        Ok(())
    } else {
        Err(why.into().into())
    }
}
