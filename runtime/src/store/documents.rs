//! Request documents (`request_document`): the GraphQL text a request sent, stored once by
//! content however many events it created, and named by sha256 from each event.
//!
//! A request may create up to `limits.max_action_calls` events; storing its document in each
//! made a 51 KB request cost 41 MB. Identical documents from different requests (a client
//! sends the same query every time) share one row as well.
//!
//! A document is written in the same statement or transaction as the first event that names
//! it (`commit`), and deleted only when no event names it any more ([`Store::prune_documents`],
//! after retention and operators' deletes), so an event never names a missing document.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use sha2::{Digest, Sha256};

use super::prepared::row_batch;
use super::schema::request_document;
use super::{Backend, Result, Store};

/// A request's GraphQL document, shared (not copied) by every event of the request; its
/// digest is computed once, when the first event is stored.
#[derive(Debug, Clone)]
pub struct RequestDocument {
    text: Arc<str>,
    sha256: Arc<OnceLock<String>>,
}

impl RequestDocument {
    pub fn new(text: impl Into<Arc<str>>) -> Self {
        Self {
            text: text.into(),
            sha256: Arc::default(),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The hex sha256 of the text: the document's key in the store.
    pub fn sha256(&self) -> &str {
        self.sha256
            .get_or_init(|| hex::encode(Sha256::digest(self.text.as_bytes())))
    }
}

row_batch! {
    #[derive(Insertable)]
    #[diesel(table_name = request_document)]
    pub(super) struct DocumentRow into request_document as DocumentBatch {
        sha256: String,
        document: String,
    }
}

impl DocumentRow {
    pub(super) fn new(document: &RequestDocument) -> Self {
        Self {
            sha256: document.sha256().to_owned(),
            document: document.text().to_owned(),
        }
    }

    pub(super) fn sha256(&self) -> &str {
        &self.sha256
    }
}

/// New events and the documents they name, in one statement on PostgreSQL: `WITH … (INSERT
/// the documents ON CONFLICT DO NOTHING) INSERT the events`. One statement is atomic without
/// a transaction (and its round trips), and its text is fixed, so it is prepared once.
pub(super) struct EventsWithDocuments<'a> {
    pub(super) documents: DocumentBatch<'a>,
    pub(super) events: super::events::EventBatch<'a>,
}

impl diesel::query_builder::QueryId for EventsWithDocuments<'_> {
    type QueryId = EventsWithDocuments<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for EventsWithDocuments<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        out.push_sql("WITH stored_documents AS (");
        self.documents.walk_ast(out.reborrow())?;
        out.push_sql(" ON CONFLICT DO NOTHING) ");
        self.events.walk_ast(out.reborrow())
    }
}

impl<Conn> diesel::RunQueryDsl<Conn> for EventsWithDocuments<'_> {}

/// The documents named by `shas`, by sha256.
pub(super) async fn load(store: &Store, shas: Vec<String>) -> Result<HashMap<String, String>> {
    if shas.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String)> = super::on_connection!(store, |conn| {
        request_document::table
            .filter(request_document::sha256.eq_any(shas))
            .select((request_document::sha256, request_document::document))
            .load(conn)
            .await?
    });
    Ok(rows.into_iter().collect())
}

impl Store {
    /// Deletes the documents no event names any more; returns how many.
    ///
    /// On PostgreSQL the table is locked against inserts meanwhile (`SHARE ROW EXCLUSIVE`
    /// waits for the commits in flight and holds back new ones), so a document an event is
    /// being stored with right now is never taken for unused; SQLite's single writer gives
    /// the same for free. Each backend gets the query its planner does in one pass over the
    /// events: an anti-join on PostgreSQL, `NOT IN` (an ephemeral index) on SQLite.
    pub async fn prune_documents(&self) -> Result<usize> {
        use diesel_async::AsyncConnection;
        Ok(match &self.backend {
            Backend::Postgres(backend) => {
                let mut conn = backend.connection().await?;
                conn.transaction::<_, diesel::result::Error, _>(async |conn| {
                    diesel::sql_query("LOCK TABLE request_document IN SHARE ROW EXCLUSIVE MODE")
                        .execute(&mut *conn)
                        .await?;
                    diesel::sql_query(
                        "DELETE FROM request_document d WHERE NOT EXISTS \
                         (SELECT 1 FROM action_log l WHERE l.request_document = d.sha256)",
                    )
                    .execute(&mut *conn)
                    .await
                })
                .await?
            }
            Backend::Sqlite(backend) => {
                let mut conn = backend.connection().await?;
                diesel::sql_query(
                    "DELETE FROM request_document WHERE sha256 NOT IN \
                     (SELECT request_document FROM action_log WHERE request_document IS NOT NULL)",
                )
                .execute(&mut *conn)
                .await?
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_sha256_of_the_text_computed_once_for_all_clones() {
        let document = RequestDocument::new("query { a }");
        let clone = document.clone();
        assert_eq!(
            document.sha256(),
            hex::encode(Sha256::digest(b"query { a }"))
        );
        assert!(std::ptr::eq(document.sha256(), clone.sha256()));
    }
}
