//! The command bodies: score (and its timeline), batch, merge, eval, models, fetch.
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use tch::Device;

use gradtrust_video::decode::stream::{FrameStream, Source};
use gradtrust_video::decode::{self, MediaKind};
use gradtrust_video::labels::{LabelSource, Labels};
use gradtrust_video::models::{self, Model};
use gradtrust_video::scores::{ScoreOptions, ScoreSet};
use gradtrust_video::{clips, images, lists, output, pipeline, results, scoring, timeline};

use super::args::{
    self, check_input_kind, source, BadFlag, DEFAULT_IMAGE_MODEL, DEFAULT_VIDEO_MODEL,
};
use super::flags::{BatchArgs, Cli, Command, MergeArgs, ModelName, ScoreArgs};
use super::progress::{Progress, Stages};

/// Exit status of a batch run that completed but wrote error rows.
pub const EXIT_ROW_ERRORS: u8 = 3;

/// Exit status of a usage error: clap's own, and a flag value found wrong after parsing.
const EXIT_USAGE: u8 = 2;

/// The exit status of a failed command: 2 when a flag's value is at fault, else 1.
pub fn exit_status(e: &anyhow::Error) -> ExitCode {
    if e.downcast_ref::<BadFlag>().is_some() {
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::FAILURE
    }
}

/// Classes named `class_<i>` for want of a label file (the model's note says so): the flag
/// that names them.
fn labels_hint(labels: &Labels) {
    if labels.source() == &LabelSource::Generic {
        eprintln!("hint: name the classes with --labels FILE");
    }
}

fn score(args: ScoreArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let device = args::device(args.device.as_ref());
    let set = args.scores.clone().unwrap_or_else(|| {
        if args.timeline {
            ScoreSet::fast()
        } else {
            ScoreSet::all()
        }
    });
    let mut opts = args.score_options.options();
    opts.forward_chunk = args.batch_size.unwrap_or(SCORE_BATCH);
    let source = Source::parse(args.clip.as_os_str());
    if args.timeline {
        return timeline(args, source, device, set, opts, quiet);
    }
    if !source.is_file() {
        bail!(
            "{}: standard input and URLs are read front to back, which --timeline does; the \
             clip protocol picks its clips from the whole video (add --timeline, or save the \
             stream to a file)",
            source.name().display()
        );
    }
    // Decode first: a bad clip is reported before any weights are loaded or downloaded.
    let kind = decode::media_kind(&args.clip)?;
    let name = args.model.model.map_or(
        match kind {
            MediaKind::Video => DEFAULT_VIDEO_MODEL,
            MediaKind::Image => DEFAULT_IMAGE_MODEL,
        },
        ModelName::as_str,
    );
    let (arch, preset, input) = args.model.arch(name)?;
    check_input_kind(&args.clip, kind, name, input)?;
    let stages = Stages::new(quiet);
    stages.stage(format!("decoding {}", args.clip.display()));
    let video = match kind {
        MediaKind::Video => clips::load_clips(&args.clip, &preset)?,
        MediaKind::Image => images::load_image(&args.clip, &preset)?,
    };
    stages.stage(format!("loading {name}"));
    let model = Model::load(&args.model.request(arch)?, device)?;
    let report = scoring::score_video_observed(&model, &args.clip, &video, &set, &opts, &|step| {
        stages.step(step)
    })
    .with_context(|| format!("{}: scoring failed", args.clip.display()))?;
    stages.finish();
    labels_hint(model.labels());
    if args.json {
        let text = serde_json::to_string_pretty(&output::report_json(&report, model.labels()))?;
        println!("{text}");
    } else {
        print!("{}", output::report_text(&report, model.labels()));
    }
    Ok(ExitCode::SUCCESS)
}

/// Exit status of a `score --timeline` run ended by SIGINT or SIGTERM (its finished rows
/// written and flushed).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Windows per forward of a timeline: rows appear a batch at a time.
const TIMELINE_BATCH: usize = 4;

/// Clips per forward of `score`: swin3d_t's 12 clips of 32×224×224 in one forward without a
/// graph held 9.5 GB on the CPU; with 4 at a time (and one-clip backward chunks) its
/// `--scores all` peaks at 5.7 GB.
const SCORE_BATCH: usize = 4;

/// `score --timeline`: the input opened first (a bad input is reported before any weights
/// are read), then the model, then windows streamed to the outputs asked for.
fn timeline(
    args: ScoreArgs,
    source: Source,
    device: Device,
    set: ScoreSet,
    opts: ScoreOptions,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    // --batch-size, --stride and --plot are checked by their value parsers.
    let batch_size = args.batch_size.unwrap_or(TIMELINE_BATCH);
    // SIGINT and SIGTERM only raise the flag: the run stops decoding, scores the windows
    // already complete and writes them. A second signal leaves at once (rows already
    // written are whole: each is one write, flushed).
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
    })
    .context("cannot install the SIGINT/SIGTERM handler")?;
    let mut stream = FrameStream::open(&source, Arc::clone(&stop))?;
    let name = args
        .model
        .model
        .map_or(DEFAULT_VIDEO_MODEL, ModelName::as_str);
    let (arch, preset, input) = args.model.arch(name)?;
    let kind = if stream.is_image() {
        MediaKind::Image
    } else {
        MediaKind::Video
    };
    check_input_kind(&source.name(), kind, name, input)?;
    let stride = match args.stride {
        Some(s) => timeline::stride_frames(s, preset.frame_rate).ok_or_else(|| {
            BadFlag(format!(
                "--stride {s}: not a whole number of frames at {} fps (at least one)",
                preset.frame_rate
            ))
        })?,
        None => preset.clip_len,
    };
    let model = Model::load(&args.model.request(arch)?, device)?;
    let labels = model.labels().clone();
    let info = model.info();
    let columns = timeline::score_columns(&set);
    let mut file = args
        .out
        .as_deref()
        .map(|p| timeline::TimelineFile::create(p, &source, &info.name, &labels, &columns))
        .transpose()?;
    let mut trace = args
        .plot
        .as_ref()
        .map(|_| timeline::plot::Trace::new(&columns));
    for note in &info.notes {
        eprintln!("note: {note}");
    }
    labels_hint(&labels);
    if !args.json {
        let head = output::TimelineHead {
            source: &source.as_given(),
            model: &info.name,
            fps: stream.info().fps,
            clip_len: info.preset.clip_len,
            frame_rate: info.preset.frame_rate,
            stride,
            scores: &columns,
        };
        write_stdout(&output::timeline_header(&head))?;
    }
    let mut outputs = TimelineOutputs {
        json: args.json,
        labels: &labels,
        scores: &columns,
        file: file.as_mut(),
        trace: trace.as_mut(),
        notes: Vec::new(),
    };
    let options = timeline::TimelineOptions { stride, batch_size };
    let summary = timeline::run(
        &mut stream,
        &model,
        &set,
        &opts,
        &options,
        &stop,
        &mut outputs,
    )
    .with_context(|| format!("{}: timeline failed", source.name().display()))?;
    for warning in &summary.warnings {
        eprintln!("note: {warning}");
    }
    if let (Some(path), Some(trace)) = (&args.plot, &trace) {
        let title = format!("{} on {}", info.name, source.as_given());
        timeline::plot::draw(trace, path, &labels, &title)?;
    }
    // The rows are the output; the summary is progress talk, which --quiet leaves out.
    if !quiet {
        eprintln!(
            "timeline: {} windows over {:.3} s of video ({} frames){}{}",
            summary.windows,
            summary.video_secs,
            summary.frames,
            file.as_ref()
                .map(|f| format!("; rows in {}", f.path().display()))
                .unwrap_or_default(),
            args.plot
                .as_ref()
                .map(|p| format!("; chart {}", p.display()))
                .unwrap_or_default(),
        );
    }
    if summary.interrupted {
        eprintln!("timeline: interrupted; every finished window's row is written");
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to standard output and flushes it (rows appear as windows complete).
fn write_stdout(text: &str) -> gradtrust_video::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| gradtrust_video::Error::io("standard output", e))
}

/// Where a timeline's windows go: the rows file first (a row shown is a row on disk), the
/// chart's trace, then standard output as text or JSON Lines.
struct TimelineOutputs<'a> {
    json: bool,
    labels: &'a gradtrust_video::labels::Labels,
    scores: &'a [gradtrust_video::scores::ScoreName],
    file: Option<&'a mut timeline::TimelineFile>,
    trace: Option<&'a mut timeline::plot::Trace>,
    /// Score notes already shown (text mode shows each once, on stderr).
    notes: Vec<String>,
}

impl timeline::Sink for TimelineOutputs<'_> {
    fn window(&mut self, row: &timeline::WindowRow) -> gradtrust_video::Result<()> {
        if let Some(file) = self.file.as_deref_mut() {
            file.window(row)?;
        }
        if let Some(trace) = self.trace.as_deref_mut() {
            trace.window(row)?;
        }
        if self.json {
            let line = output::timeline_json_row(row, self.labels).to_string();
            return write_stdout(&(line + "\n"));
        }
        for note in row.level.scores.notes() {
            if !self.notes.contains(&note) {
                eprintln!("note: {note}");
                self.notes.push(note);
            }
        }
        write_stdout(&output::timeline_text_row(row, self.scores, self.labels))
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Score(args) => score(args, cli.quiet),
        Command::Batch(args) => batch(args, cli.quiet),
        Command::Merge(args) => merge(args).map(|()| ExitCode::SUCCESS),
        Command::Eval(args) => {
            let table = gradtrust_video::eval::run(&gradtrust_video::eval::EvalOptions {
                results: args.results,
                level: args.level,
                out: args.out,
                metric: args.metric,
                bootstrap: gradtrust_video::eval::bootstrap::Bootstrap {
                    resamples: args.bootstrap,
                    seed: args.seed,
                },
                fit_temperature: args.fit_temperature,
                scores: args.scores,
                labels: args
                    .labels
                    .as_deref()
                    .map(gradtrust_video::labels::Labels::read)
                    .transpose()?,
            })?;
            print!("{table}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Models { json, weights } => {
            let text = if json {
                serde_json::to_string_pretty(&output::models_json(&weights.models_dir))? + "\n"
            } else {
                output::models_table(&weights.models_dir)
            };
            write_stdout(&text)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Fetch {
            model,
            weights_file,
            weights,
        } => {
            let spec = models::spec(model.as_str())?;
            let path =
                args::checked_file(source(&weights, None, weights_file), spec)?.fetch(spec)?;
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "gradtrust-video", &mut script);
            write_stdout(&String::from_utf8_lossy(&script))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn batch(args: BatchArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    // Every number, the devices, the scores and the shard are checked by their value parsers.
    let devices = args::devices(args.devices.clone());
    let set = args.scores.clone();
    let score_options = args.score_options.options();
    let shard = args.shard;
    let name = args
        .model
        .model
        .map_or(DEFAULT_VIDEO_MODEL, ModelName::as_str);
    let (arch, _, _) = args.model.arch(name)?;
    // The list first, with the class names known before any weights are read or downloaded
    // (the user's, or the architecture's built-in ones), so a bad list is reported first.
    let provisional = match (&args.model.labels, &arch) {
        (Some(path), _) => gradtrust_video::labels::Labels::read(path)?,
        (None, models::Arch::Registry(spec)) => {
            gradtrust_video::labels::Labels::builtin(spec.labels)
        }
        (None, models::Arch::TorchScript { .. }) => {
            gradtrust_video::labels::Labels::builtin(gradtrust_video::labels::LabelSet::Kinetics400)
        }
    };
    let mut entries = args.list.read(&provisional)?;
    let request = args.model.request(arch)?;
    // Loaded once here so the class names (from the checkpoint's class count) are known and
    // a bad weight file stops the run before the output is created; each model stage then
    // loads its own copy on its device.
    let info = Model::load(&request, devices[0])?.info().clone();
    if info.labels != provisional {
        entries = args.list.read(&info.labels)?;
    }
    let listed = entries.len();
    if let Some(n) = args.limit {
        entries.truncate(n);
    }
    if let Some(shard) = shard {
        entries.retain(|e| shard.contains(e.position));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // A GPU does the model's work: decoding is then what limits throughput, so every core
    // but the one that feeds the GPU decodes.
    let gpu = devices.iter().any(|d| d.is_cuda());
    let decode_workers = args
        .decode_workers
        .unwrap_or(if gpu { cores - 1 } else { cores / 2 }.max(1));
    // Measured on 2 cores (scripts/bench_batch.sh): the CPU forward is the bottleneck, and
    // giving it only the cores the decode workers leave halves throughput; so every core,
    // shared by the CPU stages (libtorch's thread count is one setting for the process).
    match args.threads {
        // 1..=1024 by its value parser: the cast cannot wrap.
        Some(n) => tch::set_num_threads(n as i32),
        None if !gpu => tch::set_num_threads((cores / devices.len()).max(1) as i32),
        None => {}
    }
    for note in &info.notes {
        eprintln!("batch: note: {note}");
    }
    labels_hint(&info.labels);
    let mut preset = info.preset.clone();
    if let Some(n) = args.clips_per_video {
        preset.clips_per_video = n;
    }
    let provenance = results::Provenance::of_run(&results::provenance::Run {
        model: &info,
        preset: &preset,
        scores: set.names(),
        options: &score_options,
        list: &args.list.list,
        limit: args.limit,
        shard,
        logits: args.logits,
    })?;
    let mode = if args.resume {
        results::WriteMode::Resume {
            retry_errors: args.retry_errors,
        }
    } else {
        results::WriteMode::Create
    };
    let (mut writer, resumed) =
        results::ResultsWriter::open(&args.out, &provenance, &info.labels, mode)?;
    report_resume(&args.out, &resumed);
    let done = &resumed.done;
    let skipped = entries.iter().filter(|e| done.contains(&e.id)).count();
    entries.retain(|e| !done.contains(&e.id));
    if !quiet {
        eprintln!(
            "batch: {} of {listed} listed videos to run{}{}, model {} on {}, {} decode worker(s), rows to {}",
            entries.len(),
            shard.map(|s| format!(" (shard {}/{})", s.index, s.count)).unwrap_or_default(),
            if skipped > 0 { format!(", {skipped} already complete") } else { String::new() },
            info.name,
            devices.iter().map(|&d| pipeline::device_name(d)).collect::<Vec<_>>().join(","),
            decode_workers,
            args.out.display()
        );
    }
    // The engine's forwards without a graph: at most a batch (the stage's batches are that
    // size already; a longer video is split).
    let score_options = gradtrust_video::scores::ScoreOptions {
        forward_chunk: args.batch_size,
        ..score_options
    };
    let opts = pipeline::BatchOptions {
        model: request,
        info,
        devices,
        scores: set,
        score_options,
        batch_size: args.batch_size,
        decode_workers,
        clips_per_video: args.clips_per_video,
    };
    let mut progress = Progress::new(entries.len(), quiet);
    let stats = pipeline::run(entries, &mut writer, &opts, &mut |s| progress.update(s))?;
    progress.finish();
    print!("{}", output::batch_summary(&stats, &args.out, skipped));
    if resumed.kept_errors > 0 {
        println!(
            "{} earlier error row(s) remain in {} (--resume --retry-errors runs them again)",
            resumed.kept_errors,
            args.out.display()
        );
    }
    // The status is the whole file's: 3 while any error row remains in it.
    Ok(if stats.videos_failed + resumed.kept_errors > 0 {
        ExitCode::from(EXIT_ROW_ERRORS)
    } else {
        ExitCode::SUCCESS
    })
}

/// What resuming changed in the file, on stderr.
fn report_resume(out: &std::path::Path, r: &results::Resumed) {
    let o = out.display();
    if !r.damaged.is_empty() {
        eprintln!(
            "batch: {o}: dropped {} damaged stretch(es); their videos run again: {}{}",
            r.damaged.len(),
            r.damaged
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; "),
            if r.damaged.len() > 5 { "; …" } else { "" }
        );
    }
    if r.tail_rows > 0 {
        eprintln!(
            "batch: {o}: cut off {} row(s) of an unfinished video",
            r.tail_rows
        );
    }
    if r.retried > 0 {
        eprintln!(
            "batch: {o}: removed {} error video(s) to run again",
            r.retried
        );
    }
}

fn merge(args: MergeArgs) -> anyhow::Result<()> {
    let expected = match &args.list {
        Some(list) => {
            let format = args
                .format
                .as_deref()
                .map(str::parse::<lists::ListFormat>)
                .transpose()?;
            let (_, mut entries) = lists::read_list(
                list,
                format,
                args.root.as_deref(),
                &gradtrust_video::labels::Labels::builtin(
                    gradtrust_video::labels::LabelSet::Kinetics400,
                ),
                // Ids do not depend on the classes.
                None,
            )?;
            if let Some(n) = args.limit {
                entries.truncate(n);
            }
            Some(entries.into_iter().map(|e| e.id).collect::<Vec<_>>())
        }
        None => None,
    };
    let summary = results::merge(&args.out, &args.shards, expected.as_deref(), args.force)?;
    println!(
        "merged {} videos ({} rows) from {} files into {}",
        summary.videos,
        summary.rows,
        args.shards.len(),
        args.out.display()
    );
    Ok(())
}
