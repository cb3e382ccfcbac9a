//! One error type for services; it knows its HTTP status and renders as `{"error": …}`.

use poem::http::StatusCode;

#[derive(Debug, Clone, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{error}")]
    Unauthorized { error: String, message: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    Unavailable(String),
    /// An issue tracker or other upstream failed (5xx, timeouts, unreachable) after retries.
    #[error("{0}")]
    Upstream(String),
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn unauthorized(message: impl Into<String>) -> AppError {
        AppError::Unauthorized {
            error: "Authentication required".into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Upstream(_) => StatusCode::BAD_GATEWAY,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> serde_json::Value {
        match self {
            AppError::Unauthorized { error, message } => {
                serde_json::json!({"error": error, "message": message})
            }
            // Internal details go to the log, not to the client.
            AppError::Internal(_) => {
                serde_json::json!({"error": "Internal server error; see the server log"})
            }
            other => serde_json::json!({"error": other.to_string()}),
        }
    }
}

impl poem::error::ResponseError for AppError {
    fn status(&self) -> StatusCode {
        AppError::status(self)
    }

    fn as_response(&self) -> poem::Response {
        if let AppError::Internal(detail) = self {
            tracing::error!(error = %detail, "internal error");
        }
        poem::Response::builder()
            .status(AppError::status(self))
            .content_type("application/json")
            .body(self.body().to_string())
    }
}

macro_rules! internal_from {
    ($($t:ty),*) => {$(
        impl From<$t> for AppError {
            fn from(e: $t) -> Self { AppError::Internal(format!("store: {e}")) }
        }
    )*};
}
internal_from!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::DatabaseError
);

pub type AppResult<T> = Result<T, AppError>;
