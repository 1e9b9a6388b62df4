//! URL helpers shared by the pages.

/// Percent-encodes a query-string value (everything but unreserved characters).
#[must_use]
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The page's route parameter `name` as an id, read once on the server (an island gets it as a
/// prop); 0, which no row has, where it is missing or not a number.
#[must_use]
pub fn id_param(name: &str) -> i64 {
    use leptos::prelude::ReadUntracked;
    leptos_router::hooks::use_params_map()
        .read_untracked()
        .get(name)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reserved_and_non_ascii_bytes_are_escaped() {
        assert_eq!(
            super::encode("E2E pairs/é&x=1~"),
            "E2E%20pairs%2F%C3%A9%26x%3D1~"
        );
    }
}
