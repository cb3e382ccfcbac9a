//! `@name` mentions in Jira comments: resolved through the identity map, then Jira's user
//! search (`domain::issues::resolve_mentions` does the rewriting).

use crate::domain::issues::resolve_mentions;
use crate::error::AppResult;
use crate::services::integrations::Trackers;
use crate::services::trackers::{AnyProvider, Provider};
use std::collections::HashMap;

impl Trackers {
    /// Resolve `@name` mentions for Jira: the identity map first, then Jira's user search.
    pub(super) async fn jira_mentions(
        &self,
        provider: &AnyProvider,
        body: &str,
    ) -> AppResult<String> {
        if !body.contains('@') {
            return Ok(body.to_string());
        }
        let people = self.jira_people()?;
        let mut names: Vec<String> = Vec::new();
        resolve_mentions(body, |n| {
            names.push(n.to_string());
            None
        });
        let mut found: HashMap<String, String> = HashMap::new();
        for n in names {
            if let Some((_, acc)) = people.iter().find(|(k, _)| *k == n) {
                found.insert(n, acc.clone());
            } else if n.len() >= 2
                && let Ok(Some(acc)) = provider.find_user(&n.replace(['.', '_'], " ")).await
            {
                found.insert(n, acc);
            }
        }
        Ok(resolve_mentions(body, |n| found.get(n).cloned()).0)
    }
}
