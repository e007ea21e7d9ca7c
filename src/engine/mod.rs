//! The execution engine: runs a plan's work (a [`RunSpec`]) over a [`Runner`] in waves, inside
//! windows, within limits, and reports everything as one [`Event`] stream.
//!
//! Input: a `RunSpec` (from a `Plan`), a `Runner` (over the transports), a `Clock`. Output:
//! events to every sink, then a [`RunResult`]. See `docs/engine.md`.

pub mod adaptive;
pub mod clock;
mod dispatcher;
mod done;
pub mod dry_run;
pub mod event;
mod executor;
#[cfg(any(test, feature = "testing"))]
pub mod fake;
pub mod from_plan;
pub mod interp;
pub mod limits;
pub mod report;
pub mod result;
mod rollback;
pub mod runner;
mod schedule;
pub mod spec;
mod state;
pub mod transport_runner;
pub mod verification;
mod wave;
pub mod windows;

pub use clock::{Clock, RealClock, VirtualClock};
pub use dispatcher::{execute, Control, RunOptions};
pub use event::{
    Event, EventKind, EventSink, HostState, LaunchGate, Recorder, RunStatus, TaskState,
};
pub use result::{ResultSink, RunResult};
pub use runner::{CommandOutput, CommandRequest, ConnectionError, Runner};
pub use spec::{HostSpec, RunSpec, TaskSpec, WaveSpec};
