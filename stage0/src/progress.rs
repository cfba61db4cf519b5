//! Progress bars for fetches on a terminal; silence otherwise.

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rukt_images::digest::Digest;
use rukt_images::fetch::{LayerFate, Progress};

/// One bar per layer, drawn on stderr.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<Digest, ProgressBar>>,
    style: ProgressStyle,
}

impl Bars {
    /// Bars when stderr is a terminal and `quiet` is off; `None` otherwise.
    pub fn for_terminal(quiet: bool) -> Option<Bars> {
        if quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            return None;
        }
        let style = ProgressStyle::with_template(
            "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        Some(Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
            style,
        })
    }
}

impl Progress for Bars {
    fn layer_started(&self, blob: &Digest, size: u64) {
        let bar = self
            .multi
            .add(ProgressBar::new(size).with_style(self.style.clone()));
        bar.set_prefix(blob.short().to_string());
        if let Ok(mut m) = self.bars.lock() {
            m.insert(blob.clone(), bar);
        }
    }

    fn layer_advanced(&self, blob: &Digest, bytes: u64) {
        if let Some(bar) = self.bars.lock().ok().and_then(|m| m.get(blob).cloned()) {
            bar.inc(bytes);
        }
    }

    fn layer_retried(&self, blob: &Digest, from: u64) {
        if let Some(bar) = self.bars.lock().ok().and_then(|m| m.get(blob).cloned()) {
            if from == 0 {
                bar.set_message("retrying from the start");
            } else {
                bar.set_message(format!("resumed at {}", indicatif::HumanBytes(from)));
            }
        }
    }

    fn layer_finished(&self, blob: &Digest, fate: LayerFate) {
        let bar = self.bars.lock().ok().and_then(|mut m| m.remove(blob));
        match (bar, fate) {
            (Some(bar), _) => bar.finish_with_message("done"),
            (None, LayerFate::Reused) => {
                let bar = self
                    .multi
                    .add(ProgressBar::new(0).with_style(self.style.clone()));
                bar.set_prefix(blob.short().to_string());
                bar.finish_with_message("already stored");
            }
            (None, LayerFate::Fetched) => {}
        }
    }
}
