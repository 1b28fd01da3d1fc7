//! The web crate's integration tests: one test binary, one module per area.

mod account;
mod admin;
mod api;
mod appointments;
mod cases;
mod cityops;
mod energy;
mod foundation;
mod lighting;
mod mqtt;
mod oidc;
mod services;
mod sta;
mod sta_conformance;
mod sta_extras;
