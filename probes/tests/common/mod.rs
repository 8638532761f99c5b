//! What the real-kernel probe tests share.
use std::time::{Duration, Instant};

use scrim_probes::{Captured, Probes};

/// Everything the probes deliver within `wait`.
pub async fn read_for(probes: &mut Probes, wait: Duration) -> Vec<Captured> {
    let deadline = Instant::now() + wait;
    let mut captured = Vec::new();
    while let Some(remaining) = deadline.checked_duration_since(Instant::now()) {
        if let Ok(result) = tokio::time::timeout(remaining, probes.read(&mut captured)).await {
            result.expect("ring buffer read");
        }
    }
    probes.drain(&mut captured);
    captured
}
