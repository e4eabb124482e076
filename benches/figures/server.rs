//! The release binary, `udesk-calls serve`, run as a child process: what a
//! user deploys, measured from outside.
//!
//! Limits changed from the defaults, and why: `--graphql-points-per-second 0`
//! (the bench's concurrent clients would measure the limiter, not the queries).
//! The connection caps (1024, 128 per address) are above the 64 senders and
//! stay. Logging stays at its default (`info`, one line per request) into a
//! file beside the databases, as a deployment would log.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::http::wait_ready;

pub struct Server {
    child: Option<Child>,
    pub host: String,
}

pub const WEBHOOK: &str = "/webhooks/udesk/calls";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl Server {
    /// Starts `serve` on `db` and waits until `/readyz` answers 200 (a large
    /// database may take a while to open).
    pub async fn start(db: &Path, log_dir: &Path) -> Server {
        Server::start_with(db, log_dir, &[]).await
    }

    /// [`Server::start`] with more flags.
    pub async fn start_with(db: &Path, log_dir: &Path, extra: &[&str]) -> Server {
        let host = format!("127.0.0.1:{}", free_port());
        let log = std::fs::File::create(log_dir.join("serve.log")).expect("the server's log file");
        let child = Command::new(env!("CARGO_BIN_EXE_udesk-calls"))
            .arg("serve")
            .arg("--db")
            .arg(db)
            .args(["--listen", &host, "--graphql-points-per-second", "0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .env_remove("RUST_LOG")
            .spawn()
            .expect("the release binary starts");
        let server = Server {
            child: Some(child),
            host,
        };
        assert!(
            wait_ready(&server.host, "/readyz", Duration::from_secs(600)).await,
            "udesk-calls serve did not become ready; see {}",
            log_dir.join("serve.log").display()
        );
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Peak resident memory so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        peak_rss_of(self.pid())
    }

    /// Stops the server as a supervisor would (SIGTERM) and waits for its
    /// graceful shutdown, which checkpoints the WAL.
    pub fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            eprintln!("udesk-calls serve did not stop within 120 s; killed");
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A panicking bench must not leave a server behind.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A fresh, empty directory under the bench's data dir (on the same disk as
/// the cached databases, never a tmpfs), removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(data: &Path, name: &str) -> Scratch {
        let dir = data.join(format!("scratch-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch dir");
        Scratch(dir)
    }

    /// A scratch dir whose `calls.db` starts as a copy of `seed`.
    pub fn seeded(data: &Path, name: &str, seed: &Path) -> Scratch {
        let scratch = Scratch::new(data, name);
        std::fs::copy(seed, scratch.db()).expect("the seed database is copied");
        scratch
    }

    pub fn db(&self) -> PathBuf {
        self.0.join("calls.db")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Peak resident memory so far (`VmHWM`) of process `pid`, in bytes; 0 once
/// it is gone.
pub fn peak_rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// A command run to its end: whether it succeeded, what it wrote to
/// standard error, how long it took and its peak resident memory (read
/// every 20 ms while it ran).
pub struct Measured {
    pub success: bool,
    pub stderr: String,
    pub seconds: f64,
    pub peak_rss: u64,
}

pub fn run_measured(command: &mut Command) -> Measured {
    let began = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the release binary runs");
    let stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut peak_rss = 0;
    let status = loop {
        peak_rss = peak_rss.max(peak_rss_of(child.id()));
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Measured {
        success: status.success(),
        stderr: reader.join().unwrap_or_default(),
        seconds: began.elapsed().as_secs_f64(),
        peak_rss,
    }
}
