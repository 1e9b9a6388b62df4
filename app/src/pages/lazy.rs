//! The routes whose code is split out of the first download.
//!
//! Annotators see the home, arena and annotation pages; their code is in the main wasm file.
//! Researchers' and admins' pages (login, leaderboard, data, admin, training, quality, policies)
//! are lazy routes: built with `cargo leptos build --split`, each page's view and everything
//! only it uses goes to its own wasm chunk, fetched when the page is first visited, or before
//! hydration when the page is the one the server rendered (README "Page weight"). On the server
//! they render as plain routes; the browser's build needs `--split`, or their imports have
//! nothing to load.
//!
//! Each route has no data of its own here: a page loads its data with resources inside its
//! view, and a server-rendered page carries that data for hydration, so only client-side
//! navigation waits for the chunk before the page's requests start.

use leptos::prelude::*;
use leptos_router::{LazyRoute, lazy_route};

use super::{admin, data, leaderboard, login, policies, quality, training};

/// `/login`.
pub struct Login;

#[lazy_route]
impl LazyRoute for Login {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <login::LoginPage/> }.into_any()
    }
}

/// `/leaderboard`.
pub struct Leaderboard;

#[lazy_route]
impl LazyRoute for Leaderboard {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <leaderboard::LeaderboardPage/> }.into_any()
    }
}

/// `/data`.
pub struct Data;

#[lazy_route]
impl LazyRoute for Data {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <data::DataPage/> }.into_any()
    }
}

/// `/admin`.
pub struct Admin;

#[lazy_route]
impl LazyRoute for Admin {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <admin::AdminPage/> }.into_any()
    }
}

/// `/training`.
pub struct Training;

#[lazy_route]
impl LazyRoute for Training {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <training::TrainingPage/> }.into_any()
    }
}

/// `/training/:id`.
pub struct Run;

#[lazy_route]
impl LazyRoute for Run {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <training::RunPage/> }.into_any()
    }
}

/// `/quality/:project`.
pub struct Quality;

#[lazy_route]
impl LazyRoute for Quality {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <quality::QualityPage/> }.into_any()
    }
}

/// `/policies`.
pub struct Policies;

#[lazy_route]
impl LazyRoute for Policies {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <policies::PoliciesPage/> }.into_any()
    }
}

/// `/policies/:id`.
pub struct Lineage;

#[lazy_route]
impl LazyRoute for Lineage {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <policies::LineagePage/> }.into_any()
    }
}
