//! The input path: capture frames into the encoder's device surface.
//!
//! A frame whose [`Frame::buffer`] names a long-lived buffer (a capture segment) is page-locked
//! in place once, with `cuMemHostRegister`, and every later frame from it is a DMA copy on the
//! stream. Frames without a buffer id, and buffers the driver refuses to register, go through a
//! page-locked staging buffer instead: one CPU copy of the damaged rows, then the same DMA.
//! Either way only the damaged rectangles travel, once the surface holds a full frame.

use std::collections::HashMap;
use std::sync::Arc;

use super::cuda::{
    Context, CudaError, DeviceSurface, HostRegistration, PinnedBuffer, Stream, UploadError,
};
use crate::{BufferId, Frame, Rect};

/// Above this many rectangles one bounding box is cheaper than many small copies.
const MAX_RECTS: usize = 32;
/// Buffers remembered at once; a capture uses one or two, so more means the caller is
/// cycling buffers, and the table is cleared rather than allowed to grow.
const MAX_BUFFERS: usize = 16;

/// How a frame reached the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Straight from the caller's page-locked buffer.
    Registered,
    /// Through the staging buffer.
    Staged,
    /// Nothing to copy: the damage lies outside the frame.
    Unchanged,
}

/// What is known about one caller buffer.
#[derive(Debug)]
enum Slot {
    /// Page-locked in place.
    Registered(HostRegistration),
    /// The driver refused; stage frames from it.
    Refused,
}

/// Moves frames into a device surface, registering capture buffers once.
#[derive(Debug)]
pub(crate) struct Uploader {
    ctx: Arc<Context>,
    stream: Stream,
    buffers: HashMap<BufferId, Slot>,
    staging: Option<PinnedBuffer>,
    can_register: bool,
    rects: Vec<Rect>,
}

impl Uploader {
    /// An uploader on its own stream in `ctx`.
    pub(crate) fn new(ctx: &Arc<Context>) -> Result<Self, CudaError> {
        Ok(Self {
            stream: Stream::new(ctx)?,
            ctx: Arc::clone(ctx),
            buffers: HashMap::new(),
            staging: None,
            can_register: ctx.can_register_host_memory(),
            rects: Vec::with_capacity(MAX_RECTS),
        })
    }

    /// Copies the parts of `frame` that `whole` or its damage say changed into `dst`.
    /// `frame` must already be checked to match `dst` in size and to hold its rows.
    pub(crate) fn upload(
        &mut self,
        frame: &Frame<'_>,
        whole: bool,
        dst: &mut DeviceSurface,
    ) -> Result<Route, UploadError> {
        damaged_rects(frame, whole, &mut self.rects);
        if self.rects.is_empty() {
            return Ok(Route::Unchanged);
        }
        if let Some(id) = frame.buffer.filter(|_| self.can_register)
            && self.registered(id, frame.data)
        {
            self.stream
                .upload(frame.data, frame.stride, &self.rects, dst)?;
            return Ok(Route::Registered);
        }
        let width_bytes = frame.width as usize * 4;
        let needed = width_bytes * frame.height as usize;
        if self
            .staging
            .as_ref()
            .is_none_or(|s| s.as_slice().len() < needed)
        {
            self.staging = None;
            self.staging = Some(PinnedBuffer::new(&self.ctx, needed)?);
        }
        let staging = self.staging.as_mut().expect("allocated just above");
        let out = staging.as_mut_slice();
        for r in &self.rects {
            let (x0, x1) = (r.x as usize * 4, (r.x + r.width) as usize * 4);
            for y in r.y as usize..(r.y + r.height) as usize {
                let src = &frame.data[y * frame.stride..];
                out[y * width_bytes + x0..y * width_bytes + x1].copy_from_slice(&src[x0..x1]);
            }
        }
        self.stream
            .upload(staging.as_slice(), width_bytes, &self.rects, dst)?;
        Ok(Route::Staged)
    }

    /// Forgets every registered buffer (unregistering it), so the caller may unmap them.
    pub(crate) fn release(&mut self) {
        self.buffers.clear();
    }

    /// True when `data` lies in a registration of buffer `id`, registering it now if needed.
    fn registered(&mut self, id: BufferId, data: &[u8]) -> bool {
        match self.buffers.get(&id) {
            Some(Slot::Registered(r)) if r.covers(data) => return true,
            Some(Slot::Refused) => return false,
            // A different mapping under a known id: drop the old registration first, since
            // overlapping registrations are refused.
            Some(Slot::Registered(_)) => {
                self.buffers.remove(&id);
            }
            None => {}
        }
        if self.buffers.len() >= MAX_BUFFERS {
            tracing::warn!("NVENC: more than {MAX_BUFFERS} capture buffers; forgetting them all");
            self.buffers.clear();
        }
        // SAFETY: `Frame::buffer` promises the memory stays mapped at this address until
        // `release_buffers` or the encoder's drop, which is when this registration is dropped.
        let slot = match unsafe { HostRegistration::new(&self.ctx, data.as_ptr(), data.len()) } {
            Ok(r) => Slot::Registered(r),
            Err(e) => {
                tracing::info!("NVENC: cannot page-lock capture buffer {id:?} ({e}); staging it");
                Slot::Refused
            }
        };
        let ok = matches!(slot, Slot::Registered(_));
        self.buffers.insert(id, slot);
        ok
    }

    /// The stream the copies run on (tests read the surface back through it).
    #[cfg(test)]
    pub(crate) fn stream(&self) -> &Stream {
        &self.stream
    }
}

/// The rectangles of `frame` to upload, clamped to the frame, into `out`: the whole frame when
/// `whole` is set or the damage is empty ("unknown"), one bounding box when there are many.
pub(crate) fn damaged_rects(frame: &Frame<'_>, whole: bool, out: &mut Vec<Rect>) {
    out.clear();
    let full = Rect {
        x: 0,
        y: 0,
        width: frame.width,
        height: frame.height,
    };
    if whole || frame.damage.is_empty() {
        out.push(full);
        return;
    }
    out.extend(
        frame
            .damage
            .iter()
            .filter_map(|r| clamp(r, frame.width, frame.height)),
    );
    if out.len() > MAX_RECTS {
        let bbox = out.iter().skip(1).fold(out[0], |a, b| {
            let (x0, y0) = (a.x.min(b.x), a.y.min(b.y));
            let (x1, y1) = (
                (a.x + a.width).max(b.x + b.width),
                (a.y + a.height).max(b.y + b.height),
            );
            Rect {
                x: x0,
                y: y0,
                width: x1 - x0,
                height: y1 - y0,
            }
        });
        out.clear();
        out.push(bbox);
    }
}

/// `r` cut to a `width` × `height` frame; `None` when nothing is left.
fn clamp(r: &Rect, width: u32, height: u32) -> Option<Rect> {
    let x1 = r.x.saturating_add(r.width).min(width);
    let y1 = r.y.saturating_add(r.height).min(height);
    (r.x < x1 && r.y < y1).then(|| Rect {
        x: r.x,
        y: r.y,
        width: x1 - r.x,
        height: y1 - r.y,
    })
}
