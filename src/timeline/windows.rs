//! The timeline's arithmetic, decided as frames arrive: which decoded frames are the
//! resampled ones, and which resampled frames form each window. Pure, so it is tested against
//! `sampling` directly.
//!
//! Resampling follows [`crate::sampling::resample_indices`] exactly, without knowing the
//! frame count in advance: its pick for resampled position `j` depends only on `j` (`j·step`
//! for an integer step, `⌊j·step⌋` in float32 otherwise); the count only says how many
//! positions there are (`⌈n/step⌉`, or `⌊n·rate/fps⌋`), and it grows with `n`. So position
//! `j` is final once the frames seen make the count exceed `j` and its frame has arrived; at
//! the end the rest are clamped to the last frame, as `resample_indices` clamps them. The
//! picks for any prefix are then those `resample_indices` gives for the whole video: a file
//! read whole and the same video from a pipe give the same frames.
//!
//! Windows: `clip_len` consecutive resampled frames starting every `stride` frames (0,
//! stride, 2·stride, …), as long as they fit. A window ends where the resampled frame after
//! its last begins (so consecutive windows tile the video), or at the end of the video. One
//! more window covers the end when the next window on the grid would start before the end but
//! run past it: it is moved back to end with the video (overlapping its predecessor). A
//! video shorter than one window gets one padded window, as [`crate::sampling::sample_clips`]
//! pads: its resampled frames, then the last of them repeated.

/// Resampling to the preset's frame rate, as frames arrive.
#[derive(Clone, Debug)]
pub struct Resampler {
    fps: f64,
    frame_rate: f64,
    /// `fps / frame_rate` when it is a whole number (torchvision's slice).
    integer_step: Option<usize>,
    step32: f32,
    /// Next resampled position to decide.
    next: usize,
}

impl Resampler {
    /// From a source at `fps` to `frame_rate` (both positive and finite; checked by the caller).
    pub fn new(fps: f64, frame_rate: f64) -> Resampler {
        let step = fps / frame_rate;
        Resampler {
            fps,
            frame_rate,
            integer_step: (step.fract() == 0.0).then_some(step as usize),
            step32: step as f32,
            next: 0,
        }
    }

    /// How many resampled frames a video of `frames` frames has (`resample_indices(..).len()`).
    pub fn count(&self, frames: usize) -> usize {
        match self.integer_step {
            Some(step) => frames.div_ceil(step),
            None => (frames as f64 * self.frame_rate / self.fps).floor() as usize,
        }
    }

    /// The decoded frame resampled position `j` takes, before the clamp to the last frame.
    fn source(&self, j: usize) -> usize {
        match self.integer_step {
            Some(step) => j.saturating_mul(step),
            None => (j as f32 * self.step32).floor() as usize,
        }
    }

    /// Resampled frames decided so far.
    pub fn made(&self) -> usize {
        self.next
    }

    /// The first decoded frame a resampled frame still to be decided can take: frames before
    /// it are no longer needed.
    pub fn oldest_needed(&self) -> usize {
        self.source(self.next)
    }

    /// With `seen` frames decoded: the resampled frames now decided, `(position, frame)`.
    pub fn arrived(&mut self, seen: usize) -> Vec<(usize, usize)> {
        let count = self.count(seen);
        let mut out = Vec::new();
        while self.next < count && self.source(self.next) < seen {
            out.push((self.next, self.source(self.next)));
            self.next += 1;
        }
        out
    }

    /// At the end of a video of `total` frames: the rest, clamped to its last frame.
    pub fn finish(&mut self, total: usize) -> Vec<(usize, usize)> {
        let count = self.count(total);
        let mut out = Vec::new();
        while self.next < count {
            out.push((
                self.next,
                self.source(self.next).min(total.saturating_sub(1)),
            ));
            self.next += 1;
        }
        out
    }
}

/// Why a window is where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    /// On the stride grid.
    Regular,
    /// Moved back to end with the video (the grid's next window would have run past it).
    Tail,
    /// The whole video, shorter than one window, its last frame repeated.
    Padded,
}

impl WindowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WindowKind::Regular => "regular",
            WindowKind::Tail => "tail",
            WindowKind::Padded => "padded",
        }
    }
}

/// One window to score.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowPlan {
    /// Its row: 0, 1, 2, …
    pub position: usize,
    /// Its first resampled frame (the candidate window index of `sampling`).
    pub start: usize,
    /// Its resampled frames, `clip_len` of them (repeats in a padded window).
    pub frames: Vec<usize>,
    /// The resampled frame whose time ends the window (the one after its last); `None`: the
    /// end of the video.
    pub end_frame: Option<usize>,
    pub kind: WindowKind,
}

/// Cuts resampled frames into windows as they are made.
#[derive(Clone, Debug)]
pub struct Windower {
    clip_len: usize,
    stride: usize,
    /// Start of the next window on the grid.
    next_start: usize,
    emitted: usize,
    /// One past the last resampled frame of the last window on the grid.
    last_end: Option<usize>,
}

impl Windower {
    /// Windows of `clip_len` resampled frames every `stride` (both at least 1).
    pub fn new(clip_len: usize, stride: usize) -> Windower {
        Windower {
            clip_len: clip_len.max(1),
            stride: stride.max(1),
            next_start: 0,
            emitted: 0,
            last_end: None,
        }
    }

    /// The windows complete, their end frame made too, once `made` resampled frames exist.
    pub fn ready(&mut self, made: usize) -> Vec<WindowPlan> {
        let mut out = Vec::new();
        while self.next_start + self.clip_len < made {
            let start = self.next_start;
            out.push(self.regular(Some(start + self.clip_len)));
        }
        out
    }

    /// The first resampled frame a window still to come can use: earlier ones may be released.
    pub fn keep_from(&self, made: usize) -> usize {
        self.next_start.min(made.saturating_sub(self.clip_len))
    }

    /// The remaining windows of a video of `total` resampled frames (at least 1).
    pub fn finish(&mut self, total: usize) -> Vec<WindowPlan> {
        let l = self.clip_len;
        let mut out = Vec::new();
        while self.next_start + l <= total {
            let end = self.next_start + l;
            out.push(self.regular((end < total).then_some(end)));
        }
        if self.emitted == 0 {
            if total > 0 {
                let mut frames: Vec<usize> = (0..total.min(l)).collect();
                frames.resize(l, total.min(l) - 1);
                out.push(self.push(0, frames, None, WindowKind::Padded));
            }
        } else if self.next_start < total && self.last_end.is_some_and(|e| e < total) {
            let start = total - l;
            out.push(self.push(start, (start..total).collect(), None, WindowKind::Tail));
        }
        out
    }

    fn regular(&mut self, end_frame: Option<usize>) -> WindowPlan {
        let start = self.next_start;
        self.next_start += self.stride;
        self.last_end = Some(start + self.clip_len);
        self.push(
            start,
            (start..start + self.clip_len).collect(),
            end_frame,
            WindowKind::Regular,
        )
    }

    fn push(
        &mut self,
        start: usize,
        frames: Vec<usize>,
        end_frame: Option<usize>,
        kind: WindowKind,
    ) -> WindowPlan {
        let position = self.emitted;
        self.emitted += 1;
        WindowPlan {
            position,
            start,
            frames,
            end_frame,
            kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::resample_indices;

    const RATES: [f64; 11] = [
        30.0,
        25.0,
        30000.0 / 1001.0,
        24000.0 / 1001.0,
        10.0,
        60.0,
        15.0,
        7.5,
        50.0,
        12.5,
        1.0,
    ];

    /// Frames fed one at a time, then the end: the picks `resample_indices` makes for the
    /// whole video, and no frame is needed long after it arrived.
    #[test]
    fn streaming_picks_equal_resample_indices() {
        for fps in RATES {
            for frame_rate in [15.0, 7.5, 30.0] {
                let step = fps / frame_rate;
                for n in 1..260 {
                    let mut r = Resampler::new(fps, frame_rate);
                    let mut picks = Vec::new();
                    for seen in 1..=n {
                        for (j, d) in r.arrived(seen) {
                            assert_eq!(j, picks.len());
                            assert!(d < seen);
                            picks.push(d);
                        }
                        // What must be held: from the oldest frame still needed to the newest.
                        let held = seen.saturating_sub(r.oldest_needed().min(seen));
                        assert!(held as f64 <= step.max(1.0) + 2.0, "{fps} {frame_rate} {n}");
                    }
                    picks.extend(r.finish(n).into_iter().map(|(_, d)| d));
                    assert_eq!(
                        picks,
                        resample_indices(n, fps, frame_rate),
                        "fps {fps} rate {frame_rate} frames {n}"
                    );
                }
            }
        }
    }

    #[test]
    fn float32_rounding_cases_match_too() {
        for (n, fps) in [(8002, 24000.0 / 1001.0), (17100, 30000.0 / 1001.0)] {
            let mut r = Resampler::new(fps, 15.0);
            let mut picks: Vec<usize> = Vec::new();
            for seen in 1..=n {
                picks.extend(r.arrived(seen).into_iter().map(|(_, d)| d));
            }
            picks.extend(r.finish(n).into_iter().map(|(_, d)| d));
            assert_eq!(picks, resample_indices(n, fps, 15.0));
        }
    }

    fn starts(plans: &[WindowPlan]) -> Vec<(usize, WindowKind)> {
        plans.iter().map(|p| (p.start, p.kind)).collect()
    }

    /// Windows found as frames arrive are the ones found at once at the end.
    fn streamed(total: usize, clip_len: usize, stride: usize) -> Vec<WindowPlan> {
        let mut w = Windower::new(clip_len, stride);
        let mut plans = Vec::new();
        // Frames below `floor` have been released: no later window may use them.
        let mut floor = 0;
        let uses_held = |p: &WindowPlan, floor: usize| p.frames.iter().all(|&f| f >= floor);
        for made in 1..=total {
            let new = w.ready(made);
            assert!(new.iter().all(|p| uses_held(p, floor)));
            plans.extend(new);
            floor = w.keep_from(made);
            // At most one window's frames are held.
            assert!(made - floor <= clip_len);
        }
        let new = w.finish(total);
        assert!(new.iter().all(|p| uses_held(p, floor)));
        plans.extend(new);
        let at_once = Windower::new(clip_len, stride).finish(total);
        assert_eq!(
            plans, at_once,
            "total {total} clip {clip_len} stride {stride}"
        );
        plans
    }

    #[test]
    fn default_stride_tiles_the_video_and_moves_the_last_window_back() {
        // 120 s at 15 fps: 112 windows of 16, then one ending with the video.
        let plans = streamed(1800, 16, 16);
        assert_eq!(plans.len(), 113);
        for (k, p) in plans[..112].iter().enumerate() {
            assert_eq!(
                (p.position, p.start, p.kind),
                (k, 16 * k, WindowKind::Regular)
            );
            assert_eq!(p.frames, (16 * k..16 * k + 16).collect::<Vec<_>>());
            assert_eq!(p.end_frame, Some(16 * k + 16));
        }
        let tail = &plans[112];
        assert_eq!(
            (tail.position, tail.start, tail.kind),
            (112, 1784, WindowKind::Tail)
        );
        assert_eq!(tail.end_frame, None);
        // An exact fit: no tail, and the last window ends with the video.
        let plans = streamed(32, 16, 16);
        assert_eq!(
            starts(&plans),
            [(0, WindowKind::Regular), (16, WindowKind::Regular)]
        );
        assert_eq!(plans[1].end_frame, None);
    }

    #[test]
    fn strides_pick_the_grid() {
        let plans = streamed(1800, 16, 32);
        assert_eq!(plans.len(), 57);
        assert_eq!(plans[55].start, 1760);
        assert_eq!(starts(&plans[56..]), [(1784, WindowKind::Tail)]);
        // The five windows torchvision's protocol picks from 1785 candidates.
        let plans = streamed(1800, 16, 446);
        assert_eq!(
            plans.iter().map(|p| p.start).collect::<Vec<_>>(),
            [0, 446, 892, 1338, 1784]
        );
        // Overlapping windows.
        let plans = streamed(40, 16, 8);
        assert_eq!(
            starts(&plans),
            [
                (0, WindowKind::Regular),
                (8, WindowKind::Regular),
                (16, WindowKind::Regular),
                (24, WindowKind::Regular)
            ]
        );
        // A stride past the window: the end falls in a gap (no window), or is cut (moved back).
        assert_eq!(
            starts(&streamed(100, 16, 40)),
            [
                (0, WindowKind::Regular),
                (40, WindowKind::Regular),
                (80, WindowKind::Regular)
            ]
        );
        assert_eq!(
            starts(&streamed(90, 16, 40)),
            [
                (0, WindowKind::Regular),
                (40, WindowKind::Regular),
                (74, WindowKind::Tail)
            ]
        );
    }

    #[test]
    fn a_short_video_is_one_padded_window() {
        let plans = streamed(5, 16, 16);
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].kind, WindowKind::Padded);
        let mut frames: Vec<usize> = (0..5).collect();
        frames.resize(16, 4);
        assert_eq!(plans[0].frames, frames);
        assert_eq!(plans[0].end_frame, None);
        for total in 1..80 {
            for (clip_len, stride) in [(16, 16), (16, 5), (8, 20), (1, 1), (32, 7)] {
                let plans = streamed(total, clip_len, stride);
                assert!(!plans.is_empty());
                assert!(plans.iter().all(|p| p.frames.len() == clip_len));
                assert!(plans.iter().all(|p| p.frames.iter().all(|&f| f < total)));
                // The end is covered whenever the stride leaves no gaps.
                if stride <= clip_len {
                    assert_eq!(plans.last().unwrap().frames.last(), Some(&(total - 1)));
                }
            }
        }
    }
}
