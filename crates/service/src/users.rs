//! Users: one password rule, hashing off the async runtime, staff accounts and login checks.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use db::users::{Role, UserRow};

use crate::{AppError, OrApp, Settings};

/// The shortest password a staff account may have, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Checks a new password against the one rule.
///
/// # Errors
/// 422 for a password shorter than [`MIN_PASSWORD_CHARS`].
pub fn check_password(password: &str) -> Result<(), AppError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::Unprocessable(format!(
            "a password has at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// Parses a role name as forms and the CLI send it.
///
/// # Errors
/// 422 for anything but `admin`, `researcher` or `annotator`.
pub fn parse_role(role: &str) -> Result<Role, AppError> {
    Role::parse(role.trim()).ok_or_else(|| {
        AppError::Unprocessable("role must be admin, researcher or annotator".into())
    })
}

/// Creates a staff account with a password (every edge: admin page, REST, `verdict user
/// create`).
///
/// # Errors
/// 422 for a short password, 400 for a malformed username, 409 for a taken one.
#[tracing::instrument(skip_all, fields(role = role.as_str()))]
pub async fn create_staff(
    pool: &db::PgPool,
    username: &str,
    password: String,
    role: Role,
) -> Result<UserRow, AppError> {
    check_password(&password)?;
    let hash = hash_password(password).await?;
    db::users::create_with_password(pool, username.trim(), role, &hash)
        .await
        .or_app()
}

/// A PHC-format argon2id hash of `password`, computed off the async runtime.
///
/// # Errors
/// Internal if hashing fails or the blocking task panics.
pub async fn hash_password(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|err| {
        tracing::error!(error = %err, "hashing task failed");
        AppError::Internal
    })?
    .map_err(|err| {
        tracing::error!(error = %err, "argon2 hashing failed");
        AppError::Internal
    })
}

async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// Checks a username and password, rate limited per name and per client address.
///
/// # Errors
/// 429 after too many recent failures, 401 (one generic message) on any mismatch.
pub async fn check_login(
    pool: &db::PgPool,
    settings: &Settings,
    username: &str,
    password: &str,
    client_ip: Option<&str>,
) -> Result<i64, AppError> {
    let username = username.trim();
    let failures =
        db::login_attempts::recent_failures(pool, username, client_ip, settings.login_window_secs)
            .await
            .or_app()?;
    if failures >= settings.login_max_failures {
        tracing::warn!(client_ip, "login rate limit reached");
        return Err(AppError::TooManyRequests(
            "too many failed logins; wait a few minutes and try again".into(),
        ));
    }
    let credentials = db::users::credentials(pool, username).await.or_app()?;
    let (user_id, valid) = match credentials {
        Some(c) => (
            Some(c.user_id),
            verify_password(password.to_owned(), c.password_hash).await,
        ),
        None => {
            // Hash anyway, so a failed login takes as long whether or not the user exists.
            hash_password(password.to_owned()).await?;
            (None, false)
        }
    };
    db::login_attempts::record(pool, username, client_ip, valid)
        .await
        .or_app()?;
    match user_id {
        Some(id) if valid => {
            tracing::info!(user_id = id, "login");
            Ok(id)
        }
        _ => Err(AppError::Unauthorized("wrong username or password".into())),
    }
}

/// While no admin exists, issues a one-time token for creating the first one in the browser
/// (`verdict serve` prints it in its log); `None` once an admin exists.
///
/// # Errors
/// Internal on database failure.
pub async fn first_admin_token(pool: &db::PgPool) -> Result<Option<String>, AppError> {
    if db::first_admin::admin_exists(pool).await.or_app()? {
        return Ok(None);
    }
    let token: String = {
        use rand::Rng as _;
        use rand::distr::Alphanumeric;
        rand::rng()
            .sample_iter(Alphanumeric)
            .take(32)
            .map(char::from)
            .collect()
    };
    db::first_admin::add_token(pool, &token).await.or_app()?;
    Ok(Some(token))
}

/// Whether the first admin is still to be created.
///
/// # Errors
/// Internal on database failure.
pub async fn first_admin_needed(pool: &db::PgPool) -> Result<bool, AppError> {
    Ok(!db::first_admin::admin_exists(pool).await.or_app()?)
}

/// Creates the first admin with a token from the server's log; the token then stops working.
///
/// # Errors
/// 422 for a short password, 400 for a malformed username, 403 for a wrong or used token,
/// 409 once an admin exists.
pub async fn create_first_admin(
    pool: &db::PgPool,
    token: &str,
    username: &str,
    password: String,
) -> Result<UserRow, AppError> {
    check_password(&password)?;
    let hash = hash_password(password).await?;
    match db::first_admin::create_admin(pool, token.trim(), username.trim(), &hash)
        .await
        .or_app()?
    {
        Ok(user) => {
            tracing::info!(
                user_id = user.user_id,
                "the first admin was created in the browser"
            );
            Ok(user)
        }
        Err(db::first_admin::Refusal::AdminExists) => Err(AppError::Conflict(
            "an admin exists already: log in, or ask an admin for an account".into(),
        )),
        Err(db::first_admin::Refusal::BadToken) => Err(AppError::Forbidden(
            "that setup token is wrong, was used already or is over a day old; restart the \
             server for a new one"
                .into(),
        )),
    }
}
