//! The whole Portico stack in one process, for development and tests: the test stack builder
//! (`stack`), the `portico sandbox` command, the benchmark (`portico bench`) and the chaos soak
//! (`portico soak`).
//!
//! Contract: a development and test tool. It may import every crate of ours; no crate of ours
//! imports it, and the operator image does not link it.
#![forbid(unsafe_code)]

pub mod bench;
pub mod sandbox;
pub mod soak;
pub mod stack;
pub mod upstream;
