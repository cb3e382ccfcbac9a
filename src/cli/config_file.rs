//! `~/.aiops/config.yaml`: `url`, `api_key`, `output_format` (any other key is kept), each
//! overridden by `AIOPS_<KEY>` in the environment. Written sorted, mode 0600.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub type ConfigMap = BTreeMap<String, String>;

pub fn path_in(home: &Path) -> PathBuf {
    home.join(".aiops").join("config.yaml")
}

pub fn home_dir() -> anyhow::Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("HOME is not set; cannot find ~/.aiops/config.yaml"))
}

pub fn load(home: &Path) -> anyhow::Result<ConfigMap> {
    let path = path_in(home);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigMap::new()),
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    };
    if text.trim().is_empty() {
        return Ok(ConfigMap::new());
    }
    let raw: BTreeMap<String, serde_norway::Value> = serde_norway::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a YAML mapping: {e}", path.display()))?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| {
            let s = match v {
                serde_norway::Value::String(s) => s,
                serde_norway::Value::Null => String::new(),
                other => serde_norway::to_string(&other)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            };
            (k, s)
        })
        .collect())
}

pub fn save(home: &Path, map: &ConfigMap) -> anyhow::Result<()> {
    let path = path_in(home);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    let text = serde_norway::to_string(map)?;
    let tmp = path.with_extension("yaml.tmp");
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts
            .open(&tmp)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    #[cfg(unix)]
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(())
}

/// Environment first (`AIOPS_<KEY>`, even when empty), then the file.
pub fn effective(
    map: &ConfigMap,
    key: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    env(&format!("AIOPS_{}", key.to_uppercase())).or_else(|| map.get(key).cloned())
}

pub fn mask_key(key: &str) -> String {
    if key.chars().count() <= 14 {
        return "*".repeat(key.chars().count());
    }
    let head: String = key.chars().take(10).collect();
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{head}...{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_sorted_and_private() {
        let home = tempfile::tempdir().unwrap();
        assert!(load(home.path()).unwrap().is_empty());
        let mut m = ConfigMap::new();
        m.insert("url".into(), "http://x".into());
        m.insert("api_key".into(), "aiops_abc".into());
        save(home.path(), &m).unwrap();
        let text = std::fs::read_to_string(path_in(home.path())).unwrap();
        assert!(text.find("api_key").unwrap() < text.find("url").unwrap());
        assert_eq!(load(home.path()).unwrap(), m);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path_in(home.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn environment_wins_even_when_empty() {
        let mut m = ConfigMap::new();
        m.insert("url".into(), "http://file".into());
        let env = |k: &str| (k == "AIOPS_URL").then(|| "http://env".to_string());
        assert_eq!(effective(&m, "url", env).as_deref(), Some("http://env"));
        assert_eq!(
            effective(&m, "url", |_| None).as_deref(),
            Some("http://file")
        );
        assert_eq!(
            effective(&m, "url", |_| Some(String::new())).as_deref(),
            Some("")
        );
        assert_eq!(effective(&m, "other", |_| None), None);
    }

    #[test]
    fn masking() {
        assert_eq!(mask_key("aiops_0123456789abcdef"), "aiops_0123...cdef");
        assert_eq!(mask_key("short"), "*****");
    }
}
