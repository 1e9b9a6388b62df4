//! Model text as safe HTML: Markdown is rendered on the server, and nothing in it can run.
//!
//! Raw HTML in the text (blocks and inline tags) is turned into plain text, so it shows as
//! written; links keep only `http`, `https` and `mailto` targets; images become their alt text,
//! so responses cannot load remote content into the annotator's page.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    match lower.split_once(':') {
        // Relative links and fragments carry no scheme.
        None => true,
        Some((scheme, _)) if scheme.contains(['/', '?', '#']) => true,
        Some((scheme, _)) => matches!(scheme, "http" | "https" | "mailto"),
    }
}

/// Renders Markdown to HTML that is safe to insert into the page.
#[must_use]
pub fn render(text: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(text, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let dest_url = if safe_url(&dest_url) {
                dest_url
            } else {
                CowStr::Borrowed("#")
            };
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            })
        }
        Event::Start(Tag::Image { .. }) => Event::Text(CowStr::Borrowed("[image: ")),
        Event::End(TagEnd::Image) => Event::Text(CowStr::Borrowed("]")),
        other => other,
    });
    let mut out = String::with_capacity(text.len() * 5 / 4);
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn markup_from_models_stays_inert() {
        let html = render("Green <script>alert(1)</script><img src=x onerror=\"alert(2)\">");
        assert!(
            !html.contains("<script") && !html.contains("<img"),
            "{html}"
        );
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        let block = render("<div onclick=\"alert(3)\">hi</div>\n\nafter");
        assert!(!block.contains("<div"), "{block}");
        let link = render("[click](javascript:alert(4)) [ok](https://example.org) [rel](/x)");
        assert!(!link.contains("javascript:"), "{link}");
        assert!(
            link.contains("href=\"https://example.org\"") && link.contains("href=\"/x\""),
            "{link}"
        );
        let image = render("![a cat](https://tracker.example/pixel.png)");
        assert!(
            !image.contains("<img") && image.contains("[image: a cat]"),
            "{image}"
        );
    }

    #[test]
    fn markdown_renders() {
        let html = render("# Title\n\n- **bold** item\n\n```rust\nfn main() {}\n```");
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(
            html.contains("<li><strong>bold</strong> item</li>"),
            "{html}"
        );
        assert!(
            html.contains("<pre><code class=\"language-rust\">fn main() {}"),
            "{html}"
        );
    }
}
