//! Parsed GraphQL documents, kept by query text.
//!
//! Clients send the same few operations again and again, with different variables. Parsing
//! one (async-graphql's PEG parser) took about a seventh of a server thread's time per call
//! under load, more than the component call; copying a kept document is a few allocations.
//! A document is syntax only, so it stays valid across schema changes: every request is
//! still validated against the schema it runs on.

use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerError};
use lru::LruCache;

/// Most documents kept; the least recently used one goes first.
const DOCUMENTS: NonZeroUsize = NonZeroUsize::new(1024).expect("non-zero");

/// Longest query text kept.
const LONGEST_QUERY_BYTES: usize = 8 * 1024;

/// Most query text kept in all: typical operations are a few hundred bytes, so hundreds fit.
/// A parsed document takes up to about 110 times its text (measured: a dense selection of
/// one-letter fields), so this bounds the cache's memory to some 30 MiB whatever clients
/// send, a flood of distinct large operations included.
const TEXT_BUDGET_BYTES: usize = 256 * 1024;

/// Recently parsed documents; shared by every request of a server.
pub struct ParseCache {
    kept: Mutex<Kept>,
}

struct Kept {
    documents: LruCache<String, ExecutableDocument>,
    text_bytes: usize,
}

impl Default for ParseCache {
    fn default() -> Self {
        Self {
            kept: Mutex::new(Kept {
                documents: LruCache::new(DOCUMENTS),
                text_bytes: 0,
            }),
        }
    }
}

impl ParseCache {
    /// Gives `request` its parsed document: a copy of the kept one, or parsed now (and kept).
    /// A query that does not parse is an error, exactly as async-graphql reports it, and is
    /// not kept.
    pub fn parse(&self, request: &mut Request) -> Result<(), ServerError> {
        let keep = request.query.len() <= LONGEST_QUERY_BYTES;
        if keep {
            let kept = self.kept().documents.get(request.query.as_str()).cloned();
            if let Some(document) = kept {
                request.set_parsed_query(document);
                return Ok(());
            }
        }
        let document = request.parsed_query()?;
        if keep {
            let document = document.clone();
            self.kept().insert(request.query.clone(), document);
        }
        Ok(())
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        // A panic elsewhere cannot leave the map half-changed: it holds whole documents.
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Kept {
    /// Keeps `document`, then drops the least recently used ones beyond the budgets.
    fn insert(&mut self, query: String, document: ExecutableDocument) {
        self.text_bytes += query.len();
        // Either the entry the count limit pushed out, or the previous document of the
        // same text: both leave the budget.
        if let Some((gone, _)) = self.documents.push(query, document) {
            self.text_bytes -= gone.len();
        }
        while self.text_bytes > TEXT_BUDGET_BYTES {
            match self.documents.pop_lru() {
                Some((gone, _)) => self.text_bytes -= gone.len(),
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str) -> Request {
        Request::new(query)
    }

    #[test]
    fn a_kept_document_is_the_same_as_a_fresh_parse() {
        let cache = ParseCache::default();
        let query = "mutation($u: String!) { userLogin(username: $u) { accessToken } }";
        let mut first = request(query);
        cache.parse(&mut first).expect("parses");
        let mut second = request(query);
        cache.parse(&mut second).expect("kept");
        let fresh = async_graphql::parser::parse_query(query).expect("parses");
        assert_eq!(
            format!("{:?}", second.parsed_query().expect("set")),
            format!("{fresh:?}")
        );
        assert_eq!(cache.kept().documents.len(), 1);
    }

    #[test]
    fn a_syntax_error_is_reported_and_not_kept() {
        let cache = ParseCache::default();
        let mut broken = request("mutation { userLogin(");
        let error = cache.parse(&mut broken).expect_err("does not parse");
        assert!(!error.message.is_empty());
        assert_eq!(cache.kept().documents.len(), 0);
    }

    #[test]
    fn the_text_budget_drops_the_least_recently_used() {
        let cache = ParseCache::default();
        let padding = " ".repeat(LONGEST_QUERY_BYTES - 100);
        let query = |n: usize| format!("{{ a{n}: __typename{padding} }}");
        let fit = TEXT_BUDGET_BYTES / query(0).len();
        for n in 0..fit + 10 {
            cache.parse(&mut request(&query(n))).expect("parses");
        }
        let kept = cache.kept();
        assert!(kept.text_bytes <= TEXT_BUDGET_BYTES);
        assert_eq!(kept.documents.len(), fit);
        assert!(kept.documents.contains(&query(fit + 9)));
        assert!(!kept.documents.contains(&query(0)));
    }

    #[test]
    fn long_queries_are_parsed_but_not_kept() {
        let cache = ParseCache::default();
        let padding = " ".repeat(LONGEST_QUERY_BYTES);
        let mut long = request(&format!("{{ __typename{padding} }}"));
        cache.parse(&mut long).expect("parses");
        assert!(long.parsed_query().is_ok());
        assert_eq!(cache.kept().documents.len(), 0);
    }
}
