//! Restore from an uploaded backup, in Chromium on a phone: server A's archive, downloaded,
//! is uploaded to a fresh server B (its first admin made by /setup), checked, confirmed, and
//! B then serves A's tenants, projects and users. A bad file gets an inline error and changes
//! nothing.

use crate::harness::*;
use crate::webdriver::Driver;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

const OLD_USER: &str = "old-user@example.com";
const OLD_PASSWORD: &str = "old-user-password-1";

async fn tenants(s: &Server, key: &str) -> String {
    let (st, v) = s.get(key, "/api/v1/tenants").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_archive_from_another_server_is_restored_on_a_fresh_one_from_the_web() {
    // Both servers share the master key (the archive's tokens decrypt only under it).
    let key = "3c".repeat(32);
    let env = [("AIOPS_SECRET_KEY", key.as_str())];
    let a = Server::start_with(&env);
    let t = a.create_tenant("alpha-tenant").await;
    a.create_project(&a.admin_key, "alpha-project", t).await;
    a.create_user(OLD_USER, OLD_PASSWORD, false).await;
    let (st, v) = a
        .post(
            &a.admin_key,
            "/api/v1/system/backups",
            json!({"description": "from A"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["backup"]["id"].as_u64().unwrap();
    let archive = a
        .client
        .get(a.url(&format!("/api/v1/system/backups/{id}/download")))
        .bearer_auth(&a.admin_key)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(archive.starts_with(&[0x1f, 0x8b]), "a gzip archive");
    let files = tempfile::tempdir().unwrap();
    let good = files.path().join("aiops_backup_from_a.tar.gz");
    std::fs::write(&good, &archive).unwrap();
    let garbage = files.path().join("holiday-photo.tar.gz");
    std::fs::write(&garbage, b"this is not an archive at all").unwrap();
    let truncated = files.path().join("cut-short.tar.gz");
    std::fs::write(&truncated, &archive[..archive.len() / 2]).unwrap();

    // B: an empty data dir; its first admin comes from the one-time setup link.
    let b_dir = tempfile::tempdir().unwrap();
    let b = Server::spawn(b_dir.path(), &env);
    let setup = b
        .stdout_lines
        .iter()
        .find_map(|l| l.trim().strip_prefix(&b.url("")).map(str::to_string))
        .filter(|p| p.starts_with("/setup?token="))
        .unwrap_or_else(|| panic!("a setup link: {:?}", b.stdout_lines));
    let d = Driver::start(true).await;
    d.goto(&b.url(&setup)).await;
    d.type_into("input[name=email]", "fresh-admin@example.com")
        .await;
    d.type_into("input[name=name]", "Fresh").await;
    d.type_into("input[name=password]", "fresh-admin-password")
        .await;
    d.click("#setup-submit").await;
    d.find("#nav-toggle").await;
    let b_key = b
        .user_key(
            "fresh-admin@example.com",
            "fresh-admin-password",
            &["read", "write", "admin"],
        )
        .await;
    assert!(!tenants(&b, &b_key).await.contains("alpha-tenant"));

    d.goto(&b.url("/admin/backups")).await;
    d.find("#backup-upload-box").await;
    d.click("#backup-upload-box summary").await;
    d.assert_fits("the backups page").await;
    // A file that is not an archive: an inline error, nothing changed.
    d.send_keys("#backup-file", garbage.to_str().unwrap()).await;
    d.click("#backup-upload button[type=submit]").await;
    d.wait_text("p.error[role=alert]", "is not a backup archive")
        .await;
    assert!(
        d.text_of("p.error[role=alert]")
            .await
            .contains("holiday-photo.tar.gz"),
        "the error names the file"
    );
    d.assert_fits("the upload error").await;
    std::fs::create_dir_all("target/screenshots").unwrap();
    d.screenshot("target/screenshots/backup-upload-error-390.png")
        .await;
    // A truncated archive: the same.
    d.send_keys("#backup-file", truncated.to_str().unwrap())
        .await;
    d.click("#backup-upload button[type=submit]").await;
    d.wait_text("p.error[role=alert]", "truncated").await;
    assert!(!tenants(&b, &b_key).await.contains("alpha-tenant"));
    // Nothing is staged by a refused upload.
    let staged = b_dir.path().join("backups/.uploads");
    let left = std::fs::read_dir(&staged).map(|rd| rd.count()).unwrap_or(0);
    assert_eq!(left, 0, "refused uploads leave no file");

    // The real archive: checked, then the confirm step says what it holds.
    d.send_keys("#backup-file", good.to_str().unwrap()).await;
    d.click("#backup-upload button[type=submit]").await;
    d.wait_text("#upload-checked", "aiops_backup_from_a.tar.gz")
        .await;
    let summary = d.text_of("#upload-summary").await;
    assert!(
        summary.contains("2 users")
            && summary.contains("1 tenants")
            && summary.contains("1 projects"),
        "{summary}"
    );
    assert!(summary.contains("from A"), "{summary}");
    d.assert_fits("the confirm step").await;
    std::fs::create_dir_all("target/screenshots").unwrap();
    d.screenshot("target/screenshots/backup-upload-390.png")
        .await;
    // Not yet restored: the confirm step changes nothing by itself.
    assert!(!tenants(&b, &b_key).await.contains("alpha-tenant"));
    d.click("#upload-confirm-button").await;
    // B's own admin is not in A's data: the next page asks to log in, with the outcome.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !d.current_url().await.contains("/login") {
        assert!(Instant::now() < deadline, "{}", d.current_url().await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    d.wait_text(".toast", "Restored the uploaded archive").await;
    // A's user logs in on B and sees A's data; A's key works on B.
    d.login(&b, OLD_USER, OLD_PASSWORD).await;
    let list = tenants(&b, &a.admin_key).await;
    assert!(list.contains("alpha-tenant"), "{list}");
    let (_, p) = b.get(&a.admin_key, "/api/v1/projects").await;
    assert!(p.to_string().contains("alpha-project"), "{p}");
    // The fresh admin is gone with B's old data, which is kept in a safety backup.
    let (st, _) = b.get(&b_key, "/api/v1/tenants").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (_, bl) = b.get(&a.admin_key, "/api/v1/system/backups").await;
    let kinds = bl.to_string();
    assert!(
        kinds.contains("\"uploaded\"") || kinds.contains("Uploaded archive"),
        "{bl}"
    );
    assert!(kinds.contains("Safety copy"), "{bl}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_restores_an_uploaded_archive_and_refuses_a_bad_one() {
    let key = "4d".repeat(32);
    let env = [("AIOPS_SECRET_KEY", key.as_str())];
    let a = Server::start_with(&env);
    a.create_tenant("api-alpha").await;
    let (_, v) = a
        .post(&a.admin_key, "/api/v1/system/backups", json!({}))
        .await;
    let id = v["backup"]["id"].as_u64().unwrap();
    let archive = a
        .client
        .get(a.url(&format!("/api/v1/system/backups/{id}/download")))
        .bearer_auth(&a.admin_key)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let b = Server::start_with(&env);
    let upload = |body: Vec<u8>| {
        b.client
            .post(b.url("/api/v1/system/backups/upload?filename=a.tar.gz"))
            .bearer_auth(&b.admin_key)
            .header("content-type", "application/gzip")
            .body(body)
            .send()
    };
    let (st, v) = parse(upload(b"garbage".to_vec()).await.unwrap()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(err_text(&v).contains("not a backup archive"), "{v}");
    let (st, v) = parse(
        upload(archive[..archive.len() - 40].to_vec())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(!tenants(&b, &b.admin_key).await.contains("api-alpha"));
    // Control: the whole archive restores.
    let (st, v) = parse(upload(archive.to_vec()).await.unwrap()).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["safety_backup_id"].as_u64().is_some(), "{v}");
    assert!(tenants(&b, &a.admin_key).await.contains("api-alpha"));
}
