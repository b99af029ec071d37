//! The one integration-test binary: every scenario runs against real servers bound to
//! `127.0.0.1:0` (sandbox API server, reference gateway, PostgreSQL) over real HTTP.

mod support;

mod apiserver;
mod bench;
mod chaos;
mod crds;
mod gateway;
mod images;
mod kubectl;
mod operations;
mod operator;
mod postgres;
mod sandbox;
