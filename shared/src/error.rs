//! The shared crate's one error type. Handlers map it to HTTP answers: `Unavailable` is a 503 (the
//! caller retries), `InvalidObservation` a 4xx, `LeadNotFound` a 404 or "ignored".

/// SQLSTATEs that mean "run the transaction again": serialization failure, deadlock, and a unique
/// violation on a provider key raced in by a writer of another lead.
const RETRYABLE: [&str; 3] = ["40001", "40P01", "23505"];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database cannot be reached or dropped the connection: nothing was written, try again later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database answered with an error (SQLSTATE and message; never row data).
    #[error("database error {code}: {message}")]
    Database { code: String, message: String },
    #[error("lead {0} not found")]
    LeadNotFound(String),
    /// The observation's provider key belongs to an appointment of another lead that the write may
    /// not follow: another lead of the client for a `LeadRef::Pinned` write, or another client's
    /// lead whose key a provider verified. Nothing is written. An API answers it as a conflict.
    #[error("the provider key belongs to another lead's appointment")]
    KeyOwnedElsewhere,
    #[error("invalid observation: {0}")]
    InvalidObservation(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("migration failed: {0}")]
    Migration(String),
    /// A stored value the code does not understand (an enum value added by someone else, say).
    #[error("unexpected stored value: {0}")]
    Corrupt(String),
}

impl Error {
    /// True when the whole transaction may simply be run again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Database { code, .. } if RETRYABLE.contains(&code.as_str()))
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            // The server is going away, starting up, or out of connections: try again later.
            Some(db) if is_unavailable_state(db.code().code()) => Error::Unavailable(format!("{} ({})", db.message(), db.code().code())),
            // The message of a database error can quote values (a duplicate key's value, say), so
            // keep only the SQLSTATE, the constraint name and PostgreSQL's message without DETAIL.
            Some(db) => Error::Database {
                code: db.code().code().to_string(),
                message: match db.constraint() {
                    Some(c) => format!("{} (constraint {c})", db.message()),
                    None => db.message().to_string(),
                },
            },
            None if e.is_closed() || is_io(&e) => Error::Unavailable(e.to_string()),
            // Conversions between Rust and SQL types: a bug or an unexpected stored value.
            None => Error::Corrupt(e.to_string()),
        }
    }
}

/// Connection exceptions (08), operator intervention (57P: shutdown, crash, cannot connect now),
/// too many connections (53300).
fn is_unavailable_state(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P") || code == "53300"
}

fn is_io(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    // Timeouts and connection failures have no io::Error source in some versions; their Display
    // is stable enough to recognise.
    let text = e.to_string();
    text.contains("timed out") || text.contains("error connecting") || text.contains("connection closed")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
