//! Schemathesis conformance placeholder.
