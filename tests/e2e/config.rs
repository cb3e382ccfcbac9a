//! The server's configuration through the real binary: `aiops.toml` < `AIOPS_*` environment,
//! a numeric-looking password from the environment, a bad value that names its option and
//! source, and `--help` naming each flag's variable.

use crate::harness::*;
use std::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn the_environment_beats_the_file_and_a_numeric_password_stays_text() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("aiops.toml");
    // A bind no server can take: the harness's AIOPS_BIND must win over it.
    std::fs::write(
        &file,
        "bind = \"256.0.0.1:1\"\nadmin_email = \"file@example.com\"\n\
         public_url = \"http://from-the-file.example\"\n\
         [tools]\naider = \"aider --yes\"\n",
    )
    .unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let s = Server::spawn(
        &data,
        &[
            ("AIOPS_CONFIG", file.to_str().unwrap()),
            ("AIOPS_ADMIN_PASSWORD", "12345678"),
            ("AIOPS_PUBLIC_URL", "http://from-the-env.example"),
        ],
    );
    let out = s.stdout_lines.join("\n");
    assert!(
        out.contains("Created administrator file@example.com"),
        "{out}"
    );
    assert!(
        out.contains("Log in at http://from-the-env.example/login"),
        "{out}"
    );
    let cookie = s.web_login("file@example.com", "12345678").await;
    assert!(!cookie.is_empty());
}

#[test]
fn a_bad_value_stops_the_server_naming_the_option_and_its_source() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .env("AIOPS_DATA_DIR", tmp.path())
            .env("AIOPS_BIND", "127.0.0.1:0")
            .env_remove("AIOPS_CONFIG")
            .current_dir(tmp.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let err = run(&[("AIOPS_SESSION_HOURS", "many")]);
    assert!(err.contains("invalid AIOPS_SESSION_HOURS"), "{err}");
    let file = tmp.path().join("aiops.toml");
    std::fs::write(&file, "sesion_hours = 5\n").unwrap();
    let err = run(&[("AIOPS_CONFIG", file.to_str().unwrap())]);
    assert!(
        err.contains("unknown key `sesion_hours` in config file"),
        "{err}"
    );
}

#[test]
fn serve_help_names_the_variable_of_every_flag() {
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "[env: AIOPS_CONFIG",
        "[env: AIOPS_DATA_DIR]",
        "[env: AIOPS_BIND]",
        "[env: AIOPS_ADMIN_PASSWORD]",
        "[env: AIOPS_SECRET_KEY_FILE]",
        "[env: AIOPS_TRUSTED_PROXIES]",
        "[env: AIOPS_AI_TOOL_UPDATE_TIMEOUT_SECS]",
    ] {
        assert!(help.contains(var), "{var} missing from:\n{help}");
    }
}
