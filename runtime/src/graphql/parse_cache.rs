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

/// Longest query text kept, so that the cache's memory stays small whatever clients send.
const LONGEST_QUERY_BYTES: usize = 16 * 1024;

/// Recently parsed documents; shared by every request of a server.
pub struct ParseCache {
    documents: Mutex<LruCache<String, ExecutableDocument>>,
}

impl Default for ParseCache {
    fn default() -> Self {
        Self {
            documents: Mutex::new(LruCache::new(DOCUMENTS)),
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
            let kept = self.documents().get(request.query.as_str()).cloned();
            if let Some(document) = kept {
                request.set_parsed_query(document);
                return Ok(());
            }
        }
        let document = request.parsed_query()?;
        if keep {
            let document = document.clone();
            self.documents().put(request.query.clone(), document);
        }
        Ok(())
    }

    fn documents(&self) -> std::sync::MutexGuard<'_, LruCache<String, ExecutableDocument>> {
        // A panic elsewhere cannot leave the map half-changed: it holds whole documents.
        self.documents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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
        assert_eq!(cache.documents().len(), 1);
    }

    #[test]
    fn a_syntax_error_is_reported_and_not_kept() {
        let cache = ParseCache::default();
        let mut broken = request("mutation { userLogin(");
        let error = cache.parse(&mut broken).expect_err("does not parse");
        assert!(!error.message.is_empty());
        assert_eq!(cache.documents().len(), 0);
    }

    #[test]
    fn long_queries_are_parsed_but_not_kept() {
        let cache = ParseCache::default();
        let padding = " ".repeat(LONGEST_QUERY_BYTES);
        let mut long = request(&format!("{{ __typename{padding} }}"));
        cache.parse(&mut long).expect("parses");
        assert!(long.parsed_query().is_ok());
        assert_eq!(cache.documents().len(), 0);
    }
}
