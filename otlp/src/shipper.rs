//! The thread that talks to one backend. Requests wait on the network (up
//! to the export timeout when a backend is unreachable but does not
//! refuse), so they are made here and not on the tenant's thread, which
//! keeps taking events meanwhile. The shipper only sends what it is given
//! and says how each batch went; the sink decides what to send, what to
//! spool and when to retry.
use std::{
    sync::{Arc, mpsc},
    thread,
};

use crate::{
    OtlpError,
    export::{Exporter, Resources},
    span::Span,
    spool::Lease,
};

/// A batch on its way: new from the assembler, or taken from the spool.
pub enum Batch {
    Fresh(Vec<Span>),
    Spooled(Lease, Vec<Span>),
}

impl Batch {
    pub fn spans(&self) -> &[Span] {
        match self {
            Batch::Fresh(spans) | Batch::Spooled(_, spans) => spans,
        }
    }
}

/// How a batch went.
pub enum Delivery {
    Sent,
    Failed(OtlpError),
    /// Not attempted: it was queued behind a request that failed, and the
    /// backend is not asked again until the sink's backoff says so.
    NotTried,
}

pub struct Shipper {
    batches: mpsc::Sender<Batch>,
    deliveries: mpsc::Receiver<(Batch, Delivery)>,
    thread: thread::JoinHandle<()>,
}

impl Shipper {
    pub fn start(
        exporter: Exporter,
        resources: Arc<dyn Resources + Send + Sync>,
    ) -> Result<Self, OtlpError> {
        let (batches, queued) = mpsc::channel();
        let (delivered, deliveries) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("scrim-otlp".to_owned())
            .spawn(move || ship(exporter, resources.as_ref(), &queued, &delivered))
            .map_err(|error| OtlpError::Thread(error.to_string()))?;
        Ok(Shipper {
            batches,
            deliveries,
            thread,
        })
    }

    /// Queues a batch; it comes back with its delivery. A shipper whose
    /// thread is gone hands the batch back.
    pub fn send(&self, batch: Batch) -> Result<(), Batch> {
        self.batches.send(batch).map_err(|returned| returned.0)
    }

    /// A delivery, if one is ready.
    pub fn try_delivery(&self) -> Option<(Batch, Delivery)> {
        self.deliveries.try_recv().ok()
    }

    /// The next delivery, waiting for it; `None` once the thread is gone.
    pub fn delivery(&self) -> Option<(Batch, Delivery)> {
        self.deliveries.recv().ok()
    }

    /// Stops the thread once it has delivered what it was given.
    pub fn stop(self) {
        drop(self.batches);
        let _ = self.thread.join();
    }
}

fn ship(
    mut exporter: Exporter,
    resources: &dyn Resources,
    queued: &mpsc::Receiver<Batch>,
    delivered: &mpsc::Sender<(Batch, Delivery)>,
) {
    while let Ok(batch) = queued.recv() {
        let delivery = match exporter.export(batch.spans(), resources) {
            Ok(()) => Delivery::Sent,
            Err(error) => Delivery::Failed(error),
        };
        let failed = matches!(delivery, Delivery::Failed(_));
        if delivered.send((batch, delivery)).is_err() {
            return;
        }
        if failed {
            // What queued up behind it goes back unsent, at once: a backend
            // that timed out once would make each of them wait as long.
            while let Ok(batch) = queued.try_recv() {
                if delivered.send((batch, Delivery::NotTried)).is_err() {
                    return;
                }
            }
        }
    }
}
