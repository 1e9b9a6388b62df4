//! How failures below the use cases become [`AppError`]s: named constraint violations become
//! clear 4xx errors, anything unexpected is logged here, once, and becomes `Internal`.

use api::AppError;

/// Maps a database error (see [`db::Error`]).
#[must_use]
pub fn db_error(err: db::Error) -> AppError {
    match err {
        db::Error::NotFound => AppError::NotFound("not found".into()),
        db::Error::Invalid(m) => AppError::Unprocessable(m),
        db::Error::Constraint { ref constraint } => constraint_error(constraint),
        db::Error::Unavailable(err) => {
            tracing::error!(error = %err, "database unavailable");
            AppError::Unavailable("the database is unavailable just now; try again shortly".into())
        }
        other => {
            tracing::error!(error = %other, "database error");
            AppError::Internal
        }
    }
}

/// The user's message for a violated named constraint: the one its module lists beside the
/// query ([`db::constraint`]), or a generic one, logged.
fn constraint_error(constraint: &str) -> AppError {
    if let Some(c) = db::constraint(constraint) {
        let message = c.message.to_owned();
        return match c.violation {
            db::Violation::BadRequest => AppError::BadRequest(message),
            db::Violation::Invalid => AppError::Unprocessable(message),
            db::Violation::Conflict => AppError::Conflict(message),
        };
    }
    match constraint {
        // A CHECK is a rule on one value: the input broke it.
        other if other.ends_with("_check") => {
            tracing::warn!(constraint = other, "unmapped check constraint violated");
            AppError::Unprocessable(format!("a value breaks the rule `{other}`"))
        }
        other => {
            tracing::warn!(constraint = other, "unmapped constraint violation");
            AppError::Conflict(format!(
                "the request conflicts with existing data ({other})"
            ))
        }
    }
}

/// A refused judgement: 404, 403 (someone else's assignment), 409 (expired), 422 (the message
/// names the field).
#[must_use]
pub fn vote_error(e: db::assignments::VoteError) -> AppError {
    use db::assignments::VoteError;
    match e {
        VoteError::NotFound => AppError::NotFound(e.to_string()),
        VoteError::NotYours => AppError::Forbidden(e.to_string()),
        VoteError::Expired | VoteError::NotAPair => AppError::Conflict(e.to_string()),
        VoteError::Invalid(m) => AppError::Unprocessable(m),
        VoteError::Db(db) => db_error(db),
    }
}

/// `?`-friendly conversion of lower-layer results into [`AppError`] results.
pub trait OrApp<T> {
    /// The result with its error mapped as above.
    ///
    /// # Errors
    /// The mapped error.
    fn or_app(self) -> Result<T, AppError>;
}

impl<T> OrApp<T> for Result<T, db::Error> {
    fn or_app(self) -> Result<T, AppError> {
        self.map_err(db_error)
    }
}

impl<T> OrApp<T> for Result<T, db::assignments::VoteError> {
    fn or_app(self) -> Result<T, AppError> {
        self.map_err(vote_error)
    }
}

/// A 404 naming what was missing, for a lookup whose only expected failure is "not found".
///
/// # Errors
/// The mapped error.
pub fn or_not_found<T>(
    r: Result<T, db::Error>,
    what: impl FnOnce() -> String,
) -> Result<T, AppError> {
    match r {
        Err(db::Error::NotFound) => Err(AppError::NotFound(what())),
        other => other.or_app(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violated(name: &str) -> AppError {
        db_error(db::Error::Constraint {
            constraint: name.into(),
        })
    }

    #[test]
    fn constraints_map_by_name() {
        assert_eq!(
            violated("app_user_username_key"),
            AppError::Conflict("that username is taken".into())
        );
        assert_eq!(
            violated("model_name_key"),
            AppError::Conflict("a model with that name exists".into())
        );
        assert_eq!(
            violated("app_user_username_format_check").status(),
            400,
            "the message says what a username may hold"
        );
        // Unmapped: a CHECK is bad input (422), anything else a conflict (409).
        assert_eq!(violated("vote_winner_check").status(), 422);
        assert_eq!(violated("response_prompt_id_fkey").status(), 409);
        assert_eq!(db_error(db::Error::NotFound).status(), 404);
    }
}
