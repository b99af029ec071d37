//! Sandbox API server scenarios through the real `kubectl` binary.

mod builtins;
mod flows;
pub(crate) mod harness;
