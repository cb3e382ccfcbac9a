//! Pull requests of a linked repository: GitHub pulls (`POST/GET /repos/{o}/{r}/pulls`,
//! `PUT …/pulls/{n}/merge`) and GitLab merge requests (`POST/GET
//! /projects/{id}/merge_requests`, `PUT …/merge_requests/{iid}/merge`), with the link's
//! stored token, through the same `Http` (retries, upstream messages) as issues. States are
//! normalised to `open`, `closed` and `merged`.

use super::{AnyProvider, Conn, TResult, TrackerError};
use crate::domain::issues::github_repo;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

/// A pull (merge) request as the tracker answered it.
#[derive(Debug, Clone, PartialEq)]
pub struct PullPayload {
    /// GitHub's `number`, GitLab's `iid`.
    pub number: u64,
    /// GitHub's `html_url`, GitLab's `web_url`.
    pub url: String,
    /// `open`, `closed` or `merged`.
    pub state: String,
    pub title: String,
    pub head: String,
    pub base: String,
}

/// What a new pull request holds.
#[derive(Debug, Clone, Default)]
pub struct NewPull {
    pub title: String,
    pub body: String,
    /// The branch with the changes.
    pub head: String,
    /// The branch it goes into.
    pub base: String,
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn number(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or_default()
}

/// A GitHub pull: `merged` (or `merged_at`) wins over `state`.
fn github_pull(v: &Value) -> PullPayload {
    let merged = v.get("merged").and_then(Value::as_bool) == Some(true)
        || v.get("merged_at").is_some_and(|m| !m.is_null());
    PullPayload {
        number: number(v, "number"),
        url: text(v, "html_url"),
        state: if merged {
            "merged".into()
        } else {
            text(v, "state")
        },
        title: text(v, "title"),
        head: v.get("head").map(|h| text(h, "ref")).unwrap_or_default(),
        base: v.get("base").map(|h| text(h, "ref")).unwrap_or_default(),
    }
}

/// A GitLab merge request: `opened` reads as `open`.
fn gitlab_mr(v: &Value) -> PullPayload {
    let state = text(v, "state");
    PullPayload {
        number: number(v, "iid"),
        url: text(v, "web_url"),
        state: if state == "opened" {
            "open".into()
        } else {
            state
        },
        title: text(v, "title"),
        head: text(v, "source_branch"),
        base: text(v, "target_branch"),
    }
}

fn github_req(c: &Conn, method: Method, tail: &str) -> TResult<RequestBuilder> {
    let (owner, repo) = github_repo(&c.identifier).map_err(TrackerError::Invalid)?;
    let url = format!("{}/repos/{owner}/{repo}/pulls{tail}", c.base_url);
    Ok(c.http
        .client()
        .request(method, url)
        .header("Authorization", format!("token {}", c.token))
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28"))
}

fn gitlab_req(c: &Conn, method: Method, tail: &[&str]) -> TResult<RequestBuilder> {
    let mut u = reqwest::Url::parse(&format!("{}/api/v4/projects", c.base_url))
        .map_err(|e| TrackerError::Invalid(format!("Invalid GitLab base URL: {e}")))?;
    {
        let mut seg = u
            .path_segments_mut()
            .map_err(|_| TrackerError::Invalid("Invalid GitLab base URL".into()))?;
        seg.push(c.identifier.trim().trim_matches('/'));
        seg.push("merge_requests");
        seg.extend(tail);
    }
    Ok(c.http
        .client()
        .request(method, u)
        .header("PRIVATE-TOKEN", &c.token))
}

const NOT_A_HOST: &str =
    "Pull requests need the project linked to GitHub or GitLab; this project's tracker is Jira";

impl AnyProvider {
    /// Open a pull (merge) request from `head` into `base`.
    pub async fn open_pull(&self, req: &NewPull) -> TResult<PullPayload> {
        if req.title.trim().is_empty() || req.head.trim().is_empty() {
            return Err(TrackerError::Invalid(
                "A pull request needs a title and a source branch".into(),
            ));
        }
        match self {
            AnyProvider::GitHub(p) => {
                let body = json!({"title": req.title.trim(), "head": req.head,
                                  "base": req.base, "body": req.body});
                let rb = github_req(&p.c, Method::POST, "")?.json(&body);
                Ok(github_pull(&p.c.http.json("GitHub", rb).await?.0))
            }
            AnyProvider::GitLab(p) => {
                let body = json!({"title": req.title.trim(), "source_branch": req.head,
                                  "target_branch": req.base, "description": req.body});
                let rb = gitlab_req(&p.c, Method::POST, &[])?.json(&body);
                Ok(gitlab_mr(&p.c.http.json("GitLab", rb).await?.0))
            }
            AnyProvider::Jira(_) => Err(TrackerError::Invalid(NOT_A_HOST.into())),
        }
    }

    /// The repository's pull requests in `state` (`open`, `closed`, `merged`, `all`; first
    /// page of 100).
    pub async fn list_pulls(&self, state: &str) -> TResult<Vec<PullPayload>> {
        match self {
            AnyProvider::GitHub(p) => {
                let gh_state = if state == "merged" { "closed" } else { state };
                let rb = github_req(&p.c, Method::GET, "")?
                    .query(&[("state", gh_state), ("per_page", "100")]);
                let v = p.c.http.json("GitHub", rb).await?.0;
                let all = v.as_array().map(|a| a.iter().map(github_pull).collect());
                let all: Vec<PullPayload> = all.unwrap_or_default();
                Ok(all
                    .into_iter()
                    .filter(|x| state != "merged" || x.state == "merged")
                    .collect())
            }
            AnyProvider::GitLab(p) => {
                let gl_state = if state == "open" { "opened" } else { state };
                let rb = gitlab_req(&p.c, Method::GET, &[])?
                    .query(&[("state", gl_state), ("per_page", "100")]);
                let v = p.c.http.json("GitLab", rb).await?.0;
                Ok(v.as_array()
                    .map(|a| a.iter().map(gitlab_mr).collect())
                    .unwrap_or_default())
            }
            AnyProvider::Jira(_) => Err(TrackerError::Invalid(NOT_A_HOST.into())),
        }
    }

    /// Merge pull request `n`; answers it as it is after the merge.
    pub async fn merge_pull(&self, n: u64) -> TResult<PullPayload> {
        match self {
            AnyProvider::GitHub(p) => {
                let rb = github_req(&p.c, Method::PUT, &format!("/{n}/merge"))?.json(&json!({}));
                let done = p.c.http.json("GitHub", rb).await?.0;
                if done.get("merged").and_then(Value::as_bool) == Some(false) {
                    return Err(TrackerError::Refused(
                        format!(
                            "GitHub did not merge pull request #{n}: {}",
                            text(&done, "message")
                        ),
                        405,
                    ));
                }
                let rb = github_req(&p.c, Method::GET, &format!("/{n}"))?;
                Ok(github_pull(&p.c.http.json("GitHub", rb).await?.0))
            }
            AnyProvider::GitLab(p) => {
                let iid = n.to_string();
                let rb = gitlab_req(&p.c, Method::PUT, &[iid.as_str(), "merge"])?;
                Ok(gitlab_mr(&p.c.http.json("GitLab", rb).await?.0))
            }
            AnyProvider::Jira(_) => Err(TrackerError::Invalid(NOT_A_HOST.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_normalised() {
        let gh = github_pull(&json!({"number": 3, "html_url": "u", "state": "closed",
            "merged_at": "2024-01-01T00:00:00Z", "head": {"ref": "a"}, "base": {"ref": "main"}}));
        assert_eq!(
            (gh.number, gh.state.as_str(), gh.head.as_str()),
            (3, "merged", "a")
        );
        let open = github_pull(&json!({"number": 4, "state": "open", "merged_at": null}));
        assert_eq!(open.state, "open");
        let gl = gitlab_mr(&json!({"iid": 7, "web_url": "w", "state": "opened",
            "source_branch": "a", "target_branch": "main"}));
        assert_eq!(
            (gl.number, gl.state.as_str(), gl.url.as_str()),
            (7, "open", "w")
        );
    }
}
