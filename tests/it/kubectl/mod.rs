//! Sandbox API server scenarios through the real `kubectl` binary.

mod flows;
pub(crate) mod harness;
