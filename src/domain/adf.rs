//! Atlassian Document Format (Jira REST v3 bodies) to Markdown and back.
//!
//! Reading follows the original's rules (marks applied in order, lists indented, mentions as
//! their text), with its bugs fixed: fenced code always gets an opening fence, and blocks are
//! separated by a blank line so the Markdown renders as separate paragraphs. Writing covers what
//! people type in a comment: paragraphs, headings, bullet and numbered lists, fenced code,
//! quotes, rules, `code`, **bold**, *italic*, ~~strike~~, [links](url) and `[~accountid:ID]`
//! mentions.

use serde_json::{Value, json};

pub fn is_doc(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("doc")
}

/// Render an ADF document (or any ADF node) as Markdown.
pub fn to_markdown(node: &Value) -> String {
    let text = block(node);
    let mut out: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() && out.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        out.push(line);
    }
    out.join("\n").trim().to_string()
}

fn children(node: &Value) -> impl Iterator<Item = &Value> {
    node.get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn attr<'a>(node: &'a Value, key: &str) -> Option<&'a Value> {
    node.get("attrs").and_then(|a| a.get(key))
}

fn blocks(node: &Value) -> String {
    children(node)
        .map(block)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn indent_rest(text: &str, first: &str, pad: usize) -> String {
    let mut lines = text.lines();
    let mut out = format!("{first}{}", lines.next().unwrap_or_default());
    for l in lines {
        out.push('\n');
        if !l.is_empty() {
            out.push_str(&" ".repeat(pad));
        }
        out.push_str(l);
    }
    out
}

fn block(node: &Value) -> String {
    let kind = node.get("type").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "doc" | "panel" | "listItem" => blocks(node),
        "paragraph" => inlines(node).trim().to_string(),
        "heading" => {
            let level = attr(node, "level")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 6);
            format!("{} {}", "#".repeat(level as usize), inlines(node).trim())
        }
        "bulletList" => children(node)
            .map(|item| indent_rest(&blocks_tight(item), "- ", 2))
            .collect::<Vec<_>>()
            .join("\n"),
        "orderedList" => {
            let start = attr(node, "order").and_then(Value::as_u64).unwrap_or(1);
            children(node)
                .enumerate()
                .map(|(i, item)| {
                    indent_rest(&blocks_tight(item), &format!("{}. ", start + i as u64), 3)
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
        "codeBlock" => {
            let lang = attr(node, "language")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let body: String = children(node)
                .filter_map(|c| c.get("text").and_then(Value::as_str))
                .collect();
            format!("```{lang}\n{}\n```", body.trim_end_matches('\n'))
        }
        "blockquote" => blocks(node)
            .lines()
            .map(|l| {
                if l.is_empty() {
                    ">".to_string()
                } else {
                    format!("> {l}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
        "rule" => "---".to_string(),
        "hardBreak" => String::new(),
        "text" | "mention" | "emoji" | "inlineCard" => inline(node),
        _ => {
            // Unknown blocks (tables, media, …): their content, one block per line.
            let inner: Vec<String> = children(node)
                .map(|c| if is_inline(c) { inline(c) } else { block(c) })
                .filter(|s| !s.trim().is_empty())
                .collect();
            inner.join("\n")
        }
    }
}

/// List items: their paragraphs on consecutive lines so the list stays tight.
fn blocks_tight(item: &Value) -> String {
    children(item)
        .map(block)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_inline(node: &Value) -> bool {
    matches!(
        node.get("type").and_then(Value::as_str),
        Some("text" | "mention" | "emoji" | "inlineCard" | "hardBreak")
    )
}

fn inlines(node: &Value) -> String {
    children(node).map(inline).collect()
}

fn inline(node: &Value) -> String {
    let kind = node.get("type").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "text" => {
            let mut s = node
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            for mark in node
                .get("marks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                s = match mark.get("type").and_then(Value::as_str).unwrap_or_default() {
                    "code" => format!("`{s}`"),
                    "strong" => format!("**{s}**"),
                    "em" => format!("*{s}*"),
                    "strike" => format!("~~{s}~~"),
                    "link" => match attr(mark, "href").and_then(Value::as_str) {
                        Some(h) => format!("[{s}]({h})"),
                        None => s,
                    },
                    _ => s,
                };
            }
            s
        }
        "hardBreak" => "\n".into(),
        "inlineCard" => attr(node, "url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .into(),
        "emoji" => attr(node, "text")
            .or_else(|| attr(node, "shortName"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .into(),
        "mention" => attr(node, "text")
            .or_else(|| attr(node, "displayName"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .into(),
        _ => inlines(node),
    }
}

// ---- Markdown -> ADF ---------------------------------------------------------------------------

/// Build an ADF document from Markdown text.
pub fn from_markdown(md: &str) -> Value {
    let lines: Vec<&str> = md.lines().collect();
    let mut content: Vec<Value> = Vec::new();
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        let t = line.trim();
        if t.is_empty() {
            i += 1;
            continue;
        }
        if let Some(lang) = t.strip_prefix("```") {
            let mut body = Vec::new();
            i += 1;
            while let Some(l) = lines.get(i).filter(|l| !l.trim_start().starts_with("```")) {
                body.push(*l);
                i += 1;
            }
            i += 1; // closing fence (or end of text)
            let mut node = serde_json::Map::new();
            node.insert("type".into(), json!("codeBlock"));
            let text = if body.is_empty() {
                json!([])
            } else {
                json!([{"type": "text", "text": body.join("\n")}])
            };
            node.insert("content".into(), text);
            if !lang.trim().is_empty() {
                node.insert("attrs".into(), json!({"language": lang.trim()}));
            }
            content.push(Value::Object(node));
            continue;
        }
        if t == "---" || t == "***" {
            content.push(json!({"type": "rule"}));
            i += 1;
            continue;
        }
        let hashes = t.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes) && t[hashes..].starts_with(' ') {
            content.push(json!({"type": "heading", "attrs": {"level": hashes},
                "content": inline_nodes(t[hashes..].trim())}));
            i += 1;
            continue;
        }
        if t.starts_with("> ") || t == ">" {
            let mut quoted = Vec::new();
            while let Some(l) = lines
                .get(i)
                .map(|l| l.trim())
                .filter(|l| l.starts_with("> ") || *l == ">")
            {
                quoted.push(l.trim_start_matches('>').trim_start());
                i += 1;
            }
            let inner = from_markdown(&quoted.join("\n"));
            let inner = inner.get("content").cloned().unwrap_or_default();
            content.push(json!({"type": "blockquote", "content": inner}));
            continue;
        }
        if bullet(t).is_some() || ordered(t).is_some() {
            let is_ordered = ordered(t).is_some();
            let start = ordered(t).map(|(n, _)| n).unwrap_or(1);
            let mut items = Vec::new();
            while let Some(lt) = lines.get(i).map(|l| l.trim()) {
                let text = if is_ordered {
                    ordered(lt).map(|(_, s)| s)
                } else {
                    bullet(lt)
                };
                match text {
                    Some(s) => {
                        items.push(json!({"type": "listItem", "content": [
                            {"type": "paragraph", "content": inline_nodes(s)}
                        ]}));
                        i += 1;
                    }
                    None => break,
                }
            }
            let mut node = serde_json::Map::new();
            let kind = if is_ordered {
                "orderedList"
            } else {
                "bulletList"
            };
            node.insert("type".into(), json!(kind));
            node.insert("content".into(), Value::Array(items));
            if is_ordered && start != 1 {
                node.insert("attrs".into(), json!({"order": start}));
            }
            content.push(Value::Object(node));
            continue;
        }
        // A paragraph: consecutive plain lines, joined with hard breaks.
        let mut para: Vec<Value> = Vec::new();
        while let Some(lt) = lines.get(i).map(|l| l.trim()) {
            if lt.is_empty()
                || lt.starts_with("```")
                || lt.starts_with("> ")
                || bullet(lt).is_some()
                || ordered(lt).is_some()
                || (lt.starts_with('#') && lt.trim_start_matches('#').starts_with(' '))
            {
                break;
            }
            if !para.is_empty() {
                para.push(json!({"type": "hardBreak"}));
            }
            para.extend(inline_nodes(lt));
            i += 1;
        }
        content.push(json!({"type": "paragraph", "content": para}));
    }
    json!({"type": "doc", "version": 1, "content": content})
}

fn bullet(t: &str) -> Option<&str> {
    t.strip_prefix("- ")
        .or_else(|| t.strip_prefix("* "))
        .or_else(|| t.strip_prefix("+ "))
}

fn ordered(t: &str) -> Option<(u64, &str)> {
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let rest = t[digits..].strip_prefix(". ")?;
    Some((t[..digits].parse().ok()?, rest))
}

fn text_node(s: &str, marks: &[Value]) -> Value {
    if marks.is_empty() {
        json!({"type": "text", "text": s})
    } else {
        json!({"type": "text", "text": s, "marks": marks})
    }
}

/// Inline Markdown to ADF inline nodes (one level of emphasis nesting is enough for comments).
fn inline_nodes(s: &str) -> Vec<Value> {
    inline_with(s, &[])
}

fn inline_with(s: &str, marks: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut plain = String::new();
    let mut rest = s;
    let flush = |plain: &mut String, out: &mut Vec<Value>| {
        if !plain.is_empty() {
            out.push(text_node(plain, marks));
            plain.clear();
        }
    };
    while let Some(c) = rest.chars().next() {
        // `code`
        if c == '`'
            && let Some(end) = rest[1..].find('`')
        {
            flush(&mut plain, &mut out);
            let mut m = marks.to_vec();
            m.push(json!({"type": "code"}));
            out.push(text_node(&rest[1..1 + end], &m));
            rest = &rest[end + 2..];
            continue;
        }
        // [~accountid:ID] mention
        if let Some(after) = rest.strip_prefix("[~accountid:")
            && let Some(end) = after.find(']')
        {
            flush(&mut plain, &mut out);
            out.push(json!({"type": "mention", "attrs": {"id": &after[..end]}}));
            rest = &after[end + 1..];
            continue;
        }
        // [text](href)
        if c == '['
            && let Some(close) = rest.find("](")
            && let Some(end) = rest[close + 2..].find(')')
        {
            let label = &rest[1..close];
            let href = &rest[close + 2..close + 2 + end];
            if !label.contains('[') && !href.contains(' ') {
                flush(&mut plain, &mut out);
                let mut m = marks.to_vec();
                m.push(json!({"type": "link", "attrs": {"href": href}}));
                out.extend(inline_with(label, &m));
                rest = &rest[close + 3 + end..];
                continue;
            }
        }
        // **strong**, ~~strike~~, *em* / _em_
        let mut matched = false;
        for (delim, mark) in [("**", "strong"), ("~~", "strike"), ("*", "em"), ("_", "em")] {
            if let Some(after) = rest.strip_prefix(delim)
                && let Some(end) = after.find(delim)
                && end > 0
                && !after.starts_with(' ')
            {
                flush(&mut plain, &mut out);
                let mut m = marks.to_vec();
                m.push(json!({"type": mark}));
                out.extend(inline_with(&after[..end], &m));
                rest = &after[end + delim.len()..];
                matched = true;
                break;
            }
        }
        if matched {
            continue;
        }
        plain.push(c);
        rest = &rest[c.len_utf8()..];
    }
    flush(&mut plain, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adf_renders_the_original_cases() {
        let doc = json!({"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Steps to reproduce"}]},
            {"type": "bulletList", "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Collect logs"}]}]},
                {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Add tests"}]}]}
            ]}
        ]});
        let md = to_markdown(&doc);
        assert!(md.contains("Steps to reproduce"), "{md}");
        assert!(md.contains("- Collect logs\n- Add tests"), "{md}");
    }

    #[test]
    fn marks_headings_code_quotes_and_mentions() {
        let doc = json!({"type": "doc", "content": [
            {"type": "heading", "attrs": {"level": 9}, "content": [{"type": "text", "text": "Title"}]},
            {"type": "paragraph", "content": [
                {"type": "text", "text": "x", "marks": [{"type": "strong"}, {"type": "em"}]},
                {"type": "text", "text": " see "},
                {"type": "text", "text": "docs", "marks": [{"type": "link", "attrs": {"href": "https://d"}}]},
                {"type": "text", "text": " "},
                {"type": "mention", "attrs": {"id": "1", "text": "@Jane"}},
                {"type": "hardBreak"},
                {"type": "emoji", "attrs": {"shortName": ":smile:"}}
            ]},
            {"type": "codeBlock", "content": [{"type": "text", "text": "make test"}]},
            {"type": "codeBlock", "attrs": {"language": "rust"}, "content": [{"type": "text", "text": "fn main() {}"}]},
            {"type": "blockquote", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "quoted"}]}]},
            {"type": "rule"},
            {"type": "orderedList", "attrs": {"order": 3}, "content": [
                {"type": "listItem", "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "three"}]},
                    {"type": "bulletList", "content": [{"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "nested"}]}]}]}
                ]}
            ]}
        ]});
        let md = to_markdown(&doc);
        assert_eq!(
            md,
            "###### Title\n\n***x*** see [docs](https://d) @Jane\n:smile:\n\n```\nmake test\n```\n\n```rust\nfn main() {}\n```\n\n> quoted\n\n---\n\n3. three\n   - nested"
        );
    }

    #[test]
    fn markdown_to_adf_and_back() {
        let md = "Hello **world** and `code`, see [site](https://x.y) [~accountid:abc-1]\nnext line\n\n- one\n- two\n\n1. first\n2. second\n\n```sh\nls -la\n```\n\n> note";
        let doc = from_markdown(md);
        assert_eq!(doc["type"], "doc");
        let c = doc["content"].as_array().unwrap();
        assert_eq!(c[0]["type"], "paragraph");
        let p = c[0]["content"].as_array().unwrap();
        assert_eq!(
            p[1],
            json!({"type": "text", "text": "world", "marks": [{"type": "strong"}]})
        );
        assert_eq!(p[3]["marks"][0]["type"], "code");
        assert_eq!(
            p[5]["marks"][0],
            json!({"type": "link", "attrs": {"href": "https://x.y"}})
        );
        assert!(
            p.iter()
                .any(|n| n == &json!({"type": "mention", "attrs": {"id": "abc-1"}}))
        );
        assert!(p.iter().any(|n| n["type"] == "hardBreak"));
        assert_eq!(c[1]["type"], "bulletList");
        assert_eq!(c[2]["type"], "orderedList");
        assert_eq!(
            c[3],
            json!({"type": "codeBlock", "attrs": {"language": "sh"}, "content": [{"type": "text", "text": "ls -la"}]})
        );
        assert_eq!(c[4]["type"], "blockquote");
        // Round trip keeps the text.
        let back = to_markdown(&doc);
        assert!(back.contains("Hello **world** and `code`"), "{back}");
        assert!(back.contains("- one\n- two"), "{back}");
        assert!(back.contains("```sh\nls -la\n```"), "{back}");
    }

    #[test]
    fn unknown_nodes_keep_their_text() {
        let doc = json!({"type": "doc", "content": [{"type": "table", "content": [
            {"type": "tableRow", "content": [
                {"type": "tableCell", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "a"}]}]},
                {"type": "tableCell", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "b"}]}]}
            ]}
        ]}]});
        assert_eq!(to_markdown(&doc), "a\nb");
    }
}
