//! The frame index of a stream, read from its packets without decoding them, and the plan
//! for decoding only some frames: which runs of packets (in decode order) to decode, each
//! starting at a keyframe, so that every wanted frame comes out exactly as a decode of the
//! whole stream gives it.
//!
//! A packet is a frame of the full decode unless the demuxer marked it decode-only (an edit
//! list that starts after a keyframe): the decoder drops those. Frames are numbered in
//! presentation order, i.e. by packet pts. The index refuses streams where this
//! correspondence is not certain (a packet without pts, two with the same pts, a corrupt or
//! empty packet, a read error): those are decoded sequentially.

/// One packet of the stream, in decode order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PacketEntry {
    pub pts: i64,
    pub dts: Option<i64>,
    pub key: bool,
    /// Decode-only: needed as a reference, never output.
    pub discard: bool,
}

/// Every packet of a stream and the presentation order of its frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct FrameIndex {
    /// Decode order.
    pub packets: Vec<PacketEntry>,
    /// Frame `i` (presentation order) is packet `frames[i]`.
    pub frames: Vec<usize>,
    /// `pts[i]`: presentation timestamp of frame `i`, ascending and distinct.
    pub pts: Vec<i64>,
    /// (pts, packet) of every packet, by pts: how a packet read after a seek is recognised.
    by_pts: Vec<(i64, usize)>,
}

/// Why a stream gets no index (it is then decoded sequentially).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum NoIndex {
    /// A read error (truncated file), or a packet flagged corrupt or empty.
    Unreadable,
    MissingPts,
    DuplicatePts,
    NoFrames,
}

impl FrameIndex {
    pub fn new(packets: Vec<PacketEntry>) -> Result<FrameIndex, NoIndex> {
        let mut frames: Vec<usize> = (0..packets.len())
            .filter(|&i| !packets[i].discard)
            .collect();
        if frames.is_empty() {
            return Err(NoIndex::NoFrames);
        }
        let mut by_pts: Vec<(i64, usize)> = packets
            .iter()
            .enumerate()
            .map(|(i, p)| (p.pts, i))
            .collect();
        by_pts.sort_unstable();
        if by_pts.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(NoIndex::DuplicatePts);
        }
        frames.sort_by_key(|&i| packets[i].pts);
        let pts: Vec<i64> = frames.iter().map(|&i| packets[i].pts).collect();
        Ok(FrameIndex {
            packets,
            frames,
            pts,
            by_pts,
        })
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// The frame whose pts is `pts`.
    pub fn frame_at(&self, pts: i64) -> Option<usize> {
        self.pts.binary_search(&pts).ok()
    }

    /// The packet (decode order) whose pts is `pts`.
    pub fn packet_at(&self, pts: i64) -> Option<usize> {
        let i = self
            .by_pts
            .binary_search_by_key(&pts, |&(pts, _)| pts)
            .ok()?;
        Some(self.by_pts[i].1)
    }

    /// Where decoding must start for frame `frame` to come out right: the last keyframe, in
    /// decode order, at or before the frame's packet and not after it in presentation (a
    /// frame shown before a keyframe but decoded after it — an open GOP's leading picture —
    /// may reference the GOP before). Packet 0 when there is none: the stream's start, as a
    /// full decode starts.
    fn start_for(&self, frame: usize) -> usize {
        let packet = self.frames[frame];
        let pts = self.pts[frame];
        (0..=packet)
            .rev()
            .find(|&p| self.packets[p].key && self.packets[p].pts <= pts)
            .unwrap_or(0)
    }

    /// The runs of packets to decode for `wanted` frames (any order, repeats allowed):
    /// ascending and disjoint (overlapping runs are merged, since decoding on is never
    /// dearer than seeking back), each holding the wanted frames it is responsible for.
    /// Runs that merely meet (one ends where the next one's keyframe starts) stay apart:
    /// they are the same packets either way, and two runs can go to two workers for the
    /// price of a seek. Out-of-range frames are ignored.
    pub fn plan(&self, wanted: &[usize]) -> Vec<Span> {
        let mut wanted: Vec<usize> = wanted.iter().copied().filter(|&f| f < self.len()).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut runs: Vec<(usize, usize, usize)> = wanted
            .into_iter()
            .map(|f| (self.start_for(f), self.frames[f], f))
            .collect();
        runs.sort_unstable();
        let mut spans: Vec<Span> = Vec::new();
        for (first, last, frame) in runs {
            match spans.last_mut() {
                Some(span) if first <= span.last => {
                    span.last = span.last.max(last);
                    span.frames.push(frame);
                }
                _ => spans.push(Span {
                    first,
                    last,
                    frames: vec![frame],
                }),
            }
        }
        for span in &mut spans {
            span.frames.sort_unstable();
        }
        spans
    }
}

/// Packets `first..=last` (decode order) to decode from a flushed decoder, and the frames
/// (presentation order, ascending) to keep from them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Span {
    pub first: usize,
    pub last: usize,
    pub frames: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pts: i64, key: bool) -> PacketEntry {
        PacketEntry {
            pts,
            dts: None,
            key,
            discard: false,
        }
    }

    /// Closed GOPs of 4 frames, decode order I P B B (pts 0 3 1 2, 4 7 5 6, ...).
    fn closed_gops(gops: usize) -> FrameIndex {
        let mut packets = Vec::new();
        for g in 0..gops as i64 {
            let base = 4 * g;
            packets.extend([
                packet(base, true),
                packet(base + 3, false),
                packet(base + 1, false),
                packet(base + 2, false),
            ]);
        }
        FrameIndex::new(packets).unwrap()
    }

    #[test]
    fn frames_are_numbered_by_pts() {
        let index = closed_gops(2);
        assert_eq!(index.len(), 8);
        assert_eq!(index.frames, [0, 2, 3, 1, 4, 6, 7, 5]);
        assert_eq!(index.frame_at(5), Some(5));
        assert_eq!(index.frame_at(9), None);
        assert_eq!(index.packet_at(7), Some(5));
        assert_eq!(index.packet_at(8), None);
    }

    #[test]
    fn each_frame_starts_at_its_gops_keyframe() {
        let index = closed_gops(3);
        assert_eq!(
            index.plan(&[9]),
            [Span {
                first: 8,
                last: 10,
                frames: vec![9]
            }]
        );
        // Frames of GOPs 0 and 2: two runs; GOP 1 is skipped.
        let spans = index.plan(&[2, 1, 10, 2]);
        assert_eq!(
            spans,
            [
                Span {
                    first: 0,
                    last: 3,
                    frames: vec![1, 2]
                },
                Span {
                    first: 8,
                    last: 11,
                    frames: vec![10]
                }
            ]
        );
        // Runs that meet at a keyframe stay two.
        let spans = index.plan(&[2, 4]);
        assert_eq!(
            spans,
            [
                Span {
                    first: 0,
                    last: 3,
                    frames: vec![2]
                },
                Span {
                    first: 4,
                    last: 4,
                    frames: vec![4]
                }
            ]
        );
    }

    #[test]
    fn open_gop_leading_pictures_start_a_gop_earlier() {
        // GOP 0: I0 P3 B1 B2; GOP 1 (open): I6 B4 B5 P9 B7 B8 — B4 and B5 are shown before I6
        // but decoded after it and reference P3.
        let packets = vec![
            packet(0, true),
            packet(3, false),
            packet(1, false),
            packet(2, false),
            packet(6, true),
            packet(4, false),
            packet(5, false),
            packet(9, false),
            packet(7, false),
            packet(8, false),
        ];
        let index = FrameIndex::new(packets).unwrap();
        // Frame 4 (pts 4) is packet 5, after keyframe packet 4 (pts 6): decode from packet 0.
        assert_eq!(index.plan(&[4])[0].first, 0);
        // Frame 6 (pts 6) and later start at packet 4.
        assert_eq!(index.plan(&[7])[0].first, 4);
    }

    #[test]
    fn decode_only_packets_are_not_frames() {
        let mut packets = vec![packet(-2, true), packet(-1, false), packet(0, false)];
        packets[0].discard = true;
        packets[1].discard = true;
        let index = FrameIndex::new(packets).unwrap();
        assert_eq!(index.len(), 1);
        assert_eq!(index.frames, [2]);
        // Decoding frame 0 starts at the decode-only keyframe.
        assert_eq!(index.plan(&[0])[0].first, 0);
    }

    #[test]
    fn duplicate_timestamps_refuse_an_index() {
        let packets = vec![packet(0, true), packet(0, false)];
        assert_eq!(FrameIndex::new(packets), Err(NoIndex::DuplicatePts));
        assert_eq!(FrameIndex::new(Vec::new()), Err(NoIndex::NoFrames));
    }
}
