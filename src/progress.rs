//! Progress on a terminal for long work: a spinner with the elapsed time, drawn on stderr
//! when it is a terminal and nothing otherwise (indicatif hides bars on pipes and files).

use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// A spinner shown while some work runs; cleared by [`Progress::finish`] or on drop.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// Starts a spinner that says `what` is happening.
    pub fn spinner(what: &str) -> Self {
        let bar = ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"),
        );
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { bar }
    }

    /// Says what is happening now.
    pub fn set_message(&self, what: &str) {
        self.bar.set_message(what.to_string());
    }

    /// Clears the spinner.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
