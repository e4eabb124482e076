//! `--help` on every command, read as an operator reads it: every flag and
//! argument listed is explained, names its environment variable, and a flag
//! that takes a value says what applies when it is not given.

use crate::support::binary::{binary, run};

/// One entry of a help section: what is listed (`-h, --help`,
/// `--db <DB>`, `<FILE>`) and its explanation, clap's brackets included.
#[derive(Debug)]
struct Entry {
    listed: String,
    explanation: String,
}

/// The entries of the `Options:` and `Arguments:` sections. An entry starts
/// on a line indented by two to six spaces (six where a flag has no short
/// form); its explanation follows on the same line after two spaces or more,
/// or on the lines below, indented deeper.
fn entries(help: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut in_section = false;
    for line in help.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_section = line == "Options:" || line == "Arguments:";
            continue;
        }
        if !in_section || line.trim().is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let starts_entry = (2..=6).contains(&indent)
            && matches!(line.trim_start().chars().next(), Some('-' | '<' | '['));
        if starts_entry {
            let text = line.trim();
            let (listed, explanation) = text.split_once("  ").unwrap_or((text, ""));
            entries.push(Entry {
                listed: listed.trim().to_owned(),
                explanation: explanation.trim().to_owned(),
            });
        } else if let Some(entry) = entries.last_mut() {
            entry.explanation.push(' ');
            entry.explanation.push_str(line.trim());
        }
    }
    entries
}

/// What the explanation says, without clap's `[env: …]`, `[default: …]` and
/// `[possible values: …]`.
fn prose(explanation: &str) -> String {
    let mut text = explanation.to_owned();
    for bracket in ["[env: ", "[default: ", "[possible values: ", "[aliases: "] {
        while let Some(start) = text.find(bracket) {
            let end = text[start..]
                .find(']')
                .map_or(text.len(), |end| start + end + 1);
            text.replace_range(start..end, "");
        }
    }
    text.trim().to_owned()
}

/// The commands `udesk-calls --help` lists, `help` aside.
fn commands() -> Vec<String> {
    let (code, help, stderr) = run(binary().arg("--help"));
    assert_eq!(code, 0, "{stderr}");
    let section = help
        .split("Commands:\n")
        .nth(1)
        .expect("--help lists the commands");
    section
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_flag_of_every_command_is_explained_with_its_variable_and_default() {
    let commands = commands();
    for expected in ["serve", "import", "reprocess", "schema"] {
        assert!(commands.iter().any(|c| c == expected), "{commands:?}");
    }
    let mut checked = 0;
    for command in &commands {
        let (code, help, stderr) = run(binary().args([command, "--help"]));
        assert_eq!(code, 0, "{command}: {stderr}");
        let entries = entries(&help);
        assert!(
            entries.iter().any(|e| e.listed.contains("--config")),
            "{command} --help lists --config:\n{help}"
        );
        for entry in &entries {
            let what = prose(&entry.explanation);
            assert!(
                what.split_whitespace().count() >= 2,
                "{command} --help: {} is not explained:\n{help}",
                entry.listed
            );
            let builtin = entry.listed.contains("--help") || entry.listed.contains("--version");
            let flag = entry.listed.starts_with('-');
            if flag && !builtin {
                assert!(
                    entry.explanation.contains("[env: UDESK_CALLS_"),
                    "{command} --help: {} names no variable:\n{help}",
                    entry.listed
                );
            }
            let takes_value = flag && entry.listed.contains('<');
            if takes_value {
                let lower = entry.explanation.to_lowercase();
                assert!(
                    ["[default: ", "with none", "without", "default", "not given"]
                        .iter()
                        .any(|words| lower.contains(words)),
                    "{command} --help: {} says nothing of what applies when it is not given:\n{help}",
                    entry.listed
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} entries were read");
}

#[test]
fn the_help_reader_sees_both_layouts_of_clap() {
    let same_line = "Options:\n      --db <DB>  The database [env: UDESK_CALLS_DB=] [default: a.db]\n  -h, --help     Print help\n";
    let next_line = "Arguments:\n  <FILE>\n          The pushes\n\n          one per line\n\nOptions:\n      --db <DB>\n          The database\n\n          [env: UDESK_CALLS_DB=]\n";
    let read = entries(same_line);
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].listed, "--db <DB>");
    assert_eq!(prose(&read[0].explanation), "The database");
    assert_eq!(read[1].explanation, "Print help");
    let read = entries(next_line);
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].listed, "<FILE>");
    assert_eq!(prose(&read[0].explanation), "The pushes one per line");
    assert!(read[1].explanation.contains("[env: UDESK_CALLS_DB=]"));
}
