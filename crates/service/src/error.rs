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

/// The user's message for a violated named constraint.
fn constraint_error(constraint: &str) -> AppError {
    match constraint {
        "app_user_username_key" => AppError::Conflict("that username is taken".into()),
        "app_user_username_format_check" => AppError::BadRequest(
            "a username has 1 to 64 letters, digits or the characters _ . @ -".into(),
        ),
        "app_user_external_id_key" => {
            AppError::Conflict("that external id belongs to another user".into())
        }
        "project_name_key" => AppError::Conflict("a project with that name exists".into()),
        "project_overlap_target_check" => {
            AppError::Unprocessable("the overlap target is a whole number from 1 to 1000".into())
        }
        "project_rationale_mode_check" => {
            AppError::Unprocessable("the rationale mode is off, optional or required".into())
        }
        "project_strength_scale_check" => {
            AppError::Unprocessable("the strength scale is off or slight_clear".into())
        }
        "project_assignment_ttl_check" => {
            AppError::Unprocessable("the assignment time limit is 10 s to 7 days".into())
        }
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
        // Unmapped: a CHECK is bad input (422), anything else a conflict (409).
        assert_eq!(violated("vote_winner_check").status(), 422);
        assert_eq!(violated("response_prompt_id_fkey").status(), 409);
        assert_eq!(db_error(db::Error::NotFound).status(), 404);
    }
}
