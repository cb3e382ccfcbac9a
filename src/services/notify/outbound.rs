//! The HTTP client that sends notices to users' targets (push endpoints, webhooks, ntfy).
//!
//! Every target URL is user input, so by default the server sends only to internet addresses:
//! a URL naming an internal IP (or `localhost`) is refused when saved and before each send
//! (`domain::notify::check_target_host`), and a host name is resolved here, its internal
//! addresses dropped, so a name pointing at 127.0.0.1 or 169.254.169.254 (or one re-pointed
//! there later) reaches nothing. Redirects are not followed (a public target answering 307 to
//! an internal address would get around the check) and no proxy from the environment is used.
//! `notify_private_targets = true` lifts all of this for servers whose ntfy or chat lives on
//! the local network.

use crate::domain::notify::{internal_ip, internal_target_refusal};
use crate::error::{AppError, AppResult};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Resolves names with the system resolver and keeps only internet addresses.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> =
                all.into_iter().filter(|a| !internal_ip(a.ip())).collect();
            if public.is_empty() {
                let e: Box<dyn std::error::Error + Send + Sync> =
                    Box::new(std::io::Error::other(internal_target_refusal(&host)));
                return Err(e);
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// The client for notices: short timeouts, no redirects, no environment proxy, and (unless
/// `allow_internal`) the resolver that drops internal addresses.
pub fn client(
    allow_internal: bool,
    ca_bundle: Option<&std::path::Path>,
) -> AppResult<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("aiops/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if !allow_internal {
        b = b.dns_resolver(Arc::new(PublicOnly));
    }
    if let Some(p) = ca_bundle {
        for cert in crate::services::trackers::load_ca_bundle(p)? {
            b = b.add_root_certificate(cert);
        }
    }
    b.build().map_err(|e| {
        AppError::BadRequest(format!("cannot build the notification HTTP client: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback server answering every request with `answer` (status, Location), and how
    /// many requests it saw.
    async fn server(answer: (u16, Option<String>)) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 2048];
                let _ = c.read(&mut buf).await;
                let location = answer
                    .1
                    .as_ref()
                    .map(|l| format!("Location: {l}\r\n"))
                    .unwrap_or_default();
                let reply = format!(
                    "HTTP/1.1 {} X\r\n{location}Content-Length: 0\r\nConnection: close\r\n\r\n",
                    answer.0
                );
                let _ = c.write_all(reply.as_bytes()).await;
            }
        });
        (port, seen)
    }

    /// Attack: a name that resolves to loopback (`localhost`, from /etc/hosts: no network
    /// needed) reaches nothing through the guarded client, and the error says why. Control: the
    /// allowing client reaches the same server.
    #[tokio::test]
    async fn a_name_resolving_inside_the_network_reaches_nothing() {
        use std::sync::atomic::Ordering;
        let (port, seen) = server((204, None)).await;
        let url = format!("http://localhost:{port}/hook");
        let guarded = client(false, None).unwrap();
        let e = guarded.post(&url).send().await.unwrap_err();
        let chain = {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(x) = src {
                s.push_str(&format!(": {x}"));
                src = x.source();
            }
            s
        };
        assert!(chain.contains("internal network"), "{chain}");
        assert_eq!(seen.load(Ordering::SeqCst), 0, "nothing reached the server");
        let open = client(true, None).unwrap();
        let r = open.post(&url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 204);
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }

    /// A redirect is not followed (a public target answering 307 to an internal address would
    /// get around the address check): the 307 comes back as the answer.
    #[tokio::test]
    async fn redirects_are_not_followed() {
        use std::sync::atomic::Ordering;
        let (inner, inner_seen) = server((204, None)).await;
        let (outer, _) = server((307, Some(format!("http://127.0.0.1:{inner}/meta")))).await;
        let c = client(true, None).unwrap();
        let r = c
            .post(format!("http://127.0.0.1:{outer}/hook"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 307);
        assert_eq!(inner_seen.load(Ordering::SeqCst), 0);
    }
}
