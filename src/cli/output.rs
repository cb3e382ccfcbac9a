//! Output formats: `json` (the server's data, pretty, always valid), `yaml`, and `table`
//! (lists become tables with the first item's keys as columns; timestamps dropped for width).

use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "table" => Some(Format::Table),
            "json" => Some(Format::Json),
            "yaml" => Some(Format::Yaml),
            _ => None,
        }
    }
}

pub fn render(data: &Value, format: Format, title: Option<&str>) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(data).unwrap_or_else(|_| "null".into()),
        Format::Yaml => serde_norway::to_string(data)
            .unwrap_or_default()
            .trim_end()
            .to_string(),
        Format::Table => table(data, title),
    }
}

/// `external_id` → `External Id`
pub fn header(key: &str) -> String {
    key.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(true) => "✓".into(),
        Value::Bool(false) => "✗".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

const HIDDEN_IN_TABLES: [&str; 2] = ["created_at", "updated_at"];

fn new_table() -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        t.set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        t.set_content_arrangement(ContentArrangement::Disabled);
    }
    t
}

/// A table of `items` with exactly these columns, in this order.
pub fn table_of(items: &Value, columns: &[&str], title: Option<&str>) -> String {
    let Some(items) = items.as_array().filter(|i| !i.is_empty()) else {
        return "No data to display".into();
    };
    let mut t = new_table();
    t.set_header(columns.iter().map(|c| header(c)));
    for item in items {
        t.add_row(
            columns
                .iter()
                .map(|c| cell(item.get(*c).unwrap_or(&Value::Null))),
        );
    }
    match title {
        Some(title) => format!("{title}\n{t}"),
        None => t.to_string(),
    }
}

fn table(data: &Value, title: Option<&str>) -> String {
    let body = match data {
        Value::Array(items) if items.is_empty() => return "No data to display".into(),
        Value::Array(items) if items.iter().all(Value::is_object) => {
            let columns: Vec<String> = items[0]
                .as_object()
                .map(|o| {
                    o.keys()
                        .filter(|k| !HIDDEN_IN_TABLES.contains(&k.as_str()))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let mut t = new_table();
            t.set_header(columns.iter().map(|c| header(c)));
            for item in items {
                t.add_row(
                    columns
                        .iter()
                        .map(|c| cell(item.get(c).unwrap_or(&Value::Null))),
                );
            }
            t.to_string()
        }
        Value::Array(items) => items
            .iter()
            .map(|i| format!("• {}", cell(i)))
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Object(map) => {
            let mut t = new_table();
            for (k, v) in map {
                if HIDDEN_IN_TABLES.contains(&k.as_str()) {
                    continue;
                }
                let shown = match v {
                    Value::Array(_) | Value::Object(_) => {
                        serde_json::to_string_pretty(v).unwrap_or_default()
                    }
                    other => cell(other),
                };
                t.add_row(vec![header(k), shown]);
            }
            t.to_string()
        }
        other => cell(other),
    };
    match title {
        Some(t) => format!("{t}\n{body}"),
        None => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn headers_are_title_cased() {
        assert_eq!(header("external_id"), "External Id");
        assert_eq!(header("id"), "Id");
    }

    #[test]
    fn cells() {
        assert_eq!(cell(&json!(true)), "✓");
        assert_eq!(cell(&json!(false)), "✗");
        assert_eq!(cell(&json!(null)), "");
        assert_eq!(cell(&json!(["a", "b"])), "[\"a\",\"b\"]");
    }

    #[test]
    fn tables_list_columns_of_the_first_item_and_drop_timestamps() {
        let out = render(
            &json!([{"id": 1, "name": "a", "created_at": "t", "enabled": true}, {"id": 2, "name": "b"}]),
            Format::Table,
            Some("Things"),
        );
        assert!(out.starts_with("Things\n"));
        assert!(out.contains("Name") && out.contains("Enabled") && out.contains('✓'));
        assert!(!out.contains("Created At"));
        assert_eq!(
            render(&json!([]), Format::Table, None),
            "No data to display"
        );
    }

    #[test]
    fn json_is_valid_whatever_the_length() {
        let long = "x ".repeat(10_000);
        let v = json!([{"d": long}]);
        let out = render(&v, Format::Json, None);
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), v);
        let y = render(&v, Format::Yaml, None);
        assert_eq!(serde_norway::from_str::<Value>(&y).unwrap(), v);
    }
}
