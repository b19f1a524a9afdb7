//! The function's one error type: what makes a whole invocation fail. A single lead's failure is
//! never one of these (it is counted in the summary and the run goes on).

/// Error types are stable, machine-readable names (the Lambda answer's `errorType`).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("client {0} not found or has no provider configured")]
    ClientNotFound(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database: {0}")]
    Database(String),
    #[error("configuration: {0}")]
    Config(String),
}

impl RunError {
    pub fn error_type(&self) -> &'static str {
        match self {
            RunError::InvalidInput(_) => "InvalidInput",
            RunError::ClientNotFound(_) => "ClientNotFound",
            RunError::Unavailable(_) => "DatabaseUnavailable",
            RunError::Database(_) => "DatabaseError",
            RunError::Config(_) => "ConfigurationError",
        }
    }

    /// What the operator is told: the message, of which at most
    /// [`shared::text::EXCERPT_CHARS`] characters (messages quote the input, which can be 100 KB).
    pub fn message(&self) -> String {
        shared::text::excerpt(&self.to_string()).into_owned()
    }
}

impl From<shared::Error> for RunError {
    fn from(e: shared::Error) -> Self {
        match e {
            shared::Error::Unavailable(m) => RunError::Unavailable(m),
            shared::Error::Config(m) => RunError::Config(m),
            other => RunError::Database(other.to_string()),
        }
    }
}

impl From<tokio_postgres::Error> for RunError {
    fn from(e: tokio_postgres::Error) -> Self {
        shared::Error::from(e).into()
    }
}

impl From<shared::providers::ProviderError> for RunError {
    fn from(e: shared::providers::ProviderError) -> Self {
        RunError::Config(e.to_string())
    }
}

impl From<RunError> for lambda_runtime::Diagnostic {
    fn from(e: RunError) -> Self {
        lambda_runtime::Diagnostic { error_type: e.error_type().to_string(), error_message: e.message() }
    }
}
