//! Desktop audio's delay for the report: the end-to-end audio test (a private PulseAudio with a
//! null sink, the real agent, Opus through the loopback relay, the probe's decoder) run once,
//! writing the delay of each tone burst from `pacat` write to probe-decoded.

use std::path::Path;

use anyhow::Context;

/// The test that measures the delay, and the variable naming the file it writes.
const TEST: &str = "e2e::audio::the_capture_to_decoded_delay_is_measured";
const OUT_VAR: &str = "DESKCAST_AUDIO_DELAYS_OUT";

/// Delays in ms of tone bursts, write → decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AudioDelays {
    /// Bursts after half a second of silence (the agent had stopped sending).
    pub(crate) after_silence: Vec<f64>,
    /// Bursts over a quiet tone that keeps the stream going.
    pub(crate) playing: Vec<f64>,
}

/// Runs the test and reads what it wrote.
pub(crate) fn measure(root: &Path, work: &Path) -> anyhow::Result<AudioDelays> {
    println!("bench: audio delay (the end-to-end audio test, debug build)");
    let out = work.join("audio-delays.json");
    let _ = std::fs::remove_file(&out);
    let out_text = out.to_string_lossy().into_owned();
    crate::ci::cargo(
        root,
        &[
            "test",
            "--locked",
            "-p",
            "deskcast-suite",
            "--test",
            "it",
            "--",
            "--exact",
            TEST,
        ],
        &[(OUT_VAR, &out_text)],
    )?;
    let text = std::fs::read_to_string(&out)
        .with_context(|| format!("the audio test wrote no {}", out.display()))?;
    parse(&text)
}

/// Reads `{"after_silence": [ms…], "playing": [ms…]}`.
pub(crate) fn parse(text: &str) -> anyhow::Result<AudioDelays> {
    let value: serde_json::Value = serde_json::from_str(text).context("audio delays: not JSON")?;
    let list = |key: &str| -> anyhow::Result<Vec<f64>> {
        let items = value
            .get(key)
            .and_then(serde_json::Value::as_array)
            .with_context(|| format!("audio delays: no `{key}` list"))?;
        let values: Vec<f64> = items.iter().filter_map(serde_json::Value::as_f64).collect();
        anyhow::ensure!(
            !values.is_empty() && values.len() == items.len(),
            "audio delays: `{key}` must be a non-empty list of numbers"
        );
        Ok(values)
    };
    Ok(AudioDelays {
        after_silence: list("after_silence")?,
        playing: list("playing")?,
    })
}

/// (median, min, max) of a non-empty list.
pub(crate) fn summary(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    (
        sorted[sorted.len() / 2],
        sorted[0],
        sorted[sorted.len() - 1],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_parse_and_summarise() {
        let d = parse(r#"{"after_silence":[30.5,12.0,18.25],"playing":[9,8,11,10]}"#).unwrap();
        assert_eq!(d.after_silence, [30.5, 12.0, 18.25]);
        assert_eq!(summary(&d.after_silence), (18.25, 12.0, 30.5));
        // An even count takes the upper middle, as the test's own median does.
        assert_eq!(summary(&d.playing), (10.0, 8.0, 11.0));
    }

    #[test]
    fn malformed_delays_are_errors() {
        assert!(parse("not json").is_err());
        assert!(parse(r#"{"after_silence":[1.0]}"#).is_err());
        assert!(parse(r#"{"after_silence":[],"playing":[1.0]}"#).is_err());
        assert!(parse(r#"{"after_silence":["x"],"playing":[1.0]}"#).is_err());
    }
}
