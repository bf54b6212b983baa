//! RandR: the monitors of the screen, notifications when they change, and switching an output to
//! a resolution a client asks for (adding the mode first when the server lacks it).

use x11rb::protocol::Event;
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{ConnectionExt as _, Window};

use super::connection::{ConnectOptions, Connection};
use super::error::{Context as _, Error};
use deskcast_codec::Rect;

/// One monitor: a rectangle of the root window that a client may show as a display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monitor {
    /// The RandR monitor name (for monitors backed by one output, the output's name).
    pub name: String,
    /// Left edge in root-window coordinates.
    pub x: i32,
    /// Top edge in root-window coordinates.
    pub y: i32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Whether this is the primary monitor.
    pub primary: bool,
}

impl Monitor {
    /// The monitor's rectangle in root coordinates (negative origins clamp to zero).
    pub fn rect(&self) -> Rect {
        Rect {
            x: u32::try_from(self.x).unwrap_or(0),
            y: u32::try_from(self.y).unwrap_or(0),
            width: self.width,
            height: self.height,
        }
    }

    /// Turns a point relative to this monitor into root coordinates, clamped to the monitor.
    pub fn to_global(&self, x: i32, y: i32) -> (i32, i32) {
        let max_x = i32::try_from(self.width.saturating_sub(1)).unwrap_or(i32::MAX);
        let max_y = i32::try_from(self.height.saturating_sub(1)).unwrap_or(i32::MAX);
        (
            self.x.saturating_add(x.clamp(0, max_x)),
            self.y.saturating_add(y.clamp(0, max_y)),
        )
    }
}

/// Monitors and resolution changes, on a connection of its own.
#[derive(Debug)]
pub struct Screen {
    x: Connection,
    randr: Option<(u32, u32)>,
}

impl Screen {
    /// Connects and subscribes to RandR screen, CRTC and output changes (when RandR exists).
    pub fn connect(options: &ConnectOptions) -> Result<Self, Error> {
        let x = Connection::open(options)?;
        let randr = randr_version(&x)?;
        select_screen_changes(&x, x.root(), randr)?;
        Ok(Self { x, randr })
    }

    /// The size of the root window.
    pub fn size(&self) -> Result<(u32, u32), Error> {
        root_size(&self.x)
    }

    /// The monitors, as RandR 1.5 lists them (one monitor for the whole screen without RandR).
    pub fn monitors(&self) -> Result<Vec<Monitor>, Error> {
        query_monitors(&self.x, self.randr)
    }

    /// Drains pending notifications without blocking; true when the screen or its monitors
    /// changed since the last call.
    pub fn changed(&self) -> Result<bool, Error> {
        let mut changed = false;
        while let Some(event) = self.x.poll_event()? {
            changed |= matches!(
                event,
                Event::RandrScreenChangeNotify(_) | Event::RandrNotify(_)
            );
        }
        Ok(changed)
    }

    /// The sizes the output behind `monitor` (the primary one when `None`) can switch to.
    pub fn resolutions(&self, monitor: Option<&str>) -> Result<Vec<(u32, u32)>, Error> {
        self.require_randr()?;
        let resources = self.resources()?;
        let output = self.pick_output(&resources, monitor)?;
        let mut sizes: Vec<(u32, u32)> = resources
            .modes
            .iter()
            .filter(|m| output.info.modes.contains(&m.id))
            .map(|m| (u32::from(m.width), u32::from(m.height)))
            .collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        sizes.dedup();
        Ok(sizes)
    }

    /// Switches the output behind `monitor` (the primary one when `None`) to `width`×`height`,
    /// creating and adding the mode when the output lacks it, and resizes the screen to fit.
    pub fn set_resolution(
        &self,
        monitor: Option<&str>,
        width: u32,
        height: u32,
    ) -> Result<(), Error> {
        self.require_randr()?;
        let (w16, h16) = match (u16::try_from(width), u16::try_from(height)) {
            (Ok(w), Ok(h)) if w > 0 && h > 0 => (w, h),
            _ => return Err(Error::Unsupported(format!("show {width}x{height}"))),
        };
        let resources = self.resources()?;
        let output = self.pick_output(&resources, monitor)?;
        let crtc = match output.info.crtc {
            0 => output.info.crtcs.first().copied().ok_or_else(|| {
                Error::Unsupported(format!("drive output {} (no CRTC)", output.name))
            })?,
            crtc => crtc,
        };
        let crtc_info = self
            .x
            .conn
            .randr_get_crtc_info(crtc, resources.config_timestamp)
            .ctx("RRGetCrtcInfo")?
            .reply()
            .ctx("RRGetCrtcInfo")?;
        // Check the size against the server's limits before making a mode it may refuse.
        let (screen_w, screen_h) = self.size_with(&resources, crtc, &crtc_info, width, height)?;
        let mode = self.mode_for(&resources, &output, w16, h16)?;
        let (cur_w, cur_h) = self.size()?;
        // The CRTC must fit the screen while it switches, so grow first and shrink after.
        if screen_w > cur_w || screen_h > cur_h {
            self.set_screen_size(screen_w.max(cur_w), screen_h.max(cur_h))?;
        }
        let outputs = if crtc_info.outputs.is_empty() {
            vec![output.id]
        } else {
            crtc_info.outputs.clone()
        };
        let reply = self
            .x
            .conn
            .randr_set_crtc_config(
                crtc,
                x11rb::CURRENT_TIME,
                resources.config_timestamp,
                crtc_info.x,
                crtc_info.y,
                mode,
                if crtc_info.rotation == randr::Rotation::from(0u16) {
                    randr::Rotation::ROTATE0
                } else {
                    crtc_info.rotation
                },
                &outputs,
            )
            .ctx("RRSetCrtcConfig")?
            .reply()
            .ctx("RRSetCrtcConfig")?;
        if reply.status != randr::SetConfig::SUCCESS {
            return Err(Error::Unsupported(format!(
                "switch {} to {width}x{height} ({:?})",
                output.name, reply.status
            )));
        }
        if (screen_w, screen_h) != self.size()? {
            self.set_screen_size(screen_w, screen_h)?;
        }
        tracing::info!(output = %output.name, width, height, "resolution changed");
        Ok(())
    }

    fn require_randr(&self) -> Result<(), Error> {
        match self.randr {
            Some(v) if v >= (1, 2) => Ok(()),
            _ => Err(Error::MissingExtension {
                name: "RANDR 1.2",
                needed_for: "resolution changes",
            }),
        }
    }

    fn resources(&self) -> Result<randr::GetScreenResourcesReply, Error> {
        self.x
            .conn
            .randr_get_screen_resources(self.x.root())
            .ctx("RRGetScreenResources")?
            .reply()
            .ctx("RRGetScreenResources")
    }

    fn pick_output(
        &self,
        resources: &randr::GetScreenResourcesReply,
        monitor: Option<&str>,
    ) -> Result<Output, Error> {
        let primary = self
            .x
            .conn
            .randr_get_output_primary(self.x.root())
            .ctx("RRGetOutputPrimary")?
            .reply()
            .ctx("RRGetOutputPrimary")?
            .output;
        let mut outputs = Vec::with_capacity(resources.outputs.len());
        for &id in &resources.outputs {
            let info = self
                .x
                .conn
                .randr_get_output_info(id, resources.config_timestamp)
                .ctx("RRGetOutputInfo")?
                .reply()
                .ctx("RRGetOutputInfo")?;
            let name = String::from_utf8_lossy(&info.name).into_owned();
            outputs.push(Output { id, name, info });
        }
        let wanted = match monitor {
            Some(name) => self.monitor_output(name)?,
            None => None,
        };
        let pick = outputs
            .iter()
            .position(|o| Some(o.id) == wanted || monitor == Some(o.name.as_str()))
            .or_else(|| {
                monitor
                    .is_none()
                    .then(|| outputs.iter().position(|o| o.id == primary))?
            })
            .or_else(|| {
                monitor.is_none().then(|| {
                    outputs.iter().position(|o| {
                        o.info.connection == randr::Connection::CONNECTED && o.info.crtc != 0
                    })
                })?
            });
        match pick {
            Some(i) => Ok(outputs.swap_remove(i)),
            None => Err(Error::NoSuchMonitor(
                monitor.unwrap_or("<primary>").to_owned(),
            )),
        }
    }

    /// The first output of the monitor called `name`, if that monitor has one.
    fn monitor_output(&self, name: &str) -> Result<Option<randr::Output>, Error> {
        if self.randr < Some((1, 5)) {
            return Ok(None);
        }
        let reply = self
            .x
            .conn
            .randr_get_monitors(self.x.root(), true)
            .ctx("RRGetMonitors")?
            .reply()
            .ctx("RRGetMonitors")?;
        for m in reply.monitors {
            if atom_name(&self.x, m.name)? == name {
                return Ok(m.outputs.first().copied());
            }
        }
        Ok(None)
    }

    fn mode_for(
        &self,
        resources: &randr::GetScreenResourcesReply,
        output: &Output,
        width: u16,
        height: u16,
    ) -> Result<randr::Mode, Error> {
        let fits = |m: &&randr::ModeInfo| m.width == width && m.height == height;
        if let Some(m) = resources
            .modes
            .iter()
            .filter(fits)
            .find(|m| output.info.modes.contains(&m.id))
        {
            return Ok(m.id);
        }
        let (id, created) = match resources.modes.iter().find(fits) {
            Some(m) => (m.id, false),
            None => {
                let name = format!("{width}x{height}");
                let info = mode_info(width, height, &name);
                let id = self
                    .x
                    .conn
                    .randr_create_mode(self.x.root(), info, name.as_bytes())
                    .ctx("RRCreateMode")?
                    .reply()
                    .ctx("RRCreateMode")?
                    .mode;
                (id, true)
            }
        };
        let added = self
            .x
            .conn
            .randr_add_output_mode(output.id, id)
            .ctx("RRAddOutputMode")?
            .check()
            .ctx("RRAddOutputMode");
        if let Err(e) = added {
            if created {
                let _ = self.x.conn.randr_destroy_mode(id);
            }
            return Err(e);
        }
        Ok(id)
    }

    /// The screen size once `crtc` shows `width`×`height`: the bounding box of every active
    /// CRTC, checked against the server's limits.
    fn size_with(
        &self,
        resources: &randr::GetScreenResourcesReply,
        crtc: randr::Crtc,
        crtc_info: &randr::GetCrtcInfoReply,
        width: u32,
        height: u32,
    ) -> Result<(u32, u32), Error> {
        let right = |x: i16, w: u32| u32::try_from(i32::from(x)).unwrap_or(0) + w;
        let mut size = (right(crtc_info.x, width), right(crtc_info.y, height));
        for &other in resources.crtcs.iter().filter(|&&c| c != crtc) {
            let info = self
                .x
                .conn
                .randr_get_crtc_info(other, resources.config_timestamp)
                .ctx("RRGetCrtcInfo")?
                .reply()
                .ctx("RRGetCrtcInfo")?;
            if info.mode != 0 {
                size.0 = size.0.max(right(info.x, info.width.into()));
                size.1 = size.1.max(right(info.y, info.height.into()));
            }
        }
        let range = self
            .x
            .conn
            .randr_get_screen_size_range(self.x.root())
            .ctx("RRGetScreenSizeRange")?
            .reply()
            .ctx("RRGetScreenSizeRange")?;
        if size.0 > range.max_width.into() || size.1 > range.max_height.into() {
            return Err(Error::Unsupported(format!(
                "grow the screen to {}x{} (its maximum is {}x{})",
                size.0, size.1, range.max_width, range.max_height
            )));
        }
        Ok((
            size.0.max(range.min_width.into()),
            size.1.max(range.min_height.into()),
        ))
    }

    fn set_screen_size(&self, width: u32, height: u32) -> Result<(), Error> {
        // Keep 96 dots per inch, as Xvfb and the dummy driver report.
        let mm = |px: u32| px * 254 / 960;
        let (w, h) = (
            u16::try_from(width).unwrap_or(u16::MAX),
            u16::try_from(height).unwrap_or(u16::MAX),
        );
        self.x
            .conn
            .randr_set_screen_size(self.x.root(), w, h, mm(width), mm(height))
            .ctx("RRSetScreenSize")?
            .check()
            .ctx("RRSetScreenSize")
    }
}

/// An output with its name and details.
#[derive(Debug)]
struct Output {
    id: randr::Output,
    name: String,
    info: randr::GetOutputInfoReply,
}

/// A 60 Hz mode with reduced-blanking-like timings: servers with real outputs check them,
/// Xvfb and the dummy driver accept any.
fn mode_info(width: u16, height: u16, name: &str) -> randr::ModeInfo {
    let htotal = width.saturating_add(160);
    let vtotal = height.saturating_add(30);
    randr::ModeInfo {
        id: 0,
        width,
        height,
        dot_clock: u32::from(htotal) * u32::from(vtotal) * 60,
        hsync_start: width.saturating_add(48),
        hsync_end: width.saturating_add(80),
        htotal,
        hskew: 0,
        vsync_start: height.saturating_add(3),
        vsync_end: height.saturating_add(8),
        vtotal,
        name_len: u16::try_from(name.len()).unwrap_or(0),
        mode_flags: randr::ModeFlag::HSYNC_POSITIVE | randr::ModeFlag::VSYNC_NEGATIVE,
    }
}

/// The server's RandR version, or `None` without the extension.
pub(crate) fn randr_version(x: &Connection) -> Result<Option<(u32, u32)>, Error> {
    if !x.has_extension(randr::X11_EXTENSION_NAME)? {
        return Ok(None);
    }
    let v = x
        .conn
        .randr_query_version(1, 5)
        .ctx("RRQueryVersion")?
        .reply()
        .ctx("RRQueryVersion")?;
    Ok(Some((v.major_version, v.minor_version)))
}

/// The size of the root window.
pub(crate) fn root_size(x: &Connection) -> Result<(u32, u32), Error> {
    let g = x
        .conn
        .get_geometry(x.root())
        .ctx("GetGeometry")?
        .reply()
        .ctx("GetGeometry")?;
    Ok((g.width.into(), g.height.into()))
}

/// The monitors RandR 1.5 lists, or the whole screen as one monitor without it.
pub(crate) fn query_monitors(
    x: &Connection,
    randr: Option<(u32, u32)>,
) -> Result<Vec<Monitor>, Error> {
    if randr < Some((1, 5)) {
        let (width, height) = root_size(x)?;
        return Ok(vec![Monitor {
            name: "screen".to_owned(),
            x: 0,
            y: 0,
            width,
            height,
            primary: true,
        }]);
    }
    let reply = x
        .conn
        .randr_get_monitors(x.root(), true)
        .ctx("RRGetMonitors")?
        .reply()
        .ctx("RRGetMonitors")?;
    reply
        .monitors
        .iter()
        .map(|m| {
            Ok(Monitor {
                name: atom_name(x, m.name)?,
                x: m.x.into(),
                y: m.y.into(),
                width: m.width.into(),
                height: m.height.into(),
                primary: m.primary,
            })
        })
        .collect()
}

fn atom_name(x: &Connection, atom: u32) -> Result<String, Error> {
    let reply = x
        .conn
        .get_atom_name(atom)
        .ctx("GetAtomName")?
        .reply()
        .ctx("GetAtomName")?;
    Ok(String::from_utf8_lossy(&reply.name).into_owned())
}

/// Subscribes `window` to screen changes, when RandR exists.
pub(crate) fn select_screen_changes(
    x: &Connection,
    window: Window,
    randr: Option<(u32, u32)>,
) -> Result<(), Error> {
    if randr.is_some() {
        x.conn
            .randr_select_input(
                window,
                randr::NotifyMask::SCREEN_CHANGE
                    | randr::NotifyMask::CRTC_CHANGE
                    | randr::NotifyMask::OUTPUT_CHANGE,
            )
            .ctx("RRSelectInput")?;
    }
    Ok(())
}
