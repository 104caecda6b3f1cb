//! The proxy's `error`-level "request failed" log lines, captured by
//! request ID: a 5xx body holds only the ID (issue 14, finding 4), so
//! tests that check *which* failure happened read the log line. Also
//! every line of the proxy at INFO or above, as text, for tests of what
//! operators are told ([`lines_containing`]).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::SubscriberExt as _;

static DETAILS: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
static LINES: OnceLock<Mutex<Vec<String>>> = OnceLock::new();

fn lines() -> &'static Mutex<Vec<String>> {
    LINES.get_or_init(Default::default)
}

/// The captured lines (`LEVEL message field=value …`) that contain every
/// one of `parts`.
pub fn lines_containing(parts: &[&str]) -> Vec<String> {
    lines()
        .lock()
        .unwrap()
        .iter()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .cloned()
        .collect()
}

/// Every field of an event, as text.
#[derive(Default)]
struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

fn details() -> &'static Mutex<HashMap<String, String>> {
    DETAILS.get_or_init(Default::default)
}

struct Capture;

#[derive(Default)]
struct Fields {
    request_id: Option<String>,
    detail: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "request_id" => self.request_id = Some(value.to_string()),
            "detail" => self.detail = Some(value.to_string()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let level = *event.metadata().level();
        if level <= tracing::Level::INFO && event.metadata().target().starts_with("vouch_proxy") {
            let mut line = Line(level.to_string());
            event.record(&mut line);
            lines().lock().unwrap().push(line.0);
        }
        if level != tracing::Level::ERROR {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if let (Some(id), Some(detail)) = (fields.request_id, fields.detail) {
            details().lock().unwrap().insert(id, detail);
        }
    }
}

/// Installs the capture as the process's subscriber (once; a no-op when
/// another subscriber is already installed).
pub fn install() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ =
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Capture));
    });
}

/// The full error logged for request `id`, if any.
pub fn logged(id: &str) -> Option<String> {
    details().lock().unwrap().get(id).cloned()
}

/// A response's `X-Request-Id`.
pub fn request_id(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The status and body of a response; for a 5xx, whose body holds only a
/// request ID (issue 14, finding 4), the body followed by `logged: ` and the
/// error the proxy logged for it, so tests can tell which failure happened.
pub async fn status_and_body(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let logged = request_id(&r)
        .and_then(|id| logged(&id))
        .filter(|_| status >= 500);
    let body = r.text().await.unwrap();
    match logged {
        Some(logged) => (status, format!("{body}\nlogged: {logged}")),
        None => (status, body),
    }
}

/// The status of a 5xx response and the full error the proxy logged for
/// it (found by its `X-Request-Id`).
pub async fn logged_error(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let id = request_id(&r).expect("no X-Request-Id");
    let body = r.text().await.unwrap();
    let detail = details()
        .lock()
        .unwrap()
        .get(&id)
        .cloned()
        .unwrap_or_else(|| panic!("no error logged for request {id}: {body}"));
    (status, detail)
}
