//! Who is asking: sessions, staff login and logout, anonymous annotators, role checks.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The user of the current session, as the UI sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    /// Primary key.
    pub user_id: i64,
    /// `annotator`, `researcher` or `admin`.
    pub role: String,
    /// Login name (staff).
    pub username: Option<String>,
    /// External id (e.g. a Prolific PID).
    pub external_id: Option<String>,
    /// Created automatically for this browser session.
    pub is_anonymous: bool,
}

impl SessionUser {
    /// Whether this user may use the admin pages.
    #[must_use]
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }

    /// A short label for the header.
    #[must_use]
    pub fn label(&self) -> String {
        match (&self.username, &self.external_id) {
            (Some(name), _) => name.clone(),
            (None, Some(pid)) => format!("annotator {pid}"),
            (None, None) => format!("annotator #{}", self.user_id),
        }
    }
}

/// The current session's user, if any.
#[server(endpoint = "current_user")]
pub async fn get_current_user() -> Result<Option<SessionUser>, AppError> {
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        Ok(ssr::session_user(&state, &session)
            .await?
            .map(ssr::to_session_user))
    })
    .await
}

/// Logs a staff member in. Works as a plain HTML form before the page hydrates.
#[server(endpoint = "login")]
pub async fn login(
    username: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        let client_ip = ssr::client_ip().await;
        let user_id = service::users::check_login(
            &state.pool,
            &state.settings,
            &username,
            &password,
            client_ip.as_deref(),
        )
        .await?;
        ssr::bind_session(&session, user_id).await?;
        leptos_axum::redirect(&safe_next(next.as_deref()));
        Ok(())
    })
    .await
}

/// Whether no admin exists yet, so that `/login` offers to create the first one.
#[server(endpoint = "first_admin_needed")]
pub async fn first_admin_needed() -> Result<bool, AppError> {
    ssr::respond(async {
        let (state, _) = ssr::context().await?;
        service::users::first_admin_needed(&state.pool).await
    })
    .await
}

/// Creates the first admin with the one-time token from the server's log, and logs them in.
/// Works as a plain HTML form before the page hydrates.
#[server(endpoint = "first_admin")]
pub async fn create_first_admin(
    token: String,
    username: String,
    password: String,
) -> Result<(), AppError> {
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        let user =
            service::users::create_first_admin(&state.pool, &token, &username, password).await?;
        ssr::bind_session(&session, user.user_id).await?;
        leptos_axum::redirect("/admin");
        Ok(())
    })
    .await
}

/// Ends the session.
#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    ssr::respond(async {
        let (_, session) = ssr::context().await?;
        session.flush().await.map_err(|err| {
            tracing::error!(error = %err, "session flush failed");
            AppError::Internal
        })?;
        leptos_axum::redirect("/");
        Ok(())
    })
    .await
}

/// Only local paths may follow a login, so a crafted link cannot send users elsewhere.
///
/// A path must start with one `/` and hold visible ASCII only: browsers drop tabs and line
/// breaks from a `Location` (`/\t/host` becomes `//host`, another site), a backslash reads as a
/// slash, and a line break could not go into the header at all.
#[must_use]
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Server-side session and role helpers, shared by server functions and REST handlers.

    use std::future::Future;

    use leptos::prelude::*;
    use service::users::{Role, UserRow};
    use tower_sessions::Session;

    use super::SessionUser;
    use crate::error::AppError;
    use crate::state::{AppState, ClientIp};

    /// Session key holding the user id.
    pub const USER_ID_KEY: &str = "user_id";

    /// Runs a server function body and, on error, sets the HTTP status of the response to the
    /// error's (403, 401, ...) instead of the framework's default 500.
    pub async fn respond<T>(
        body: impl Future<Output = Result<T, AppError>>,
    ) -> Result<T, AppError> {
        let result = body.await;
        if let Err(err) = &result
            && let Some(options) = use_context::<leptos_axum::ResponseOptions>()
        {
            options.set_status(err.status_code());
            if let Some(secs) = err.retry_after() {
                options.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
            }
        }
        result
    }

    /// The application state and the request's session.
    pub async fn context() -> Result<(AppState, Session), AppError> {
        let state = use_context::<AppState>().ok_or_else(|| {
            tracing::error!("AppState missing from the server function context");
            AppError::Internal
        })?;
        let session = leptos_axum::extract::<Session>().await.map_err(|err| {
            tracing::error!(error = %err, "no session layer");
            AppError::Internal
        })?;
        Ok((state, session))
    }

    /// The client's address as recorded by the server's connection layer.
    pub async fn client_ip() -> Option<String> {
        leptos_axum::extract::<axum::Extension<ClientIp>>()
            .await
            .ok()
            .and_then(|ext| ext.0.0)
    }

    /// Sessions live in the database, so a store failure is the database's: 503.
    fn session_error(err: tower_sessions::session::Error) -> AppError {
        tracing::error!(error = %err, "session store error");
        AppError::Unavailable("the database is unavailable just now; try again shortly".into())
    }

    /// The id of the user bound to the session, read from the session alone (no database
    /// query). For hot paths whose own statement checks the user, such as voting: an assignment
    /// belongs to exactly one user, and a deleted user's assignments are deleted with them.
    ///
    /// # Errors
    /// Internal on session store failure.
    pub async fn session_user_id(session: &Session) -> Result<Option<i64>, AppError> {
        session.get::<i64>(USER_ID_KEY).await.map_err(session_error)
    }

    /// The user bound to the session, if any (a deleted user reads as none).
    ///
    /// # Errors
    /// Internal on session store or database failure.
    pub async fn session_user(
        state: &AppState,
        session: &Session,
    ) -> Result<Option<UserRow>, AppError> {
        let Some(user_id) = session
            .get::<i64>(USER_ID_KEY)
            .await
            .map_err(session_error)?
        else {
            return Ok(None);
        };
        service::users::get(&state.pool, user_id).await
    }

    /// The session's user, whatever their role: 401 without one.
    ///
    /// # Errors
    /// 401 without a user; Internal on session store or database failure.
    pub async fn require_user(state: &AppState, session: &Session) -> Result<UserRow, AppError> {
        session_user(state, session)
            .await?
            .ok_or_else(AppError::login_required)
    }

    /// The session's user if their role is one of `roles`: 401 without a user, 403 otherwise.
    ///
    /// # Errors
    /// As above, or Internal on store failure.
    pub async fn require_role(
        state: &AppState,
        session: &Session,
        roles: &[Role],
    ) -> Result<UserRow, AppError> {
        let user = require_user(state, session).await?;
        if roles.contains(&user.role()) {
            Ok(user)
        } else {
            Err(AppError::forbidden())
        }
    }

    /// Converts a row to the wire type.
    #[must_use]
    pub fn to_session_user(user: UserRow) -> SessionUser {
        SessionUser {
            user_id: user.user_id,
            role: user.role,
            username: user.username,
            external_id: user.external_id,
            is_anonymous: user.is_anonymous,
        }
    }

    /// Binds a user to the session under a fresh session id (no session fixation).
    ///
    /// # Errors
    /// Internal on session store failure.
    pub async fn bind_session(session: &Session, user_id: i64) -> Result<(), AppError> {
        session.cycle_id().await.map_err(session_error)?;
        session
            .insert(USER_ID_KEY, user_id)
            .await
            .map_err(session_error)?;
        Ok(())
    }

    /// The annotator of this session: the session's user, or a new anonymous annotator bound
    /// to the session now, carrying the recruiting platform's external id when this is that
    /// id's first arrival.
    ///
    /// An external id is not a password: a session that has a user keeps it whatever id a link
    /// carries (a planted id would collect someone else's votes), and an id that is already
    /// known binds nobody new, so a fresh session sending it gets an annotator of its own and
    /// never another session's open assignment.
    ///
    /// # Errors
    /// 429 when this client made too many new annotators lately; 422 for an id the database
    /// cannot hold; Internal on store or database failure.
    pub async fn ensure_annotator(
        state: &AppState,
        session: &Session,
        external_id: Option<&str>,
    ) -> Result<UserRow, AppError> {
        if let Some(user) = session_user(state, session).await? {
            return Ok(user);
        }
        state.limiter.check(
            service::limits::Action::NewAnnotator,
            client_ip().await.as_deref(),
        )?;
        let external_id = external_id
            .map(str::trim)
            .filter(|pid| !pid.is_empty() && pid.len() <= 128);
        let user = create_anonymous(state, external_id).await?;
        bind_session(session, user.user_id).await?;
        tracing::info!(user_id = user.user_id, "annotator bound to session");
        Ok(user)
    }

    async fn create_anonymous(state: &AppState, pid: Option<&str>) -> Result<UserRow, AppError> {
        service::users::create_anonymous(&state.pool, pid).await
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_only_allows_local_paths() {
        assert_eq!(safe_next(Some("/admin")), "/admin");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/\n/evil.example")), "/");
        assert_eq!(safe_next(Some("/ok\r\nSet-Cookie: x=1")), "/");
        assert_eq!(safe_next(Some("/ /evil.example")), "/");
        assert_eq!(
            safe_next(Some("/annotate/3?pid=a%20b")),
            "/annotate/3?pid=a%20b"
        );
    }
}
