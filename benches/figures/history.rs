//! Importing a history: the bench's pushes written to a file, one a line,
//! and `udesk-calls import FILE` (the release binary) timed on an empty
//! database, as a center moving its past calls in would run it.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::pushes::{GENERATOR_VERSION, call_pushes, start_of};
use crate::server::{Scratch, run_measured};

/// The history file of `calls` calls (five pushes each), written once and
/// kept beside the cached databases.
fn history_file(data: &Path, calls: u64) -> PathBuf {
    let path = data.join(format!("history-{calls}-g{GENERATOR_VERSION}.ndjson"));
    if path.exists() {
        return path;
    }
    eprintln!("writing {} ({calls} calls)", path.display());
    let partial = path.with_extension("partial");
    let mut out = BufWriter::new(std::fs::File::create(&partial).expect("the history file"));
    for n in 0..calls {
        for push in call_pushes(n, start_of(n, calls)) {
            out.write_all(&push).unwrap();
            out.write_all(b"\n").unwrap();
        }
    }
    out.into_inner().unwrap().sync_all().unwrap();
    std::fs::rename(&partial, &path).unwrap();
    path
}

pub struct Imported {
    pub pushes: u64,
    pub rate: f64,
    pub seconds: f64,
    pub bytes_per_call: f64,
    pub peak_rss: u64,
}

/// Imports `calls` calls' pushes into a fresh database.
pub fn import(data: &Path, calls: u64) -> Imported {
    let file = history_file(data, calls);
    let scratch = Scratch::new(data, "import");
    let run = run_measured(
        Command::new(env!("CARGO_BIN_EXE_udesk-calls"))
            .arg("import")
            .arg(&file)
            .arg("--db")
            .arg(scratch.db())
            .env_remove("RUST_LOG"),
    );
    assert!(run.success, "the import failed: {}", run.stderr);
    let bytes = std::fs::metadata(scratch.db()).map_or(0, |m| m.len());
    let pushes = calls * 5;
    Imported {
        pushes,
        rate: pushes as f64 / run.seconds,
        seconds: run.seconds,
        bytes_per_call: bytes as f64 / calls as f64,
        peak_rss: run.peak_rss,
    }
}
