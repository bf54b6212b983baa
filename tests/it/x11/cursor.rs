//! The cursor: a test client defines ARGB cursors with RENDER; the watcher sees each change,
//! reads the shape as straight RGBA, and keeps serials stable per shape.

use deskcast::platform::x11::{CursorWatcher, Injector};
use x11rb::connection::Connection as _;
use x11rb::protocol::render::{ConnectionExt as _, PictType};
use x11rb::protocol::xproto::{ChangeWindowAttributesAux, ConnectionExt as _, ImageFormat, Window};
use x11rb::rust_connection::RustConnection;

use super::{after_ms, options, xvfb};

/// Makes a 2×2 ARGB cursor from premultiplied pixels.
fn argb_cursor(conn: &RustConnection, root: Window, pixels: [u32; 4], hot: (u16, u16)) -> u32 {
    let formats = conn.render_query_pict_formats().unwrap().reply().unwrap();
    let format = formats
        .formats
        .iter()
        .find(|f| {
            f.type_ == PictType::DIRECT
                && f.depth == 32
                && f.direct.alpha_mask == 0xff
                && f.direct.alpha_shift == 24
        })
        .expect("an ARGB32 picture format")
        .id;
    let pixmap = conn.generate_id().unwrap();
    conn.create_pixmap(32, pixmap, root, 2, 2).unwrap();
    let gc = conn.generate_id().unwrap();
    conn.create_gc(gc, pixmap, &Default::default()).unwrap();
    let bytes: Vec<u8> = pixels.iter().flat_map(|p| p.to_le_bytes()).collect();
    conn.put_image(ImageFormat::Z_PIXMAP, pixmap, gc, 2, 2, 0, 0, 0, 32, &bytes)
        .unwrap();
    let picture = conn.generate_id().unwrap();
    conn.render_create_picture(picture, pixmap, format, &Default::default())
        .unwrap();
    let cursor = conn.generate_id().unwrap();
    conn.render_create_cursor(cursor, picture, hot.0, hot.1)
        .unwrap()
        .check()
        .unwrap();
    cursor
}

fn show(conn: &RustConnection, root: Window, cursor: u32) {
    conn.change_window_attributes(root, &ChangeWindowAttributesAux::new().cursor(cursor))
        .unwrap()
        .check()
        .unwrap();
}

#[test]
fn shape_changes_are_seen_as_straight_rgba_with_stable_serials() {
    let server = xvfb(320, 200);
    let (conn, screen) = RustConnection::connect(Some(server.display())).unwrap();
    let root = conn.setup().roots[screen].root;
    let mut watcher = CursorWatcher::new(&options(&server)).unwrap();

    let a = argb_cursor(
        &conn,
        root,
        [0xff_ff_00_00, 0x80_00_40_00, 0x00_00_00_00, 0x40_10_20_30],
        (1, 0),
    );
    let b = argb_cursor(&conn, root, [0xff_00_00_ff; 4], (0, 1));

    show(&conn, root, a);
    let serial_a = watcher
        .wait_change(after_ms(10_000))
        .unwrap()
        .expect("a change");
    let image = watcher.image().unwrap();
    assert_eq!(image.serial, serial_a);
    assert_eq!(
        (image.width, image.height, image.hot_x, image.hot_y),
        (2, 2, 1, 0)
    );
    assert_eq!(
        image.rgba,
        [
            0xff, 0x00, 0x00, 0xff, // opaque red
            0x00, 0x80, 0x00, 0x80, // half-transparent green, un-premultiplied
            0x00, 0x00, 0x00, 0x00, // transparent
            0x40, 0x80, 0xbf,
            0x40, // quarter alpha: 16·255/64 = 63.75, 32 → 127.5, 48 → 191.25
        ]
    );

    show(&conn, root, b);
    let serial_b = watcher
        .wait_change(after_ms(10_000))
        .unwrap()
        .expect("a change");
    assert_ne!(serial_b, serial_a);
    assert_eq!(
        watcher.image().unwrap().rgba,
        [0x00, 0x00, 0xff, 0xff].repeat(4)
    );

    show(&conn, root, a);
    assert_eq!(
        watcher.wait_change(after_ms(10_000)).unwrap(),
        Some(serial_a)
    );
    // Nothing changes: the wait ends at its deadline.
    assert_eq!(watcher.wait_change(after_ms(300)).unwrap(), None);
}

#[test]
fn the_position_follows_the_pointer() {
    let server = xvfb(320, 200);
    let watcher = CursorWatcher::new(&options(&server)).unwrap();
    let mut injector = Injector::new(&options(&server)).unwrap();
    injector.move_to(123, 45).unwrap();
    injector.sync().unwrap();
    assert_eq!(watcher.position().unwrap(), (123, 45));
}
