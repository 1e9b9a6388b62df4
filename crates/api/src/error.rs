//! The one error type that crosses the wire: returned by server functions and REST handlers.

use serde::{Deserialize, Serialize};

/// An error shown to users. Internal details never leave the server: they are logged once and
/// become [`AppError::Internal`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", content = "message", rename_all = "snake_case")]
pub enum AppError {
    /// The request is malformed or a value is invalid (400).
    #[error("{0}")]
    BadRequest(String),
    /// The request is well-formed but its content is invalid (422).
    #[error("{0}")]
    Unprocessable(String),
    /// Not logged in, or wrong credentials (401). The message is deliberately generic.
    #[error("{0}")]
    Unauthorized(String),
    /// Logged in, but the role does not allow this (403).
    #[error("{0}")]
    Forbidden(String),
    /// Nothing here (404).
    #[error("{0}")]
    NotFound(String),
    /// Conflicts with existing data (409), e.g. a username that is taken.
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts (429).
    #[error("{0}")]
    TooManyRequests(String),
    /// The body is larger than the server accepts (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The database cannot be reached just now (503); retrying later may work.
    #[error("{0}")]
    Unavailable(String),
    /// Something failed on the server (500); the details are in the server's log.
    #[error("internal error: the server's log has the details")]
    Internal,
    /// The request never reached the server function, or its answer could not be read.
    #[error("{0}")]
    Transport(String),
}

impl AppError {
    /// The HTTP status this error is answered with.
    #[must_use]
    pub const fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unprocessable(_) => 422,
            Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::TooManyRequests(_) => 429,
            Self::PayloadTooLarge(_) => 413,
            Self::Unavailable(_) => 503,
            Self::Internal | Self::Transport(_) => 500,
        }
    }

    /// The stable machine-readable code used in JSON error bodies.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unprocessable(_) => "unprocessable",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::TooManyRequests(_) => "too_many_requests",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::Unavailable(_) => "unavailable",
            Self::Internal => "internal",
            Self::Transport(_) => "transport",
        }
    }

    /// 403 for a role that may not do this.
    #[must_use]
    pub fn forbidden() -> Self {
        Self::Forbidden("you do not have permission to do this".into())
    }

    /// 429 for an action done too often; the message ends with the seconds to wait, which
    /// [`AppError::retry_after`] reads back for the `Retry-After` header.
    #[must_use]
    pub fn rate_limited(what: &str, retry_after_secs: u64) -> Self {
        Self::TooManyRequests(format!("{what}: try again in {retry_after_secs} s"))
    }

    /// The seconds a 429 made by [`AppError::rate_limited`] asks to wait.
    #[must_use]
    pub fn retry_after(&self) -> Option<u64> {
        let Self::TooManyRequests(message) = self else {
            return None;
        };
        let rest = message.rsplit_once("try again in ")?.1;
        rest.strip_suffix(" s")?.parse().ok()
    }

    /// 401 for a request that needs a login.
    #[must_use]
    pub fn login_required() -> Self {
        Self::Unauthorized("please log in".into())
    }
}

impl server_fn::error::FromServerFnError for AppError {
    type Encoder = server_fn::codec::JsonEncoding;

    /// Arguments or a body the server could not read are the client's fault (400); everything
    /// else is the transport's.
    fn from_server_fn_error(value: server_fn::error::ServerFnErrorErr) -> Self {
        use server_fn::error::ServerFnErrorErr as E;
        match value {
            E::Args(m) | E::MissingArg(m) => Self::BadRequest(format!("bad arguments: {m}")),
            // On the server this is a body it could not read; in the browser, an answer.
            #[cfg(feature = "server")]
            E::Deserialization(m) if m.contains("length limit exceeded") => {
                Self::PayloadTooLarge("the request body is larger than this server accepts".into())
            }
            #[cfg(feature = "server")]
            E::Deserialization(m) => Self::BadRequest(format!("unreadable request: {m}")),
            other => Self::Transport(other.to_string()),
        }
    }
}

#[cfg(feature = "server")]
mod response {
    use axum::response::{IntoResponse, Response};
    use http::StatusCode;

    use super::AppError;

    impl AppError {
        /// Logs an unexpected server-side failure once and hides it behind
        /// [`AppError::Internal`].
        #[must_use]
        pub fn internal(err: impl std::fmt::Display) -> Self {
            tracing::error!(error = %err, "internal error");
            Self::Internal
        }

        /// The HTTP status code.
        #[must_use]
        pub fn status_code(&self) -> StatusCode {
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }

    /// JSON body of every API error: `{"error": {"code": "...", "message": "..."}}`.
    impl IntoResponse for AppError {
        fn into_response(self) -> Response {
            let retry_after = self.retry_after();
            let body = axum::Json(ErrorBody {
                error: ErrorDetail {
                    code: self.code(),
                    message: self.to_string(),
                },
            });
            let mut res = (self.status_code(), body).into_response();
            if let Some(secs) = retry_after {
                res.headers_mut()
                    .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
            }
            res
        }
    }

    #[derive(serde::Serialize)]
    struct ErrorBody {
        error: ErrorDetail,
    }

    #[derive(serde::Serialize)]
    struct ErrorDetail {
        code: &'static str,
        message: String,
    }
}
