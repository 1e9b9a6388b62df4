//! Runtime settings that the use cases read.

/// Runtime settings that handlers read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Query parameter carrying an annotator's external id (e.g. `pid` for Prolific).
    pub external_id_param: String,
    /// Failed logins allowed per username or address within the window.
    pub login_max_failures: i64,
    /// Length of the login rate-limit window in seconds.
    pub login_window_secs: i64,
    /// Per-client rate limits and generation slots.
    pub limits: crate::limits::Limits,
    /// The header a trusted reverse proxy puts the client's address in (its last entry is
    /// read, e.g. `X-Forwarded-For`); `None` uses the connection's peer address.
    pub client_ip_header: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            external_id_param: "pid".into(),
            login_max_failures: 10,
            login_window_secs: 900,
            limits: crate::limits::Limits::default(),
            client_ip_header: None,
        }
    }
}
