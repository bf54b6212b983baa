//! Damage geometry, free of I/O: bounding a damage region to a few rectangles, and the row
//! spans a partial grab has to fetch.

use deskcast_codec::Rect;

/// Above this many rectangles the pairwise merge would be slow, so rectangles are first pooled
/// by horizontal band.
const PAIRWISE_LIMIT: usize = 64;

/// Rewrites `rects` into at most `max` rectangles (at least one) that together cover every input
/// rectangle; empty rectangles are dropped. Small inputs stay exact; larger ones are merged where
/// merging adds the least uncovered area, so the result is a tight cover, never an unbounded list.
pub fn merge_rects(rects: &mut Vec<Rect>, max: usize) {
    let max = max.max(1);
    rects.retain(|r| r.width > 0 && r.height > 0);
    drop_contained(rects);
    if rects.len() > PAIRWISE_LIMIT {
        pool_by_band(rects, PAIRWISE_LIMIT);
    }
    while rects.len() > max {
        let (i, j) = cheapest_pair(rects);
        let merged = union(rects[i], rects[j]);
        rects.swap_remove(j);
        rects[i] = merged;
    }
}

/// The smallest rectangle covering both.
pub(crate) fn union(a: Rect, b: Rect) -> Rect {
    let x0 = a.x.min(b.x);
    let y0 = a.y.min(b.y);
    let x1 = (a.x + a.width).max(b.x + b.width);
    let y1 = (a.y + a.height).max(b.y + b.height);
    Rect {
        x: x0,
        y: y0,
        width: x1 - x0,
        height: y1 - y0,
    }
}

/// The part of `r` (given with signed coordinates) inside `area`, relative to `area`'s origin.
pub(crate) fn clip_to(x: i32, y: i32, width: u32, height: u32, area: Rect) -> Option<Rect> {
    let ax0 = i64::from(area.x);
    let ay0 = i64::from(area.y);
    let x0 = i64::from(x).max(ax0);
    let y0 = i64::from(y).max(ay0);
    let x1 = (i64::from(x) + i64::from(width)).min(ax0 + i64::from(area.width));
    let y1 = (i64::from(y) + i64::from(height)).min(ay0 + i64::from(area.height));
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    // Every value lies within the area, whose coordinates are u32.
    let to_u32 = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    Some(Rect {
        x: to_u32(x0 - ax0),
        y: to_u32(y0 - ay0),
        width: to_u32(x1 - x0),
        height: to_u32(y1 - y0),
    })
}

fn area(r: Rect) -> u64 {
    u64::from(r.width) * u64::from(r.height)
}

fn contains(outer: Rect, inner: Rect) -> bool {
    inner.x >= outer.x
        && inner.y >= outer.y
        && inner.x + inner.width <= outer.x + outer.width
        && inner.y + inner.height <= outer.y + outer.height
}

fn drop_contained(rects: &mut Vec<Rect>) {
    if rects.len() > PAIRWISE_LIMIT {
        return;
    }
    let mut i = 0;
    while i < rects.len() {
        let inside = (0..rects.len()).any(|j| j != i && contains(rects[j], rects[i]));
        if inside {
            rects.swap_remove(i);
        } else {
            i += 1;
        }
    }
}

/// Pools rectangles into at most `bands` horizontal bands by their top edge, one bounding box
/// per band.
fn pool_by_band(rects: &mut Vec<Rect>, bands: usize) {
    let bands = bands.clamp(1, PAIRWISE_LIMIT);
    let top = rects.iter().map(|r| r.y).min().unwrap_or(0);
    let bottom = rects.iter().map(|r| r.y + r.height).max().unwrap_or(0);
    let band_height = (bottom - top).div_ceil(bands as u32).max(1);
    // On the stack: this runs in the capture loop, which does not allocate.
    let mut pooled = [None::<Rect>; PAIRWISE_LIMIT];
    for r in rects.iter() {
        let band = (((r.y - top) / band_height) as usize).min(bands - 1);
        pooled[band] = Some(pooled[band].map_or(*r, |p| union(p, *r)));
    }
    rects.clear();
    rects.extend(pooled.into_iter().take(bands).flatten());
}

/// The pair whose bounding box adds the least area beyond the two rectangles.
fn cheapest_pair(rects: &[Rect]) -> (usize, usize) {
    let mut best = (0, 1);
    let mut best_cost = i128::MAX;
    for i in 0..rects.len() {
        for j in i + 1..rects.len() {
            let cost = area(union(rects[i], rects[j])) as i128
                - area(rects[i]) as i128
                - area(rects[j]) as i128;
            if cost < best_cost {
                best_cost = cost;
                best = (i, j);
            }
        }
    }
    best
}

/// A bounded set of row ranges `[start, end)`: rows of a buffer whose contents are out of date.
/// Kept in a fixed array, so the capture loop never allocates for it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Rows {
    /// Sorted, disjoint, not touching; `spans[len..]` is scratch (one spare slot for a join).
    spans: [(u32, u32); Self::MAX_SPANS + 1],
    len: usize,
}

impl PartialEq for Rows {
    fn eq(&self, other: &Self) -> bool {
        self.spans() == other.spans()
    }
}

impl Eq for Rows {}

impl Rows {
    /// At most this many spans are kept; beyond that the closest neighbours are joined.
    pub(crate) const MAX_SPANS: usize = 8;

    /// Adds the rows `[start, end)`.
    pub(crate) fn add(&mut self, start: u32, end: u32) {
        if end <= start {
            return;
        }
        let (mut start, mut end) = (start, end);
        // The spans that overlap or touch the new one are `first..last`; they fold into it.
        let first = self.spans().partition_point(|&(_, e)| e < start);
        let mut last = first;
        while last < self.len && self.spans[last].0 <= end {
            start = start.min(self.spans[last].0);
            end = end.max(self.spans[last].1);
            last += 1;
        }
        if last == first {
            // Nothing to fold: insert (the array has one slot beyond MAX_SPANS).
            self.spans.copy_within(first..self.len, first + 1);
            self.len += 1;
        } else {
            self.spans.copy_within(last..self.len, first + 1);
            self.len -= last - first - 1;
        }
        self.spans[first] = (start, end);
        if self.len > Self::MAX_SPANS {
            let i = (0..self.len - 1)
                .min_by_key(|&i| self.spans[i + 1].0 - self.spans[i].1)
                .unwrap_or(0);
            self.spans[i].1 = self.spans[i + 1].1;
            self.spans.copy_within(i + 2..self.len, i + 1);
            self.len -= 1;
        }
    }

    /// Adds the rows every rectangle touches.
    pub(crate) fn add_rects(&mut self, rects: &[Rect]) {
        for r in rects {
            self.add(r.y, r.y + r.height);
        }
    }

    /// The spans, sorted and disjoint.
    pub(crate) fn spans(&self) -> &[(u32, u32)] {
        &self.spans[..self.len]
    }

    /// The number of rows covered.
    pub(crate) fn count(&self) -> u32 {
        self.spans().iter().map(|(s, e)| e - s).sum()
    }

    /// Forgets every span.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }
}

#[cfg(test)]
mod tests;
