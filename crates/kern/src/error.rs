//! The domain error type shared by every module.
//!
//! Doctrine: a domain function says *what* went wrong in words a user understands; the web layer
//! decides the status code and the wire format (HTML page, JSON problem, the standard's own error
//! document). Internal details never reach a client: [`Error::Internal`] is logged with the
//! request id and the client only sees that id.

use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not exist, or the caller may not know that it exists.
    #[error("{0}")]
    NotFound(String),
    /// The caller is known but lacks the right.
    #[error("{0}")]
    Forbidden(String),
    /// The caller must authenticate first (or the credentials are wrong).
    #[error("{0}")]
    Unauthorized(String),
    /// Input failed validation. `field` names the offending field where there is one.
    #[error("{}", .0)]
    Invalid(Invalid),
    /// The request conflicts with the current state (duplicate name, stale version, ...).
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts; retry after the given number of seconds.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    /// The request or an upload is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// A service this one depends on (a payment provider, say) cannot be reached; retry later.
    #[error("{0}")]
    Unavailable(String),
    /// Something failed that the caller cannot fix.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A list of validation problems, each optionally tied to a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invalid {
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .problems
            .iter()
            .map(|p| match &p.field {
                Some(field) => format!("{field}: {}", p.message),
                None => p.message.clone(),
            })
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl Invalid {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            field: Some(field.into()),
            message: message.into(),
        });
    }
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }
    /// `Ok(())` when nothing was pushed, otherwise the collected problems as an error.
    pub fn into_result(self) -> Result<()> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self))
        }
    }
}

impl Error {
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound(what.into())
    }
    pub fn forbidden(what: impl Into<String>) -> Self {
        Error::Forbidden(what.into())
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut inv = Invalid::new();
        inv.push(field, message);
        Error::Invalid(inv)
    }
    pub fn internal(e: impl fmt::Display) -> Self {
        Error::Internal(e.to_string())
    }
}
