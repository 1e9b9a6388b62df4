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
            Self::Internal => "internal",
            Self::Transport(_) => "transport",
        }
    }

    /// 403 for a role that may not do this.
    #[must_use]
    pub fn forbidden() -> Self {
        Self::Forbidden("you do not have permission to do this".into())
    }

    /// 401 for a request that needs a login.
    #[must_use]
    pub fn login_required() -> Self {
        Self::Unauthorized("please log in".into())
    }
}

impl leptos::server_fn::error::FromServerFnError for AppError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        Self::Transport(value.to_string())
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use axum::response::{IntoResponse, Response};
    use http::StatusCode;

    use super::AppError;

    impl From<db::assignments::VoteError> for AppError {
        /// A refused judgement: 404, 403 (someone else's assignment), 409 (expired), 422 (the
        /// message names the field).
        fn from(e: db::assignments::VoteError) -> Self {
            use db::assignments::VoteError;
            match e {
                VoteError::NotFound => Self::NotFound(e.to_string()),
                VoteError::NotYours => Self::Forbidden(e.to_string()),
                VoteError::Expired | VoteError::NotAPair => Self::Conflict(e.to_string()),
                VoteError::Invalid(m) => Self::Unprocessable(m),
                VoteError::Db(db) => Self::from_db(db),
            }
        }
    }

    impl AppError {
        /// Maps a database error: named constraint violations become clear 4xx errors, anything
        /// else is logged here, once, and becomes [`AppError::Internal`].
        #[must_use]
        pub fn from_db(err: db::Error) -> Self {
            match err {
                db::Error::NotFound => Self::NotFound("not found".into()),
                db::Error::Invalid(m) => Self::Unprocessable(m),
                db::Error::Constraint { ref constraint } => match constraint.as_str() {
                    "app_user_username_key" => Self::Conflict("that username is taken".into()),
                    "app_user_username_format_check" => Self::BadRequest(
                        "a username has 1 to 64 letters, digits or the characters _ . @ -".into(),
                    ),
                    "app_user_external_id_key" => {
                        Self::Conflict("that external id belongs to another user".into())
                    }
                    "project_name_key" => Self::Conflict("a project with that name exists".into()),
                    "project_overlap_target_check" => Self::Unprocessable(
                        "the overlap target is a whole number from 1 to 1000".into(),
                    ),
                    "project_rationale_mode_check" => Self::Unprocessable(
                        "the rationale mode is off, optional or required".into(),
                    ),
                    "project_strength_scale_check" => {
                        Self::Unprocessable("the strength scale is off or slight_clear".into())
                    }
                    "project_assignment_ttl_check" => {
                        Self::Unprocessable("the assignment time limit is 10 s to 7 days".into())
                    }
                    other => {
                        tracing::warn!(constraint = other, "unmapped constraint violation");
                        Self::Conflict(format!(
                            "the request conflicts with existing data ({other})"
                        ))
                    }
                },
                other => {
                    tracing::error!(error = %other, "database error");
                    Self::Internal
                }
            }
        }

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

    impl From<db::Error> for AppError {
        fn from(err: db::Error) -> Self {
            Self::from_db(err)
        }
    }

    /// JSON body of every API error: `{"error": {"code": "...", "message": "..."}}`.
    impl IntoResponse for AppError {
        fn into_response(self) -> Response {
            let body = axum::Json(serde_json_body(&self));
            (self.status_code(), body).into_response()
        }
    }

    fn serde_json_body(err: &AppError) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: err.code(),
                message: err.to_string(),
            },
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
