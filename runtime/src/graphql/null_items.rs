//! Null elements of lists in action outputs. async-graphql's dynamic schema gives a list's
//! elements no way to be "none": an element of an object type is resolved as an object even
//! when its value is null, which would answer `{"city": null}` where the handler said `null`.
//! The resolver that builds a list records its null elements here, by response path, and
//! [`NullListItems`] answers those elements `null` before they are resolved. Each query or
//! mutation request has its own [`NullItems`] (a subscription's events have none yet, and
//! keep the old behaviour).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{QueryPathNode, QueryPathSegment, ServerResult, Value};

/// The null list elements of one request's outputs, by response path (`a.b.2`).
#[derive(Debug, Default)]
pub struct NullItems {
    /// Whether anything was recorded: the common case, no null elements, costs one load.
    any: AtomicBool,
    paths: Mutex<HashSet<String>>,
}

impl NullItems {
    /// Records that element `indices` (outermost first) of the list at `field` is null.
    pub fn record(&self, field: &QueryPathNode<'_>, indices: &[usize]) {
        let mut path = field.to_string();
        for index in indices {
            path.push('.');
            path.push_str(&index.to_string());
        }
        if let Ok(mut paths) = self.paths.lock() {
            paths.insert(path);
            self.any.store(true, Ordering::Release);
        }
    }

    fn is_null(&self, element: &QueryPathNode<'_>) -> bool {
        self.any.load(Ordering::Acquire)
            && self
                .paths
                .lock()
                .is_ok_and(|paths| paths.contains(&element.to_string()))
    }
}

/// Answers recorded null list elements `null`; registered on every schema.
pub struct NullListItems;

impl ExtensionFactory for NullListItems {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(NullListItems)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for NullListItems {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if matches!(info.path_node.segment, QueryPathSegment::Index(_))
            && ctx
                .data_opt::<NullItems>()
                .is_some_and(|items| items.is_null(info.path_node))
        {
            return Ok(None);
        }
        next.run(ctx, info).await
    }
}
