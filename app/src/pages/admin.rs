//! Admin dashboard: users and accounts. Every server function here checks the role itself.

use leptos::prelude::*;

use crate::error::AppError;

pub use api::admin::{ModelListItem, UserListItem};

/// Lists users (admins only).
#[server(endpoint = "admin/list_users")]
pub async fn list_users() -> Result<Vec<UserListItem>, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        service::users::listed(&state.pool, 500).await
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
        ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        let role = service::users::parse_role(&role)?;
        let user = service::users::create_staff(&state.pool, &username, password, role).await?;
        Ok(user.user_id)
    })
    .await
}

/// Lists models with their scheduling settings (admins only).
#[server(endpoint = "admin/list_models")]
pub async fn list_models() -> Result<Vec<ModelListItem>, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        service::models::listed(&state.pool).await
    })
    .await
}

/// Sets whether the arena schedules a model and its sampler weight (admins only). `enabled`
/// is a checkbox: present means on.
#[server(endpoint = "admin/update_model")]
pub async fn update_model(
    model_id: i64,
    sampling_weight: f64,
    enabled: Option<String>,
) -> Result<(), AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        service::models::update_scheduling(
            &state.pool,
            model_id,
            Some(enabled.is_some()),
            Some(sampling_weight),
        )
        .await?;
        Ok(())
    })
    .await
}

/// Registers a model served by an OpenAI-compatible endpoint (admins only), enabled for the
/// arena. The key is read on the server from the environment variable named here.
#[server(endpoint = "admin/register_model")]
pub async fn register_model(
    name: String,
    base_url: String,
    model: String,
    api_key_env: Option<String>,
) -> Result<i64, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        let key = api_key_env.as_deref();
        service::models::register_openai(&state.pool, &name, &base_url, &model, key).await
    })
    .await
}

/// Registers a local model (admins only): a Hugging Face folder on the server, run by
/// Verdict's own generation, enabled for the arena.
#[server(endpoint = "admin/register_local_model")]
pub async fn register_local_model(name: String, path: String) -> Result<i64, AppError> {
    use crate::auth::ssr;
    ssr::respond(async {
        let (state, session) = ssr::context().await?;
        ssr::require_role(&state, &session, &[service::users::Role::Admin]).await?;
        let config = serde_json::json!({"path": path.trim()});
        let refuse = service::models::IfTaken::Refuse;
        let added = service::models::register_local(&state.pool, &name, &config, true, refuse);
        Ok(added.await?.model_id)
    })
    .await
}

/// The admin page: the access check on the server, then each panel as a lazy island with its
/// own data, so that a panel's form refreshes only that panel.
#[component]
pub fn AdminPage() -> impl IntoView {
    let users = Resource::new(|| (), |()| list_users());
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(_) => view! {
                        <h1>"Admin"</h1>
                        <StaffPanel/>
                        <ModelsPanel/>
                        <crate::pages::llm_judges::JudgesPanel/>
                        // Last: its form nests a Transition in its list's (components/island.rs).
                        <crate::pages::projects::ProjectsPanel/>
                        <section class="card">
                            <h2>"Training policies"</h2>
                            <p>"Let votes start DPO rounds by themselves, with the arena deciding on each trained model: "
                                <a href="/policies">"training policies"</a>"."</p>
                        </section>
                    }.into_any(),
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

/// Models and their arena scheduling: enabled and sampler weight (a lazy island).
#[island(lazy)]
fn ModelsPanel() -> impl IntoView {
    crate::components::island::hydrated();
    let update = ServerAction::<UpdateModel>::new();
    let register = ServerAction::<RegisterModel>::new();
    let register_local = ServerAction::<RegisterLocalModel>::new();
    let models = Resource::new(
        move || {
            (
                update.version().get(),
                register.version().get(),
                register_local.version().get(),
            )
        },
        |_| list_models(),
    );
    view! {
        <section class="card">
            <h2>"Models"</h2>
            <p class="muted">"The arena schedules enabled models; the pair sampler multiplies each pair's score by both weights."</p>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match models.await {
                        Ok(list) if list.is_empty() => view! { <p>"No models yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap">
                                <table class="data" aria-label="Models">
                                    <thead><tr><th>"Model"</th><th>"Kind"</th><th>"Enabled"</th><th>"Weight"</th><th></th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|m| {
                                            let form = format!("model-{}", m.model_id);
                                            view! {
                                                <tr>
                                                    <td>{m.name.clone()}</td>
                                                    <td>{m.kind.clone()}</td>
                                                    <td><input type="checkbox" name="enabled" value="on" form=form.clone() checked=m.enabled
                                                        aria-label=format!("{} enabled", m.name)/></td>
                                                    <td><input type="number" name="sampling_weight" min="0" step="0.1" form=form.clone()
                                                        value=m.sampling_weight.to_string() aria-label=format!("{} weight", m.name)/></td>
                                                    <td>
                                                        <ActionForm action=update attr:id=form.clone()>
                                                            <input type="hidden" name="model_id" value=m.model_id.to_string()/>
                                                            <button type="submit" class="button">"Save"</button>
                                                        </ActionForm>
                                                    </td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
            {move || update.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
            <h3>"Add an OpenAI-compatible model"</h3>
            <ActionForm action=register attr:class="row-form" attr:aria-label="Add an OpenAI-compatible model">
                <label>"Name" <input type="text" name="name" required placeholder="shown after votes"/></label>
                <label>"Base URL" <input type="url" name="base_url" required placeholder="https://api.openai.com/v1"/></label>
                <label>"Remote model" <input type="text" name="model" required placeholder="gpt-4o-mini"/></label>
                <label>"API key variable" <input type="text" name="api_key_env" placeholder="OPENAI_API_KEY"/></label>
                <button type="submit" class="button">"Add"</button>
            </ActionForm>
            {move || match register.value().get() {
                Some(Ok(_)) => Some(view! { <p class="ok" role="status">"Model added and enabled for the arena."</p> }.into_any()),
                Some(Err(e)) => Some(view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any()),
                None => None,
            }}
            <h3>"Add a local model"</h3>
            <ActionForm action=register_local attr:class="row-form" attr:aria-label="Add a local model">
                <label>"Name" <input type="text" name="name" required/></label>
                <label>"Folder on the server" <input type="text" name="path" required placeholder="/srv/models/SmolLM2-135M-Instruct"/></label>
                <button type="submit" class="button">"Add"</button>
            </ActionForm>
            {move || match register_local.value().get() {
                Some(Ok(_)) => Some(view! { <p class="ok" role="status">"Local model added and enabled for the arena."</p> }.into_any()),
                Some(Err(e)) => Some(view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any()),
                None => None,
            }}
        </section>
    }
}

/// Staff accounts: the form that adds one and the list of users (a lazy island).
#[island(lazy)]
fn StaffPanel() -> impl IntoView {
    crate::components::island::hydrated();
    let create = ServerAction::<CreateUser>::new();
    let users = Resource::new(move || create.version().get(), |_| list_users());
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
                        <Transition fallback=|| ()>
                            {move || Suspend::new(async move {
                                users.await.unwrap_or_default().into_iter().map(|u| view! {
                                    <tr>
                                        <td>{u.user_id}</td>
                                        <td>{u.name}{u.is_anonymous.then_some(" (anonymous)")}</td>
                                        <td>{u.role}</td>
                                        <td>{u.created}</td>
                                    </tr>
                                }).collect_view()
                            })}
                        </Transition>
                    </tbody>
                </table>
            </div>
        </section>
    }
}
