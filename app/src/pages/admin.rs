//! Admin dashboard: users and accounts. Every server function here checks the role itself.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A user as listed to admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserListItem {
    /// Primary key.
    pub user_id: i64,
    /// Role.
    pub role: String,
    /// Login name or external id.
    pub name: String,
    /// Anonymous annotator.
    pub is_anonymous: bool,
    /// Creation date (UTC, `YYYY-MM-DD`).
    pub created: String,
}

/// Lists users (admins only).
#[server(endpoint = "admin/list_users")]
pub async fn list_users() -> Result<Vec<UserListItem>, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[db::users::Role::Admin]).await?;
        let rows = db::users::list(&state.pool, 500).await?;
        Ok(rows
            .into_iter()
            .map(|u| UserListItem {
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
    })
    .await
}

/// Creates a staff account (admins only).
#[server(endpoint = "admin/create_user")]
pub async fn create_user(
    username: String,
    password: String,
    role: String,
) -> Result<i64, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[db::users::Role::Admin]).await?;
        let role = db::users::Role::parse(&role).ok_or_else(|| {
            AppError::BadRequest("role must be admin, researcher or annotator".into())
        })?;
        if password.chars().count() < 8 {
            return Err(AppError::BadRequest(
                "a password has at least 8 characters".into(),
            ));
        }
        let hash = ssr::hash_password(password).await?;
        let user =
            db::users::create_with_password(&state.pool, username.trim(), role, &hash).await?;
        Ok(user.user_id)
    })
    .await
}

/// The admin page.
#[component]
pub fn AdminPage() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let users = Resource::new(move || create.version().get(), |_| list_users());
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(list) => view! { <AdminDashboard users=list create/> }.into_any(),
                    Err(AppError::Unauthorized(_)) => view! {
                        <section class="card narrow">
                            <h1>"Admin"</h1>
                            <p>"Please " <a href="/login?next=/admin">"log in"</a> " as an admin."</p>
                        </section>
                    }.into_any(),
                    Err(e) => view! {
                        <section class="card narrow">
                            <h1>"Admin"</h1>
                            <p class="error" role="alert">{e.to_string()}</p>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AdminDashboard(users: Vec<UserListItem>, create: ServerAction<CreateUser>) -> impl IntoView {
    let result = move || match create.value().get() {
        Some(Ok(id)) => Some(
            view! { <p class="ok" role="status">{format!("Created user #{id}.")}</p> }.into_any(),
        ),
        Some(Err(e)) => {
            Some(view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any())
        }
        None => None,
    };
    view! {
        <h1>"Admin"</h1>
        <section class="card">
            <h2>"Add a staff account"</h2>
            <ActionForm action=create attr:class="row-form">
                <label>"Username" <input type="text" name="username" required/></label>
                <label>"Password" <input type="password" name="password" minlength="8" required/></label>
                <label>"Role"
                    <select name="role">
                        <option value="researcher">"researcher"</option>
                        <option value="admin">"admin"</option>
                        <option value="annotator">"annotator"</option>
                    </select>
                </label>
                <button type="submit" class="button primary">"Create"</button>
            </ActionForm>
            {result}
        </section>
        <section class="card">
            <h2>"Users"</h2>
            <div class="table-wrap">
                <table class="data">
                    <thead><tr><th>"#"</th><th>"Name"</th><th>"Role"</th><th>"Since"</th></tr></thead>
                    <tbody>
                        {users.into_iter().map(|u| view! {
                            <tr>
                                <td>{u.user_id}</td>
                                <td>{u.name}{u.is_anonymous.then_some(" (anonymous)")}</td>
                                <td>{u.role}</td>
                                <td>{u.created}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}
