//! Progress of a long search, for a caller's progress bar.

/// Called at the start of each stage with its name and training steps.
type OnStage<'a> = Box<dyn Fn(&str, u64) + Sync + 'a>;
/// Called after each training step with its loss.
type OnStep<'a> = Box<dyn Fn(f32) + Sync + 'a>;

/// Callbacks for the start of each stage and each step.
pub struct Progress<'a> {
    on_stage: OnStage<'a>,
    on_step: OnStep<'a>,
}

impl<'a> Progress<'a> {
    pub fn new(
        on_stage: impl Fn(&str, u64) + Sync + 'a,
        on_step: impl Fn(f32) + Sync + 'a,
    ) -> Self {
        Progress {
            on_stage: Box::new(on_stage),
            on_step: Box::new(on_step),
        }
    }

    /// No reports.
    pub fn silent() -> Self {
        Progress::new(|_, _| {}, |_| {})
    }

    pub fn stage(&self, name: &str, steps: u64) {
        (self.on_stage)(name, steps)
    }

    pub fn step(&self, loss: f32) {
        (self.on_step)(loss)
    }
}
