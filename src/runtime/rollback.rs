//! A stack of undo steps for multi-step operations: each completed step pushes its undo, and a
//! failure runs them in reverse so nothing half-made is left behind.

use futures::future::BoxFuture;

type Undo = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// Undo steps, run in reverse order by [`Rollback::unwind`] unless [`Rollback::commit`] is called.
#[derive(Default)]
pub(super) struct Rollback {
    steps: Vec<(&'static str, Undo)>,
}

impl Rollback {
    /// Records how to undo the step just completed.
    pub(super) fn push<F>(&mut self, name: &'static str, undo: F)
    where
        F: FnOnce() -> BoxFuture<'static, ()> + Send + 'static,
    {
        self.steps.push((name, Box::new(undo)));
    }

    /// Undoes every recorded step, newest first.
    pub(super) async fn unwind(mut self) {
        while let Some((name, undo)) = self.steps.pop() {
            tracing::debug!(step = name, "rolling back");
            undo().await;
        }
    }

    /// Keeps everything: the operation succeeded.
    pub(super) fn commit(mut self) {
        self.steps.clear();
    }
}
