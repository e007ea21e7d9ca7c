//! sflow: agentless fleet maintenance workflows over SSH.
//!
//! The phases are separate modules with distinct input and output types:
//! source → [`ast`] (by [`syntax`]) → checked [`program`] (by [`check`]) → plan → events.
//! See `ARCHITECTURE.md` for the data flow, the code map and the invariants.

pub mod api;
pub mod ast;
pub mod audit;
pub mod check;
pub mod cli;
pub mod diagnostic;
pub mod engine;
pub mod fmt;
pub mod hooks;
pub mod inventory;
pub mod inventory_ansible;
pub mod journal;
pub mod lsp;
pub mod plan;
pub mod program;
pub mod resume;
pub mod seal;
pub mod secret;
pub mod span;
pub mod stdlib;
pub mod store;
pub mod syntax;
#[cfg(feature = "testing")]
pub mod testing;
pub mod timestamp;
pub mod transport;
pub mod verify;
pub mod window;
