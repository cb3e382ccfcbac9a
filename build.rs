//! Stamps the binary with its git commit and build date (`aiops --version`).
//! Outside a git checkout (e.g. a source tarball) the commit is "unknown"; SOURCE_DATE_EPOCH,
//! when set, makes the date reproducible.

#![allow(
    clippy::disallowed_methods,
    reason = "a build script runs no async runtime"
)]

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let date = match std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
    {
        Some(epoch) => Command::new("date")
            .args(["-u", "-d", &format!("@{epoch}"), "+%Y-%m-%d"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()),
        None => Command::new("date")
            .args(["-u", "+%Y-%m-%d"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()),
    }
    .filter(|s| !s.is_empty())
    .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=AIOPS_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=AIOPS_BUILD_DATE={date}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
}
