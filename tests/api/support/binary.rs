//! Running the real `udesk-calls` binary as an operator would.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary, with none of the settings of the environment the tests run
/// in: no `RUST_LOG` and no `UDESK_CALLS_*` variable at all, so only what a
/// test passes applies.
pub fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_udesk-calls"));
    command.env_remove("RUST_LOG");
    // `vars_os`: `vars` would panic on a variable that is not Unicode.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("UDESK_CALLS_") {
            command.env_remove(name);
        }
    }
    command
}

/// A running `udesk-calls serve`, its address and everything it writes (to
/// standard error and standard output), line by line.
pub struct Server {
    pub child: Child,
    pub address: String,
    pub log: mpsc::Receiver<String>,
    /// What it wrote up to the line saying it is ready.
    pub startup_log: Vec<String>,
}

impl Server {
    /// Starts `serve` on a free loopback port and waits until it listens.
    pub fn start(db: &Path, extra: &[&str]) -> Server {
        Server::launch(db, "127.0.0.1:0", extra, "info")
    }

    /// Starts `serve` with a listen address and a `RUST_LOG` filter.
    pub fn launch(db: &Path, listen: &str, extra: &[&str], log_filter: &str) -> Server {
        let mut command = binary();
        command
            .args(["serve", "--listen", listen, "--db"])
            .arg(db)
            .args(extra)
            .env("RUST_LOG", log_filter);
        Server::spawn(command)
    }

    /// Starts `command` (a `serve` from [`binary`]) and waits until it listens.
    pub fn spawn(mut command: Command) -> Server {
        let mut child = command
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let (lines, log) = mpsc::channel();
        forward_lines(child.stderr.take().unwrap(), lines.clone());
        forward_lines(child.stdout.take().unwrap(), lines);
        let mut server = Server {
            child,
            address: String::new(),
            log,
            startup_log: Vec::new(),
        };
        while let Ok(line) = server.log.recv_timeout(Duration::from_secs(30)) {
            if let Some(address) = announced_address(&line) {
                server.address = format!("http://{address}");
                return server;
            }
            server.startup_log.push(line);
        }
        let seen = std::mem::take(&mut server.startup_log);
        drop(server);
        panic!("the server did not start; it said: {seen:#?}");
    }

    /// `kill -9`: no chance to flush or finish anything.
    pub fn kill_hard(self) {
        drop(self);
    }

    /// The log, read until `done` holds for it (or 10 s pass).
    pub fn log_until(&self, done: impl Fn(&str) -> bool) -> String {
        let mut log = String::new();
        while !done(&log) {
            match self.log.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => {
                    log.push_str(&line);
                    log.push('\n');
                }
                Err(_) => break,
            }
        }
        log
    }

    /// Sends a signal (`TERM`, `INT`) as an operator's `kill` does; the
    /// shell's own `kill`, since a minimal system may have no `kill` binary.
    pub fn signal(&self, name: &str) {
        let status = Command::new("sh")
            .args(["-c", &format!("kill -{name} {}", self.child.id())])
            .status()
            .expect("sh runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits up to `limit` for the process to exit: its status and how long
    /// the wait took, or `None` if it still runs.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self
                .child
                .try_wait()
                .expect("the process can be waited for")
            {
                return Some((status, started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Every line not read yet, up to the end of the output of a process
    /// that exited.
    pub fn rest_of_log(&self) -> Vec<String> {
        let mut rest = Vec::new();
        while let Ok(line) = self.log.recv_timeout(Duration::from_secs(10)) {
            rest.push(line);
        }
        rest
    }
}

/// Sends each line `output` writes into `lines`, from a thread of its own.
fn forward_lines(output: impl Read + Send + 'static, lines: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
}

/// The address of the `udesk-calls is ready` line, in text or JSON.
fn announced_address(line: &str) -> Option<&str> {
    if let Some(rest) = line.split("address=").nth(1) {
        return rest.split_whitespace().next();
    }
    line.split(r#""address":""#).nth(1)?.split('"').next()
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command to completion: (exit code, stdout, stderr).
pub fn run(command: &mut Command) -> (i32, String, String) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs a command that should end by itself within `limit`, such as a
/// `serve` that must refuse to start: (exit code, stdout, stderr), the code
/// `None` when it was still running and had to be killed.
pub fn run_within(command: &mut Command, limit: Duration) -> (Option<i32>, String, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let read_all = |mut output: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = output.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().expect("the process can be waited for") {
            break Some(status.code().unwrap_or(-1));
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (code, stdout.join().unwrap(), stderr.join().unwrap())
}

/// Runs a command with `input` on standard input.
pub fn run_with_input(command: &mut Command, input: &[u8]) -> (i32, String, String) {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    (status.code().unwrap_or(-1), stdout, stderr)
}

/// A kibibyte figure of `/proc/PID/status` (`self` for this process), e.g.
/// `VmHWM`, the peak resident memory.
pub fn status_kib(pid: impl std::fmt::Display, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// POSTs `body` (a GraphQL request as JSON) to the `/graphql` of the server
/// at `address` (`http://host:port`) and returns the answer.
pub async fn post_graphql(
    client: &reqwest::Client,
    address: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    client
        .post(format!("{address}/graphql"))
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
