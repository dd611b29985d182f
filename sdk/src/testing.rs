//! Run handlers natively in unit tests: a [`TestContext`] stands in for the server, with the
//! config values, session variables, key-value state and HTTP replies the test chooses, and
//! keeps the log lines. Its key-value store is in memory, on a clock the test moves
//! ([`TestContext::advance`]), so TTLs can be tested without waiting.
//!
//! ```
//! use hookwing_sdk::testing::TestContext;
//! use hookwing_sdk::{ActionError, Context};
//!
//! fn greet(name: String, ctx: &Context) -> Result<String, ActionError> {
//!     let greeting = ctx.config("greeting").unwrap_or_else(|| "hello".into());
//!     Ok(format!("{greeting} {name}"))
//! }
//!
//! let test = TestContext::new("greet").config("greeting", "hi");
//! assert_eq!(greet("ada".into(), &test.context()), Ok("hi ada".into()));
//! ```

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::{Context, Event, Host, Level};
use crate::error::ActionError;
use crate::http::{HttpError, Request, Response};
use crate::kv::KvError;

/// The server's default limits, applied the way the server applies them.
const MAX_KEY_BYTES: usize = 512;
const MAX_VALUE_BYTES: usize = 64 * 1024;
const MAX_TTL_MS: u64 = 365 * 24 * 3600 * 1000;

/// A stored value and when it expires on the test clock.
type Entry = (Vec<u8>, Option<Duration>);

type Responder = Box<dyn Fn(&Request) -> Result<Response, HttpError>>;

/// The in-memory host behind a test [`Context`].
pub struct TestHost {
    config: BTreeMap<String, String>,
    logs: RefCell<Vec<(Level, String)>>,
    requests: RefCell<Vec<Request>>,
    responder: Option<Responder>,
    kv: RefCell<BTreeMap<String, Entry>>,
    clock: Cell<Duration>,
    kv_unavailable: bool,
}

impl TestHost {
    pub(crate) fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_owned()));
    }

    pub(crate) fn config(&self, key: &str) -> Option<String> {
        self.config.get(key).cloned()
    }

    fn kv_check(
        &self,
        key: &str,
        value: Option<&[u8]>,
        ttl_ms: Option<u64>,
    ) -> Result<(), KvError> {
        if self.kv_unavailable {
            return Err(KvError::Unavailable(
                "the key-value store did not answer".into(),
            ));
        }
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(KvError::Invalid(format!(
                "a key is 1 to {MAX_KEY_BYTES} bytes; this one is {}",
                key.len()
            )));
        }
        if let Some(value) = value
            && value.len() > MAX_VALUE_BYTES
        {
            return Err(KvError::Invalid(format!(
                "a value is at most {MAX_VALUE_BYTES} bytes; this one is {}",
                value.len()
            )));
        }
        if let Some(ttl) = ttl_ms
            && (ttl == 0 || ttl > MAX_TTL_MS)
        {
            return Err(KvError::Invalid(format!(
                "a TTL is 1 ms to 365 days; this one is {ttl} ms"
            )));
        }
        Ok(())
    }

    /// The live value of `key` on the test clock.
    fn kv_live(&self, key: &str) -> Option<Vec<u8>> {
        let now = self.clock.get();
        self.kv
            .borrow()
            .get(key)
            .filter(|(_, expires)| expires.is_none_or(|at| at > now))
            .map(|(value, _)| value.clone())
    }

    fn kv_put(&self, key: &str, value: Option<&[u8]>, ttl_ms: Option<u64>) {
        let mut kv = self.kv.borrow_mut();
        match value {
            Some(value) => {
                let expires = ttl_ms.map(|ms| self.clock.get() + Duration::from_millis(ms));
                kv.insert(key.to_owned(), (value.to_vec(), expires));
            }
            None => {
                kv.remove(key);
            }
        }
    }

    pub(crate) fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.kv_check(key, None, None)?;
        Ok(self.kv_live(key))
    }

    pub(crate) fn kv_set(
        &self,
        key: &str,
        value: &[u8],
        ttl_ms: Option<u64>,
    ) -> Result<(), KvError> {
        self.kv_check(key, Some(value), ttl_ms)?;
        self.kv_put(key, Some(value), ttl_ms);
        Ok(())
    }

    pub(crate) fn kv_delete(&self, key: &str) -> Result<bool, KvError> {
        self.kv_check(key, None, None)?;
        let existed = self.kv_live(key).is_some();
        self.kv_put(key, None, None);
        Ok(existed)
    }

    pub(crate) fn kv_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_ms: Option<u64>,
    ) -> Result<bool, KvError> {
        self.kv_check(key, new, ttl_ms)?;
        if self.kv_live(key).as_deref() != expected {
            return Ok(false);
        }
        self.kv_put(key, new, ttl_ms);
        Ok(true)
    }

    pub(crate) fn send(&self, request: Request) -> Result<Response, HttpError> {
        self.requests.borrow_mut().push(request.clone());
        match &self.responder {
            Some(responder) => responder(&request),
            None => Err(HttpError(format!(
                "no HTTP responder in this test for {}",
                request.url
            ))),
        }
    }
}

/// Builds a [`Context`] for a unit test and shows what the handler did with it.
pub struct TestContext {
    action: String,
    session_variables: BTreeMap<String, String>,
    event: Event,
    host: Rc<TestHost>,
}

impl TestContext {
    /// A context for calling action `action`, attempt 1, role `admin`.
    pub fn new(action: &str) -> Self {
        let mut session_variables = BTreeMap::new();
        session_variables.insert("x-hasura-role".to_owned(), "admin".to_owned());
        Self {
            action: action.to_owned(),
            session_variables,
            event: Event {
                id: "00000000-0000-7000-8000-000000000000".into(),
                attempt: 1,
                created_at: "2026-01-01T00:00:00.000000Z".into(),
            },
            host: Rc::new(TestHost {
                config: BTreeMap::new(),
                logs: RefCell::new(Vec::new()),
                requests: RefCell::new(Vec::new()),
                responder: None,
                kv: RefCell::new(BTreeMap::new()),
                clock: Cell::new(Duration::ZERO),
                kv_unavailable: false,
            }),
        }
    }

    fn host_mut(&mut self) -> &mut TestHost {
        Rc::get_mut(&mut self.host).expect("configure a TestContext before calling context()")
    }

    /// Sets a config value.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.host_mut()
            .config
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// Sets a session variable.
    pub fn session_variable(mut self, name: &str, value: &str) -> Self {
        self.session_variables
            .insert(name.to_ascii_lowercase(), value.to_owned());
        self
    }

    /// Sets the attempt number.
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.event.attempt = attempt;
        self
    }

    /// Answers the handler's HTTP requests.
    pub fn http(
        mut self,
        responder: impl Fn(&Request) -> Result<Response, HttpError> + 'static,
    ) -> Self {
        self.host_mut().responder = Some(Box::new(responder));
        self
    }

    /// Stores `value` under `key` before the handler runs (state left by earlier calls).
    pub fn kv(mut self, key: &str, value: impl AsRef<[u8]>) -> Self {
        self.host_mut()
            .kv
            .get_mut()
            .insert(key.to_owned(), (value.as_ref().to_vec(), None));
        self
    }

    /// Makes every key-value operation fail as if the store did not answer, to test the
    /// handler's retry path.
    pub fn kv_unavailable(mut self) -> Self {
        self.host_mut().kv_unavailable = true;
        self
    }

    /// Moves the key-value store's clock forward: keys whose TTL runs out meanwhile expire.
    pub fn advance(&self, by: Duration) {
        self.host.clock.set(self.host.clock.get() + by);
    }

    /// The value of `key` now (after the handler ran), unless it is unset or expired.
    pub fn kv_value(&self, key: &str) -> Option<Vec<u8>> {
        self.host.kv_live(key)
    }

    /// Every live key and its value, in key order.
    pub fn kv_entries(&self) -> Vec<(String, Vec<u8>)> {
        let now = self.host.clock.get();
        self.host
            .kv
            .borrow()
            .iter()
            .filter(|(_, (_, expires))| expires.is_none_or(|at| at > now))
            .map(|(key, (value, _))| (key.clone(), value.clone()))
            .collect()
    }

    /// The context to pass to the handler.
    pub fn context(&self) -> Context {
        Context {
            action: self.action.clone(),
            session_variables: self.session_variables.clone(),
            request_query: format!("mutation {{ {} }}", self.action),
            event: self.event.clone(),
            host: Host::Test(self.host.clone()),
        }
    }

    /// Log lines written so far.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.host.logs.borrow().clone()
    }

    /// HTTP requests made so far.
    pub fn requests(&self) -> Vec<Request> {
        self.host.requests.borrow().clone()
    }

    /// Calls `handler` the way the server does: `input` as JSON in, output as JSON out.
    pub fn call<I, O>(
        &self,
        handler: fn(I, &Context) -> Result<O, ActionError>,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, ActionError>
    where
        I: DeserializeOwned,
        O: Serialize,
    {
        let input = crate::context::decode_input(&input.to_string())?;
        let output = handler(input, &self.context())?;
        crate::context::encode_output(&output).and_then(|text| {
            serde_json::from_str(&text).map_err(|e| ActionError::new(e.to_string()))
        })
    }
}
