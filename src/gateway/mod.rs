//! The gateway client: the build-time generated progenitor client wrapped as `GatewayClient`.
