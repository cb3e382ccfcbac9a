//! Shipping: the static musl build (built here by packaging/build-static.sh) starts, serves and
//! runs its CLI against itself; the systemd unit passes `systemd-analyze verify`; the install
//! script is idempotent.
//!
//! The static build is the slow tier: a whole release build for another target (minutes on two
//! cores), so `cargo test` skips it and `.ci/run` runs it as its own step:
//! `cargo test --test e2e packaging -- --ignored`.

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow tier: run by .ci/run as its own step: cargo test --test e2e packaging -- --ignored"]
async fn static_musl_binary_serves_and_runs_the_cli_against_itself() {
    // Same target dir as the tests (another triple: its own lock and artifacts).
    let target_dir = Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    let out = Command::new("bash")
        .arg(repo().join("packaging/build-static.sh"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(repo())
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "static build failed (needs musl-tools and the musl target: .ci/run installs them):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = target_dir.join("x86_64-unknown-linux-musl/release/aiops");
    let ldd = Command::new("ldd").arg(&bin).output().expect("ldd");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&ldd.stdout),
        String::from_utf8_lossy(&ldd.stderr)
    );
    assert!(said.contains("not a dynamic executable"), "ldd: {said}");
    let v = Command::new(&bin).arg("--version").output().unwrap();
    let v = String::from_utf8_lossy(&v.stdout).to_string();
    assert!(
        v.starts_with("aiops ") && v.contains("built "),
        "version, commit and date: {v}"
    );

    let s = Server::start_bin(&bin, &[]);
    let (st, info) = s.get(&s.admin_key, "/api/v1/system/info").await;
    assert!(st.is_success(), "{info}");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    let home = s.dir.join("cli-home");
    std::fs::create_dir_all(&home).unwrap();
    let cli = |args: &[&str]| {
        Command::new(&bin)
            .args(args)
            .env("HOME", &home)
            .env("AIOPS_URL", &s.base)
            .env("AIOPS_API_KEY", &s.admin_key)
            .output()
            .unwrap()
    };
    let o = cli(&["tenants", "create", "--name", "static-tenant"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = cli(&["-o", "json", "tenants", "list"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("static-tenant"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = cli(&["health", "--url", &s.base]);
    assert!(o.status.success());
}

#[test]
fn systemd_unit_verifies_and_install_script_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    // systemd-analyze checks that ExecStart exists: point it at the built binary.
    let unit = std::fs::read_to_string(repo().join("systemd/aiops.service")).unwrap();
    let unit_path = tmp.path().join("aiops.service");
    std::fs::write(&unit_path, unit.replace("/usr/bin/aiops", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit_path)
        .output()
        .expect("systemd-analyze (apt-get install systemd)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        !err.contains(&unit_path.display().to_string()),
        "warnings: {err}"
    );
    // The unit keeps agents alive across restarts and names its state directory.
    assert!(unit.contains("KillMode=process"));
    assert!(unit.contains("StateDirectory=aiops"));

    let root = tmp.path().join("root");
    let install = || {
        let out = Command::new("bash")
            .arg(repo().join("packaging/install.sh"))
            .arg(BIN)
            .env("ROOT", &root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    install();
    let conf = root.join("etc/aiops/aiops.toml");
    assert!(conf.exists());
    std::fs::write(&conf, "bind = \"0.0.0.0:9000\"\n").unwrap();
    let listing = |root: &Path| {
        let out = Command::new("find")
            .arg(root)
            .args(["-printf", "%P %m %s\n"])
            .output()
            .unwrap();
        let mut l: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        l.sort();
        l
    };
    let first = listing(&root);
    install();
    assert_eq!(listing(&root), first, "a second run changes nothing");
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        "bind = \"0.0.0.0:9000\"\n",
        "the configuration is kept"
    );
    assert_eq!(
        std::fs::read(root.join("usr/bin/aiops")).unwrap(),
        std::fs::read(BIN).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/systemd/system/aiops.service")).unwrap(),
        unit
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| {
        std::fs::metadata(root.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("etc/aiops/aiops.env"), 0o600);
    assert_eq!(mode("usr/bin/aiops"), 0o755);
}
