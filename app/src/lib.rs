//! Verdict's user interface: the Leptos app, rendered on the server and hydrated in the browser.
//!
//! One file per page under `pages/`; server functions sit next to the page that uses them and
//! stay thin: they get the state and the user, call one `service` function and return
//! (docs/architecture.md).

// Leptos' statically typed views nest deeply; the leaderboard's exceeds the default limit when
// the release wasm is compiled.
#![recursion_limit = "256"]

pub mod auth;
pub mod components;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod state;
pub mod url;

/// The wire types live in the `api` crate; the pages read them under these names.
pub use api::{error, leaderboard, quality, training};
/// Model text as safe HTML (server side).
#[cfg(feature = "ssr")]
pub use service::markdown;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, path};

use crate::components::header::Header;
use crate::pages::compare::ComparePage;
use crate::pages::{admin::AdminPage, annotate::AnnotatePage, arena::ArenaPage, home::HomePage};
use crate::pages::{leaderboard::LeaderboardPage, login::LoginPage, not_found::NotFound};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="data:,"/>
                <AutoReload options=options.clone()/>
                // `/pkg/verdict.<hash>.css` with hashed names (server/src/http/assets.rs).
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Sets the page's `Content-Security-Policy`: scripts only from this origin or inline with this
/// response's nonce (Leptos puts it on its hydration and streaming scripts), WebAssembly
/// allowed, no plugins, no framing, forms and fetches to this origin only. Inline `style`
/// attributes (progress bars, shaded cells) are allowed.
#[cfg(feature = "ssr")]
fn content_security_policy() {
    let nonce = leptos::nonce::use_nonce()
        .map(|n| format!(" 'nonce-{n}'"))
        .unwrap_or_default();
    let policy = format!(
        "default-src 'self'; script-src 'self'{nonce} 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    );
    if let (Some(res), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(&policy),
    ) {
        res.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The app: header and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Logging in or out refetches the session user, so the header follows client-side navigation.
    let actions = AuthActions {
        login: ServerAction::new(),
        logout: ServerAction::new(),
        first_admin: ServerAction::new(),
    };
    provide_context(actions);
    let user: UserResource = Resource::new(
        move || {
            (
                actions.login.version().get(),
                actions.logout.version().get(),
                actions.first_admin.version().get(),
            )
        },
        |_| auth::get_current_user(),
    );
    provide_context(user);
    view! {
        <Title text="Verdict"/>
        <Router>
            <Header/>
            <main class="page">
                <Routes fallback=NotFound>
                    <Route path=path!("") view=HomePage/>
                    <Route path=path!("/arena") view=ArenaPage/>
                    // Async SSR: binding a new annotator sets the session cookie, which must be
                    // known before the response headers leave.
                    <Route path=path!("/annotate") view=AnnotatePage ssr=SsrMode::Async/>
                    <Route path=path!("/annotate/:project") view=ComparePage ssr=SsrMode::Async/>
                    <Route path=path!("/leaderboard") view=LeaderboardPage/>
                    <Route path=path!("/data") view=crate::pages::data::DataPage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=LoginPage/>
                    // Async SSR so that a refused server check can still set the 403 status.
                    <Route path=path!("/admin") view=AdminPage ssr=SsrMode::Async/>
                    <Route path=path!("/training") view=crate::pages::training::TrainingPage ssr=SsrMode::Async/>
                    <Route path=path!("/quality/:project") view=crate::pages::quality::QualityPage ssr=SsrMode::Async/>
                    <Route path=path!("/training/:id") view=crate::pages::training::RunPage ssr=SsrMode::Async/>
                    <Route path=path!("/policies") view=crate::pages::policies::PoliciesPage ssr=SsrMode::Async/>
                    <Route path=path!("/policies/:id") view=crate::pages::policies::LineagePage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// The login and logout actions, shared by the header, the login page and the user resource.
#[derive(Clone, Copy)]
pub struct AuthActions {
    /// Submitted by the login form.
    pub login: ServerAction<auth::Login>,
    /// Submitted by the header's "Log out" button.
    pub logout: ServerAction<auth::Logout>,
    /// Submitted by the login page's "Create the first admin" form.
    pub first_admin: ServerAction<auth::CreateFirstAdmin>,
}

/// The session user, loaded once per page by [`App`].
pub type UserResource = Resource<Result<Option<auth::SessionUser>, error::AppError>>;

/// Browser entry point: hydrates the server-rendered page, then marks `<body data-hydrated>`
/// (end-to-end tests wait for it before clicking).
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
    if let Some(body) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
    {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
