//! Scheduled issue sync: each enabled integration syncs its project links on its cron
//! expression (default every 15 minutes; "off" disables it). One task drives all of them and
//! stops with the server; a sync cut short by shutdown changes nothing (see `sync`).

use super::App;
use crate::domain::issues::{DEFAULT_SYNC_CRON, cron_expression};
use crate::domain::{Id, TenantIntegration};
use crate::store::tables::*;
use crate::store::*;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Integrations with scheduled sync and their cron expression (seconds field included).
fn scheduled(app: &App) -> crate::error::AppResult<Vec<(Id, String)>> {
    let r = app.store.read()?;
    let all: Vec<TenantIntegration> = all_rows(&r, INTEGRATIONS)?;
    Ok(all
        .into_iter()
        .filter(|i| i.enabled)
        .filter_map(|i| {
            let expr = match i.sync_cron.as_deref().map(str::trim) {
                Some("off") => return None,
                Some(c) if !c.is_empty() => c.to_string(),
                _ => DEFAULT_SYNC_CRON.to_string(),
            };
            cron_expression(&expr).ok().map(|e| (i.id, e))
        })
        .collect())
}

fn next_after(expr: &str, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron::Schedule::from_str(expr).ok()?.after(&t).next()
}

pub fn spawn(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // integration id -> (expression, next due time)
        let mut plan: HashMap<Id, (String, DateTime<Utc>)> = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let now = Utc::now();
            let current = match scheduled(&app) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler cannot read integrations");
                    continue;
                }
            };
            plan.retain(|id, _| current.iter().any(|(i, _)| i == id));
            let mut due = Vec::new();
            for (id, expr) in current {
                match plan.get(&id) {
                    Some((e, next)) if *e == expr => {
                        if *next <= now {
                            due.push(id);
                        }
                    }
                    _ => {
                        if let Some(next) = next_after(&expr, now) {
                            plan.insert(id, (expr, next));
                        }
                    }
                }
            }
            for id in due {
                let links = {
                    let r = app.store.read();
                    match r.and_then(|r| multi_ids(&r, PROJECT_INTEGRATIONS_BY_INTEGRATION, id)) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::warn!(integration = id, error = %e, "scheduled sync skipped");
                            continue;
                        }
                    }
                };
                let results = app.sync_links(&links, false, "scheduled").await;
                let failed = results.iter().filter(|o| o.error.is_some()).count();
                tracing::info!(
                    integration = id,
                    links = links.len(),
                    failed,
                    "scheduled sync ran"
                );
                if let Some((expr, next)) = plan.get_mut(&id)
                    && let Some(n) = next_after(expr, Utc::now())
                {
                    *next = n;
                }
            }
        }
    })
}
