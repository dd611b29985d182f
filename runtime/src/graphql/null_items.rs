//! Null elements of lists in action outputs. async-graphql's dynamic schema gives a list's
//! elements no way to be "none": an element of an object type is resolved as an object even
//! when its value is null, which would answer `{"city": null}` where the handler said `null`.
//! The resolver that builds a list records its null elements here, by response path, and
//! [`NullListItems`] answers those elements `null` before they are resolved. A subscription's
//! event that is `null` (an id the caller may not see) is the same problem one level up, and is
//! answered the same way. Each request, and each subscription, has its own [`NullItems`].

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{QueryPathNode, QueryPathSegment, ServerResult, Value};

/// The null list elements of one request's outputs, by response path (`a.b.2`), and the null
/// results of a subscription's events (by the root field's response key). Clones share.
#[derive(Debug, Default, Clone)]
pub struct NullItems(Arc<Recorded>);

#[derive(Debug, Default)]
struct Recorded {
    /// Whether anything was recorded: the common case, no null elements, costs one load.
    any: AtomicBool,
    paths: Mutex<HashSet<String>>,
}

impl NullItems {
    /// Records that the next event of the subscription field answering at `key` is null.
    pub fn record_root(&self, key: &str) {
        self.insert(key.to_owned());
    }

    /// Records that element `indices` (outermost first) of the list at `field` is null.
    pub fn record(&self, field: &QueryPathNode<'_>, indices: &[usize]) {
        let mut path = field.to_string();
        for index in indices {
            path.push('.');
            path.push_str(&index.to_string());
        }
        self.insert(path);
    }

    fn insert(&self, path: String) {
        if let Ok(mut paths) = self.0.paths.lock() {
            paths.insert(path);
            self.0.any.store(true, Ordering::Release);
        }
    }

    /// Whether `node` was recorded null; the record is used up (each path is resolved once
    /// per response).
    fn take(&self, node: &QueryPathNode<'_>) -> bool {
        self.0.any.load(Ordering::Acquire)
            && self
                .0
                .paths
                .lock()
                .is_ok_and(|mut paths| paths.remove(&node.to_string()))
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
        let element = matches!(info.path_node.segment, QueryPathSegment::Index(_));
        let root = info.path_node.parent.is_none();
        if (element || root)
            && ctx
                .data_opt::<NullItems>()
                .is_some_and(|items| items.take(info.path_node))
        {
            return Ok(None);
        }
        next.run(ctx, info).await
    }
}
