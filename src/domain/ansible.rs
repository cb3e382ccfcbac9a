//! Ansible runs: checking what a caller asks for and building the `ansible-playbook` argument
//! list (never a shell line).

use serde_json::Value;
use std::path::{Component, Path, PathBuf};

/// A playbook name relative to a playbook directory: no absolute paths, no `..`, a YAML file.
pub fn playbook_path(name: &str) -> Result<PathBuf, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("playbook is required (e.g. example.yml; see aiops ansible playbooks)".into());
    }
    let p = Path::new(name);
    if p.is_absolute() || p.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(format!(
            "'{name}' is not a playbook name: give a path inside the playbook directory, without '..'"
        ));
    }
    match p.extension().and_then(|e| e.to_str()) {
        Some("yml" | "yaml") => Ok(p.to_path_buf()),
        _ => Err(format!("'{name}' is not a playbook (.yml or .yaml)")),
    }
}

/// Extra vars as a JSON object: given as an object, as JSON text, or as `k=v` words.
pub fn extra_vars(v: &Value) -> Result<Option<Value>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Object(o) if o.is_empty() => Ok(None),
        Value::Object(_) => Ok(Some(v.clone())),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) if s.trim_start().starts_with('{') => {
            let parsed: Value = serde_json::from_str(s)
                .map_err(|e| format!("extra_vars is not valid JSON: {e}"))?;
            extra_vars(&parsed)
        }
        Value::String(s) => {
            let mut o = serde_json::Map::new();
            for word in s.split_whitespace() {
                let (k, val) = word
                    .split_once('=')
                    .ok_or_else(|| format!("extra var '{word}' is not key=value"))?;
                if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!("extra var name '{k}' is not a valid variable name"));
                }
                o.insert(k.to_string(), Value::String(val.to_string()));
            }
            Ok(Some(Value::Object(o)))
        }
        _ => Err("extra_vars must be an object, JSON text or key=value words".into()),
    }
}

/// Hosts entered at run time (`web1,web2`): names or addresses only.
pub fn hosts(s: &str) -> Result<Vec<String>, String> {
    let list: Vec<String> = s
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect();
    if list.is_empty() {
        return Err("hosts is empty".into());
    }
    for h in &list {
        if h.starts_with('-')
            || !h
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_:[]@".contains(c))
        {
            return Err(format!("'{h}' is not a host name or address"));
        }
    }
    Ok(list)
}

/// Where the inventory comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Inventory {
    File(PathBuf),
    Hosts(Vec<String>),
}

pub struct RunArgs<'a> {
    pub playbook: &'a Path,
    pub inventory: &'a Inventory,
    pub extra_vars: Option<&'a Value>,
    pub check: bool,
    pub limit: Option<&'a str>,
    pub tags: Option<&'a str>,
}

/// The argument list after `ansible-playbook`.
pub fn argv(a: &RunArgs) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    match a.inventory {
        Inventory::File(p) => {
            v.push("-i".into());
            v.push(p.display().to_string());
        }
        Inventory::Hosts(h) => {
            v.push("-i".into());
            v.push(format!("{},", h.join(",")));
            if h.iter().all(|h| h == "localhost" || h == "127.0.0.1") {
                v.push("-c".into());
                v.push("local".into());
            }
        }
    }
    if let Some(x) = a.extra_vars {
        v.push("-e".into());
        v.push(x.to_string());
    }
    if a.check {
        v.push("--check".into());
    }
    if let Some(l) = a.limit.filter(|l| !l.trim().is_empty()) {
        v.push("--limit".into());
        v.push(l.trim().to_string());
    }
    if let Some(t) = a.tags.filter(|t| !t.trim().is_empty()) {
        v.push("--tags".into());
        v.push(t.trim().to_string());
    }
    v.push("--".into());
    v.push(a.playbook.display().to_string());
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn playbook_names() {
        assert!(playbook_path("site.yml").is_ok());
        assert!(playbook_path("web/deploy.yaml").is_ok());
        for bad in [
            "../etc/passwd.yml",
            "/etc/x.yml",
            "a/../../b.yml",
            "run.sh",
            "",
            "./x.yml",
        ] {
            assert!(playbook_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn extra_vars_forms() {
        assert_eq!(extra_vars(&json!(null)).unwrap(), None);
        assert_eq!(extra_vars(&json!({"a": 1})).unwrap(), Some(json!({"a": 1})));
        assert_eq!(
            extra_vars(&json!("{\"b\": true}")).unwrap(),
            Some(json!({"b": true}))
        );
        assert_eq!(
            extra_vars(&json!("env=prod count=3")).unwrap(),
            Some(json!({"env": "prod", "count": "3"}))
        );
        assert!(extra_vars(&json!("novalue")).is_err());
        assert!(extra_vars(&json!("bad-name=1")).is_err());
        assert!(extra_vars(&json!([1])).is_err());
    }

    #[test]
    fn hosts_and_argv() {
        assert_eq!(hosts("web1, web2").unwrap(), vec!["web1", "web2"]);
        assert!(hosts("-oProxyCommand=x").is_err());
        assert!(hosts("a;b").is_err());
        let inv = Inventory::Hosts(vec!["localhost".into()]);
        let vars = json!({"x": "1"});
        let a = argv(&RunArgs {
            playbook: Path::new("/pb/site.yml"),
            inventory: &inv,
            extra_vars: Some(&vars),
            check: true,
            limit: Some("web"),
            tags: None,
        });
        assert_eq!(
            a,
            vec![
                "-i",
                "localhost,",
                "-c",
                "local",
                "-e",
                "{\"x\":\"1\"}",
                "--check",
                "--limit",
                "web",
                "--",
                "/pb/site.yml"
            ]
        );
        let f = Inventory::File("/inv/prod.ini".into());
        let a = argv(&RunArgs {
            playbook: Path::new("p.yml"),
            inventory: &f,
            extra_vars: None,
            check: false,
            limit: None,
            tags: Some("deploy"),
        });
        assert_eq!(
            a,
            vec!["-i", "/inv/prod.ini", "--tags", "deploy", "--", "p.yml"]
        );
    }
}
