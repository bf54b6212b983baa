//! Frame rate and bitrate for one viewer, from its options and the round-trip times its
//! TestDelay echoes show.
//!
//! The signal is queueing delay: the RTT above the lowest RTT seen recently. A path that queues
//! (the relay, a thin uplink) makes it grow long before packets are lost, so the viewer's bitrate
//! and frame rate come down at once, and climb back slowly once the queue has drained. Pure logic:
//! the session feeds it RTT samples and options; nothing here reads the clock.

use std::collections::VecDeque;

/// How many recent RTT samples (about one per second) define the path's base RTT.
const BASE_WINDOW: usize = 30;
/// Queueing delay above which we back off, in milliseconds.
const CONGESTED_MS: u32 = 150;
/// Queueing delay below which we may climb again, in milliseconds.
const CLEAR_MS: u32 = 50;
/// Consecutive clear samples before one step up.
const CLEAR_STEPS: u32 = 3;
const MIN_FACTOR: f32 = 0.2;
const MIN_FPS: u32 = 5;

/// The viewer's image quality choice (`OptionMessage.image_quality` / `custom_image_quality`),
/// as a multiplier of the base bitrate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityRatio(pub f32);

impl QualityRatio {
    /// "Balanced", the client default.
    pub const BALANCED: Self = Self(0.67);

    /// From the protocol's `ImageQuality` value (2 Low, 3 Balanced, 4 Best); others → `None`.
    pub fn from_image_quality(value: i32) -> Option<Self> {
        match value {
            2 => Some(Self(0.5)),
            3 => Some(Self::BALANCED),
            4 => Some(Self(1.5)),
            _ => None,
        }
    }

    /// From `custom_image_quality` (percent << 8, the slider; 50 → 1.0), clamped to 0.2…40.
    pub fn from_custom(value: i32) -> Self {
        let percent = ((value >> 8) & 0xFFF) as f32;
        Self((percent * 2.0 / 100.0).clamp(0.2, 40.0))
    }
}

/// The bitrate (kbit/s) a stream of `width`×`height` at 30 fps gets at ratio 1.0: proportional to
/// the pixel count to the power 0.75 (text sharpness needs fewer bits per pixel at higher
/// resolutions), anchored at 3 Mbit/s for 1080p.
pub fn base_bitrate_kbps(width: u32, height: u32) -> u32 {
    let pixels = f64::from(width.max(1)) * f64::from(height.max(1));
    let anchor = 1920.0 * 1080.0;
    (3000.0 * (pixels / anchor).powf(0.75)).round().max(200.0) as u32
}

/// The adaptive state of one viewer.
#[derive(Debug, Clone)]
pub struct Qos {
    recent_rtt: VecDeque<u32>,
    factor: f32,
    fps: u32,
    clear_run: u32,
    max_fps: u32,
    client_fps_cap: Option<u32>,
    client_auto_fps: Option<u32>,
    quality: QualityRatio,
}

impl Qos {
    /// A viewer starting at `start_fps`, never above the agent's `max_fps`.
    pub fn new(max_fps: u32, start_fps: u32) -> Self {
        Self {
            recent_rtt: VecDeque::with_capacity(BASE_WINDOW),
            factor: 1.0,
            fps: start_fps.clamp(MIN_FPS, max_fps.max(MIN_FPS)),
            clear_run: 0,
            max_fps: max_fps.max(MIN_FPS),
            client_fps_cap: None,
            client_auto_fps: None,
            quality: QualityRatio::BALANCED,
        }
    }

    /// The viewer's `custom_fps` (an upper bound it chose).
    pub fn set_client_fps(&mut self, fps: u32) {
        self.client_fps_cap = (fps > 0).then_some(fps);
        self.fps = self.fps.min(self.ceiling());
    }

    /// The viewer's `auto_adjust_fps` (what its decoder keeps up with).
    pub fn set_client_auto_fps(&mut self, fps: u32) {
        self.client_auto_fps = (fps > 0).then_some(fps);
        self.fps = self.fps.min(self.ceiling());
    }

    /// The viewer's quality choice.
    pub fn set_quality(&mut self, quality: QualityRatio) {
        self.quality = quality;
    }

    /// Feeds one measured round-trip time.
    pub fn on_rtt(&mut self, rtt_ms: u32) {
        if self.recent_rtt.len() == BASE_WINDOW {
            self.recent_rtt.pop_front();
        }
        self.recent_rtt.push_back(rtt_ms);
        let base = self.recent_rtt.iter().copied().min().unwrap_or(rtt_ms);
        let queueing = rtt_ms.saturating_sub(base);
        if queueing > CONGESTED_MS {
            self.factor = (self.factor * 0.7).max(MIN_FACTOR);
            self.fps = (self.fps * 4 / 5).max(MIN_FPS);
            self.clear_run = 0;
        } else if queueing < CLEAR_MS {
            self.clear_run += 1;
            if self.clear_run >= CLEAR_STEPS {
                self.clear_run = 0;
                self.factor = (self.factor * 1.15).min(1.0);
                self.fps = (self.fps + 5).min(self.ceiling());
            }
        } else {
            self.clear_run = 0;
        }
    }

    /// Frames per second to send now.
    pub fn fps(&self) -> u32 {
        self.fps.min(self.ceiling())
    }

    /// Bitrate to encode at now, for a stream of the given size.
    pub fn bitrate_kbps(&self, width: u32, height: u32) -> u32 {
        let fps_scale = (self.fps() as f32 / 30.0).clamp(0.5, 2.0);
        let kbps =
            base_bitrate_kbps(width, height) as f32 * self.quality.0 * self.factor * fps_scale;
        kbps.round().max(100.0) as u32
    }

    /// The viewer's quality choice.
    pub fn quality(&self) -> QualityRatio {
        self.quality
    }

    /// The last RTT fed in, for `TestDelay.last_delay`.
    pub fn last_rtt(&self) -> u32 {
        self.recent_rtt.back().copied().unwrap_or(0)
    }

    fn ceiling(&self) -> u32 {
        [
            Some(self.max_fps),
            self.client_fps_cap,
            self.client_auto_fps,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(self.max_fps)
        .max(MIN_FPS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_options_map_to_ratios() {
        assert_eq!(QualityRatio::from_image_quality(2), Some(QualityRatio(0.5)));
        assert_eq!(QualityRatio::from_image_quality(4), Some(QualityRatio(1.5)));
        assert_eq!(QualityRatio::from_image_quality(0), None);
        assert_eq!(QualityRatio::from_custom(50 << 8), QualityRatio(1.0));
        assert_eq!(QualityRatio::from_custom(1 << 8), QualityRatio(0.2));
        assert_eq!(QualityRatio::from_custom(4000 << 8), QualityRatio(40.0));
    }

    #[test]
    fn base_bitrate_grows_slower_than_pixels() {
        let hd = base_bitrate_kbps(1920, 1080);
        let uhd = base_bitrate_kbps(3840, 2160);
        assert_eq!(hd, 3000);
        assert!(uhd > 2 * hd && uhd < 4 * hd, "4K gets {uhd}");
        assert!(base_bitrate_kbps(1, 1) >= 200);
    }

    #[test]
    fn queueing_backs_off_fast_and_recovers_slowly() {
        let mut q = Qos::new(60, 30);
        for _ in 0..5 {
            q.on_rtt(20);
        }
        let calm = (q.fps(), q.bitrate_kbps(1920, 1080));
        q.on_rtt(400);
        assert!(
            q.fps() < calm.0 && q.bitrate_kbps(1920, 1080) < calm.1,
            "one congested sample backs off"
        );
        let backed_off = q.bitrate_kbps(1920, 1080);
        q.on_rtt(25);
        assert_eq!(
            q.bitrate_kbps(1920, 1080),
            backed_off,
            "one clear sample is not enough to climb"
        );
        for _ in 0..60 {
            q.on_rtt(22);
        }
        assert!(
            q.bitrate_kbps(1920, 1080) >= calm.1,
            "clear samples restore the rate"
        );
        assert_eq!(q.fps(), 60, "and the frame rate climbs to the cap");
        assert_eq!(q.last_rtt(), 22);
    }

    #[test]
    fn a_stable_high_rtt_is_not_congestion() {
        let mut q = Qos::new(30, 30);
        for _ in 0..20 {
            q.on_rtt(300);
        }
        assert_eq!(q.fps(), 30, "a long but steady path keeps full rate");
    }

    #[test]
    fn client_caps_bound_the_rate() {
        let mut q = Qos::new(60, 60);
        q.set_client_fps(24);
        assert_eq!(q.fps(), 24);
        q.set_client_auto_fps(12);
        assert_eq!(q.fps(), 12);
        q.set_client_auto_fps(0);
        assert_eq!(
            q.fps(),
            12,
            "caps lower the current rate; it climbs back on clear RTTs"
        );
        for _ in 0..30 {
            q.on_rtt(10);
        }
        assert_eq!(q.fps(), 24);
    }
}
