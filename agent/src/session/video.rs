//! Video for one viewer: which display it watches, through which encoder, at what rate; display
//! switches, refreshes, resolution changes, and what the display service reports.

use deskcast_protocol::message::{self, Message, SwitchDisplay};

use super::Session;
use crate::error::Error;
use crate::net::peer::VideoSource;
use crate::pipeline::display::{DisplayEvent, Subscription};

impl Session {
    /// Subscribes the viewer to its current display with its current route and rate; the
    /// first frame that follows is a keyframe.
    pub(super) async fn subscribe_display(&mut self) -> Result<(), Error> {
        let Some(active) = self.active.as_ref() else {
            return Ok(());
        };
        let Some(display) = self.agent.display(active.display) else {
            return Err(Error::Refused("no display to stream".into()));
        };
        let (width, height) = self.agent.display_size(active.display);
        display.subscribe(Subscription {
            viewer: self.viewer,
            route: active.route,
            fps: active.qos.fps(),
            bitrate_kbps: active.qos.bitrate_kbps(width, height),
            frames: std::sync::Arc::clone(&self.out.video),
            events: active.display_events_tx.clone(),
        });
        let source = VideoSource {
            display: display.clone(),
            index: i32::try_from(active.display).unwrap_or(0),
            monotonic_pts: active.probe,
        };
        self.out.set_video(source).await
    }

    /// Shows display `index` (a `SwitchDisplay` from the viewer, or `capture_displays`).
    pub(super) async fn switch_display(&mut self, index: i32) -> Result<(), Error> {
        let Ok(index) = usize::try_from(index) else {
            return Ok(());
        };
        let Some(active) = self.active.as_mut() else {
            return Ok(());
        };
        if self.agent.display(index).is_none() {
            return Ok(());
        }
        if index == active.display {
            // The client resets this display's decoder on SwitchDisplay: it needs a keyframe.
            self.send_switch_display(index).await?;
            self.refresh();
            return Ok(());
        }
        if let Some(old) = self.agent.display(active.display) {
            old.unsubscribe(self.viewer);
        }
        active.display = index;
        // The client resets that display's decoder on SwitchDisplay: a keyframe follows.
        self.send_switch_display(index).await?;
        self.subscribe_display().await
    }

    /// `Misc { switch_display }` with display `index`'s geometry (also the answer to
    /// `message_query`).
    pub(super) async fn send_switch_display(&mut self, index: usize) -> Result<(), Error> {
        let Some(monitor) = self.agent.monitors().into_iter().nth(index) else {
            return Ok(());
        };
        let switch = SwitchDisplay {
            display: i32::try_from(index).unwrap_or(0),
            x: monitor.x,
            y: monitor.y,
            width: i32::try_from(monitor.width).unwrap_or(i32::MAX),
            height: i32::try_from(monitor.height).unwrap_or(i32::MAX),
            cursor_embedded: false,
            resolutions: Some(self.agent.resolutions(index)),
            original_resolution: None,
        };
        self.out
            .send(Message::from(message::misc::Union::SwitchDisplay(switch)))
            .await
    }

    /// Changes the route (after new decoder abilities or quality); a keyframe follows.
    pub(super) async fn reroute(&mut self) -> Result<(), Error> {
        let Some(active) = self.active.as_mut() else {
            return Ok(());
        };
        let route = self.agent.route_for(&active.decoders, active.qos.quality());
        if route == active.route {
            return Ok(());
        }
        tracing::info!(viewer = self.viewer, from = ?active.route, to = ?route, "new encoder route");
        active.route = route;
        self.subscribe_display().await
    }

    /// Pushes the viewer's current rate to its display.
    pub(super) fn update_rate(&self) {
        let Some(active) = self.active.as_ref() else {
            return;
        };
        let Some(display) = self.agent.display(active.display) else {
            return;
        };
        let (width, height) = self.agent.display_size(active.display);
        display.set_rate(
            self.viewer,
            active.qos.fps(),
            active.qos.bitrate_kbps(width, height),
        );
    }

    /// A keyframe for this viewer's display.
    pub(super) fn refresh(&self) {
        if let Some(active) = self.active.as_ref()
            && let Some(display) = self.agent.display(active.display)
        {
            display.request_keyframe(self.viewer);
        }
    }

    /// Changes display `index`'s resolution where the X server allows it.
    pub(super) async fn change_resolution(
        &mut self,
        index: i32,
        width: i32,
        height: i32,
    ) -> Result<(), Error> {
        let (Ok(index), Ok(width), Ok(height)) = (
            usize::try_from(index),
            u32::try_from(width),
            u32::try_from(height),
        ) else {
            return Ok(());
        };
        // Changing the desktop's resolution is control, not viewing: view-only viewers cannot.
        if self.active.as_ref().is_none_or(|a| a.input.is_none()) {
            tracing::info!(
                viewer = self.viewer,
                "resolution change refused: the viewer may not control"
            );
            return Ok(());
        }
        if let Err(e) = self.agent.set_resolution(index, width, height) {
            tracing::info!(viewer = self.viewer, error = %e, "resolution change refused");
        }
        Ok(())
    }

    pub(super) async fn on_display_event(&mut self, event: DisplayEvent) -> Result<(), Error> {
        match event {
            DisplayEvent::Resized { width, height } => {
                tracing::info!(viewer = self.viewer, width, height, "display resized");
                self.agent.refresh_monitors();
                let index = self.active.as_ref().map_or(0, |a| a.display);
                self.send_switch_display(index).await?;
                self.update_rate();
            }
            DisplayEvent::EncoderChanged { route, reason } => {
                tracing::warn!(viewer = self.viewer, %reason, "encoder changed");
                if let Some(active) = self.active.as_mut() {
                    active.route = route;
                }
            }
            DisplayEvent::CaptureLost(error) => {
                tracing::warn!(viewer = self.viewer, %error, "capture lost; waiting for the X server");
            }
        }
        Ok(())
    }
}
