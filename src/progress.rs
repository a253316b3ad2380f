//! What the CLI shows while it works, on stderr: one line per step event, and the engine's long
//! waits (the propagation wait, [`Progress`]) as a bar with the time waited and the limit when
//! stderr is a terminal, or else as a plain line every [`LINE_EVERY`] of a wait (logs, CI).
//! With `--json` only the bar remains (it leaves nothing behind once the wait ends).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rotator_engine::ports::Progress;
use rotator_engine::rotation::{ProgressFn, Step};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A plain progress line is printed once per this much of a wait.
pub const LINE_EVERY: Duration = Duration::from_secs(30);

/// The CLI's stderr: step lines and the waits between them. Cheap to share.
pub struct Terminal {
    /// Print the step lines (not with `--json`).
    steps: bool,
    waits: Waits,
}

enum Waits {
    /// A terminal: the bar of the wait in progress.
    Bar(Mutex<Option<ProgressBar>>),
    /// Not a terminal: a plain line now and then.
    Lines(Mutex<WaitLines>),
    /// `--json` and no terminal: nothing.
    Quiet,
}

impl Terminal {
    /// For this process's stderr; `json`: no step lines and no plain wait lines.
    pub fn for_stderr(json: bool) -> Arc<Self> {
        let waits = if std::io::stderr().is_terminal() {
            Waits::Bar(Mutex::new(None))
        } else if json {
            Waits::Quiet
        } else {
            Waits::Lines(Mutex::new(WaitLines::default()))
        };
        Arc::new(Self {
            steps: !json,
            waits,
        })
    }

    /// The engine's step observer, printing through this terminal (above a bar, if one is up).
    pub fn step_lines(self: &Arc<Self>) -> Option<ProgressFn> {
        let me = self.clone();
        self.steps.then(|| -> ProgressFn {
            Arc::new(move |step: Step, msg: &str| {
                me.line(&format!("  {:<13} {msg}", step.as_str()))
            })
        })
    }

    /// Prints `text` on stderr, above the bar when one is drawn.
    pub fn line(&self, text: &str) {
        match &self.waits {
            Waits::Bar(bar) => match bar.lock().expect("bar").as_ref() {
                Some(bar) => bar.suspend(|| eprintln!("{text}")),
                None => eprintln!("{text}"),
            },
            _ => eprintln!("{text}"),
        }
    }
}

impl Progress for Terminal {
    fn waiting(&self, what: &str, elapsed: Duration, limit: Duration) {
        match &self.waits {
            Waits::Bar(slot) => {
                let mut slot = slot.lock().expect("bar");
                let bar = slot.get_or_insert_with(|| new_bar(what, elapsed));
                bar.set_length(limit.as_secs());
                bar.set_position(elapsed.as_secs().min(limit.as_secs()));
            }
            Waits::Lines(lines) => {
                if let Some(line) = lines.lock().expect("lines").line(what, elapsed, limit) {
                    eprintln!("{line}");
                }
            }
            Waits::Quiet => {}
        }
    }

    fn finished(&self, _what: &str) {
        match &self.waits {
            Waits::Bar(slot) => {
                if let Some(bar) = slot.lock().expect("bar").take() {
                    bar.finish_and_clear();
                }
            }
            Waits::Lines(lines) => *lines.lock().expect("lines") = WaitLines::default(),
            Waits::Quiet => {}
        }
    }
}

/// A bar for a wait for `what` that has lasted `elapsed`: the time waited (ticking each second)
/// and the limit; the bar moves at each poll.
fn new_bar(what: &str, elapsed: Duration) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "  {spinner} waiting for {msg} [{bar:30}] {elapsed} of at most {len}s",
    )
    .expect("a valid template")
    .progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        .with_style(style)
        .with_message(what.to_string())
        .with_elapsed(elapsed);
    bar.enable_steady_tick(Duration::from_secs(1));
    bar
}

/// When a plain progress line is due: once a wait has lasted [`LINE_EVERY`], and then once per
/// [`LINE_EVERY`] more (the polls come at most 20 s apart, so a line lands within 20 s of each
/// mark).
#[derive(Debug, Default)]
pub struct WaitLines {
    /// The elapsed time from which the next line is due (zero: the first mark).
    next: Duration,
}

impl WaitLines {
    /// The line to print for a poll at `elapsed` of a wait for `what`, if one is due.
    pub fn line(&mut self, what: &str, elapsed: Duration, limit: Duration) -> Option<String> {
        let next = self.next.max(LINE_EVERY);
        if elapsed < next {
            return None;
        }
        let marks = elapsed.as_secs() / LINE_EVERY.as_secs();
        self.next = LINE_EVERY * (marks as u32 + 1);
        Some(format!(
            "  {:<13} still waiting for {what}: {}s of at most {}s",
            "waiting",
            elapsed.as_secs(),
            limit.as_secs()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_comes_once_per_30_seconds_of_a_wait_and_names_elapsed_and_limit() {
        let mut lines = WaitLines::default();
        let limit = Duration::from_secs(300);
        let polls = [0, 2, 6, 14, 30, 50, 70, 90, 110, 130];
        let printed: Vec<(u64, String)> = polls
            .iter()
            .filter_map(|s| {
                let at = Duration::from_secs(*s);
                lines.line("Entra", at, limit).map(|l| (*s, l))
            })
            .collect();
        let at: Vec<u64> = printed.iter().map(|(s, _)| *s).collect();
        assert_eq!(at, [30, 70, 90, 130], "one line per 30-second mark crossed");
        assert!(
            printed[0]
                .1
                .ends_with("still waiting for Entra: 30s of at most 300s"),
            "{}",
            printed[0].1
        );
    }

    #[test]
    fn the_bar_follows_each_poll_up_to_the_limit_and_goes_when_the_wait_ends() {
        let terminal = Terminal {
            steps: true,
            waits: Waits::Bar(Mutex::new(None)),
        };
        let limit = Duration::from_secs(300);
        let bar = |t: &Terminal| match &t.waits {
            Waits::Bar(slot) => slot
                .lock()
                .unwrap()
                .as_ref()
                .map(|b| (b.position(), b.length())),
            _ => unreachable!(),
        };
        terminal.waiting("Entra", Duration::ZERO, limit);
        terminal.waiting("Entra", Duration::from_secs(14), limit);
        assert_eq!(bar(&terminal), Some((14, Some(300))));
        terminal.line("  setSecret     a line above the bar");
        terminal.waiting("Entra", Duration::from_secs(301), limit);
        assert_eq!(
            bar(&terminal),
            Some((300, Some(300))),
            "never past the limit"
        );
        terminal.finished("Entra");
        assert_eq!(bar(&terminal), None);
    }

    #[test]
    fn a_short_wait_prints_nothing() {
        let mut lines = WaitLines::default();
        let limit = Duration::from_secs(300);
        for s in [0, 2, 6, 14, 29] {
            assert_eq!(lines.line("Entra", Duration::from_secs(s), limit), None);
        }
    }
}
