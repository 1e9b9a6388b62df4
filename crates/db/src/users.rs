//! Users: staff accounts with passwords and annotators (possibly anonymous, bound to a session).

use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use time::OffsetDateTime;

use crate::Result;

/// A user's role. Stored as text with a CHECK constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Judges responses.
    Annotator,
    /// Reads leaderboards and statistics.
    Researcher,
    /// Manages everything.
    Admin,
}

impl Role {
    /// The name stored in the database and shown in the UI.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Annotator => "annotator",
            Self::Researcher => "researcher",
            Self::Admin => "admin",
        }
    }

    /// Parses a stored role name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "annotator" => Some(Self::Annotator),
            "researcher" => Some(Self::Researcher),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// A row of `app_user`, without the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    /// Primary key.
    pub user_id: i64,
    /// Role name (see [`Role`]).
    pub role: String,
    /// Login name of staff; anonymous annotators have none.
    pub username: Option<String>,
    /// External id such as a Prolific PID.
    pub external_id: Option<String>,
    /// Cohort labels.
    pub cohorts: Vec<String>,
    /// Whether the user was created automatically for a browser session.
    pub is_anonymous: bool,
    /// Whether the user's judgements are excluded from leaderboards and exports.
    pub excluded: bool,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

impl UserRow {
    /// The user's role; unknown names (impossible under the CHECK constraint) read as annotator.
    #[must_use]
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Annotator)
    }
}

#[derive(sqlx::FromRow)]
struct UserRecord {
    user_id: i64,
    role: String,
    username: Option<String>,
    external_id: Option<String>,
    cohorts: Vec<String>,
    is_anonymous: bool,
    excluded: bool,
    created_at: OffsetDateTime,
}

impl From<UserRecord> for UserRow {
    fn from(r: UserRecord) -> Self {
        Self {
            user_id: r.user_id,
            role: r.role,
            username: r.username,
            external_id: r.external_id,
            cohorts: r.cohorts,
            is_anonymous: r.is_anonymous,
            excluded: r.excluded,
            created_at: r.created_at,
        }
    }
}

const USER_COLUMNS: &str =
    "user_id, role, username, external_id, cohorts, is_anonymous, excluded, created_at";

/// Creates a staff or named annotator account with an already hashed password.
///
/// # Errors
/// `app_user_username_key` when the name is taken, `app_user_username_format_check` when it
/// has characters outside `[A-Za-z0-9_.@-]` or more than 64 of them.
pub async fn create_with_password(
    db: impl PgExecutor<'_>,
    username: &str,
    role: Role,
    password_hash: &str,
) -> Result<UserRow> {
    let sql = format!(
        "insert into app_user (role, username, password_hash) values ($1, $2, $3) \
         returning {USER_COLUMNS}"
    );
    let row: UserRecord = sqlx::query_as(&sql)
        .bind(role.as_str())
        .bind(username)
        .bind(password_hash)
        .fetch_one(db)
        .await?;
    Ok(row.into())
}

/// Creates an anonymous annotator for a new browser session.
///
/// # Errors
/// `app_user_external_id_key` when the external id already belongs to another user.
pub async fn create_anonymous_annotator(
    db: impl PgExecutor<'_>,
    external_id: Option<&str>,
) -> Result<UserRow> {
    let sql = format!(
        "insert into app_user (role, is_anonymous, external_id) values ('annotator', true, $1) \
         returning {USER_COLUMNS}"
    );
    let row: UserRecord = sqlx::query_as(&sql).bind(external_id).fetch_one(db).await?;
    Ok(row.into())
}

/// Finds a user by primary key.
///
/// # Errors
/// [`crate::Error::NotFound`] when there is no such user.
pub async fn get(db: impl PgExecutor<'_>, user_id: i64) -> Result<UserRow> {
    let sql = format!("select {USER_COLUMNS} from app_user where user_id = $1");
    let row: UserRecord = sqlx::query_as(&sql).bind(user_id).fetch_one(db).await?;
    Ok(row.into())
}

/// The login credentials of a user who has a password.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user.
    pub user_id: i64,
    /// PHC-format argon2 hash.
    pub password_hash: String,
}

/// Looks up the password hash for a username.
///
/// # Errors
/// Only on database failure; an unknown name is `Ok(None)`.
pub async fn credentials(db: impl PgExecutor<'_>, username: &str) -> Result<Option<Credentials>> {
    let row: Option<(i64, Option<String>)> =
        sqlx::query_as("select user_id, password_hash from app_user where username = $1")
            .bind(username)
            .fetch_optional(db)
            .await?;
    Ok(row.and_then(|(user_id, hash)| {
        hash.map(|password_hash| Credentials {
            user_id,
            password_hash,
        })
    }))
}

/// Lists users, staff first, newest first within a role; at most `limit` rows.
///
/// # Errors
/// Only on database failure.
pub async fn list(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<UserRow>> {
    let sql = format!(
        "select {USER_COLUMNS} from app_user \
         order by case role when 'admin' then 0 when 'researcher' then 1 else 2 end, user_id desc \
         limit $1"
    );
    let rows: Vec<UserRecord> = sqlx::query_as(&sql).bind(limit).fetch_all(db).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Counts users per role: `(role, count)`.
///
/// # Errors
/// Only on database failure.
pub async fn count_by_role(db: impl PgExecutor<'_>) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query_as("select role, count(*) from app_user group by role order by role")
        .fetch_all(db)
        .await?;
    Ok(rows)
}

/// The named constraints this module's queries can raise, with their users' messages.
pub const CONSTRAINTS: &[crate::Constraint] = &[
    crate::Constraint {
        name: "app_user_username_key",
        violation: crate::Violation::Conflict,
        message: "that username is taken",
    },
    crate::Constraint {
        name: "app_user_username_format_check",
        violation: crate::Violation::BadRequest,
        message: "a username has 1 to 64 letters, digits or the characters _ . @ -",
    },
    crate::Constraint {
        name: "app_user_external_id_key",
        violation: crate::Violation::Conflict,
        message: "that external id belongs to another user",
    },
    crate::Constraint {
        name: "app_user_role_check",
        violation: crate::Violation::Invalid,
        message: "the role is annotator, researcher or admin",
    },
    crate::Constraint {
        name: "app_user_staff_password_check",
        violation: crate::Violation::Invalid,
        message: "researchers and admins need a username and a password",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn usernames_are_unique_and_checked(pool: sqlx::PgPool) {
        let first = create_with_password(&pool, "alice", Role::Admin, "$argon2id$x")
            .await
            .unwrap();
        assert_eq!(first.role(), Role::Admin);
        let dup = create_with_password(&pool, "alice", Role::Researcher, "$argon2id$y").await;
        assert_eq!(dup.unwrap_err().constraint(), Some("app_user_username_key"));
        let bad = create_with_password(&pool, "bad name", Role::Admin, "$argon2id$z").await;
        assert_eq!(
            bad.unwrap_err().constraint(),
            Some("app_user_username_format_check")
        );
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn an_external_id_belongs_to_one_annotator(pool: sqlx::PgPool) {
        let anon = create_anonymous_annotator(&pool, Some("PID-1"))
            .await
            .unwrap();
        assert!(anon.is_anonymous);
        assert_eq!(anon.external_id.as_deref(), Some("PID-1"));
        let other = create_anonymous_annotator(&pool, Some("PID-1")).await;
        assert_eq!(
            other.unwrap_err().constraint(),
            Some("app_user_external_id_key")
        );
        assert!(credentials(&pool, "nobody").await.unwrap().is_none());
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn staff_need_a_password(pool: sqlx::PgPool) {
        let err = sqlx::query("insert into app_user (role, username) values ('admin', 'root')")
            .execute(&pool)
            .await
            .map_err(crate::Error::from)
            .unwrap_err();
        assert_eq!(err.constraint(), Some("app_user_staff_password_check"));
    }
}
