//! City operations: roadworks coordination (Baustellenmanagement) with conflict detection,
//! public feeds (GeoJSON, iCalendar, DATEX II v3) and area subscriptions by e-mail.
//!
//! The domain checks authorisation itself ([`roadworks::require_staff`]); the web layer only
//! extracts and renders.

pub mod demo;
pub mod energy;
pub mod energy_demo;
pub mod feeds;
pub mod geometry;
pub mod lighting;
pub mod parking;
pub mod roadworks;
pub mod subscriptions;
pub mod traffic;
