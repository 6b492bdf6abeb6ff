//! Joining the results files of `batch --shard I/N` runs into one.
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::provenance::{write_atomically, Provenance};
use super::store::scan;
use super::table::Table;
use super::{header_bytes, RowFormat};
use crate::error::Remedy;
use crate::{Error, Result};

/// What [`merge`] did.
#[derive(Debug, PartialEq)]
pub struct MergeSummary {
    pub videos: usize,
    pub rows: usize,
}

/// Joins shard outputs into `out`. Every shard must be a whole results file of this tool
/// (its provenance beside it, no damaged or unfinished rows), all made by the same run but
/// for the shard; no video may be in two files or twice in one. With `expected` ids (the
/// list), none may be missing and none extra, and rows follow its order. An existing `out`
/// is refused unless `force` (a forgotten output name must not overwrite a shard).
pub fn merge(
    out: &Path,
    shards: &[PathBuf],
    expected: Option<&[String]>,
    force: bool,
) -> Result<MergeSummary> {
    if shards.is_empty() {
        return Err(Error::Invalid("merge: no shard files given".into()));
    }
    let same_file = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if let Some(s) = shards.iter().find(|s| same_file(s, out)) {
        return Err(Error::Invalid(format!(
            "merge: {} is both the output and a shard file",
            s.display()
        )));
    }
    if out.exists() && !force {
        return Err(Error::Invalid(format!(
            "merge: the output {} already exists (the first file named is the output); it is replaced only when asked to",
            out.display()
        ))
        .with_remedy(Remedy::Force));
    }
    let format = RowFormat::of(out);
    let mut first: Option<(PathBuf, Provenance, Vec<String>)> = None;
    let mut shard_names: Vec<String> = Vec::new();
    // id → (shard index, bytes of its rows)
    let mut videos: BTreeMap<String, (usize, Vec<u8>, usize)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut problems = Vec::new();
    let mut unfinished = false;
    for (fi, shard) in shards.iter().enumerate() {
        let s = shard.display();
        if RowFormat::of(shard) != format {
            return Err(Error::Invalid(format!(
                "{s}: not the format of {} (CSV and JSON Lines cannot be merged; use the same extension)",
                out.display()
            )));
        }
        let Some(prov) = Provenance::read(shard)? else {
            return Err(Error::Invalid(format!(
                "{s}: not a results file of gradtrust-video (no {} beside it)",
                Provenance::path_of(shard).display()
            )));
        };
        let table = Table::read(shard)?;
        let columns = table.columns.clone();
        match &first {
            None => first = Some((shard.clone(), prov.clone(), columns.clone())),
            Some((path, p, c)) => {
                let diffs = p.differences(&prov, true);
                if !diffs.is_empty() {
                    return Err(Error::Invalid(format!(
                        "{s}: made by another run than {} ({} vs {s}): {}",
                        path.display(),
                        path.display(),
                        diffs.join("; ")
                    )));
                }
                if format == RowFormat::Csv && *c != columns {
                    return Err(Error::Invalid(format!(
                        "{s}: columns differ from {}'s ({} vs {})",
                        path.display(),
                        columns.join(","),
                        c.join(",")
                    )));
                }
            }
        }
        let shard_name = prov.shard.clone().unwrap_or_else(|| "whole list".into());
        if shard_names.contains(&shard_name) && prov.shard.is_some() {
            problems.push(format!("{s}: shard {shard_name} given twice"));
        }
        shard_names.push(shard_name);
        let want: Vec<String> = first.as_ref().map(|f| f.2.clone()).unwrap_or_default();
        let scanned = scan(&table, &want, &prov.model);
        for d in &scanned.damaged {
            problems.push(format!("{s}: {d}; finish or repair that shard"));
            unfinished = true;
        }
        if scanned.tail_rows > 0 {
            problems.push(format!(
                "{s}: ends with an unfinished video ({} rows); finish that shard",
                scanned.tail_rows
            ));
            unfinished = true;
        }
        for v in scanned.videos {
            if let Some((other, _, _)) = videos.get(&v.id) {
                problems.push(format!(
                    "{}: doubled: in {} and in {s}",
                    v.id,
                    shards[*other].display()
                ));
                continue;
            }
            let bytes = table.bytes[v.bytes.start as usize..v.bytes.end as usize].to_vec();
            let rows = v.lines.len();
            order.push(v.id.clone());
            videos.insert(v.id, (fi, bytes, rows));
        }
    }
    if let Some(expected) = expected {
        let missing: Vec<&String> = expected
            .iter()
            .filter(|id| !videos.contains_key(*id))
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{} video(s) of the list missing: {}",
                missing.len(),
                some(&missing)
            ));
        }
        let listed: HashSet<&String> = expected.iter().collect();
        let extra: Vec<&String> = order.iter().filter(|id| !listed.contains(id)).collect();
        if !extra.is_empty() {
            problems.push(format!(
                "{} video(s) not in the list: {}",
                extra.len(),
                some(&extra)
            ));
        }
        order = expected
            .iter()
            .filter(|id| videos.contains_key(*id))
            .cloned()
            .collect();
    }
    if !problems.is_empty() {
        let e = Error::Invalid(format!(
            "merge into {}: {} problem(s), nothing written:\n{}",
            out.display(),
            problems.len(),
            problems.join("\n")
        ));
        // A damaged or unfinished shard is finished (and repaired) by resuming its run.
        return Err(if unfinished {
            e.with_remedy(Remedy::ResumeShard)
        } else {
            e
        });
    }
    let (_, mut prov, columns) = first.expect("at least one shard");
    let mut bytes = header_bytes(&columns, format);
    let mut n_rows = 0;
    for id in &order {
        let (_, b, rows) = &videos[id];
        bytes.extend_from_slice(b);
        n_rows += rows;
    }
    prov.shard = Some(format!("merged: {}", shard_names.join(", ")));
    // The provenance first: a results file never exists without one.
    prov.write(out)?;
    write_atomically(out, &bytes)?;
    Ok(MergeSummary {
        videos: order.len(),
        rows: n_rows,
    })
}

/// The first ten, comma-separated.
fn some(ids: &[&String]) -> String {
    let mut s = ids
        .iter()
        .take(10)
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > 10 {
        s.push_str(", …");
    }
    s
}
