//! Fetching the AWS Spot Instance Advisor feed, with a timeout and
//! conditional requests, validated before use, and falling back to the
//! last good copy or the embedded snapshot when offline.
//!
//! A feed of the wrong shape is refused; a feed of the right shape with
//! odd entries (the live feed has had a negative savings figure) is used
//! without them, and the skipped entries are logged.

use std::time::Duration;

use cloudoptim_core::catalog::{Catalog, CatalogError, SkippedEntry};

use crate::error::AwsError;

/// Where AWS publishes the Spot Instance Advisor feed.
pub const SPOT_ADVISOR_URL: &str =
    "https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json";

/// The last good feed and its validators, kept by the caller between refreshes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedCache {
    /// `ETag` of the last good feed.
    pub etag: Option<String>,
    /// `Last-Modified` of the last good feed.
    pub last_modified: Option<String>,
    /// The last good feed.
    pub body: Option<String>,
}

/// Where the catalog's spot data came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedSource {
    /// A new feed was fetched and validated.
    Fetched,
    /// The server said the cached feed is current (HTTP 304).
    NotModified,
    /// The fetch failed or the feed was invalid; the last good copy is used.
    Cached {
        /// Why.
        reason: String,
    },
    /// No good copy either: the embedded snapshot is used.
    Embedded {
        /// Why.
        reason: String,
    },
}

/// How many skipped entries a log line names; the rest are counted.
const SKIPPED_LOGGED: usize = 5;

/// Fetches the feed.
#[derive(Clone, Debug)]
pub struct AdvisorFetcher {
    client: reqwest::Client,
    url: String,
}

impl AdvisorFetcher {
    /// A fetcher for `url` (usually [`SPOT_ADVISOR_URL`]) giving up after `timeout`.
    pub fn new(url: impl Into<String>, timeout: Duration) -> Result<AdvisorFetcher, AwsError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| AwsError::Service {
                operation: "SpotAdvisorFeed",
                message: e.to_string(),
            })?;
        Ok(AdvisorFetcher {
            client,
            url: url.into(),
        })
    }

    /// `base` with the freshest valid spot data: a new feed, the cached one
    /// when unchanged or when the fetch fails, else `base` as it is.
    ///
    /// A new feed is accepted if its shape is right; its odd entries are
    /// left out and logged with `tracing::warn!` (how many, and the first
    /// few with their paths and values). A feed of the wrong shape is
    /// refused and the last good copy kept.
    pub async fn refresh(&self, cache: &mut FeedCache, base: &Catalog) -> (Catalog, FeedSource) {
        let mut request = self.client.get(&self.url);
        // The ETag is exact; Last-Modified has one-second resolution, so it
        // is only used when there is no ETag (as RFC 9110 ranks them).
        match (&cache.etag, &cache.last_modified) {
            (Some(etag), _) => request = request.header(reqwest::header::IF_NONE_MATCH, etag),
            (None, Some(modified)) => {
                request = request.header(reqwest::header::IF_MODIFIED_SINCE, modified)
            }
            (None, None) => {}
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return fallback(cache, base, format!("fetching {} failed: {e}", self.url)),
        };
        let status = response.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return match cache.body.as_deref().map(|b| cached_feed(base, b)) {
                Some(Ok(catalog)) => (catalog, FeedSource::NotModified),
                _ => fallback(cache, base, "304 without a cached feed".into()),
            };
        }
        if !status.is_success() {
            return fallback(cache, base, format!("{} answered HTTP {status}", self.url));
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header(reqwest::header::ETAG);
        let last_modified = header(reqwest::header::LAST_MODIFIED);
        let body = match response.text().await {
            Ok(b) => b,
            Err(e) => return fallback(cache, base, format!("reading the feed failed: {e}")),
        };
        match base.with_spot_advisor_feed(&body) {
            Ok((catalog, skipped)) => {
                log_skipped(&self.url, &skipped);
                *cache = FeedCache {
                    etag,
                    last_modified,
                    body: Some(body),
                };
                (catalog, FeedSource::Fetched)
            }
            Err(e) => fallback(cache, base, format!("the feed is invalid: {e}")),
        }
    }
}

fn fallback(cache: &FeedCache, base: &Catalog, reason: String) -> (Catalog, FeedSource) {
    tracing::warn!(%reason, "spot advisor feed not refreshed");
    match cache.body.as_deref().map(|b| cached_feed(base, b)) {
        Some(Ok(catalog)) => (catalog, FeedSource::Cached { reason }),
        _ => (base.clone(), FeedSource::Embedded { reason }),
    }
}

/// `base` with the cached feed, whose skipped entries were logged when it
/// was fetched.
fn cached_feed(base: &Catalog, body: &str) -> Result<Catalog, CatalogError> {
    let (catalog, skipped) = base.with_spot_advisor_feed(body)?;
    if !skipped.is_empty() {
        tracing::debug!(
            count = skipped.len(),
            "cached Spot Advisor feed used without its odd entries"
        );
    }
    Ok(catalog)
}

/// Logs the entries a fetched feed had skipped: how many, and the first
/// [`SKIPPED_LOGGED`] with path, value and what was expected.
fn log_skipped(url: &str, skipped: &[SkippedEntry]) {
    if skipped.is_empty() {
        return;
    }
    let first: Vec<String> = skipped
        .iter()
        .take(SKIPPED_LOGGED)
        .map(|entry| {
            format!(
                "{} = {} (expected {})",
                entry.location, entry.value, entry.expected
            )
        })
        .collect();
    tracing::warn!(
        url,
        count = skipped.len(),
        first = ?first,
        "Spot Advisor feed used without its odd entries"
    );
}
