//! Run handlers natively in unit tests: a [`TestContext`] stands in for the server, with the
//! config values, session variables and HTTP replies the test chooses, and keeps the log lines.
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

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::{Context, Event, Host, Level};
use crate::error::ActionError;
use crate::http::{HttpError, Request, Response};

type Responder = Box<dyn Fn(&Request) -> Result<Response, HttpError>>;

/// The in-memory host behind a test [`Context`].
pub struct TestHost {
    config: BTreeMap<String, String>,
    logs: RefCell<Vec<(Level, String)>>,
    requests: RefCell<Vec<Request>>,
    responder: Option<Responder>,
}

impl TestHost {
    pub(crate) fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_owned()));
    }

    pub(crate) fn config(&self, key: &str) -> Option<String> {
        self.config.get(key).cloned()
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
