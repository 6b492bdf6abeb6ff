//! The sample tables of one track of an MP4/MOV file, read from the file's `moov` box: what
//! FFmpeg's demuxer index does not expose (its entries have each sample's decode timestamp,
//! position and flags, but not the composition offset that makes its presentation
//! timestamp). With them the frame index of a long MP4 costs one read of the `moov` box
//! instead of a demuxer pass over every packet (`read_index_from_tables` in the parent).
//!
//! Only what that needs is read: the sample count (`stsz`/`stz2`), the decode durations
//! (`stts`) and the composition offsets (`ctts`), as ISO/IEC 14496-12 lays them out. Anything
//! unexpected (a box that overruns its parent, a table longer than its box, no such track)
//! is `None`: the caller then reads the packets instead, so nothing here has to be lenient.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A `moov` box larger than this is not read (a day of 60 fps video has ~100 MB of tables).
const MAX_MOOV: u64 = 256 << 20;

/// One track's sample tables, as stored (run-length entries).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct SampleTables {
    /// Samples in the track (`stsz`/`stz2`).
    pub samples: u64,
    /// (sample count, decode duration) runs (`stts`).
    pub durations: Vec<(u32, u32)>,
    /// (sample count, composition offset) runs (`ctts`), read as FFmpeg reads them: both
    /// signed 32-bit, whatever the box version. Empty: no `ctts` box.
    pub offsets: Vec<(i32, i32)>,
}

/// The sample tables of the track whose `tkhd` track ID is `track_id` (FFmpeg's stream
/// `id` for MP4/MOV).
pub(super) fn sample_tables(path: &Path, track_id: u32) -> Option<SampleTables> {
    let moov = read_moov(&File::open(path).ok()?)?;
    children(&moov)?
        .into_iter()
        .filter(|(kind, _)| kind == b"trak")
        .find_map(|(_, trak)| track(trak, track_id))
}

/// The body of the file's top-level `moov` box.
fn read_moov(file: &File) -> Option<Vec<u8>> {
    let len = file.metadata().ok()?.len();
    let mut at = 0u64;
    while at + 8 <= len {
        let mut head = [0u8; 16];
        let n = if at + 16 <= len { 16 } else { 8 };
        file.read_exact_at(&mut head[..n], at).ok()?;
        let (kind, size, header_len) = header(&head[..n], len - at)?;
        if &kind == b"moov" {
            let body = size - header_len;
            if body > MAX_MOOV {
                return None;
            }
            let mut moov = vec![0u8; body as usize];
            file.read_exact_at(&mut moov, at + header_len).ok()?;
            return Some(moov);
        }
        at += size;
    }
    None
}

/// The header of the box that starts `head` (its first 8 bytes, or 16 when they are there),
/// with `room` bytes from the box's start to the end of its parent (or file): (type, size,
/// header length). A size of 1 means the real size follows as 64 bits; 0, that the box runs
/// to the end. `None` if the box does not fit in `room`.
fn header(head: &[u8], room: u64) -> Option<([u8; 4], u64, u64)> {
    let kind: [u8; 4] = head.get(4..8)?.try_into().ok()?;
    let (size, header_len) = match be_u32(head, 0)? {
        1 => (u64::from_be_bytes(head.get(8..16)?.try_into().ok()?), 16),
        0 => (room, 8),
        size => (u64::from(size), 8),
    };
    (size >= header_len && size <= room).then_some((kind, size, header_len))
}

/// The child boxes of a container box's body: (type, body). `None` if one overruns.
fn children(mut data: &[u8]) -> Option<Vec<([u8; 4], &[u8])>> {
    let mut out = Vec::new();
    while data.len() >= 8 {
        let (kind, size, header_len) = header(data, data.len() as u64)?;
        let (size, header_len) = (usize::try_from(size).ok()?, header_len as usize);
        out.push((kind, &data[header_len..size]));
        data = &data[size..];
    }
    Some(out)
}

/// The one child box of type `kind`, if there is exactly one.
fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    let mut found = children(data)?.into_iter().filter(|(k, _)| k == kind);
    let (_, body) = found.next()?;
    found.next().is_none().then_some(body)
}

/// A `trak` body's tables, if its track ID is `track_id`.
fn track(trak: &[u8], track_id: u32) -> Option<SampleTables> {
    let tkhd = child(trak, b"tkhd")?;
    // Version 1 has 64-bit creation and modification times before the track ID.
    let id_at = if *tkhd.first()? == 1 { 20 } else { 12 };
    if be_u32(tkhd, id_at)? != track_id {
        return None;
    }
    let stbl = child(child(child(trak, b"mdia")?, b"minf")?, b"stbl")?;
    let sizes = child(stbl, b"stsz").or_else(|| child(stbl, b"stz2"))?;
    let pairs = |body: &[u8]| -> Option<Vec<(u32, u32)>> {
        let count = be_u32(body, 4)? as usize;
        let table = body.get(8..8 + count.checked_mul(8)?)?;
        Some(
            table
                .chunks_exact(8)
                .map(|e| (be_u32(e, 0).unwrap_or(0), be_u32(e, 4).unwrap_or(0)))
                .collect(),
        )
    };
    // No `ctts` box: no offsets; two: not a file to guess about.
    let ctts: Vec<&[u8]> = children(stbl)?
        .into_iter()
        .filter(|(kind, _)| kind == b"ctts")
        .map(|(_, body)| body)
        .collect();
    let offsets = match ctts[..] {
        [] => Vec::new(),
        [body] => pairs(body)?
            .into_iter()
            .map(|(count, offset)| (count as i32, offset as i32))
            .collect(),
        _ => return None,
    };
    Some(SampleTables {
        // stsz and stz2 both have the count after the version, flags and one more word.
        samples: u64::from(be_u32(sizes, 8)?),
        durations: pairs(child(stbl, b"stts")?)?,
        offsets,
    })
}

fn be_u32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    fn full(kind: &[u8; 4], words: &[u32]) -> Vec<u8> {
        let mut body = vec![0u8; 4];
        for w in words {
            body.extend(w.to_be_bytes());
        }
        boxed(kind, &body)
    }

    fn trak(id: u32, ctts: &[u32]) -> Vec<u8> {
        let tkhd = full(b"tkhd", &[0, 0, id, 0]);
        let mut stbl = full(b"stsz", &[0, 3]);
        stbl.extend(full(b"stts", &[1, 3, 512]));
        if !ctts.is_empty() {
            stbl.extend(full(b"ctts", ctts));
        }
        let mdia = boxed(b"mdia", &boxed(b"minf", &boxed(b"stbl", &stbl)));
        boxed(b"trak", &[tkhd, mdia].concat())
    }

    #[test]
    fn tables_come_from_the_track_with_the_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.mp4");
        let moov = boxed(
            b"moov",
            &[trak(1, &[]), trak(2, &[2, 1, 1024, 2, (-512i32) as u32])].concat(),
        );
        // A 64-bit mdat before the moov, as large files have.
        let mut mdat = 1u32.to_be_bytes().to_vec();
        mdat.extend(b"mdat");
        mdat.extend(20u64.to_be_bytes());
        mdat.extend([7u8; 4]);
        let file = [boxed(b"ftyp", b"isom"), mdat, moov].concat();
        std::fs::write(&path, &file).unwrap();
        assert_eq!(
            sample_tables(&path, 2),
            Some(SampleTables {
                samples: 3,
                durations: vec![(3, 512)],
                offsets: vec![(1, 1024), (2, -512)],
            })
        );
        assert_eq!(sample_tables(&path, 1).unwrap().offsets, []);
        assert_eq!(sample_tables(&path, 3), None);
        // Cut short: the moov overruns the file.
        std::fs::write(&path, &file[..file.len() - 1]).unwrap();
        assert_eq!(sample_tables(&path, 2), None);
        // A table longer than its box.
        let lying = boxed(b"moov", &trak(1, &[5, 1, 1024]));
        std::fs::write(&path, [boxed(b"ftyp", b"isom"), lying].concat()).unwrap();
        assert_eq!(sample_tables(&path, 1), None);
    }
}
