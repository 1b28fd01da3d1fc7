//! Stadtkern citizen services: the city hall's online front and back office.
//!
//! - [`catalog`]: the service catalog (LeiKa keys, documents, fees, legal basis, org units),
//!   import from XZuFi 2.x ([`xzufi`]) and JSON, export as JSON, German search ([`search`]).
//! - [`epc`]: EPC/GiroCode QR payloads and ISO 11649 creditor references for invoices;
//!   [`camt`]: CAMT.053 bank statements for reconciliation; [`xdomea`]: XDOMEA 3.x archive
//!   messages for closed case files. These are pure formats, used by the payment and case
//!   parts as they join.
//! - [`demo`]: the demo city's catalog.

pub mod appointments;
pub mod camt;
pub mod cases;
pub mod catalog;
pub mod demo;
pub mod epc;
pub mod forms;
pub mod payments;
pub mod payprovider;
pub mod pdf;
pub mod privacy;
pub mod search;
pub mod xdomea;
pub mod xzufi;
