//! The rest of a session's traffic: TestDelay (heartbeat and round-trip time), `Misc` (options,
//! refresh, display choice, close), cursor shape and position, clipboard messages.

use std::time::{Duration, Instant};

use deskcast_protocol::message::{
    self, Clipboard, CursorPosition, Message, Misc, TestDelay, message::Union, misc,
};

use super::Session;
use super::login::{apply_rate_options, apply_toggles, client_decoders, quality_of};
use crate::error::Error;

/// A viewer's own pointer moves are not echoed back within this time (spec §8.1).
const OWN_MOVE_QUIET: Duration = Duration::from_millis(300);
/// The most cursor shapes remembered per viewer.
const CURSOR_CACHE: usize = 64;
/// `ClipboardFormat::Text`.
const FORMAT_TEXT: i32 = 0;
/// The largest clipboard text accepted from a viewer, after decompression.
const MAX_CLIPBOARD: usize = 16 << 20;

impl Session {
    /// Sends the agent's TestDelay (spec §9.1): `time` stays 0, RTT is measured locally.
    pub(super) async fn send_test_delay(&mut self) -> Result<(), Error> {
        let (last_delay, target_bitrate) = match self.active.as_ref() {
            Some(a) => {
                let (w, h) = self.agent.display_size(a.display);
                (a.qos.last_rtt(), a.qos.bitrate_kbps(w, h))
            }
            None => (0, 0),
        };
        self.test_delay_sent = Some(Instant::now());
        self.out
            .send(Message::from(Union::TestDelay(TestDelay {
                time: 0,
                from_client: false,
                last_delay,
                target_bitrate,
            })))
            .await
    }

    pub(super) async fn on_test_delay(&mut self, delay: TestDelay) -> Result<(), Error> {
        if delay.from_client {
            // The client measures its own RTT: echo it unchanged.
            return self.out.send(Message::from(Union::TestDelay(delay))).await;
        }
        let Some(sent) = self.test_delay_sent.take() else {
            return Ok(());
        };
        let rtt = u32::try_from(sent.elapsed().as_millis()).unwrap_or(u32::MAX);
        if let Some(active) = self.active.as_mut() {
            let before = (active.qos.fps(), active.qos.bitrate_kbps(1920, 1080));
            active.qos.on_rtt(rtt);
            if before != (active.qos.fps(), active.qos.bitrate_kbps(1920, 1080)) {
                self.update_rate();
            }
        }
        Ok(())
    }

    pub(super) async fn on_misc(&mut self, misc: Misc) -> Result<(), Error> {
        let Some(union) = misc.union else {
            return Ok(());
        };
        if let misc::Union::CloseReason(reason) = &union {
            // Honoured even before login (spec §9.3).
            tracing::debug!(viewer = self.viewer, %reason, "viewer closes");
            return Err(Error::PeerClosed);
        }
        if self.active.is_none() {
            return Ok(());
        }
        match union {
            misc::Union::RefreshVideo(true) | misc::Union::RefreshVideoDisplay(_) => self.refresh(),
            misc::Union::Option(options) => self.on_options(options).await?,
            misc::Union::SwitchDisplay(switch) => {
                if switch.width > 0 && switch.height > 0 {
                    self.change_resolution(switch.display, switch.width, switch.height)
                        .await?;
                }
                self.switch_display(switch.display).await?;
            }
            misc::Union::CaptureDisplays(displays) => {
                if let Some(&first) = displays.set.first().or(displays.add.first()) {
                    self.switch_display(first).await?;
                }
            }
            misc::Union::MessageQuery(query) => {
                if let Ok(index) = usize::try_from(query.switch_display) {
                    self.send_switch_display(index).await?;
                }
            }
            misc::Union::ChangeDisplayResolution(change) => {
                if let Some(r) = change.resolution {
                    self.change_resolution(change.display, r.width, r.height)
                        .await?;
                }
            }
            misc::Union::ChangeResolution(r) => {
                let display = self.active.as_ref().map_or(0, |a| a.display);
                self.change_resolution(i32::try_from(display).unwrap_or(0), r.width, r.height)
                    .await?;
            }
            misc::Union::AutoAdjustFps(fps) => {
                if let Some(active) = self.active.as_mut() {
                    active.qos.set_client_auto_fps(fps);
                }
                self.update_rate();
            }
            other => {
                tracing::debug!(viewer = self.viewer, misc = ?std::mem::discriminant(&other), "misc ignored");
            }
        }
        Ok(())
    }

    async fn on_options(&mut self, options: message::OptionMessage) -> Result<(), Error> {
        let agent = std::sync::Arc::clone(&self.agent);
        let Some(active) = self.active.as_mut() else {
            return Ok(());
        };
        apply_rate_options(&mut active.qos, &options);
        apply_toggles(active, &options, &agent);
        if options.supported_decoding.is_some() {
            active.decoders = client_decoders(options.supported_decoding.as_ref());
        }
        if options.disable_keyboard == 2 {
            active.input = None;
        }
        let requality = quality_of(&options).is_some() || options.supported_decoding.is_some();
        self.update_rate();
        self.update_audio().await?;
        if requality {
            self.reroute().await?;
        }
        Ok(())
    }

    /// Starts or stops this viewer's audio to match its options and permissions; a starting
    /// stream is announced with `AudioFormat` first (spec §8.3).
    pub(super) async fn update_audio(&mut self) -> Result<(), Error> {
        let Some(active) = self.active.as_mut() else {
            return Ok(());
        };
        let wanted = !active.disable_audio && self.agent.audio().is_some();
        match (wanted, active.audio.is_some()) {
            (false, true) => active.audio = None,
            (true, false) => {
                let Some(hub) = self.agent.audio() else {
                    return Ok(());
                };
                match hub.subscribe() {
                    Ok(subscription) => {
                        active.audio = Some(subscription);
                        let (sample_rate, channels) = crate::runtime::audio::FORMAT;
                        let format = message::AudioFormat {
                            sample_rate,
                            channels,
                        };
                        self.out
                            .send(Message::from(misc::Union::AudioFormat(format)))
                            .await?;
                    }
                    Err(e) => {
                        tracing::warn!(viewer = self.viewer, error = %e, "no desktop audio for this viewer");
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// One Opus packet to the viewer; dropped when its queue is full (audio never waits).
    pub(super) fn send_audio(&self, packet: &crate::runtime::audio::AudioPacket) {
        let frame = message::AudioFrame {
            data: packet.data.to_vec(),
        };
        let _ = self.out.try_send(Message::from(Union::AudioFrame(frame)));
    }

    /// Sends what changed in the cursor: a shape (or its id when already sent), a position.
    pub(super) async fn send_cursor(&mut self) -> Result<(), Error> {
        let Some(active) = self.active.as_mut() else {
            return Ok(());
        };
        let Some(cursor) = active.cursor.as_mut() else {
            return Ok(());
        };
        let (shape, position) = cursor.take_changes();
        let mut messages = Vec::new();
        if let Some(shape) = shape {
            if active.cursors_sent.contains(&shape.id) {
                messages.push(Message::from(Union::CursorId(shape.id)));
            } else {
                if active.cursors_sent.len() >= CURSOR_CACHE {
                    active.cursors_sent.remove(0);
                }
                active.cursors_sent.push(shape.id);
                messages.push(Message::from(Union::CursorData((*shape).clone())));
            }
        }
        let own_move = active
            .last_input
            .is_some_and(|t| t.elapsed() < OWN_MOVE_QUIET);
        if let Some((x, y)) = position
            && !own_move
        {
            messages.push(Message::from(Union::CursorPosition(CursorPosition {
                x,
                y,
            })));
        }
        for m in messages {
            self.out.send(m).await?;
        }
        Ok(())
    }
}

/// A `Clipboard` message for `text`, zstd-compressed when that makes it smaller (spec §8.2).
pub(crate) fn clipboard_message(text: &str) -> Message {
    let compressed = zstd::bulk::compress(text.as_bytes(), 3)
        .ok()
        .filter(|c| c.len() < text.len());
    let (compress, content) = match compressed {
        Some(c) => (true, c),
        None => (false, text.as_bytes().to_vec()),
    };
    Message::from(Union::Clipboard(Clipboard {
        compress,
        content,
        format: FORMAT_TEXT,
        ..Clipboard::default()
    }))
}

/// The text of a viewer's `Clipboard`, if it is text and of sane size.
pub(crate) fn clipboard_text(clip: &Clipboard) -> Option<String> {
    if clip.format != FORMAT_TEXT {
        return None;
    }
    let bytes = if clip.compress {
        zstd::bulk::decompress(&clip.content, MAX_CLIPBOARD).ok()?
    } else if clip.content.len() <= MAX_CLIPBOARD {
        clip.content.clone()
    } else {
        return None;
    };
    String::from_utf8(bytes).ok().filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipboard_text_round_trips_compressed_or_not() {
        for text in ["short", &"long and repetitive text ".repeat(1000)] {
            let Some(Union::Clipboard(clip)) = clipboard_message(text).union else {
                panic!("a clipboard")
            };
            assert_eq!(
                clip.compress,
                text.len() > 100,
                "compress only when it helps"
            );
            assert_eq!(clipboard_text(&clip).as_deref(), Some(text));
        }
    }

    #[test]
    fn hostile_clipboards_are_refused() {
        let bomb = zstd::bulk::compress(&vec![b'a'; MAX_CLIPBOARD + 1], 3).unwrap();
        let clip = Clipboard {
            compress: true,
            content: bomb,
            ..Clipboard::default()
        };
        assert_eq!(
            clipboard_text(&clip),
            None,
            "a decompression bomb is capped"
        );
        let garbage = Clipboard {
            compress: true,
            content: vec![1, 2, 3],
            ..Clipboard::default()
        };
        assert_eq!(clipboard_text(&garbage), None);
        let image = Clipboard {
            format: 22,
            content: b"png".to_vec(),
            ..Clipboard::default()
        };
        assert_eq!(clipboard_text(&image), None);
        let invalid = Clipboard {
            content: vec![0xff, 0xfe],
            ..Clipboard::default()
        };
        assert_eq!(clipboard_text(&invalid), None);
    }
}
