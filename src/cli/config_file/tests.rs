//! The precedence of the command line over the config file over the
//! defaults, and the config file's errors. The environment's place in the
//! order is shown by the binary's test (tests/api/config_file.rs): these run
//! in one process and must not read or change its variables, so every
//! command here is built without them.

use std::path::{Path, PathBuf};

use clap::{Command, CommandFactory};

use super::try_parse_from;
use crate::cli::{Cli, Command as Subcommand, ImportArgs, ServeArgs};

fn without_environment() -> Command {
    let unset = |arg: clap::Arg| arg.env(None::<&str>);
    Cli::command()
        .mut_args(unset)
        .mut_subcommands(move |command| command.mut_args(unset))
}

fn config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("udesk-calls.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn parse(args: &[&str]) -> Result<Cli, String> {
    try_parse_from(
        without_environment(),
        std::iter::once("udesk-calls").chain(args.iter().copied()),
    )
    .map_err(|error| error.to_string())
}

/// The error `args` are refused with.
fn refused(args: &[&str]) -> String {
    match parse(args) {
        Ok(_) => panic!("{args:?} were accepted"),
        Err(error) => error,
    }
}

fn serve(args: &[&str]) -> ServeArgs {
    match parse(args) {
        Ok(Cli {
            command: Subcommand::Serve(args),
            ..
        }) => args,
        Ok(_) => panic!("not serve"),
        Err(error) => panic!("{error}"),
    }
}

fn import(args: &[&str]) -> ImportArgs {
    match parse(args) {
        Ok(Cli {
            command: Subcommand::Import(args),
            ..
        }) => args,
        Ok(_) => panic!("not import"),
        Err(error) => panic!("{error}"),
    }
}

const FULL: &str = r#"
listen = "0.0.0.0:9000"
db = "/var/lib/udesk-calls/calls.db"
webhook-token = ["webhook-token-0001", "webhook-token-0002"]
api-token = "api-token-000000001"
default-utc-offset = "-05:00"
max-body-bytes = 2048
insecure = true
readers = 3
"#;

#[test]
fn the_file_gives_every_flag_not_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), FULL);
    let args = serve(&["serve", "--config", path.to_str().unwrap()]);
    assert_eq!(args.listen, "0.0.0.0:9000");
    assert_eq!(
        args.database.db,
        PathBuf::from("/var/lib/udesk-calls/calls.db")
    );
    assert_eq!(
        args.webhook_tokens,
        ["webhook-token-0001", "webhook-token-0002"]
    );
    assert_eq!(args.api_tokens, ["api-token-000000001"]);
    assert_eq!(
        args.database.default_utc_offset.local_minus_utc(),
        -5 * 3600
    );
    assert_eq!(args.max_body_bytes, 2048);
    assert!(args.insecure);
    assert_eq!(args.readers, 3);
}

#[test]
fn a_flag_on_the_command_line_wins_over_the_file_and_replaces_its_whole_list() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), FULL);
    let args = serve(&[
        "serve",
        "--listen",
        "127.0.0.1:7000",
        "--webhook-token",
        "flag-token-00000001",
        "--readers",
        "5",
        "--config",
        path.to_str().unwrap(),
    ]);
    assert_eq!(args.listen, "127.0.0.1:7000");
    assert_eq!(args.webhook_tokens, ["flag-token-00000001"]);
    assert_eq!(args.readers, 5);
    assert_eq!(args.max_body_bytes, 2048, "the file still gives the rest");
}

#[test]
fn without_the_flag_or_the_key_the_default_applies() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "listen = \"127.0.0.1:9001\"\n");
    let args = serve(&["serve", "--config", path.to_str().unwrap()]);
    assert_eq!(args.listen, "127.0.0.1:9001");
    assert_eq!(args.readers, 8);
    assert_eq!(args.database.db, PathBuf::from("udesk-calls.db"));
    assert_eq!(args.database.default_utc_offset.local_minus_utc(), 8 * 3600);
    assert!(args.webhook_tokens.is_empty() && !args.insecure);
    let plain = serve(&["serve"]);
    assert_eq!(plain.listen, "127.0.0.1:8080");
}

#[test]
fn config_may_come_before_the_command_and_one_file_serves_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), FULL);
    // `listen` and the tokens are serve's; import takes the database flags.
    let args = import(&[
        "--config",
        path.to_str().unwrap(),
        "import",
        "pushes.ndjson",
    ]);
    assert_eq!(
        args.database.db,
        PathBuf::from("/var/lib/udesk-calls/calls.db")
    );
    assert_eq!(
        args.database.default_utc_offset.local_minus_utc(),
        -5 * 3600
    );
    assert_eq!(args.file, PathBuf::from("pushes.ndjson"));
}

#[test]
fn an_unknown_key_is_refused_with_its_name_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(
        dir.path(),
        "listen = \"127.0.0.1:1\"\nlisten-adress = \"x\"\n",
    );
    let error = refused(&["serve", "--config", path.to_str().unwrap()]);
    assert!(error.contains("unknown key `listen-adress`"), "{error}");
    assert!(error.contains(path.to_str().unwrap()), "{error}");
    assert!(error.contains("webhook-token"), "lists the keys: {error}");

    let path = config(dir.path(), "webhook_token = \"webhook-token-0001\"\n");
    let error = refused(&["serve", "--config", path.to_str().unwrap()]);
    assert!(
        error.contains("`webhook_token`") && error.contains("`webhook-token`"),
        "{error}"
    );
    let path = config(dir.path(), "config = \"other.toml\"\n");
    let error = refused(&["serve", "--config", path.to_str().unwrap()]);
    assert!(error.contains("unknown key `config`"), "{error}");
}

#[test]
fn a_bad_value_is_refused_with_its_key_the_file_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key, reason) in [
        (
            "default-utc-offset = \"beijing\"",
            "default-utc-offset",
            "UTC offset",
        ),
        ("readers = \"many\"", "readers", "invalid digit"),
        ("listen = [\"a\", \"b\"]", "listen", "one value"),
        (
            "cors-origin = \"dashboard.example.com\"",
            "cors-origin",
            "not an origin",
        ),
        ("insecure = \"sometimes\"", "insecure", "not valid"),
        ("[db]\npath = \"x\"", "db", "is a table"),
    ] {
        let path = config(dir.path(), text);
        let error = refused(&["serve", "--config", path.to_str().unwrap()]);
        assert!(error.contains(&format!("`{key}`")), "{text}: {error}");
        assert!(error.contains(path.to_str().unwrap()), "{text}: {error}");
        assert!(error.contains(reason), "{text}: {error}");
    }
}

#[test]
fn a_missing_or_malformed_file_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.toml");
    let error = refused(&["serve", "--config", missing.to_str().unwrap()]);
    assert!(error.contains("cannot read the config file"), "{error}");
    assert!(error.contains(missing.to_str().unwrap()), "{error}");
    let path = config(dir.path(), "listen = \n");
    let error = refused(&["serve", "--config", path.to_str().unwrap()]);
    assert!(error.contains("not valid TOML"), "{error}");
    assert!(error.contains(path.to_str().unwrap()), "{error}");
}

#[test]
fn a_malformed_file_is_refused_by_line_and_column_without_quoting_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(
        dir.path(),
        "listen = \"127.0.0.1:8080\"\nwebhook-token = \"tok\\qen-hunter2-0001\"\n",
    );
    let error = refused(&["serve", "--config", path.to_str().unwrap()]);
    assert!(
        error.contains("not valid TOML at line 2, column 22"),
        "{error}"
    );
    assert!(error.contains("escaped"), "says what is wrong: {error}");
    assert!(!error.contains("hunter2"), "{error}");
}

#[test]
fn a_bad_forwarding_url_or_secret_in_the_file_is_refused_without_being_quoted() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key, reason) in [
        (
            "forward-to = \"https://user:pass-hunter2@crm.example.com:99999/h?token=hunter2\"",
            "forward-to",
            "not a URL",
        ),
        (
            "forward-to = \"ftp://user:pass-hunter2@crm.example.com/h?token=hunter2\"",
            "forward-to",
            "not an http:// or https:// URL",
        ),
        (
            "forward-secret = \"whsec_hunter2-not-base64\"",
            "forward-secret",
            "not whsec_ followed by base64",
        ),
    ] {
        let path = config(dir.path(), text);
        let error = refused(&["serve", "--config", path.to_str().unwrap()]);
        assert!(error.contains(&format!("`{key}` is not valid")), "{error}");
        assert!(error.contains(reason), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
}

#[test]
fn a_secret_from_the_file_never_shows_in_help() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), FULL);
    let error = refused(&["serve", "--config", path.to_str().unwrap(), "--help"]);
    assert!(error.contains("--webhook-token"), "{error}");
    assert!(!error.contains("webhook-token-0001"), "{error}");
    assert!(!error.contains("api-token-000000001"), "{error}");
}
