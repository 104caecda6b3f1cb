//! What the proxy depends on, and how each part is doing: the state
//! database, the content store and each upstream are `ok`, `degraded`
//! (failing, but the proxy still serves around it) or `down`, since when.
//!
//! A fault is logged once when it starts (WARN) and once when it ends
//! (INFO, with how long it lasted), not per request (issue 21, item 5);
//! a component that flaps logs its start again at most once per
//! [`MIN_WARN_INTERVAL`]. The states feed `/healthz` on the ops listener
//! and `vouch_proxy_degraded{component}`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;

/// Shortest time between two WARN lines for one component: a fault that
/// comes and goes with every request is one line a minute, not one a
/// request.
pub const MIN_WARN_INTERVAL: Duration = Duration::from_secs(60);

/// A part of the proxy's world.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    /// The state database (licenses, apps, pull log).
    Database,
    /// The content store (cache disk or bucket).
    Store,
    /// One upstream registry, by name.
    Upstream(String),
}

impl Component {
    /// Its name in `/healthz` and in metric labels.
    pub fn label(&self) -> String {
        match self {
            Self::Database => "database".into(),
            Self::Store => "store".into(),
            Self::Upstream(name) => format!("upstream:{name}"),
        }
    }
}

/// How a component is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Answering.
    Ok,
    /// Failing, and the proxy serves around it (fail static, uncached).
    Degraded,
    /// Failing, and what needs it fails.
    Down,
}

impl State {
    /// `ok`, `degraded` or `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Degraded => "degraded",
            Self::Down => "down",
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    state: State,
    since: Timestamp,
    started: Instant,
    last_warn: Option<Instant>,
}

/// One component's state, as `/healthz` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The component.
    pub component: Component,
    /// Its state.
    pub state: State,
    /// Since when.
    pub since: Timestamp,
}

/// The states of every component seen so far.
#[derive(Debug, Default)]
pub struct Health {
    entries: Mutex<BTreeMap<Component, Entry>>,
}

impl Health {
    /// Starts tracking `components`, all `ok` now.
    pub fn new(components: impl IntoIterator<Item = Component>) -> Self {
        let health = Self::default();
        let now = (Timestamp::now(), Instant::now());
        health.entries_mut(|entries| {
            for c in components {
                entries.insert(
                    c,
                    Entry {
                        state: State::Ok,
                        since: now.0,
                        started: now.1,
                        last_warn: None,
                    },
                );
            }
        });
        health
    }

    fn entries_mut<T>(&self, f: impl FnOnce(&mut BTreeMap<Component, Entry>) -> T) -> T {
        f(&mut crate::memo::lock(&self.entries))
    }

    /// `component` is failing (`state` says how much it matters); `detail`
    /// is logged when the fault starts, unless this component's last
    /// WARN was less than [`MIN_WARN_INTERVAL`] ago. Returns whether it
    /// was logged.
    pub fn failing(
        &self,
        component: Component,
        state: State,
        detail: &dyn std::fmt::Display,
    ) -> bool {
        let now = Instant::now();
        let warn = self.entries_mut(|entries| {
            let entry = entries.entry(component.clone()).or_insert(Entry {
                state: State::Ok,
                since: Timestamp::now(),
                started: now,
                last_warn: None,
            });
            if entry.state == state {
                return false;
            }
            if entry.state == State::Ok {
                entry.since = Timestamp::now();
                entry.started = now;
            }
            entry.state = state;
            take_turn(&mut entry.last_warn, now, MIN_WARN_INTERVAL)
        });
        if warn {
            tracing::warn!(
                component = component.label(),
                state = state.as_str(),
                %detail,
                "fault started"
            );
        }
        warn
    }

    /// `component` answered.
    pub fn ok(&self, component: &Component) {
        self.end(component, None);
    }

    /// `component` answered in a way that ends only a fault in `state`:
    /// an upstream that answers again is no longer `down`, but whether
    /// its transfers still break (`degraded`) only a whole transfer says.
    pub fn ok_if(&self, component: &Component, state: State) {
        self.end(component, Some(state));
    }

    fn end(&self, component: &Component, only: Option<State>) {
        let ended = self.entries_mut(|entries| {
            let entry = entries.get_mut(component)?;
            if entry.state == State::Ok || only.is_some_and(|s| s != entry.state) {
                return None;
            }
            entry.state = State::Ok;
            entry.since = Timestamp::now();
            Some(entry.started.elapsed())
        });
        if let Some(lasted) = ended {
            tracing::info!(
                component = component.label(),
                lasted_secs = lasted.as_secs(),
                "fault ended"
            );
        }
    }

    /// The state of `component` (`ok` when never seen).
    pub fn state(&self, component: &Component) -> State {
        self.entries_mut(|entries| entries.get(component).map_or(State::Ok, |e| e.state))
    }

    /// Every component's state, in a stable order.
    pub fn reports(&self) -> Vec<Report> {
        self.entries_mut(|entries| {
            entries
                .iter()
                .map(|(component, e)| Report {
                    component: component.clone(),
                    state: e.state,
                    since: e.since,
                })
                .collect()
        })
    }
}

/// Whether `interval` has passed since `last` (or there was none); if
/// so, `now` becomes the last.
fn take_turn(last: &mut Option<Instant>, now: Instant, interval: Duration) -> bool {
    let due = last.is_none_or(|at| now.duration_since(at) >= interval);
    if due {
        *last = Some(now);
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_is_a_transition_and_ends_when_the_component_answers() {
        let health = Health::new([Component::Database, Component::Store]);
        assert!(health.reports().iter().all(|r| r.state == State::Ok));
        assert!(health.failing(Component::Database, State::Down, &"refused"));
        assert!(
            !health.failing(Component::Database, State::Down, &"refused"),
            "said once, not per request"
        );
        assert_eq!(health.state(&Component::Database), State::Down);
        assert_eq!(health.state(&Component::Store), State::Ok);
        let since = health.reports()[0].since;
        assert!(
            !health.failing(Component::Database, State::Degraded, &"fail static"),
            "a change of state within a fault is not a new fault"
        );
        assert_eq!(health.reports()[0].since, since, "still the same fault");
        health.ok(&Component::Database);
        assert_eq!(health.state(&Component::Database), State::Ok);
        assert!(health.reports()[0].since >= since, "since the fault ended");
        assert!(
            !health.failing(Component::Database, State::Down, &"refused"),
            "a flapping component warns at most once a minute"
        );
        assert_eq!(health.state(&Component::Database), State::Down);
        health.ok(&Component::Database);
        let up = Component::Upstream("ghcr.io".into());
        health.failing(up.clone(), State::Degraded, &"reset mid-blob");
        health.ok_if(&up, State::Down);
        assert_eq!(
            health.state(&up),
            State::Degraded,
            "not the fault that ended"
        );
        health.ok_if(&up, State::Degraded);
        assert_eq!(health.state(&up), State::Ok);
        health.failing(up.clone(), State::Down, &"reset");
        assert_eq!(up.label(), "upstream:ghcr.io");
        assert_eq!(health.reports().len(), 3);
    }
}
