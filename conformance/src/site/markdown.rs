//! The spec's Markdown, cut into its sections and rendered to HTML: its
//! headings carry their anchors (`## Classe : \`http.Agent\`
//! {#class-httpagent}`), its boxes are `::: info [Historique]` ... `:::`
//! blocks, its code blocks are labelled (`js [ESM]`) and its links point
//! into the Node.js documentation (`/fr/nodejs/api/net#...`).

use pulldown_cmark::{CodeBlockKind, CowStr, Event, Options, Parser, Tag, TagEnd};

/// One section of the spec's text: its heading and what follows it up to
/// the next heading, whatever its level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecSection {
    /// The heading's anchor.
    pub anchor: String,
    /// The heading's level (1 to 6).
    pub level: u8,
    /// The heading's text, Markdown (`Classe : \`http.Agent\``).
    pub title: String,
    /// The text below the heading, Markdown.
    pub body: String,
}

/// Cuts the spec into its sections, in order; the front matter and what
/// comes before the first heading are left out. A `#` line inside a code
/// block is no heading.
pub fn split(text: &str) -> Vec<SpecSection> {
    let mut text = text;
    if let Some(rest) = text.strip_prefix("---\n") {
        if let Some(end) = rest.find("\n---\n") {
            text = &rest[end + 5..];
        }
    }
    let mut sections: Vec<SpecSection> = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        let heading = (!in_code).then(|| heading(line)).flatten();
        match (heading, sections.last_mut()) {
            (Some(h), _) => sections.push(h),
            (None, Some(s)) => {
                s.body.push_str(line);
                s.body.push('\n');
            }
            (None, None) => {}
        }
    }
    sections
}

/// `## Title {#anchor}`.
fn heading(line: &str) -> Option<SpecSection> {
    let hashes = line.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = line[hashes..].strip_prefix(' ')?.trim_end();
    let (title, anchor) = rest.strip_suffix('}')?.rsplit_once(" {#")?;
    Some(SpecSection {
        anchor: anchor.to_owned(),
        level: hashes as u8,
        title: title.trim().to_owned(),
        body: String::new(),
    })
}

/// HTML-escapes text.
pub fn esc(s: &str) -> String {
    crate::report::xml_escape(s)
}

/// The Node.js version the spec documents, for links to its other pages.
const NODE_DOCS: &str = "https://nodejs.org/docs/v23.5.0/api/";

/// Where a link of the spec goes on the site: a section of this spec to
/// its page (`is_section` says which anchors have one), another page of
/// the Node.js docs to nodejs.org, anything else as written.
pub fn link(url: &str, is_section: &dyn Fn(&str) -> bool) -> String {
    let Some(rest) = url.strip_prefix("/fr/nodejs/api/") else {
        return url.to_owned();
    };
    let (page, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    if page == "http" && is_section(fragment) {
        return format!("{fragment}.html");
    }
    if fragment.is_empty() {
        format!("{NODE_DOCS}{page}.html")
    } else {
        format!("{NODE_DOCS}{page}.html#{fragment}")
    }
}

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH
}

/// Renders Markdown: raw HTML in it is shown as text, links go through
/// [`link`], a code block whose info names a label (`js [ESM]`) gets it
/// as a caption.
pub fn render(markdown: &str, is_section: &dyn Fn(&str) -> bool) -> String {
    let mut out = String::new();
    for block in containers(markdown) {
        match block {
            Block::Text(text) => render_plain(&text, is_section, &mut out),
            Block::Box { kind, title, inner } => {
                out.push_str(&format!("<div class=\"box box-{}\">", esc(&kind)));
                if !title.is_empty() {
                    out.push_str(&format!("<p class=\"box-title\">{}</p>", esc(&title)));
                }
                render_plain(&inner, is_section, &mut out);
                out.push_str("</div>\n");
            }
        }
    }
    out
}

/// Renders one line of Markdown (a title) without its paragraph.
pub fn render_inline(markdown: &str) -> String {
    let html = render(markdown, &|_| false);
    html.trim()
        .strip_prefix("<p>")
        .and_then(|s| s.strip_suffix("</p>"))
        .unwrap_or(html.trim())
        .to_owned()
}

/// The text of Markdown without its markup (for search and titles).
pub fn plain(markdown: &str) -> String {
    let mut out = String::new();
    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak | Event::HardBreak | Event::End(TagEnd::Paragraph) => out.push(' '),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text outside `:::` boxes, or a box.
enum Block {
    Text(String),
    Box {
        kind: String,
        title: String,
        inner: String,
    },
}

/// Cuts out the `::: kind [title]` ... `:::` boxes (not nested).
fn containers(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut text = String::new();
    let mut open: Option<(String, String, String)> = None;
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        let fence = if in_code {
            None
        } else {
            line.strip_prefix(":::")
        };
        match (fence, open.take()) {
            (Some(rest), None) if !rest.trim().is_empty() => {
                blocks.push(Block::Text(std::mem::take(&mut text)));
                let rest = rest.trim();
                let (kind, title) = rest.split_once(' ').unwrap_or((rest, ""));
                let title = title.trim().trim_start_matches('[').trim_end_matches(']');
                open = Some((kind.to_owned(), title.to_owned(), String::new()));
            }
            (Some(_), Some((kind, title, inner))) => blocks.push(Block::Box { kind, title, inner }),
            (_, Some((kind, title, mut inner))) => {
                inner.push_str(line);
                inner.push('\n');
                open = Some((kind, title, inner));
            }
            (_, None) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    if let Some((kind, title, inner)) = open {
        blocks.push(Block::Box { kind, title, inner });
    }
    blocks.push(Block::Text(text));
    blocks
}

fn render_plain(markdown: &str, is_section: &dyn Fn(&str) -> bool, out: &mut String) {
    let events = Parser::new_ext(markdown, options()).flat_map(|event| match event {
        Event::Html(h) | Event::InlineHtml(h) => vec![Event::Text(h)],
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => vec![Event::Start(Tag::Link {
            link_type,
            dest_url: CowStr::from(link(&dest_url, is_section)),
            title,
            id,
        })],
        Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
            let (lang, label) = match info.split_once(" [") {
                Some((lang, label)) => (lang.to_owned(), label.trim_end_matches(']').to_owned()),
                None => (info.to_string(), String::new()),
            };
            let mut v = Vec::new();
            if !label.is_empty() {
                v.push(Event::Html(CowStr::from(format!(
                    "<p class=\"code-label\">{}</p>",
                    esc(&label)
                ))));
            }
            v.push(Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(
                CowStr::from(lang),
            ))));
            v
        }
        e => vec![e],
    });
    pulldown_cmark::html::push_html(out, events);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_splits_into_its_172_sections_in_the_order_of_sections_tsv() {
        let sections = split(crate::bundle::spec());
        let tsv = crate::sections::Sections::embedded();
        assert_eq!(sections.len(), tsv.len());
        for (s, t) in sections.iter().zip(tsv.iter()) {
            assert_eq!((s.anchor.as_str(), s.level), (t.anchor.as_str(), t.level));
            assert_eq!(s.title, t.title);
        }
        let agent = &sections[1];
        assert_eq!(agent.anchor, "class-httpagent");
        assert!(agent.body.contains("v0.3.4**"));
        assert!(!agent.body.contains("{#"));
    }

    #[test]
    fn a_hash_line_in_code_is_no_heading() {
        let s = split("---\ntitle: x\n---\n# A {#a}\n```sh\n# not {#b}\n```\n## B {#b}\ntext\n");
        let anchors: Vec<&str> = s.iter().map(|s| s.anchor.as_str()).collect();
        assert_eq!(anchors, ["a", "b"]);
        assert_eq!(s[0].body, "```sh\n# not {#b}\n```\n");
    }

    #[test]
    fn links_go_to_section_pages_or_to_the_node_docs() {
        let known = |a: &str| a == "messageheaders";
        assert_eq!(
            link("/fr/nodejs/api/http#messageheaders", &known),
            "messageheaders.html"
        );
        assert_eq!(
            link("/fr/nodejs/api/net#class-netsocket", &known),
            "https://nodejs.org/docs/v23.5.0/api/net.html#class-netsocket"
        );
        assert_eq!(
            link("https://example.org/x", &known),
            "https://example.org/x"
        );
    }

    #[test]
    fn boxes_labels_and_raw_html_render_safely() {
        let md = "::: info [Historique]\n| Version | Modifications |\n| --- | --- |\n| v1 | x |\n:::\n\n```js [ESM]\nlet a = 1 < 2;\n```\n\nA <script>alert(1)</script> [lien](/fr/nodejs/api/http#a).\n";
        let html = render(md, &|a| a == "a");
        assert!(
            html.contains(
                "<div class=\"box box-info\"><p class=\"box-title\">Historique</p><table>"
            ),
            "{html}"
        );
        assert!(
            html.contains(
                "<p class=\"code-label\">ESM</p>\n<pre><code class=\"language-js\">let a = 1 &lt; 2;"
            ),
            "{html}"
        );
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("<a href=\"a.html\">lien</a>"), "{html}");
        assert_eq!(
            render_inline("Classe : `http.Agent`"),
            "Classe : <code>http.Agent</code>"
        );
        assert_eq!(plain("Classe : `http.Agent`"), "Classe : http.Agent");
    }
}
