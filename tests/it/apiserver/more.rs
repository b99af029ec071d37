//! Sandbox API server scenarios: patch types, server-side apply, garbage collection, namespaces,
//! validation wiring, Events, faults and the CLI.
