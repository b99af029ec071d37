//! Chaos and bad input: invalid custom resources the API server must refuse (or prune), malformed
//! gateway answers the operator must survive without a hot loop, and a short seeded soak.

mod hostile_gateway;
mod invalid_crs;
mod malformed_gateway;
mod soak;
