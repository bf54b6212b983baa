//! The desktop every scene starts from: wallpaper, a bottom panel and a few windows with text.

use crate::geometry::{Rect, Size};
use crate::glyph::{self, CELL_H, CELL_W};
use crate::image::{Color, Image};

/// Window chrome and text colours.
pub(crate) mod palette {
    use crate::image::Color;

    pub(crate) const BORDER: Color = Color::rgb(48, 52, 60);
    pub(crate) const TITLE: Color = Color::rgb(66, 92, 140);
    pub(crate) const TITLE_TEXT: Color = Color::rgb(236, 240, 246);
    pub(crate) const PAPER: Color = Color::rgb(252, 252, 250);
    pub(crate) const INK: Color = Color::rgb(32, 34, 38);
    pub(crate) const GUTTER: Color = Color::rgb(236, 238, 242);
    pub(crate) const GUTTER_INK: Color = Color::rgb(140, 146, 156);
    pub(crate) const THUMB: Color = Color::rgb(170, 176, 186);
    pub(crate) const PANEL: Color = Color::rgb(38, 40, 46);
    pub(crate) const PANEL_TEXT: Color = Color::rgb(214, 218, 226);
    pub(crate) const TERMINAL: Color = Color::rgb(20, 22, 26);
    pub(crate) const TERMINAL_INK: Color = Color::rgb(120, 220, 130);
    pub(crate) const TERMINAL_DIM: Color = Color::rgb(170, 176, 186);
    pub(crate) const CARET: Color = Color::rgb(20, 20, 20);
}

/// Where everything sits on a screen of a given size.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) size: Size,
    /// Pixels per design pixel: 1 up to 1440p, 2 at 4K.
    pub(crate) scale: u32,
    /// The area above the panel, where windows live.
    pub(crate) desk: Rect,
    pub(crate) panel: Rect,
    pub(crate) files: Rect,
    pub(crate) terminal: Rect,
    /// The editor window (typing, scrolling, and the static scene's open document).
    pub(crate) editor: Rect,
    /// The media player window; its video area is `video`.
    pub(crate) player: Rect,
    pub(crate) video: Rect,
    /// The size of the window the dragging scene moves around.
    pub(crate) dragged: Size,
}

impl Layout {
    pub(crate) fn new(size: Size) -> Self {
        let scale = scale_for(size);
        let (w, h) = (size.width, size.height);
        let pm = |total: u32, permille: u32| total * permille / 1000;
        let panel_h = 32 * scale;
        let desk = Rect::new(0, 0, w, h - panel_h);
        let title = title_height(scale);
        let video = Rect::new(pm(w, 340), pm(h, 280), (w / 3) & !1, (h / 3) & !1);
        let player = Rect::new(
            video.x - 1,
            video.y - title - 1,
            video.width + 2,
            video.height + title + 2 + 24 * scale,
        );
        Self {
            size,
            scale,
            desk,
            panel: Rect::new(0, h - panel_h, w, panel_h),
            files: Rect::new(pm(w, 30), pm(h, 60), pm(w, 340), pm(h, 420)),
            terminal: Rect::new(pm(w, 400), pm(h, 50), pm(w, 500), pm(h, 380)),
            editor: Rect::new(pm(w, 200), pm(h, 300), pm(w, 580), pm(h, 550)),
            player,
            video,
            dragged: Size::new(pm(w, 300), pm(h, 350)),
        }
    }
}

/// Pixels per design pixel for a screen of `size`: 1 up to 1440p, 2 at 4K, and so on.
pub(crate) fn scale_for(size: Size) -> u32 {
    ((size.height + 540) / 1080).max(1)
}

/// The height of a window title bar.
pub(crate) fn title_height(scale: u32) -> u32 {
    24 * scale
}

/// Paints the wallpaper: a vertical blue gradient with faint diagonal bands.
pub(crate) fn wallpaper(img: &mut Image) {
    let size = img.size();
    for y in 0..size.height {
        let t = y * 255 / size.height.max(1);
        let row = img.span_mut(0, y, size.width);
        for (x, px) in row.chunks_exact_mut(4).enumerate() {
            let band = ((x as u32 + y) / 96) % 2 * 6;
            px[0] = (150 + t * 60 / 255 + band) as u8;
            px[1] = (80 + t * 50 / 255 + band) as u8;
            px[2] = (36 + t * 40 / 255) as u8;
            px[3] = 255;
        }
    }
}

/// Paints the panel: launcher buttons on the left, a clock on the right.
pub(crate) fn panel(img: &mut Image, layout: &Layout) {
    let s = layout.scale;
    let p = layout.panel;
    img.fill(p, palette::PANEL);
    img.fill(Rect::new(p.x, p.y, p.width, s), palette::BORDER);
    let labels: [&[u8]; 4] = [b"Applications", b"Files", b"Terminal", b"Editor"];
    let mut x = p.x + 8 * s;
    for label in labels {
        let w = (label.len() as u32 + 2) * CELL_W * s;
        let button = Rect::new(x, p.y + 4 * s, w, p.height - 8 * s);
        img.fill(button, Color::rgb(56, 60, 68));
        let text_y = i64::from(button.y) + i64::from(button.height.saturating_sub(CELL_H * s) / 2);
        let text_x = i64::from(button.x + CELL_W * s);
        glyph::draw_text(img, text_x, text_y, label, palette::PANEL_TEXT, s, button);
        x += w + 6 * s;
    }
    let clock = b"Tue 14:05";
    let cw = clock.len() as u32 * CELL_W * s;
    let cx = p.right().saturating_sub(cw + 12 * s);
    let cy = p.y + (p.height.saturating_sub(CELL_H * s)) / 2;
    glyph::draw_text(img, cx.into(), cy.into(), clock, palette::PANEL_TEXT, s, p);
}

/// Draws window chrome (border, title bar with title and three buttons) and clears the client
/// area to `paper`. Returns the client area.
pub(crate) fn window(img: &mut Image, outer: Rect, title: &[u8], paper: Color, scale: u32) -> Rect {
    let s = scale;
    let th = title_height(s);
    img.outline(outer, palette::BORDER);
    let bar = Rect::new(outer.x + 1, outer.y + 1, outer.width.saturating_sub(2), th);
    img.fill(bar, palette::TITLE);
    let ty = i64::from(bar.y) + i64::from(th.saturating_sub(CELL_H * s) / 2);
    glyph::draw_text(
        img,
        i64::from(bar.x + 8 * s),
        ty,
        title,
        palette::TITLE_TEXT,
        s,
        bar,
    );
    for i in 0..3 {
        let bx = bar.right().saturating_sub((i + 1) * 20 * s);
        let button = Rect::new(bx, bar.y + 6 * s, 12 * s, 12 * s);
        img.fill(
            button.clip(img.size()).intersect(bar),
            Color::rgb(200, 204, 212),
        );
    }
    let client = client_area(outer, s);
    img.fill(client, paper);
    client
}

/// The client area of a window whose outer edge is `outer`.
pub(crate) fn client_area(outer: Rect, scale: u32) -> Rect {
    let th = title_height(scale);
    Rect::new(
        outer.x + 1,
        outer.y + 1 + th,
        outer.width.saturating_sub(2),
        outer.height.saturating_sub(2 + th),
    )
}

/// A file manager: a grid of coloured icons with names under them.
pub(crate) fn files(img: &mut Image, outer: Rect, scale: u32) {
    let s = scale;
    let client = window(
        img,
        outer,
        b"Files - /home/user/projects",
        palette::PAPER,
        s,
    );
    let sidebar = Rect::new(
        client.x,
        client.y,
        (client.width / 5).min(140 * s),
        client.height,
    );
    img.fill(sidebar, palette::GUTTER);
    let mut name = Vec::new();
    for i in 0..8u64 {
        let y = i64::from(sidebar.y + 8 * s) + i as i64 * i64::from(22 * s);
        glyph::line(0xf11e, i, 12, &mut name);
        let x = i64::from(sidebar.x + 8 * s);
        glyph::draw_text(img, x, y, &name, palette::INK, s, sidebar);
    }
    let grid = Rect::new(
        sidebar.right(),
        client.y,
        client.width - sidebar.width,
        client.height,
    );
    let step = 96 * s;
    let cols = (grid.width / step).max(1);
    for i in 0..(cols * (grid.height / step).max(1)) {
        let x = grid.x + (i % cols) * step + 24 * s;
        let y = grid.y + (i / cols) * step + 12 * s;
        let h = glyph::mix(u64::from(i) ^ 0x1c0);
        let color = Color::rgb(90 + (h % 140) as u8, 110 + (h >> 8) as u8 % 120, 180);
        img.fill(Rect::new(x, y, 48 * s, 40 * s).intersect(grid), color);
        glyph::line(0xf11e5, u64::from(i), 10, &mut name);
        let label_y = i64::from(y + 46 * s);
        glyph::draw_text(
            img,
            i64::from(x) - i64::from(16 * s),
            label_y,
            &name,
            palette::INK,
            s,
            grid,
        );
    }
}

/// A terminal with a shell session's worth of coloured text.
pub(crate) fn terminal(img: &mut Image, outer: Rect, scale: u32) {
    let s = scale;
    let client = window(img, outer, b"Terminal - user@desk: ~", palette::TERMINAL, s);
    let area = client.deflate(4 * s);
    let cols = (area.width / (CELL_W * s)) as usize;
    let rows = area.height / (CELL_H * s);
    let mut text = Vec::new();
    for r in 0..rows {
        glyph::line(0x7e7, u64::from(r), cols.saturating_sub(2), &mut text);
        let y = i64::from(area.y + r * CELL_H * s);
        let ink = if r % 3 == 0 {
            palette::TERMINAL_INK
        } else {
            palette::TERMINAL_DIM
        };
        let x = glyph::draw_text(img, area.x.into(), y, b"$ ", ink, s, area);
        glyph::draw_text(img, x, y, &text, ink, s, area);
    }
}

/// Text lines of the document seeded by `seed` in an editor client area, first line `first`,
/// shifted up by `offset` pixels; line numbers in a gutter; clipped to `client`.
pub(crate) fn document(img: &mut Image, client: Rect, seed: u64, offset: u64, scale: u32) -> Rect {
    let s = scale;
    let line_h = u64::from(CELL_H * s);
    let gutter = Rect::new(client.x, client.y, 5 * CELL_W * s, client.height);
    img.fill(gutter, palette::GUTTER);
    let text_area = Rect::new(
        gutter.right() + 4 * s,
        client.y,
        client.width.saturating_sub(gutter.width + 4 * s + 12 * s),
        client.height,
    );
    let cols = (text_area.width / (CELL_W * s)) as usize;
    let first = offset / line_h;
    let shift = (offset % line_h) as i64;
    let visible = u64::from(client.height) / line_h + 2;
    let mut text = Vec::new();
    for n in first..first + visible {
        let y = i64::from(client.y) + (n - first) as i64 * line_h as i64 - shift;
        let number = format!("{:>4}", (n + 1) % 10_000);
        glyph::draw_text(
            img,
            gutter.x.into(),
            y,
            number.as_bytes(),
            palette::GUTTER_INK,
            s,
            gutter,
        );
        glyph::line(seed, n, cols, &mut text);
        glyph::draw_text(
            img,
            text_area.x.into(),
            y,
            &text,
            palette::INK,
            s,
            text_area,
        );
    }
    text_area
}

/// The whole desktop without the scene's own window: wallpaper, panel, files, terminal.
pub(crate) fn base(layout: &Layout) -> Image {
    let mut img = Image::new(layout.size);
    wallpaper(&mut img);
    files(&mut img, layout.files, layout.scale);
    terminal(&mut img, layout.terminal, layout.scale);
    panel(&mut img, layout);
    img
}
