//! Stadtkern's shared kernel.
//!
//! Everything here is pure: no I/O, no database, no HTTP. Time and randomness come in as
//! parameters ([`Clock`], [`Random`]) so that tests control them.

pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod i18n;
pub mod password;
pub mod random;
pub mod secret;

pub use auth::{Principal, Role, Scope};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
pub use error::{Error, Invalid, Result};
pub use random::{OsRandom, Random, SeededRandom};
