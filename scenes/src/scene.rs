//! The scenes: what each frame looks like as a pure function of its index, and which part of
//! the screen changed since the frame before.

use std::fmt;
use std::str::FromStr;

use crate::Error;
use crate::desktop::{self, Layout, palette};
use crate::geometry::{Rect, Size};
use crate::glyph::{self, CELL_H, CELL_W};
use crate::image::Image;
use crate::marker::{self, Marker};
use crate::motion::{Motion, Panorama, bounce};

/// The smallest screen the scenes lay out on.
pub const MIN_SIZE: Size = Size::new(320, 240);

/// Frames per keystroke in the typing scene (10 characters a second at 30 fps).
pub const FRAMES_PER_KEYSTROKE: u64 = 3;

/// Scroll speed of the scrolling scene, in design pixels per frame (240 px/s at 30 fps).
const SCROLL_STEP: u64 = 8;
/// Lines in the scrolling scene's document before it starts over.
const DOCUMENT_LINES: u64 = 4000;

/// Which content a scene shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SceneKind {
    /// A window dragged around the desktop along a bouncing path.
    Dragging,
    /// The whole screen changes every frame: a textured field panning 7×3 px per frame under
    /// bouncing objects (a full-screen video).
    FullScreen,
    /// A long document in an editor scrolling at a steady 8 px per frame.
    Scrolling,
    /// A desktop where nothing changes.
    Static,
    /// Text typed into an editor, one character every three frames.
    Typing,
    /// A video-like region (a third of the screen each way) in a player window.
    Video,
}

impl SceneKind {
    /// Every scene, in the order the report lists them.
    pub const ALL: [Self; 6] = [
        Self::Static,
        Self::Typing,
        Self::Scrolling,
        Self::Dragging,
        Self::Video,
        Self::FullScreen,
    ];

    /// The scene's name on the command line and in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Dragging => "dragging",
            Self::FullScreen => "fullscreen",
            Self::Scrolling => "scrolling",
            Self::Static => "static",
            Self::Typing => "typing",
            Self::Video => "video",
        }
    }

    /// One sentence saying what the scene shows.
    pub const fn description(self) -> &'static str {
        match self {
            Self::Dragging => "a window dragged across the desktop, 9×5 px per frame",
            Self::FullScreen => {
                "the whole screen pans every frame under moving objects (full-screen video)"
            }
            Self::Scrolling => "a long document scrolling in an editor, 8 px per frame",
            Self::Static => "a desktop with windows where nothing changes",
            Self::Typing => "typing into an editor, one character every 3 frames",
            Self::Video => "a video-like region of 1/3 × 1/3 of the screen",
        }
    }
}

impl fmt::Display for SceneKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SceneKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| Error::UnknownScene(s.to_owned()))
    }
}

/// One scene at one screen size: renders frame `i` for any `i`, always to the same bytes.
#[derive(Debug, Clone)]
pub struct Scene {
    kind: SceneKind,
    layout: Layout,
    background: Image,
    motion: Motion,
    panorama: Option<Panorama>,
    marker: Marker,
    typing: Typing,
}

impl Scene {
    /// Lays out `kind` on a screen of `size`.
    pub fn new(kind: SceneKind, size: Size) -> Result<Self, Error> {
        if size.width < MIN_SIZE.width || size.height < MIN_SIZE.height {
            return Err(Error::TooSmall {
                size,
                min: MIN_SIZE,
            });
        }
        let layout = Layout::new(size);
        let marker = Marker::for_size(size);
        let s = layout.scale;
        let mut background = desktop::base(&layout);
        let editor = desktop::client_area(layout.editor, s);
        match kind {
            SceneKind::Static => {
                desktop::window(
                    &mut background,
                    layout.editor,
                    b"notes.txt - Editor",
                    palette::PAPER,
                    s,
                );
                desktop::document(&mut background, editor, 0xd0c, 0, s);
            }
            SceneKind::Typing => {
                desktop::window(
                    &mut background,
                    layout.editor,
                    b"draft.txt - Editor",
                    palette::PAPER,
                    s,
                );
            }
            SceneKind::Scrolling => {
                desktop::window(
                    &mut background,
                    layout.editor,
                    b"manual.txt - Editor",
                    palette::PAPER,
                    s,
                );
            }
            SceneKind::Video => {
                let client = desktop::window(
                    &mut background,
                    layout.player,
                    b"clip.mkv - Player",
                    palette::TERMINAL,
                    s,
                );
                let bar = Rect::new(
                    client.x + 8 * s,
                    layout.video.bottom() + 10 * s,
                    client.width / 2,
                    4 * s,
                );
                background.fill(bar.intersect(client), palette::THUMB);
            }
            SceneKind::Dragging | SceneKind::FullScreen => {}
        }
        let motion = Motion::new();
        Ok(Self {
            kind,
            typing: Typing::new(editor, s),
            layout,
            background,
            panorama: (kind == SceneKind::FullScreen).then(|| Panorama::new(&motion)),
            motion,
            marker,
        })
    }

    /// Which scene this is.
    pub fn kind(&self) -> SceneKind {
        self.kind
    }

    /// The screen size.
    pub fn size(&self) -> Size {
        self.layout.size
    }

    /// The frame marker's geometry.
    pub fn marker(&self) -> Marker {
        self.marker
    }

    /// The first frame that looks exactly like frame `index`; this is what the marker of frame
    /// `index` carries (modulo `marker::MAX + 1`), so rendering the marker's value gives back the
    /// same picture. The static scene is always frame 0; typing changes every third frame.
    pub fn canonical(&self, index: u64) -> u64 {
        match self.kind {
            SceneKind::Static => 0,
            SceneKind::Typing => index - index % FRAMES_PER_KEYSTROKE,
            _ => index,
        }
    }

    /// Renders frame `index` into `out`, which must have the scene's size.
    pub fn render(&self, index: u64, out: &mut Image) -> Result<(), Error> {
        if out.size() != self.size() {
            return Err(Error::SizeMismatch {
                expected: self.size(),
                actual: out.size(),
            });
        }
        let s = self.layout.scale;
        match self.kind {
            SceneKind::FullScreen => {
                if let Some(panorama) = &self.panorama {
                    panorama.paint(out, index, s);
                }
                self.motion.objects(out, self.size().rect(), index, 6, s);
            }
            _ => out.copy_from(&self.background),
        }
        match self.kind {
            SceneKind::Dragging => {
                let outer = self.dragged_window(index);
                let client = desktop::window(out, outer, b"report.txt - Editor", palette::PAPER, s);
                desktop::document(out, client, 0xd7a9, 0, s);
            }
            SceneKind::Scrolling => {
                let client = desktop::client_area(self.layout.editor, s);
                let offset = self.scroll_offset(index, client);
                let text = desktop::document(out, client, 0x5c011, offset, s);
                let line_h = u64::from(CELL_H * s);
                let total = DOCUMENT_LINES * line_h;
                let track = Rect::new(text.right() + 2 * s, client.y, 8 * s, client.height);
                let thumb_h = (u64::from(track.height) * u64::from(client.height) / total)
                    .max(u64::from(20 * s));
                let room = u64::from(track.height).saturating_sub(thumb_h);
                let thumb_y = track.y as u64
                    + offset * room / total.saturating_sub(u64::from(client.height)).max(1);
                out.fill(
                    Rect::new(track.x, thumb_y as u32, track.width, thumb_h as u32)
                        .intersect(track),
                    palette::THUMB,
                );
            }
            SceneKind::Typing => self.typing.draw(out, index / FRAMES_PER_KEYSTROKE, s),
            SceneKind::Video => self.motion.paint(out, self.layout.video, index, 3, s),
            SceneKind::FullScreen | SceneKind::Static => {}
        }
        self.marker
            .draw(out, (self.canonical(index) & u64::from(marker::MAX)) as u32);
        Ok(())
    }

    /// The part of the screen where frame `index` differs from frame `index - 1` (the whole
    /// screen for frame 0). Rectangles may overlap; pixels outside them are equal in both frames.
    pub fn damage(&self, index: u64) -> Vec<Rect> {
        if index == 0 {
            return vec![self.size().rect()];
        }
        let [top, bottom] = self.marker.rects();
        match self.kind {
            SceneKind::Static => Vec::new(),
            SceneKind::Typing => {
                if !index.is_multiple_of(FRAMES_PER_KEYSTROKE) {
                    return Vec::new();
                }
                let mut rects = vec![top, bottom];
                rects.extend(self.typing.damage(index / FRAMES_PER_KEYSTROKE));
                rects
            }
            SceneKind::Scrolling => vec![
                top,
                bottom,
                desktop::client_area(self.layout.editor, self.layout.scale),
            ],
            SceneKind::Dragging => {
                let moved = self
                    .dragged_window(index - 1)
                    .bounding(self.dragged_window(index));
                vec![top, bottom, moved.clip(self.size())]
            }
            SceneKind::Video => vec![top, bottom, self.layout.video],
            SceneKind::FullScreen => vec![self.size().rect()],
        }
    }

    /// The damage from frame `from` to frame `to` (`from < to`), for a player that skipped the
    /// frames in between: the union of each step's damage, or the whole screen after a long gap.
    pub fn damage_between(&self, from: u64, to: u64) -> Vec<Rect> {
        if to <= from {
            return Vec::new();
        }
        if to - from > 16 {
            return vec![self.size().rect()];
        }
        let mut rects: Vec<Rect> = Vec::new();
        for i in from + 1..=to {
            for r in self.damage(i) {
                if !rects.contains(&r) {
                    rects.push(r);
                }
            }
        }
        rects
    }

    /// Where the dragging scene's window is in frame `index`.
    fn dragged_window(&self, index: u64) -> Rect {
        let l = &self.layout;
        let s = u64::from(l.scale);
        let range_x = u64::from(l.desk.width.saturating_sub(l.dragged.width));
        let range_y = u64::from(l.desk.height.saturating_sub(l.dragged.height));
        let x = bounce(range_x / 5 + index * 9 * s, range_x);
        let y = bounce(range_y / 3 + index * 5 * s, range_y);
        Rect::new(x as u32, y as u32, l.dragged.width, l.dragged.height)
    }

    /// How far the scrolling scene's document has scrolled in frame `index`.
    fn scroll_offset(&self, index: u64, client: Rect) -> u64 {
        let line_h = u64::from(CELL_H * self.layout.scale);
        let room = (DOCUMENT_LINES * line_h)
            .saturating_sub(u64::from(client.height))
            .max(1);
        index * SCROLL_STEP * u64::from(self.layout.scale) % room
    }
}

/// The typing scene's text area: pages of lines typed character by character (newlines
/// included); when a page is full the next one starts on a cleared area.
#[derive(Debug, Clone)]
struct Typing {
    area: Rect,
    cols: usize,
    rows: u32,
    scale: u32,
}

impl Typing {
    fn new(client: Rect, scale: u32) -> Self {
        let area = client.deflate(8 * scale);
        let cols = (area.width / (CELL_W * scale)).saturating_sub(1) as usize;
        let rows = (area.height / (CELL_H * scale)).max(2);
        Self {
            area,
            cols,
            rows,
            scale,
        }
    }

    fn line(&self, page: u64, row: u32, out: &mut Vec<u8>) {
        glyph::line(0x7e9 ^ glyph::mix(page), u64::from(row), self.cols, out);
    }

    /// Keystrokes that fill `page`: every character plus a newline between rows.
    fn capacity(&self, page: u64) -> u64 {
        let mut text = Vec::new();
        let mut total = u64::from(self.rows) - 1;
        for row in 0..self.rows {
            self.line(page, row, &mut text);
            total += text.len() as u64;
        }
        total
    }

    /// The page and the position in it after `keys` keystrokes.
    fn locate(&self, mut keys: u64) -> (u64, u64) {
        let mut page = 0;
        loop {
            let capacity = self.capacity(page);
            if keys < capacity {
                return (page, keys);
            }
            keys -= capacity;
            page += 1;
        }
    }

    /// The cell (row, column) of position `pos` on `page`.
    fn cell(&self, page: u64, pos: u64) -> Rect {
        let mut text = Vec::new();
        let mut left = pos;
        let mut row = 0;
        while row + 1 < self.rows {
            self.line(page, row, &mut text);
            let len = text.len() as u64;
            if left <= len {
                break;
            }
            left -= len + 1;
            row += 1;
        }
        self.cell_at(row, left as u32)
    }

    fn cell_at(&self, row: u32, col: u32) -> Rect {
        let (cw, lh) = (CELL_W * self.scale, CELL_H * self.scale);
        Rect::new(self.area.x + col * cw, self.area.y + row * lh, cw, lh)
    }

    /// Draws the state after `keys` keystrokes: the typed text and the caret.
    fn draw(&self, img: &mut Image, keys: u64, s: u32) {
        let (page, pos) = self.locate(keys);
        let mut text = Vec::new();
        let mut left = pos;
        for row in 0..self.rows {
            self.line(page, row, &mut text);
            let shown = (left as usize).min(text.len());
            let at = self.cell_at(row, 0);
            glyph::draw_text(
                img,
                at.x.into(),
                at.y.into(),
                &text[..shown],
                palette::INK,
                s,
                self.area,
            );
            if left <= text.len() as u64 {
                let caret = self.cell_at(row, shown as u32);
                img.fill(
                    Rect::new(caret.x, caret.y, 2 * s, caret.height),
                    palette::CARET,
                );
                return;
            }
            left -= text.len() as u64 + 1;
        }
    }

    /// What keystroke number `keys` (≥ 1) changed: the cell typed into and the caret's new
    /// cell, or the whole area when it started a new page.
    fn damage(&self, keys: u64) -> Vec<Rect> {
        let (before_page, before) = self.locate(keys - 1);
        let (page, pos) = self.locate(keys);
        if before_page != page {
            return vec![self.area];
        }
        vec![self.cell(page, before), self.cell(page, pos)]
    }
}

#[cfg(test)]
mod tests;
