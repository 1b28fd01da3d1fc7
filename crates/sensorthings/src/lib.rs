//! OGC SensorThings API 1.1 (OGC 18-088) with the MultiDatastream extension: data model,
//! resource paths, the OData query language translated to SQL for SQLite and PostgreSQL,
//! create/update/delete with deep insert, and data sovereignty (visibility of Things and
//! Datastreams).
//!
//! The crate does not depend on HTTP or on a database driver: statements are executed through
//! `store`, and the web layer's router calls [`service`].

pub mod aggregate;
pub mod batch;
pub mod conn;
pub mod data_array;
pub mod demo;
pub mod filter;
pub mod model;
pub mod mqtt;
pub mod odata;
pub mod read;
pub mod resource;
pub mod service;
pub mod time;
pub mod visibility;
pub mod write;

pub use model::Kind;
pub use service::{Reply, UpdateMode, Written};
pub use visibility::Access;
pub use write::{Change, ChangeOp};
