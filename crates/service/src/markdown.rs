//! Model text as safe HTML: Markdown is rendered on the server, and nothing in it can run.
//!
//! Raw HTML in the text (blocks and inline tags) is turned into plain text, so it shows as
//! written; links keep only `http`, `https` and `mailto` targets; images become their alt text,
//! so responses cannot load remote content into the annotator's page. Fenced code blocks are
//! highlighted (syntect, with CSS classes `hl-*` styled in style/main.css).

use std::sync::LazyLock;

use pulldown_cmark::{CodeBlockKind, CowStr, Event, Options, Parser, Tag, TagEnd, html};
use syntect::html::{ClassStyle, ClassedHTMLGenerator};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

static SYNTAXES: LazyLock<SyntaxSet> = LazyLock::new(SyntaxSet::load_defaults_newlines);

/// Code as highlighted, escaped HTML inside `<pre><code>`; plain escaped text for an unknown
/// language.
fn highlight(code: &str, lang: &str) -> String {
    let token = lang.split([' ', ',', '{']).next().unwrap_or("").trim();
    let syntax = (!token.is_empty())
        .then(|| {
            SYNTAXES
                .find_syntax_by_token(token)
                .or_else(|| SYNTAXES.find_syntax_by_extension(token))
        })
        .flatten();
    let class = if token.is_empty() {
        String::new()
    } else {
        let safe: String = token
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '#'))
            .collect();
        format!(" class=\"language-{safe}\"")
    };
    let body = syntax.and_then(|syntax| {
        let mut generator = ClassedHTMLGenerator::new_with_class_style(
            syntax,
            &SYNTAXES,
            ClassStyle::SpacedPrefixed { prefix: "hl-" },
        );
        for line in LinesWithEndings::from(code) {
            generator
                .parse_html_for_line_which_includes_newline(line)
                .ok()?;
        }
        Some(generator.finalize())
    });
    let body = body.unwrap_or_else(|| {
        let mut escaped = String::with_capacity(code.len());
        html::push_html(
            &mut escaped,
            std::iter::once(Event::Text(CowStr::Borrowed(code))),
        );
        escaped
    });
    format!("<pre><code{class}>{body}</code></pre>\n")
}

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
    // Code blocks are gathered and replaced by highlighted HTML made here (the text is escaped
    // by the highlighter; raw HTML from the model never reaches this point as markup).
    let mut code: Option<(String, String)> = None;
    let events = events.filter_map(|event| match (&mut code, event) {
        (None, Event::Start(Tag::CodeBlock(kind))) => {
            let lang = match kind {
                CodeBlockKind::Fenced(lang) => lang.into_string(),
                CodeBlockKind::Indented => String::new(),
            };
            code = Some((lang, String::new()));
            None
        }
        (Some((_, buf)), Event::Text(t)) => {
            buf.push_str(&t);
            None
        }
        (Some(_), Event::End(TagEnd::CodeBlock)) => {
            let (lang, buf) = code.take().unwrap_or_default();
            Some(Event::Html(CowStr::from(highlight(&buf, &lang))))
        }
        (_, other) => Some(other),
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
            html.contains("<pre><code class=\"language-rust\"><span class=\"hl-source hl-rust\">"),
            "{html}"
        );
        assert!(
            html.contains("<span class=\"hl-storage hl-type hl-function hl-rust\">fn</span>"),
            "{html}"
        );
    }

    #[test]
    fn code_is_highlighted_and_escaped() {
        let html =
            render("```python\nprint('<script>x</script>')  # hi\n```\n\n```nolang\n<b>&</b>\n```");
        assert!(
            !html.contains("<script>") && !html.contains("<b>"),
            "{html}"
        );
        assert!(html.contains("hl-comment"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(
            html.contains(
                "<pre><code class=\"language-nolang\">&lt;b&gt;&amp;&lt;/b&gt;\n</code></pre>"
            ),
            "{html}"
        );
        let quote = render("```\" onmouseover=\"alert(1)\nx\n```");
        assert!(!quote.contains("onmouseover=\""), "{quote}");
    }
}
