//! Gateway contract scenarios: `GatewayClient` against a real `portico gateway` on loopback.
