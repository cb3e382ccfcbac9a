//! Operations: backups taken while a writer keeps writing, restore round trips (also from an
//! older schema), refused archives (corrupted, truncated, newer schema, another master key),
//! scheduled backups with retention, system status/logs/scheduler, self-update with checksum
//! verification, graceful restart, and admin-only access.

use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

async fn names(s: &Server, path: &str, key: &str) -> Vec<String> {
    let v = ok(s, &s.admin_key, Method::GET, path, None).await;
    let mut n: Vec<String> = v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

async fn backup(s: &Server, desc: &str) -> Value {
    let (st, v) = s
        .post(
            &s.admin_key,
            "/api/v1/system/backups",
            json!({"description": desc}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["backup"].clone()
}

/// Read an archive: (member name, bytes) in order.
fn read_archive(p: &Path) -> Vec<(String, Vec<u8>)> {
    let f = std::fs::File::open(p).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut out = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push((name, data));
    }
    out
}

fn write_archive(p: &Path, members: &[(String, Vec<u8>)]) {
    let f = std::fs::File::create(p).unwrap();
    let mut t = tar::Builder::new(flate2::write::GzEncoder::new(
        f,
        flate2::Compression::fast(),
    ));
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o600);
        h.set_cksum();
        t.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    t.into_inner().unwrap().finish().unwrap();
}

fn sha(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Re-seal a manifest after editing tables: per-table sums and the overall checksum.
fn reseal(members: &mut [(String, Vec<u8>)], edit: impl FnOnce(&mut Value)) {
    let sums: std::collections::HashMap<String, (String, usize)> = members
        .iter()
        .filter_map(|(n, d)| {
            n.strip_prefix("tables/")
                .map(|t| (t.trim_end_matches(".bin").to_string(), (sha(d), d.len())))
        })
        .collect();
    let (_, m) = members
        .iter_mut()
        .find(|(n, _)| n == "manifest.json")
        .unwrap();
    let mut v: Value = serde_json::from_slice(m).unwrap();
    edit(&mut v);
    let tables: Vec<Value> = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| {
            let name = t["name"].as_str().unwrap();
            sums.get(name).map(|(s, len)| {
                let mut t = t.clone();
                t["sha256"] = json!(s);
                t["bytes"] = json!(len);
                t
            })
        })
        .collect();
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for t in &tables {
        h.update(t["name"].as_str().unwrap().as_bytes());
        h.update([0]);
        h.update(t["sha256"].as_str().unwrap().as_bytes());
        h.update([0]);
    }
    v["checksum"] = json!(hex::encode(h.finalize()));
    v["tables"] = json!(tables);
    *m = serde_json::to_vec_pretty(&v).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_under_writes_restore_round_trip_and_refused_archives() {
    let s = Server::start();
    let k = s.admin_key.clone();
    let base_tenant = s.create_tenant("base").await;
    s.create_project(&k, "keeper", base_tenant).await;
    let doomed = s.create_project(&k, "doomed", base_tenant).await;

    // A writer keeps creating tenants w-0, w-1, … while backups are taken.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = {
        let stop = stop.clone();
        let count = count.clone();
        let base = s.base.clone();
        let key = k.clone();
        tokio::spawn(async move {
            let c = reqwest::Client::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = c
                    .post(format!("{base}/api/v1/tenants"))
                    .bearer_auth(&key)
                    .json(&json!({"name": format!("w-{n}")}))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                n += 1;
                count.store(n, std::sync::atomic::Ordering::Relaxed);
            }
            n
        })
    };
    // The backup is taken while writes go on: some before it, some after it.
    let written_by = |n: u64| {
        let count = count.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            while count.load(std::sync::atomic::Ordering::Relaxed) < n {
                assert!(Instant::now() < deadline, "the writer is stuck");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    written_by(3).await;
    let mid = backup(&s, "under load").await;
    written_by(count.load(std::sync::atomic::Ordering::Relaxed) + 2).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(written > 0);
    let files = read_archive(Path::new(mid["filepath"].as_str().unwrap()));
    let manifest: Value =
        serde_json::from_slice(&files.iter().find(|(n, _)| n == "manifest.json").unwrap().1)
            .unwrap();
    assert_eq!(manifest["format"], "aiops-backup");
    assert_eq!(manifest["schema_version"], aiops::store::SCHEMA_VERSION);
    let tenants_at_backup = manifest["counts"]["tenants"].as_u64().unwrap();
    assert!(tenants_at_backup >= 2, "{manifest}");
    assert!(
        tenants_at_backup < written + 1,
        "the backup did not wait for the writer: {tenants_at_backup} of {written}"
    );

    // The state to come back to.
    let before_tenants = names(&s, "/api/v1/tenants", "tenants").await;
    let before_projects = names(&s, "/api/v1/projects", "projects").await;
    let snap = backup(&s, "round trip").await;
    assert_eq!(snap["kind"], "manual");
    assert_eq!(snap["description"], "round trip");
    // The CLI lists and downloads it; the download is the archive byte for byte.
    let (ok_, out, err) = cli(&s, &["system", "backup", "list"]);
    assert!(
        ok_ && out.contains(snap["filename"].as_str().unwrap()),
        "{out}{err}"
    );
    let dl = s.dir.join("dl.tar.gz");
    let (ok_, out, err) = cli(
        &s,
        &[
            "system",
            "backup",
            "download",
            &snap["id"].to_string(),
            "-f",
            dl.to_str().unwrap(),
        ],
    );
    assert!(ok_, "{out}{err}");
    assert_eq!(
        sha(&std::fs::read(&dl).unwrap()),
        snap["sha256"].as_str().unwrap()
    );

    // Change things, then restore: exactly the data at backup time, server still up.
    ok(
        &s,
        &k,
        Method::DELETE,
        &format!("/api/v1/projects/{doomed}"),
        None,
    )
    .await;
    s.create_tenant("after-backup").await;
    let later = backup(&s, "later").await;
    let (ok_, out, err) = cli(
        &s,
        &["system", "backup", "restore", &snap["id"].to_string(), "-y"],
    );
    assert!(ok_, "{out}{err}");
    assert!(out.contains("restored"), "{out}");
    assert_eq!(
        names(&s, "/api/v1/tenants", "tenants").await,
        before_tenants
    );
    assert_eq!(
        names(&s, "/api/v1/projects", "projects").await,
        before_projects
    );
    // The catalogue survives: the later backup and the safety copy are listed.
    let list = ok(&s, &k, Method::GET, "/api/v1/system/backups", None).await;
    let ids: Vec<u64> = list["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_u64().unwrap())
        .collect();
    assert!(ids.contains(&later["id"].as_u64().unwrap()), "{list}");
    assert!(
        list["backups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["kind"] == "safety"),
        "{list}"
    );
    // Writes keep working on the restored store.
    s.create_tenant("after-restore").await;

    // The mid-load backup restores to a consistent prefix of the writer's tenants.
    let restored = ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/system/backups/{}/restore", mid["id"]),
        None,
    )
    .await;
    let t = names(&s, "/api/v1/tenants", "tenants").await;
    assert_eq!(t.len() as u64, tenants_at_backup, "{t:?}");
    let w: Vec<u64> = t
        .iter()
        .filter_map(|n| n.strip_prefix("w-").map(|x| x.parse().unwrap()))
        .collect();
    let mut sorted = w.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        (0..w.len() as u64).collect::<Vec<_>>(),
        "no gaps: {t:?}"
    );
    // And back to the pre-restore state through the safety copy.
    ok(
        &s,
        &k,
        Method::POST,
        &format!(
            "/api/v1/system/backups/{}/restore",
            restored["safety_backup_id"]
        ),
        None,
    )
    .await;
    assert!(
        names(&s, "/api/v1/tenants", "tenants")
            .await
            .contains(&"after-restore".to_string())
    );

    let count_now = names(&s, "/api/v1/tenants", "tenants").await.len();
    let backups_now = ok(&s, &k, Method::GET, "/api/v1/system/backups", None).await["count"]
        .as_u64()
        .unwrap();
    let refused = |b: Value, needle: &'static str, status: StatusCode| {
        let s = &s;
        async move {
            let (st, e) = s
                .post(
                    &s.admin_key,
                    &format!("/api/v1/system/backups/{}/restore", b["id"]),
                    json!({}),
                )
                .await;
            assert_eq!(st, status, "{e}");
            assert!(err_text(&e).contains(needle), "{needle}: {e}");
        }
    };
    // Corrupted: one byte flipped in the middle.
    let c = backup(&s, "to corrupt").await;
    let p = PathBuf::from(c["filepath"].as_str().unwrap());
    let mut bytes = std::fs::read(&p).unwrap();
    let mid_byte = bytes.len() / 2;
    bytes[mid_byte] ^= 0xff;
    std::fs::write(&p, &bytes).unwrap();
    refused(c, "corrupt", StatusCode::BAD_REQUEST).await;
    // Truncated.
    let tr = backup(&s, "to truncate").await;
    let p = PathBuf::from(tr["filepath"].as_str().unwrap());
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    refused(tr, "truncated", StatusCode::BAD_REQUEST).await;
    // A newer schema.
    let nw = backup(&s, "newer").await;
    let p = PathBuf::from(nw["filepath"].as_str().unwrap());
    let mut m = read_archive(&p);
    reseal(&mut m, |v| v["schema_version"] = json!(99));
    write_archive(&p, &m);
    refused(nw, "newer than this aiops", StatusCode::BAD_REQUEST).await;
    // Another master key.
    let mk = backup(&s, "other key").await;
    let p = PathBuf::from(mk["filepath"].as_str().unwrap());
    let mut m = read_archive(&p);
    reseal(&mut m, |v| v["master_key_id"] = json!("0000000000000000"));
    write_archive(&p, &m);
    refused(mk, "another master key", StatusCode::CONFLICT).await;
    // Nothing changed, and no safety backup was taken for a refused archive.
    assert_eq!(
        names(&s, "/api/v1/tenants", "tenants").await.len(),
        count_now
    );
    let after = ok(&s, &k, Method::GET, "/api/v1/system/backups", None).await;
    assert_eq!(after["count"].as_u64().unwrap(), backups_now + 4, "{after}");

    // A backup from schema 1 (no known_hosts table yet) restores and is migrated.
    let old = backup(&s, "old schema").await;
    let p = PathBuf::from(old["filepath"].as_str().unwrap());
    let mut m: Vec<(String, Vec<u8>)> = read_archive(&p)
        .into_iter()
        .filter(|(n, _)| n != "tables/known_hosts.bin")
        .collect();
    // meta holds schema_version as 8 little-endian bytes: set it to 1.
    let (_, meta) = m.iter_mut().find(|(n, _)| n == "tables/meta.bin").unwrap();
    let mut recs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut i = 0;
    while i < meta.len() {
        let kl = u32::from_le_bytes(meta[i..i + 4].try_into().unwrap()) as usize;
        let key = meta[i + 4..i + 4 + kl].to_vec();
        i += 4 + kl;
        let vl = u32::from_le_bytes(meta[i..i + 4].try_into().unwrap()) as usize;
        let mut val = meta[i + 4..i + 4 + vl].to_vec();
        i += 4 + vl;
        if key == b"schema_version" {
            val = 1u64.to_le_bytes().to_vec();
        }
        recs.push((key, val));
    }
    meta.clear();
    for (k_, v_) in recs {
        meta.extend((k_.len() as u32).to_le_bytes());
        meta.extend(&k_);
        meta.extend((v_.len() as u32).to_le_bytes());
        meta.extend(&v_);
    }
    reseal(&mut m, |v| v["schema_version"] = json!(1));
    write_archive(&p, &m);
    let r = ok(
        &s,
        &k,
        Method::POST,
        &format!("/api/v1/system/backups/{}/restore", old["id"]),
        None,
    )
    .await;
    assert_eq!(r["from_schema_version"], 1, "{r}");
    let info = ok(&s, &k, Method::GET, "/api/v1/system/info", None).await;
    assert_eq!(
        info["schema_version"],
        aiops::store::SCHEMA_VERSION,
        "{info}"
    );
    ok(&s, &k, Method::GET, "/api/v1/admin/known-hosts", None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_backups_fire_on_seconds_cron_and_retention_keeps_the_newest() {
    let s = Server::start();
    let k = s.admin_key.clone();
    let manual = backup(&s, "keep me").await;
    let (st, e) = s
        .call(
            &k,
            Method::PUT,
            "/api/v1/system/backup-schedule",
            Some(json!({"cron": "every second"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    ok(
        &s,
        &k,
        Method::PUT,
        "/api/v1/system/backup-schedule",
        Some(json!({"cron": "* * * * * *", "keep_last": 2})),
    )
    .await;
    // Wait until the scheduler has taken at least four backups.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = ok(&s, &k, Method::GET, "/api/v1/system/scheduler", None).await;
        let job = jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["key"] == "backup")
            .cloned();
        if let Some(j) = &job {
            assert!(j["next_run"].is_string(), "{j}");
            let n: u64 = j["last_result"]
                .as_str()
                .and_then(|r| r.strip_prefix("backup #"))
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if n >= manual["id"].as_u64().unwrap() + 4 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "no scheduled backups: {jobs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ok(
        &s,
        &k,
        Method::PUT,
        "/api/v1/system/backup-schedule",
        Some(json!({"cron": null, "keep_last": 2})),
    )
    .await;
    // A backup that was running when the schedule went off ends (and prunes) first: the job
    // leaves the scheduler's board only then.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = ok(&s, &k, Method::GET, "/api/v1/system/scheduler", None).await;
        if !jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["key"] == "backup")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the backup job stays: {jobs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let list = ok(&s, &k, Method::GET, "/api/v1/system/backups", None).await;
    let all = list["backups"].as_array().unwrap();
    let scheduled: Vec<u64> = all
        .iter()
        .filter(|b| b["kind"] == "scheduled")
        .map(|b| b["id"].as_u64().unwrap())
        .collect();
    assert_eq!(scheduled.len(), 2, "retention keeps the newest two: {list}");
    assert!(
        all.iter().any(|b| b["id"] == manual["id"]),
        "manual backups stay"
    );
    // The files on disk are exactly the listed ones.
    let mut on_disk: Vec<String> = std::fs::read_dir(s.dir.join("backups"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = all
        .iter()
        .map(|b| b["filename"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    assert_eq!(on_disk, listed);
    // The newest scheduled ones were kept: backup ids are consecutive, and only scheduled
    // backups were made after the manual one, so the two kept are the last two made.
    let max = *scheduled.iter().max().unwrap();
    assert!(max >= manual["id"].as_u64().unwrap() + 4, "{list}");
    assert!(scheduled.contains(&(max - 1)), "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_logs_update_restart_and_admin_only() {
    // Serve from a copy of the binary: the update replaces it.
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = bin_dir.path().join("aiops");
    std::fs::copy(BIN, &bin).unwrap();
    let master = "5a".repeat(32);
    let s = Server::start_bin(
        &bin,
        &[("AIOPS_LOG", "info"), ("AIOPS_SECRET_KEY", master.as_str())],
    );
    let k = s.admin_key.clone();

    let st = ok(&s, &k, Method::GET, "/api/v1/system/status", None).await;
    for c in [
        "database",
        "tmux",
        "git",
        "ansible",
        "ai_tools",
        "sessions",
        "scheduler",
    ] {
        assert!(st["components"][c].is_object(), "{c}: {st}");
    }
    assert_eq!(st["components"]["git"]["healthy"], true, "{st}");
    assert_eq!(st["components"]["tmux"]["healthy"], true, "{st}");
    assert!(st["data_dir_bytes"].as_u64().unwrap() > 0);
    assert_eq!(
        st["summary"]["total_components"],
        st["components"].as_object().unwrap().len()
    );
    let (ok_, out, err) = cli(&s, &["system", "status"]);
    assert!(
        ok_ && out.contains("Component Status:") && out.contains("Database:"),
        "{out}{err}"
    );

    // Logs: structured lines from the log file.
    let deadline = Instant::now() + Duration::from_secs(10);
    let logs = loop {
        let l = ok(&s, &k, Method::GET, "/api/v1/system/logs?lines=50", None).await;
        if l["lines"].as_array().is_some_and(|a| !a.is_empty()) {
            break l;
        }
        assert!(Instant::now() < deadline, "no log lines: {l}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let first: Value = serde_json::from_str(logs["lines"][0].as_str().unwrap()).unwrap();
    assert!(
        first["level"].is_string() && first["timestamp"].is_string(),
        "{first}"
    );
    let (ok_, out, err) = cli(&s, &["system", "logs", "--lines", "5"]);
    assert!(ok_ && !out.trim().is_empty(), "{out}{err}");
    assert!(!logs.to_string().contains(&k), "no API key in the logs");

    // Update: a wrong checksum and a file that is not aiops are refused; the real one lands.
    let release = bin_dir.path().join("release");
    std::fs::copy(BIN, &release).unwrap();
    let good = sha(&std::fs::read(&release).unwrap());
    let (st_, e) = s
        .post(
            &k,
            "/api/v1/system/update",
            json!({"source": release.to_str().unwrap(), "sha256": "0".repeat(64)}),
        )
        .await;
    assert_eq!(st_, StatusCode::BAD_REQUEST);
    assert!(err_text(&e).contains("checksum mismatch"), "{e}");
    let script = bin_dir.path().join("not-aiops");
    std::fs::write(&script, "#!/bin/sh\necho hello\n").unwrap();
    let (st_, e) = s
        .post(
            &k,
            "/api/v1/system/update",
            json!({"source": script.to_str().unwrap(), "sha256": sha(b"#!/bin/sh\necho hello\n")}),
        )
        .await;
    assert_eq!(st_, StatusCode::BAD_REQUEST);
    assert!(err_text(&e).contains("does not run as aiops"), "{e}");
    // Over HTTP from a local release server.
    let bytes = std::fs::read(&release).unwrap();
    // Bound first and served on that very listener: it accepts before the server task runs.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = bytes.clone();
    let app = poem::Route::new().at("/aiops", poem::endpoint::make_sync(move |_| served.clone()));
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    let u = ok(
        &s,
        &k,
        Method::POST,
        "/api/v1/system/update",
        Some(json!({"source": format!("http://{addr}/aiops"), "sha256": good})),
    )
    .await;
    server.abort();
    assert!(
        u["new_version"].as_str().unwrap().starts_with("aiops "),
        "{u}"
    );
    assert!(bin.with_extension("previous").exists());

    // A secret stored under the master key from the environment (which the server removed
    // from its own environment at start) must still decrypt after the restart.
    let tenant = s.create_tenant("keyed").await;
    let (st_, v) = s
        .post(
            &k,
            "/api/v1/integrations",
            json!({"tenant_id": tenant, "provider": "github", "name": "gh",
                   "base_url": "http://127.0.0.1:9", "api_token": "ghp_restartcheck1234"}),
        )
        .await;
    assert!(st_.is_success(), "{v}");
    // Restart: same process (re-exec), same address, data intact, new start time.
    let pid = s.child_id();
    let before = ok(&s, &k, Method::GET, "/api/v1/system/info", None).await;
    let (ok_, out, err) = cli(&s, &["system", "restart", "-y"]);
    assert!(ok_, "{out}{err}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = s
            .client
            .get(s.url("/api/v1/system/info"))
            .bearer_auth(&k)
            .send()
            .await
            && r.status().is_success()
        {
            let v: Value = r.json().await.unwrap();
            if v["started_at"] != before["started_at"] {
                assert_eq!(v["users"], before["users"]);
                break;
            }
        }
        assert!(Instant::now() < deadline, "the server did not come back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(s.child_id(), pid);
    let integ = ok(&s, &k, Method::GET, "/api/v1/integrations", None).await;
    assert_eq!(
        integ["integrations"][0]["token_hint"], "••••1234",
        "the master key survived the restart: {integ}"
    );
    assert!(
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .unwrap()
            .contains("serve")
    );

    // Admin only: a read/write key of a non-admin gets 403 JSON on every system route.
    s.create_user("ops@example.com", "ops-password-1", false)
        .await;
    let user = s
        .user_key("ops@example.com", "ops-password-1", &["read", "write"])
        .await;
    for (m, p, b) in [
        (Method::GET, "/api/v1/system/status", None),
        (Method::GET, "/api/v1/system/logs", None),
        (Method::GET, "/api/v1/system/scheduler", None),
        (Method::POST, "/api/v1/system/restart", None),
        (
            Method::POST,
            "/api/v1/system/update",
            Some(json!({"source": "/bin/true", "sha256": "0".repeat(64)})),
        ),
        (Method::GET, "/api/v1/system/backups", None),
        (Method::POST, "/api/v1/system/backups", Some(json!({}))),
        (Method::GET, "/api/v1/system/backups/1", None),
        (Method::GET, "/api/v1/system/backups/1/download", None),
        (Method::POST, "/api/v1/system/backups/1/restore", None),
        (Method::DELETE, "/api/v1/system/backups/1", None),
        (Method::GET, "/api/v1/system/backup-schedule", None),
        (
            Method::PUT,
            "/api/v1/system/backup-schedule",
            Some(json!({"cron": null})),
        ),
    ] {
        let (st, v) = s.call(&user, m.clone(), p, b).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{m} {p}: {v}");
        assert!(v["error"].is_string(), "{m} {p}: JSON error {v}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_pages_for_status_backups_and_logs() {
    let s = Server::start_with(&[("AIOPS_LOG", "info")]);
    let cookie = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let get = |path: &'static str, cookie: String| {
        let s = &s;
        async move {
            let r = s
                .client
                .get(s.url(path))
                .header("cookie", format!("aiops_session={cookie}"))
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let s = &s;
        let cookie = cookie.clone();
        async move {
            let html = s
                .client
                .get(s.url("/"))
                .header("cookie", format!("aiops_session={cookie}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let mut form = form;
            form.push(("csrf_token", page_csrf(&html).unwrap()));
            let r = s
                .client
                .post(s.url(&path))
                .header("cookie", format!("aiops_session={cookie}"))
                .form(&form)
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (st, html) = get("/admin/system", cookie.clone()).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        html.contains("Database") && html.contains("Scheduled jobs"),
        "{html}"
    );
    let (st, html) = post(
        "/admin/backups".into(),
        vec![
            ("action", "create".into()),
            ("description", "from the web".into()),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(html.contains("Backup #1 created"), "{html}");
    assert!(html.contains("from the web"));
    let (st, html) = post(
        "/admin/backups".into(),
        vec![
            ("action", "schedule".into()),
            ("cron", "0 3 * * *".into()),
            ("keep_last", "7".into()),
            ("keep_days", "".into()),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(html.contains("Scheduled backups: 0 3 * * *"), "{html}");
    // The scheduler picks the job up within a tick or two and shows its next run.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, html) = get("/admin/system", cookie.clone()).await;
        if html.contains("0 0 3 * * *") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the backup job is listed: {html}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.create_tenant("made-after").await;
    let (st, html) = post("/admin/backups/1/restore".into(), vec![]).await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(html.contains("Restored backup #1"), "{html}");
    let (_, v) = s.get(&s.admin_key, "/api/v1/tenants").await;
    assert!(!v.to_string().contains("made-after"), "{v}");
    let (st, html) = get("/admin/logs", cookie.clone()).await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("log-lines"), "{html}");
    // Not for other users.
    s.create_user("viewer@example.com", "viewer-password-1", false)
        .await;
    let other = s.web_login("viewer@example.com", "viewer-password-1").await;
    for p in ["/admin/system", "/admin/backups", "/admin/logs"] {
        let (st, _) = get(p, other.clone()).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{p}");
    }
}

/// A wrapper for `ansible-playbook` on PATH that counts its runs (the status checks call
/// `ansible-playbook --version`), then runs the real one.
fn counting_ansible(dir: &Path) -> (PathBuf, String) {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let count = dir.join("ansible-calls");
    let real = std::process::Command::new("sh")
        .args(["-c", "command -v ansible-playbook"])
        .output()
        .unwrap();
    let real = String::from_utf8(real.stdout).unwrap().trim().to_string();
    assert!(!real.is_empty(), "ansible-playbook is installed");
    let script = bin.join("ansible-playbook");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho x >> '{}'\nexec '{real}' \"$@\"\n",
            count.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (count, path)
}

fn calls(count: &Path) -> usize {
    std::fs::read_to_string(count)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn system_status_answers_from_its_cache_and_names_what_needs_attention() {
    let tmp = tempfile::tempdir().unwrap();
    let (count, path) = counting_ansible(tmp.path());
    let s = Server::start_with(&[
        ("PATH", path.as_str()),
        ("AIOPS_TOOLS", "aidertool=aider-not-installed-here"),
    ]);
    let k = s.admin_key.clone();
    // The background check at start.
    let deadline = Instant::now() + Duration::from_secs(20);
    while calls(&count) == 0 {
        assert!(Instant::now() < deadline, "the checks run at start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = ok(&s, &k, Method::GET, "/api/v1/system/status", None).await;
    let at = first["checked_at"].as_str().unwrap().to_string();
    let n = calls(&count);
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let t = Instant::now();
        let st = ok(&s, &k, Method::GET, "/api/v1/system/status", None).await;
        slowest = slowest.max(t.elapsed());
        assert_eq!(
            st["checked_at"],
            at.as_str(),
            "answered from the cache: {st}"
        );
        assert_eq!(st["components"]["ansible"]["healthy"], true, "{st}");
    }
    assert_eq!(calls(&count), n, "no status call spawned the tool checks");
    assert!(
        slowest < Duration::from_millis(500),
        "cached status answers fast: {slowest:?}"
    );
    // The missing tool, in words, in the API too; the keys stay.
    let attention = first["attention"].to_string();
    assert!(
        attention.contains("Agent tool aidertool is not installed"),
        "{first}"
    );
    assert_eq!(
        first["components"]["ai_tools"]["details"]["tools"]["aidertool"]["available"],
        false
    );
    // Control: an explicit refresh runs the checks again.
    let fresh = ok(&s, &k, Method::GET, "/api/v1/system/status?refresh=1", None).await;
    assert_eq!(calls(&count), n + 1, "refresh=1 ran the checks");
    assert_ne!(fresh["checked_at"], at.as_str(), "{fresh}");

    // A failing scheduled sync is named, not `sync:1`.
    let tenant = s.create_tenant("Acme").await;
    let project = s.create_project(&k, "web", tenant).await;
    let (st, v) = s
        .post(
            &k,
            "/api/v1/integrations",
            json!({"tenant_id": tenant, "provider": "github", "name": "acme-gh",
                   "base_url": "http://127.0.0.1:9", "api_token": "ghp_x", "sync_cron": "*/2 * * * * *"}),
        )
        .await;
    assert!(st.is_success(), "{v}");
    let integ = v["integration"]["id"]
        .as_u64()
        .unwrap_or_else(|| v["id"].as_u64().unwrap());
    let (st, v) = s
        .post(
            &k,
            &format!("/api/v1/integrations/{integ}/projects"),
            json!({"project_id": project, "external_identifier": "acme/web"}),
        )
        .await;
    assert!(st.is_success(), "{v}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = ok(&s, &k, Method::GET, "/api/v1/system/status", None).await;
        if st["attention"]
            .to_string()
            .contains("Issue sync of integration acme-gh failed")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the failing sync is named: {st}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // The page: the same items in words, no internal keys, refreshing itself.
    let cookie = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let html = s
        .client
        .get(s.url("/admin/system"))
        .header("cookie", format!("aiops_session={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for want in [
        "Agent tool aidertool is not installed — install it",
        "Issue sync of integration acme-gh failed",
        "Tools checked ",
        "Refresh now",
        "hx-trigger=\"every 30s\"",
        "things need attention",
    ] {
        assert!(html.contains(want), "{want}: {html}");
    }
    for internal in ["ai_tools", "sync:1", "Something needs attention"] {
        assert!(!html.contains(internal), "{internal} shows: {html}");
    }
    assert_eq!(calls(&count), n + 1, "the page answered from the cache too");

    // In Chromium: Refresh now checks again and says so; the page fits a phone.
    for (phone, name) in [(true, "system-390"), (false, "system-1366")] {
        let d = crate::webdriver::Driver::start(phone).await;
        d.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        d.goto(&s.url("/admin/system")).await;
        d.find("#attention").await;
        d.assert_fits("the system page").await;
        let before = calls(&count);
        d.click("#status-refresh").await;
        d.wait_text("#status-live", "Checked again just now").await;
        assert_eq!(calls(&count), before + 1, "Refresh now ran the checks");
        std::fs::create_dir_all("target/screenshots").unwrap();
        d.screenshot(&format!("target/screenshots/{name}.png"))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_page_shows_the_newest_line_first_to_the_second() {
    let s = Server::start_with(&[("AIOPS_LOG", "info")]);
    // A few lines to show: failed logins are logged.
    for _ in 0..3 {
        let _ = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cookie = s.web_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let html = s
        .client
        .get(s.url("/admin/logs?lines=200"))
        .header("cookie", format!("aiops_session={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let stamps: Vec<&str> = html
        .split("datetime=\"")
        .skip(1)
        .map(|r| r.split('"').next().unwrap())
        .collect();
    assert!(stamps.len() >= 2, "{html}");
    let mut sorted = stamps.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(stamps, sorted, "newest first");
    // Control: the API keeps the original's order (oldest first).
    let v = ok(
        &s,
        &s.admin_key,
        Method::GET,
        "/api/v1/system/logs?lines=200",
        None,
    )
    .await;
    let api: Vec<String> = v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| {
            serde_json::from_str::<Value>(l.as_str().unwrap()).ok()?["timestamp"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    let mut asc = api.clone();
    asc.sort();
    assert_eq!(api, asc, "the API is oldest first");
    // Shown to the second, the full stamp kept in the attribute.
    let shown = html
        .split("<time ")
        .nth(1)
        .and_then(|r| r.split('>').nth(1))
        .and_then(|r| r.split('<').next())
        .unwrap();
    assert_eq!(shown.len(), "2026-12-01 15:39:00".len(), "{shown}");
    assert!(!shown.contains('.') && !shown.contains('T'), "{shown}");
    // On a phone the lines wrap instead of scrolling sideways.
    let d = crate::webdriver::Driver::start(true).await;
    d.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    d.goto(&s.url("/admin/logs?lines=10")).await;
    d.find("#log-lines").await;
    d.assert_fits("the log page").await;
    std::fs::create_dir_all("target/screenshots").unwrap();
    d.screenshot("target/screenshots/logs-390.png").await;
}
