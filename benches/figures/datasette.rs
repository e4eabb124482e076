//! Datasette, from PyPI, serving the very same database file (so the same
//! indexes), for the side-by-side column.
//!
//! It lives in the virtualenv the tests use, `<target>/test-tools/venv`
//! (`tests/api/support/tools.rs`): made once, with the same marker files
//! and lock, so tests and bench share one install. Without Python or
//! network the column is skipped with the reason printed, never silently.
//!
//! Settings changed from Datasette's defaults, and why: `sql_time_limit_ms`
//! 120000 (the default, 1 s, cancels a month's `GROUP BY` on a million
//! calls, which would measure the limit, not the query).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::http::wait_ready;

/// The tests' pin; `BENCH_DATASETTE` picks another (e.g. `datasette==1.0a19`).
const DATASETTE: &str = "datasette==0.65.5";

pub fn requirement() -> String {
    std::env::var("BENCH_DATASETTE").unwrap_or_else(|_| DATASETTE.to_string())
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The `datasette` executable, installed first if it is not yet.
pub fn install() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .ok_or("no target folder")?
        .join("test-tools");
    let venv = root.join("venv");
    fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let lock = File::create(root.join("install.lock")).map_err(|e| e.to_string())?;
    lock.lock().map_err(|e| e.to_string())?;
    if !venv.join(".ready").exists() {
        let _ = fs::remove_dir_all(&venv);
        run(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "python3 -m venv",
        )?;
        File::create(venv.join(".ready")).map_err(|e| e.to_string())?;
    }
    let requirement = requirement();
    let installed = venv.join(format!(".installed-{requirement}"));
    if !installed.exists() {
        eprintln!("installing {requirement} into {}", venv.display());
        run(
            Command::new(venv.join("bin/pip"))
                .args(["install", "--disable-pip-version-check", "--quiet"])
                .arg(&requirement),
            &format!("pip install {requirement}"),
        )?;
        File::create(&installed).map_err(|e| e.to_string())?;
    }
    Ok(venv.join("bin/datasette"))
}

pub struct Datasette {
    child: Child,
    pub host: String,
}

impl Datasette {
    pub async fn start(executable: &Path, db: &Path, log_dir: &Path) -> Result<Datasette, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let log = File::create(log_dir.join("datasette.log")).map_err(|e| e.to_string())?;
        let child = Command::new(executable)
            .arg("serve")
            .arg(db)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--setting", "sql_time_limit_ms", "120000"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting datasette: {e}"))?;
        let datasette = Datasette {
            child,
            host: format!("127.0.0.1:{port}"),
        };
        if wait_ready(
            &datasette.host,
            "/-/versions.json",
            Duration::from_secs(120),
        )
        .await
        {
            Ok(datasette)
        } else {
            Err("datasette did not answer within 120 s (see datasette.log)".into())
        }
    }

    /// The version Datasette reports, for the table's heading.
    pub async fn version(&self) -> String {
        let Ok(mut conn) = crate::http::Conn::open(&self.host).await else {
            return "?".into();
        };
        let request = crate::http::get(&self.host, "/-/versions.json");
        conn.send(&request)
            .await
            .ok()
            .and_then(|(_, body)| serde_json::from_slice::<serde_json::Value>(&body).ok())
            .and_then(|v| v["datasette"]["version"].as_str().map(String::from))
            .unwrap_or_else(|| "?".into())
    }
}

impl Drop for Datasette {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
