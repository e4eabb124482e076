//! `--config FILE` (`UDESK_CALLS_CONFIG`): settings from a TOML file.
//!
//! Keys are the long flag names, spelled as on the command line
//! (`listen = "127.0.0.1:8080"`, `webhook-token = ["…", "…"]`). A flag given
//! on the command line wins over its environment variable, which wins over
//! the file, which wins over the built-in default. The file's values become
//! clap defaults of the command being run, so clap's own order does the rest
//! and each value goes through the flag's own parser.
//!
//! One file serves every command: a key that is a flag of another command
//! (`listen` while running `import`) is left alone, but a key that is no flag
//! of any command is refused, naming the key and the file, so a typo never
//! silently falls back to a default.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, Command, CommandFactory, FromArgMatches};

use super::Cli;

/// The id of the global `--config` flag.
const CONFIG: &str = "config";

/// Parses the process's command line with its config file; on a usage error,
/// or a bad config file, prints it and exits as clap does (status 2).
pub fn parse() -> Cli {
    try_parse_from(Cli::command(), std::env::args_os()).unwrap_or_else(|error| error.exit())
}

/// Parses `args` (the binary's name first) against `command`, a form of
/// [`Cli::command`], reading the config file that `--config` or its
/// variable names.
pub fn try_parse_from(
    mut command: Command,
    args: impl IntoIterator<Item = impl Into<OsString>>,
) -> Result<Cli, clap::Error> {
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    if let Some((subcommand, path)) = config_path(&command, &args) {
        let file = ConfigFile::read(&path).map_err(config_error)?;
        command = file.apply(command, &subcommand).map_err(config_error)?;
    }
    let matches = command.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches(&matches).map_err(|error| error.format(&mut command))
}

/// The command being run and the config file asked for, from a lenient
/// first pass; anything else wrong with the arguments (including `--help`)
/// is left for the real parse to report.
fn config_path(command: &Command, args: &[OsString]) -> Option<(String, PathBuf)> {
    let matches = command
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(args)
        .ok()?;
    let (name, sub) = matches.subcommand()?;
    let path = sub.get_one::<PathBuf>(CONFIG)?;
    Some((name.to_owned(), path.clone()))
}

/// A usage error (status 2) about the file alone: no usage line, since no
/// flag on the command line is at fault.
fn config_error(message: String) -> clap::Error {
    clap::Error::raw(ErrorKind::InvalidValue, format!("{}\n", message.trim_end()))
}

/// A parsed config file and where it came from.
struct ConfigFile {
    path: PathBuf,
    table: toml::Table,
}

impl ConfigFile {
    fn read(path: &Path) -> Result<ConfigFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read the config file {}: {error}", path.display()))?;
        let table = text
            .parse::<toml::Table>()
            .map_err(|error| not_toml(path, &text, &error))?;
        Ok(ConfigFile {
            path: path.to_owned(),
            table,
        })
    }

    /// `command` with the file's values as the defaults of `subcommand`'s
    /// flags, after checking every key names a flag and every value parses.
    fn apply(&self, command: Command, subcommand: &str) -> Result<Command, String> {
        let known = file_keys(&command);
        for key in self.table.keys() {
            if !known.contains(key.as_str()) {
                return Err(self.unknown_key(key, &known));
            }
        }
        let Some(target) = command.find_subcommand(subcommand) else {
            return Ok(command);
        };
        let mut defaults = Vec::new();
        for arg in target.get_arguments() {
            let Some(value) = arg.get_long().and_then(|long| self.table.get(long)) else {
                continue;
            };
            let values = self.values_for(arg, value)?;
            defaults.push((arg.get_id().clone(), values));
        }
        Ok(command.mut_subcommand(subcommand, |mut target| {
            for (id, values) in defaults {
                target = target.mut_arg(id, |arg| {
                    // A secret read from the file must not show in `--help`.
                    let secret = arg.is_hide_env_values_set();
                    arg.default_values(values).hide_default_value(secret)
                });
            }
            target
        }))
    }

    /// The value of `arg`'s key as clap strings, each checked by the flag's
    /// own parser so a bad one is reported with the file and the key.
    fn values_for(&self, arg: &Arg, value: &toml::Value) -> Result<Vec<String>, String> {
        let key = arg.get_long().unwrap_or_default();
        let repeatable = matches!(arg.get_action(), ArgAction::Append);
        let values = match value {
            toml::Value::Array(items) if repeatable => items
                .iter()
                .map(|item| self.scalar(key, item))
                .collect::<Result<Vec<_>, _>>()?,
            toml::Value::Array(_) => {
                return Err(self.problem(key, "takes one value, not a list"));
            }
            scalar => vec![self.scalar(key, scalar)?],
        };
        for text in &values {
            check_value(arg, text).map_err(|error| {
                // A secret is never echoed, even a malformed one.
                let shown = if arg.is_hide_env_values_set() {
                    String::new()
                } else {
                    format!("= {text:?} ")
                };
                self.problem(key, &format!("{shown}{}", clap_reason(&error)))
            })?;
        }
        Ok(values)
    }

    fn scalar(&self, key: &str, value: &toml::Value) -> Result<String, String> {
        match value {
            toml::Value::String(text) => Ok(text.clone()),
            toml::Value::Integer(number) => Ok(number.to_string()),
            toml::Value::Float(number) => Ok(number.to_string()),
            toml::Value::Boolean(flag) => Ok(flag.to_string()),
            toml::Value::Datetime(time) => Ok(time.to_string()),
            toml::Value::Array(_) => Err(self.problem(key, "holds a list inside a list")),
            toml::Value::Table(_) => Err(self.problem(key, "is a table; give it a value")),
        }
    }

    fn problem(&self, key: &str, reason: &str) -> String {
        format!(
            "in the config file {}, `{key}` {reason}",
            self.path.display()
        )
    }

    fn unknown_key(&self, key: &str, known: &BTreeSet<&str>) -> String {
        let kebab = key.replace('_', "-");
        let hint = if kebab != key && known.contains(kebab.as_str()) {
            format!(" (keys are spelled like the flags: `{kebab}`)")
        } else if key == CONFIG {
            " (a config file cannot name another)".to_owned()
        } else {
            String::new()
        };
        let known: Vec<&str> = known.iter().copied().collect();
        format!(
            "the config file {} has an unknown key `{key}`{hint}; the keys are the long flags of the commands: {}",
            self.path.display(),
            known.join(", ")
        )
    }
}

/// Where and why `text` is not TOML, without the line itself: toml's own
/// message quotes it, and the line may be `webhook-token = "…"`.
fn not_toml(path: &Path, text: &str, error: &toml::de::Error) -> String {
    let place = match error.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before
                .rsplit('\n')
                .next()
                .unwrap_or_default()
                .chars()
                .count()
                + 1;
            format!(" at line {line}, column {column}")
        }
        None => String::new(),
    };
    format!(
        "the config file {} is not valid TOML{place}: {} (the line is not shown: it may hold a secret)",
        path.display(),
        error.message().trim_end()
    )
}

/// Every key a config file may hold: the long flags of every command, but
/// `--config` itself, `--help` and `--version`.
fn file_keys(command: &Command) -> BTreeSet<&str> {
    command
        .get_subcommands()
        .flat_map(Command::get_arguments)
        .filter(|arg| {
            !matches!(
                arg.get_action(),
                ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
            )
        })
        .filter_map(Arg::get_long)
        .filter(|long| *long != CONFIG)
        .collect()
}

/// Runs `text` through `arg`'s own parser, as if it were typed after the
/// flag. clap keeps its parsers' entry point private, so this parses a
/// command line of that one flag; the probe copies only the parser, not the
/// flag's relations to other flags, which the probe does not have.
fn check_value(arg: &Arg, text: &str) -> Result<(), clap::Error> {
    let long = arg.get_long().unwrap_or_default();
    let mut probe = Arg::new(arg.get_id().clone())
        .long(long.to_owned())
        .value_parser(arg.get_value_parser().clone())
        .action(ArgAction::Append);
    if let Some(delimiter) = arg.get_value_delimiter() {
        probe = probe.value_delimiter(delimiter);
    }
    Command::new("udesk-calls")
        .no_binary_name(true)
        .arg(probe)
        .try_get_matches_from([format!("--{long}={text}")])
        .map(drop)
}

/// What a flag's parser said about a value, without clap's `error:` prefix
/// and its pointer to `--help`.
fn clap_reason(error: &clap::Error) -> String {
    use std::error::Error as _;
    if let Some(source) = error.source() {
        return format!("is not valid: {source}");
    }
    // A secret's parser says why without the value (see `SecretValue`).
    if let Some(ContextValue::String(reason)) = error.get(ContextKind::Custom) {
        return format!("is not valid: {reason}");
    }
    let rendered = error.to_string();
    let said: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("For more information"))
        .filter(|line| !line.is_empty())
        .collect();
    format!(
        "is not valid: {}",
        said.join(" ").trim_start_matches("error: ")
    )
}

#[cfg(test)]
mod tests;
