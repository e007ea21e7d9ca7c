//! sflow: agentless fleet maintenance workflows over SSH.
//!
//! The phases are separate modules with distinct input and output types:
//! source → [`ast`] (by [`syntax`]) → checked [`program`] (by [`check`]) → plan → events.
//! See `ARCHITECTURE.md` for the data flow, the code map and the invariants.

pub mod audit;
pub mod cli;
pub mod journal;
pub mod resume;
pub mod secret;
pub mod store;
pub mod window;
