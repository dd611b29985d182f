//! What one request may ask for as a whole, checked before any of it runs: how many
//! operations a batch holds, how many action calls all its operations make together (each
//! root field, aliases included, may store an event and call a handler), and how many fields
//! it selects in all. async-graphql's own limits count one operation at a time; a batch of
//! many operations, or one operation of many aliases, would otherwise pass them.

use std::collections::{HashMap, HashSet};

use async_graphql::Positioned;
use async_graphql::parser::types::{
    ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};

use crate::config::Limits;

/// What an operation costs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// Every selected field, fragments expanded (async-graphql's complexity).
    pub fields: usize,
    /// Root fields other than introspection: the calls the operation makes.
    pub calls: usize,
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, other: Self) {
        self.fields = self.fields.saturating_add(other.fields);
        self.calls = self.calls.saturating_add(other.calls);
    }
}

/// A request over its budget: a stable code and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OverBudget {
    pub code: &'static str,
    pub message: String,
}

/// Fragments nest at most this deep when counting; deeper is already a validation error.
const MAX_FRAGMENT_DEPTH: usize = 64;

/// The operations of `document` a request naming `name` may run: the one of that name, or
/// every one when it names none (async-graphql then insists there is only one).
pub fn chosen_operations<'d>(
    document: &'d ExecutableDocument,
    name: Option<&'d str>,
) -> impl Iterator<Item = &'d Positioned<OperationDefinition>> {
    document
        .operations
        .iter()
        .filter(move |(operation_name, _)| match name {
            Some(wanted) => operation_name.is_some_and(|found| found.as_str() == wanted),
            None => true,
        })
        .map(|(_, operation)| operation)
}

/// The cost of the operation `name` picks (the only one when `None`) in `document`.
pub fn cost(document: &ExecutableDocument, name: Option<&str>) -> Cost {
    let Some(operation) = chosen_operations(document, name).next() else {
        return Cost::default();
    };
    let mut walk = Walk {
        document,
        open: HashSet::new(),
        fragments: HashMap::new(),
    };
    let (fields, calls) = walk.selection_set(&operation.node.selection_set.node, 0);
    Cost { fields, calls }
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    /// Fragments being expanded on the current path, so a cycle ends the walk.
    open: HashSet<&'a str>,
    /// Each fragment's cost, counted once however often it is spread: a document whose
    /// fragments each spread the next twice would otherwise cost 2^depth to count.
    fragments: HashMap<&'a str, (usize, usize)>,
}

impl<'a> Walk<'a> {
    /// The fields of `set` (fragments expanded), and the calls it makes if it is the root.
    fn selection_set(&mut self, set: &'a SelectionSet, depth: usize) -> (usize, usize) {
        if depth > MAX_FRAGMENT_DEPTH {
            return (0, 0);
        }
        let (mut fields, mut calls) = (0usize, 0usize);
        for selection in &set.items {
            let (more_fields, more_calls) = match &selection.node {
                Selection::Field(field) => {
                    let (inner, _) = self.selection_set(&field.node.selection_set.node, depth + 1);
                    let call = usize::from(!field.node.name.node.starts_with("__"));
                    (inner.saturating_add(1), call)
                }
                Selection::InlineFragment(fragment) => {
                    self.selection_set(&fragment.node.selection_set.node, depth + 1)
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str(), depth)
                }
            };
            fields = fields.saturating_add(more_fields);
            calls = calls.saturating_add(more_calls);
        }
        (fields, calls)
    }

    fn fragment(&mut self, name: &'a str, depth: usize) -> (usize, usize) {
        if let Some(cost) = self.fragments.get(name) {
            return *cost;
        }
        let Some(fragment) = self.document.fragments.get(name) else {
            return (0, 0);
        };
        if !self.open.insert(name) {
            return (0, 0);
        }
        let cost = self.selection_set(&fragment.node.selection_set.node, depth + 1);
        self.open.remove(name);
        self.fragments.insert(name, cost);
        cost
    }
}

/// Checks a whole request, `operations` operations costing `total` together, against `limits`.
pub fn check(operations: usize, total: Cost, limits: &Limits) -> Result<(), OverBudget> {
    if operations > limits.max_batch_operations {
        return Err(OverBudget {
            code: "batch-too-large",
            message: format!(
                "a batch may hold at most {} operations; this one holds {operations}",
                limits.max_batch_operations
            ),
        });
    }
    if total.calls > limits.max_action_calls {
        return Err(OverBudget {
            code: "too-many-action-calls",
            message: format!(
                "a request may call at most {} actions (aliases included); this one calls {}",
                limits.max_action_calls, total.calls
            ),
        });
    }
    // One operation's fields are async-graphql's to count (it says where); a batch's together
    // are counted here.
    if operations > 1 && total.fields > limits.max_query_complexity {
        return Err(OverBudget {
            code: "validation-failed",
            message: format!(
                "the request selects {} fields; at most {} are allowed",
                total.fields, limits.max_query_complexity
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(query: &str, name: Option<&str>) -> Cost {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        cost(&document, name)
    }

    #[test]
    fn counts_fields_and_root_calls_through_aliases_and_fragments() {
        assert_eq!(
            of(
                "mutation { a: login(u: 1) { t } b: login(u: 2) { t id } __typename }",
                None
            ),
            Cost {
                fields: 6,
                calls: 2
            }
        );
        let fragments = "query Q { ...Calls ... on query_root { c: x } } \
                         fragment Calls on query_root { a: x b: x { y } }";
        assert_eq!(
            of(fragments, Some("Q")),
            Cost {
                fields: 4,
                calls: 3
            }
        );
        let cycle =
            "{ ...A } fragment A on query_root { x ...B } fragment B on query_root { ...A }";
        assert_eq!(
            of(cycle, None),
            Cost {
                fields: 1,
                calls: 1
            }
        );
        let two = "query A { x } query B { y z }";
        assert_eq!(
            of(two, Some("B")),
            Cost {
                fields: 2,
                calls: 2
            }
        );
        assert_eq!(of(two, Some("C")), Cost::default());
    }

    #[test]
    fn fragments_spread_many_times_are_counted_once_each() {
        // Each fragment spreads the next twice: 2^30 fields if expanded, one walk if not.
        let mut query = String::from("{ ...F0 }");
        for i in 0..30 {
            query.push_str(&format!(
                " fragment F{i} on T {{ ...F{} ...F{} }}",
                i + 1,
                i + 1
            ));
        }
        query.push_str(" fragment F30 on T { x }");
        let cost = of(&query, None);
        assert_eq!(cost.calls, 1 << 30);
        assert_eq!(cost.fields, 1 << 30);
    }

    #[test]
    fn a_request_over_any_budget_is_refused_with_its_code() {
        let limits = Limits {
            max_body_bytes: 1,
            max_response_bytes: 1,
            max_query_depth: 1,
            max_query_complexity: 10,
            max_batch_operations: 2,
            max_action_calls: 3,
        };
        let cost = |fields, calls| Cost { fields, calls };
        assert!(check(2, cost(10, 3), &limits).is_ok());
        assert_eq!(
            check(3, cost(1, 1), &limits).map_err(|e| e.code),
            Err("batch-too-large")
        );
        assert_eq!(
            check(1, cost(4, 4), &limits).map_err(|e| e.code),
            Err("too-many-action-calls")
        );
        assert_eq!(
            check(2, cost(11, 1), &limits).map_err(|e| e.code),
            Err("validation-failed")
        );
        assert!(
            check(1, cost(11, 1), &limits).is_ok(),
            "one operation: async-graphql's limit"
        );
    }
}
