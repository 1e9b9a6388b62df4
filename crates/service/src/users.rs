//! Users: one password rule, hashing off the async runtime, staff accounts and login checks.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
pub use db::users::{Role, UserRow};

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

/// Argon2 runs at most this many hashes at once (each holds about 19 MiB), so a burst of logins
/// queues instead of growing the server's memory without bound.
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        tokio::sync::Semaphore::new(cores.clamp(2, 8))
    })
}

/// How long a login waits for a hashing slot before it answers 429.
const HASHING_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Hashes in flight now and the most seen at once (the bound of [`hashing_slots`] is checked
/// against it by the tests).
static HASHING: (
    std::sync::atomic::AtomicUsize,
    std::sync::atomic::AtomicUsize,
) = (
    std::sync::atomic::AtomicUsize::new(0),
    std::sync::atomic::AtomicUsize::new(0),
);

/// The most argon2 computations this process has run at once.
#[must_use]
pub fn hashing_peak() -> usize {
    HASHING.1.load(std::sync::atomic::Ordering::Relaxed)
}

/// Runs one argon2 computation on the blocking pool, in a hashing slot.
async fn with_hashing_slot<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    use std::sync::atomic::Ordering;
    let Ok(Ok(_slot)) = tokio::time::timeout(HASHING_WAIT, hashing_slots().acquire()).await else {
        return Err(AppError::rate_limited(
            "the server is busy checking other logins",
            5,
        ));
    };
    tokio::task::spawn_blocking(move || {
        let now = HASHING.0.fetch_add(1, Ordering::SeqCst) + 1;
        HASHING.1.fetch_max(now, Ordering::SeqCst);
        let out = work();
        HASHING.0.fetch_sub(1, Ordering::SeqCst);
        out
    })
    .await
    .map_err(|err| {
        tracing::error!(error = %err, "hashing task failed");
        AppError::Internal
    })
}

/// A PHC-format argon2id hash of `password`, computed off the async runtime in a hashing slot.
///
/// # Errors
/// Internal if hashing fails or the blocking task panics; 429 when no slot frees up in time.
pub async fn hash_password(password: String) -> Result<String, AppError> {
    with_hashing_slot(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await?
    .map_err(|err| {
        tracing::error!(error = %err, "argon2 hashing failed");
        AppError::Internal
    })
}

async fn verify_password(password: String, hash: String) -> Result<bool, AppError> {
    with_hashing_slot(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
}

/// Checks a username and password, throttled per (username, client address) pair and per
/// address (see [`db::login_attempts::begin`]): guesses from one address stop after
/// [`Settings::login_max_failures`] for a name and five times that in all, while the real user
/// logging in from elsewhere is never locked out. A name under attack from many addresses is
/// slowed down instead: past the limit, each check waits a second more per limit's worth of
/// failures, up to 5 s.
///
/// # Errors
/// 429 after too many recent failures, or while every hashing slot stays busy; 401 (one
/// generic message) on any mismatch.
pub async fn check_login(
    pool: &db::PgPool,
    settings: &Settings,
    username: &str,
    password: &str,
    client_ip: Option<&str>,
) -> Result<i64, AppError> {
    use db::login_attempts::Gate;
    let username = username.trim();
    let max = settings.login_max_failures;
    let gate = db::login_attempts::begin(
        pool,
        username,
        client_ip,
        settings.login_window_secs,
        max,
        max.saturating_mul(5),
    )
    .await
    .or_app()?;
    let window = u64::try_from(settings.login_window_secs).unwrap_or(900);
    let (attempt_id, username_failures) = match gate {
        Gate::Open {
            attempt_id,
            username_failures,
        } => (attempt_id, username_failures),
        Gate::PairLimited | Gate::ClientLimited => {
            tracing::warn!(client_ip, "login rate limit reached");
            return Err(AppError::rate_limited("too many failed logins", window));
        }
    };
    if username_failures > max && max > 0 {
        let secs = ((username_failures - max) / max + 1).min(5);
        tracing::warn!(
            failures = username_failures,
            "slowing down logins for a name under attack"
        );
        tokio::time::sleep(std::time::Duration::from_secs(secs.unsigned_abs())).await;
    }
    let credentials = db::users::credentials(pool, username).await.or_app()?;
    let (user_id, valid) = match credentials {
        Some(c) => (
            Some(c.user_id),
            verify_password(password.to_owned(), c.password_hash).await?,
        ),
        None => {
            // Hash anyway, so a failed login takes as long whether or not the user exists.
            hash_password(password.to_owned()).await?;
            (None, false)
        }
    };
    match user_id {
        Some(id) if valid => {
            db::login_attempts::succeeded(pool, attempt_id)
                .await
                .or_app()?;
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

/// A user by id; `None` when there is none (a session that outlived its user).
///
/// # Errors
/// Internal on database failure.
pub async fn get(pool: &db::PgPool, user_id: i64) -> Result<Option<UserRow>, AppError> {
    match db::users::get(pool, user_id).await {
        Ok(user) => Ok(Some(user)),
        Err(db::Error::NotFound) => Ok(None),
        Err(err) => Err(crate::db_error(err)),
    }
}

/// A new anonymous annotator, with the crowd platform's participant id `external_id` when this
/// is its first arrival. A known id (another session's, or a named account's) binds only once:
/// the newcomer then gets an annotator without it.
///
/// # Errors
/// Internal on database failure.
pub async fn create_anonymous(
    pool: &db::PgPool,
    external_id: Option<&str>,
) -> Result<UserRow, AppError> {
    match db::users::create_anonymous_annotator(pool, external_id).await {
        Ok(user) => Ok(user),
        Err(err) if err.constraint() == Some("app_user_external_id_key") => {
            tracing::warn!("an external id that is already known arrived on a new session");
            db::users::create_anonymous_annotator(pool, None)
                .await
                .or_app()
        }
        Err(err) => Err(crate::db_error(err)),
    }
}

/// Up to `limit` users, staff first, for the admin page.
///
/// # Errors
/// Internal on database failure.
pub async fn list(pool: &db::PgPool, limit: i64) -> Result<Vec<UserRow>, AppError> {
    db::users::list(pool, limit).await.or_app()
}

/// Up to `limit` users as the admin page lists them: the login name, else the external id,
/// else the number.
///
/// # Errors
/// Internal on database failure.
pub async fn listed(
    pool: &db::PgPool,
    limit: i64,
) -> Result<Vec<api::admin::UserListItem>, AppError> {
    Ok(list(pool, limit)
        .await?
        .into_iter()
        .map(|u| api::admin::UserListItem {
            user_id: u.user_id,
            name: u
                .username
                .clone()
                .or_else(|| u.external_id.clone())
                .unwrap_or_else(|| format!("#{}", u.user_id)),
            role: u.role,
            is_anonymous: u.is_anonymous,
            created: u.created_at.date().to_string(),
        })
        .collect())
}
