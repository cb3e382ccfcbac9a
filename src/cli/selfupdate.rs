//! `aiops update [--check-only]`: replace this CLI binary with the release channel's.
//!
//! The channel is a JSON manifest `{"version", "url", "sha256"}` at an http(s) URL or a file
//! path; a relative `url` resolves against the manifest's own location. It is taken from
//! `AIOPS_UPDATE_URL`, else the client config's `update_url`, else the configured server's
//! `GET /api/v1/system/update-channel` (`{"update_url": …|null, "version"}`).
//!
//! The new binary is written next to the running one (same file system, so the final rename is
//! atomic), checked against the manifest's SHA-256, made 0755, run once with `--version`, and
//! only then renamed over the current executable. Any failure before the rename leaves the
//! installed binary untouched and removes the temporary file.

use super::commands::{self, Plain};
use super::config_file;
use crate::domain::release::{compare_versions, is_http};
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

const NO_CHANNEL: &str =
    "No release channel configured. Run: aiops config set update_url <manifest URL>";

/// A parsed release manifest, its binary location resolved.
#[derive(Debug, PartialEq, Eq)]
pub struct Manifest {
    pub version: String,
    pub url: Location,
    pub sha256: String,
}

#[derive(Debug, PartialEq, Eq, Clone)]
pub enum Location {
    Http(String),
    File(PathBuf),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Http(u) => f.write_str(u),
            Location::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Where a channel or binary reference points; `file://` URLs are file paths.
pub fn location(s: &str) -> Location {
    let s = s.trim();
    if is_http(s) {
        Location::Http(s.to_string())
    } else {
        Location::File(PathBuf::from(s.strip_prefix("file://").unwrap_or(s)))
    }
}

/// Parse a manifest read from `from` (the rules are the server's: `domain::release`); a
/// relative binary `url` resolves against `from`.
pub fn parse_manifest(text: &str, from: &Location) -> anyhow::Result<Manifest> {
    let m = crate::domain::release::parse_manifest(text, &from.to_string())
        .map_err(|why| anyhow::anyhow!("the release manifest at {from} is invalid: {why}"))?;
    Ok(Manifest {
        version: m.version,
        url: location(&m.url),
        sha256: m.sha256,
    })
}

fn http() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("aiops-cli/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// The channel: `AIOPS_UPDATE_URL`, the config's `update_url`, else the server's.
async fn channel() -> anyhow::Result<Location> {
    let cfg = commands::load_config()?;
    let env = |k: &str| std::env::var(k).ok();
    if let Some(u) =
        config_file::effective(&cfg, "update_url", env).filter(|u| !u.trim().is_empty())
    {
        return Ok(location(&u));
    }
    // Ask the configured server, if there is one.
    let Ok(ctx) = commands::connect(None) else {
        anyhow::bail!(NO_CHANNEL);
    };
    match ctx.client.get("system/update-channel").await {
        Ok(v) => match v["update_url"].as_str().filter(|u| !u.trim().is_empty()) {
            Some(u) => {
                // A relative channel URL is relative to the server.
                if is_http(u) || u.starts_with("file://") || Path::new(u).is_absolute() {
                    Ok(location(u))
                } else {
                    let base = format!("{}/", ctx.client.base());
                    let joined = reqwest::Url::parse(&base)
                        .and_then(|b| b.join(u))
                        .map_err(|e| anyhow::anyhow!("the server's update_url {u:?}: {e}"))?;
                    Ok(Location::Http(joined.to_string()))
                }
            }
            None => anyhow::bail!(NO_CHANNEL),
        },
        Err(e) => anyhow::bail!("{NO_CHANNEL} (the server gave no channel: {e:#})"),
    }
}

async fn fetch_manifest(from: &Location) -> anyhow::Result<Manifest> {
    let text = match from {
        Location::Http(u) => {
            let resp = http()?
                .get(u)
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("cannot fetch the release manifest {u}: {e}"))?;
            if !resp.status().is_success() {
                anyhow::bail!("the release manifest {u} answered {}", resp.status());
            }
            resp.text().await?
        }
        Location::File(p) => std::fs::read_to_string(p).map_err(|e| {
            anyhow::anyhow!("cannot read the release manifest {}: {e}", p.display())
        })?,
    };
    parse_manifest(&text, from)
}

/// A temporary file next to `exe`, removed on drop unless kept.
struct TempBin {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempBin {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn create_temp(dir: &Path) -> anyhow::Result<(TempBin, std::fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    for attempt in 0..16u32 {
        let path = dir.join(format!(
            ".aiops-update-{}-{}-{attempt}",
            std::process::id(),
            rand::random::<u32>()
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o700)
            .open(&path)
        {
            Ok(f) => return Ok((TempBin { path, keep: false }, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => anyhow::bail!(
                "cannot write to {} (the directory of the installed aiops): {e}. Run the update as \
                 a user who may write there (for example with sudo), or install aiops in a \
                 directory you own",
                dir.display()
            ),
        }
    }
    anyhow::bail!("cannot create a temporary file in {}", dir.display())
}

/// Download (or copy) the release into `file`, returning its SHA-256 in hex.
async fn download(from: &Location, file: &mut std::fs::File) -> anyhow::Result<String> {
    let mut hash = Sha256::new();
    match from {
        Location::Http(u) => {
            let mut resp = http()?
                .get(u)
                .timeout(Duration::from_secs(3600))
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("cannot download {u}: {e}"))?;
            if !resp.status().is_success() {
                anyhow::bail!("downloading {u} answered {}", resp.status());
            }
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| anyhow::anyhow!("downloading {u}: {e}"))?
            {
                hash.update(&chunk);
                file.write_all(&chunk)?;
            }
        }
        Location::File(p) => {
            let mut src = std::fs::File::open(p)
                .map_err(|e| anyhow::anyhow!("cannot read the release {}: {e}", p.display()))?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = src.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hash.update(&buf[..n]);
                file.write_all(&buf[..n])?;
            }
        }
    }
    file.sync_all()?;
    Ok(hex::encode(hash.finalize()))
}

/// Run `bin --version` (retrying briefly on "text file busy").
#[allow(
    clippy::disallowed_methods,
    reason = "a one-shot `--version` of the new binary in the CLI"
)]
fn runs(bin: &Path) -> anyhow::Result<String> {
    let mut last = None;
    for _ in 0..20 {
        match std::process::Command::new(bin)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .output()
        {
            Ok(o) if o.status.success() => {
                return Ok(String::from_utf8_lossy(&o.stdout).trim().to_string());
            }
            Ok(o) => anyhow::bail!(
                "the downloaded binary does not run (`--version` exited with {}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                last = Some(e);
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => anyhow::bail!("the downloaded binary does not run: {e}"),
        }
    }
    anyhow::bail!(
        "the downloaded binary does not run: {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    )
}

pub async fn update(check_only: bool) -> anyhow::Result<()> {
    let current = env!("CARGO_PKG_VERSION");
    println!("Current version: {current}");
    let from = channel().await?;
    if check_only {
        println!("Checking for updates...");
        match fetch_manifest(&from).await {
            Ok(m) => {
                println!("Latest version: {}", m.version);
                if compare_versions(&m.version, current) == Ordering::Greater {
                    println!("A newer version is available: {}", m.version);
                    println!("Run 'aiops update' to upgrade");
                } else {
                    println!("✓ You are running the latest version!");
                }
            }
            Err(e) => println!("Could not check for updates: {e:#}"),
        }
        return Ok(());
    }
    let m = fetch_manifest(&from).await?;
    println!("Latest version: {}", m.version);
    if compare_versions(&m.version, current) != Ordering::Greater {
        println!("Already running the latest version");
        return Ok(());
    }
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| anyhow::anyhow!("cannot find this program's own file: {e}"))?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{} has no directory", exe.display()))?;
    println!("Updating aiops CLI...");
    let (mut tmp, mut file) = create_temp(dir)?;
    let got = download(&m.url, &mut file).await?;
    drop(file);
    if got != m.sha256 {
        return Err(Plain {
            message: format!(
                "Update failed: checksum mismatch for {}: the release channel says {}, the \
                 download is {got}. Nothing was replaced.",
                m.url, m.sha256
            ),
            code: 1,
        }
        .into());
    }
    std::fs::set_permissions(
        &tmp.path,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    runs(&tmp.path)?;
    std::fs::rename(&tmp.path, &exe).map_err(|e| {
        anyhow::anyhow!(
            "cannot replace {}: {e}. Nothing was replaced; run the update as a user who may \
             write there",
            exe.display()
        )
    })?;
    tmp.keep = true;
    println!("✓ aiops CLI updated successfully!");
    println!("Updated from {current} to {}", m.version);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_resolve_relative_urls_against_their_location() {
        let sha = "ab".repeat(32);
        let text = format!(r#"{{"version":"1.2.3","url":"aiops-linux","sha256":"{sha}"}}"#);
        let m = parse_manifest(&text, &location("/srv/rel/latest.json")).unwrap();
        assert_eq!(m.url, Location::File(PathBuf::from("/srv/rel/aiops-linux")));
        let m = parse_manifest(&text, &location("https://x.org/rel/latest.json")).unwrap();
        assert_eq!(
            m.url,
            Location::Http("https://x.org/rel/aiops-linux".into())
        );
        let abs = format!(r#"{{"version":"1.0.0","url":"https://cdn/a","sha256":"{sha}"}}"#);
        assert_eq!(
            parse_manifest(&abs, &location("file:///m.json"))
                .unwrap()
                .url,
            Location::Http("https://cdn/a".into())
        );
        let bad = r#"{"version":"1.0.0","url":"a","sha256":"zz"}"#;
        assert!(
            parse_manifest(bad, &location("/m.json"))
                .unwrap_err()
                .to_string()
                .contains("sha256")
        );
        assert!(parse_manifest("{}", &location("/m.json")).is_err());
    }
}
