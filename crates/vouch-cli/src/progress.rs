//! Progress of `verify-release` on a terminal: from the first request on,
//! one spinner line per image in flight and a count of those done, redrawn
//! ten times a second on stderr. Nothing is drawn when stderr is not a
//! terminal (CI logs, `2> file`), so output there stays line-oriented.

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use vouch_release::Progress;

/// How often the spinners turn.
const TICK: Duration = Duration::from_millis(100);
/// The spinner's frames.
const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/// The most in-flight images listed; the rest are counted.
const MAX_LINES: usize = 12;
/// Longer image names are cut, so that no line wraps on a narrow terminal
/// (a wrapped line would break the redraw).
const MAX_NAME_CHARS: usize = 60;

/// What is drawn.
#[derive(Debug, Default)]
struct State {
    /// Images whose check has started and not finished, in start order.
    in_flight: Vec<String>,
    /// Images finished.
    done: usize,
    /// Images in the release (0 until the first event).
    total: usize,
}

impl State {
    fn apply(&mut self, event: &Progress) {
        match event {
            Progress::Started { name, total } => {
                self.total = *total;
                self.in_flight.push(name.clone());
            }
            Progress::Finished { name, done, total } => {
                self.total = *total;
                self.done = *done;
                if let Some(i) = self.in_flight.iter().position(|n| n == name) {
                    self.in_flight.remove(i);
                }
            }
        }
    }

    /// The lines for spinner frame `frame`.
    fn lines(&self, version: &str, frame: usize) -> Vec<String> {
        let spinner = FRAMES[frame % FRAMES.len()];
        let mut lines: Vec<String> = self
            .in_flight
            .iter()
            .take(MAX_LINES)
            .map(|name| {
                let shown: String = name.chars().take(MAX_NAME_CHARS).collect();
                let cut = if shown.len() < name.len() { "…" } else { "" };
                format!("{spinner} {shown}{cut}")
            })
            .collect();
        if self.in_flight.len() > MAX_LINES {
            lines.push(format!("  … and {} more", self.in_flight.len() - MAX_LINES));
        }
        lines.push(format!(
            "[{}/{}] verifying release {version}",
            self.done, self.total
        ));
        lines
    }
}

/// A live progress display; [`ReleaseProgress::finish`] erases it.
pub struct ReleaseProgress {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    drawer: Option<std::thread::JoinHandle<usize>>,
}

impl ReleaseProgress {
    /// Starts drawing on stderr if it is a terminal; otherwise a display
    /// that draws nothing.
    pub fn start(version: &str) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let drawer = std::io::stderr().is_terminal().then(|| {
            let (state, stop, version) = (state.clone(), stop.clone(), version.to_string());
            std::thread::spawn(move || draw_until_stopped(&state, &stop, &version))
        });
        Self {
            state,
            stop,
            drawer,
        }
    }

    /// Records an event; the next tick shows it.
    pub fn update(&self, event: &Progress) {
        lock(&self.state).apply(event);
    }

    /// Stops drawing and erases what was drawn, leaving the cursor where
    /// the display began.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(drawer) = self.drawer.take()
            && let Ok(drawn) = drawer.join()
            && drawn > 0
        {
            eprint!("\x1b[{drawn}F\x1b[J");
        }
    }
}

/// A poisoned lock only means a drawing thread panicked mid-update; the
/// counts are still worth showing.
fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Redraws every [`TICK`] until `stop`; returns how many lines are on the
/// screen, for [`ReleaseProgress::finish`] to erase.
fn draw_until_stopped(state: &Mutex<State>, stop: &AtomicBool, version: &str) -> usize {
    let mut drawn = 0;
    let mut frame = 0;
    while !stop.load(Ordering::SeqCst) {
        let lines = lock(state).lines(version, frame);
        let mut text = String::new();
        if drawn > 0 {
            // Back to the first line drawn, and clear from there down.
            text.push_str(&format!("\x1b[{drawn}F\x1b[J"));
        }
        for line in &lines {
            text.push_str(line);
            text.push('\n');
        }
        let mut stderr = std::io::stderr().lock();
        if stderr.write_all(text.as_bytes()).is_ok() {
            let _ = stderr.flush();
            drawn = lines.len();
        }
        drop(stderr);
        frame += 1;
        std::thread::sleep(TICK);
    }
    drawn
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(name: &str) -> Progress {
        Progress::Started {
            name: name.into(),
            total: 3,
        }
    }

    #[test]
    fn shows_what_is_in_flight_before_anything_finished() {
        let mut s = State::default();
        s.apply(&started("operator"));
        s.apply(&started("api"));
        assert_eq!(
            s.lines("v1.0.0", 0),
            ["⠋ operator", "⠋ api", "[0/3] verifying release v1.0.0"]
        );
        s.apply(&Progress::Finished {
            name: "operator".into(),
            done: 1,
            total: 3,
        });
        assert_eq!(
            s.lines("v1.0.0", 1),
            ["⠙ api", "[1/3] verifying release v1.0.0"]
        );
    }

    #[test]
    fn long_lists_and_long_names_stay_on_their_lines() {
        let mut s = State::default();
        for i in 0..MAX_LINES + 3 {
            s.apply(&started(&format!("image-{i}")));
        }
        let long = "x".repeat(MAX_NAME_CHARS + 10);
        s.in_flight[0] = long;
        let lines = s.lines("v1", 0);
        assert_eq!(lines.len(), MAX_LINES + 2);
        assert_eq!(lines[MAX_LINES], "  … and 3 more");
        assert_eq!(lines[0].chars().count(), 2 + MAX_NAME_CHARS + 1);
    }
}
