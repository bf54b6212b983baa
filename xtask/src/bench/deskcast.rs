//! deskcast's own runs, plugged into the harness through [`Pipeline`].
//!
//! Until the capture (X11), encoder and protocol work lands, this is a placeholder that the
//! report shows as "pending". The runner that replaces it:
//!
//! - implements [`Pipeline`] with `is_deskcast() == true` (one value per encoder, e.g.
//!   `deskcast-vp9`, `deskcast-h264`, `deskcast-nvenc`, so each is paired with every peer);
//! - in `run`, starts the agent on `target.display` at `target.fps` / `target.bitrate_kbps`, and
//!   makes it (or the probe client behind the loopback relay) write the encoded frames to stdout
//!   as H.264 Annex B or IVF: then [`super::pipeline::run_process`] measures it exactly like the
//!   peers (CPU per frame, bitrate, PSNR, screen → packet latency, peak RSS, wake-ups);
//! - fills [`Run::stage_latency_ms`] (capture → packet from the agent's own clock),
//!   [`Run::end_to_end_ms`] (capture → decoded through the relay with the probe client) and
//!   [`Run::heap_allocs_per_frame`] (steady state), which only deskcast can report.
//!
//! For the idle-cost goals, [`super::procfs::measure_idle`] takes the PID of a registered agent
//! with nobody watching, or of the agent while a viewer watches the static scene.

use super::pipeline::{Availability, Pipeline, Run, Target};

/// Every deskcast pipeline, in report order.
pub(crate) fn all() -> Vec<Box<dyn Pipeline>> {
    vec![Box::new(Pending)]
}

/// The placeholder: present in the report, never run.
struct Pending;

impl Pipeline for Pending {
    fn id(&self) -> &str {
        "deskcast"
    }
    fn label(&self) -> &str {
        "deskcast (software)"
    }
    fn is_deskcast(&self) -> bool {
        true
    }
    fn availability(&self) -> Availability {
        Availability::Pending(
            "pending: the deskcast runner is plugged in once capture, encoders and protocol land"
                .into(),
        )
    }
    fn settings(&self, _target: &Target<'_>) -> String {
        "pending".into()
    }
    fn run(&self, _target: &Target<'_>) -> anyhow::Result<Run> {
        anyhow::bail!("the deskcast runner is not written yet")
    }
}
