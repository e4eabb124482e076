//! Parsing a flag whose value may be a secret (`--forward-secret`, a
//! `--forward-to` URL with `user:password@` or `?token=`).
//!
//! clap's own error for a value its parser refuses quotes the value in full
//! (`invalid value 'https://user:password@…' for '--forward-to <URL>'`), on
//! a terminal, in a journal, in a CI log. [`SecretValue`] reports only what
//! the parser said, which shows no secret either.

use std::ffi::OsStr;

use clap::builder::TypedValueParser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, Command};

/// A value parser from a plain function, whose errors never quote the value.
/// The parser's reason is also kept as the error's [`ContextKind::Custom`],
/// for the config file to report under its own key.
#[derive(Clone)]
pub struct SecretValue<T>(pub fn(&str) -> Result<T, String>);

impl<T: Clone + Send + Sync + 'static> TypedValueParser for SecretValue<T> {
    type Value = T;

    fn parse_ref(
        &self,
        command: &Command,
        arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let flag = arg.map_or_else(|| "…".to_owned(), Arg::to_string);
        let refuse = |reason: String| {
            let mut error = clap::Error::raw(
                ErrorKind::ValueValidation,
                format!("invalid value for '{flag}' (not shown, it may be secret): {reason}\n"),
            )
            .with_cmd(command);
            error.insert(ContextKind::Custom, ContextValue::String(reason));
            error
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("it is not valid UTF-8".to_owned()))?;
        (self.0)(text).map_err(refuse)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::SecretValue;

    #[derive(Parser)]
    struct Flags {
        #[arg(long, value_parser = SecretValue(parse))]
        secret: String,
    }

    fn parse(text: &str) -> Result<String, String> {
        match text.strip_prefix("good-") {
            Some(_) => Ok(text.to_owned()),
            None => Err("it must start with good-".to_owned()),
        }
    }

    #[test]
    fn a_refused_value_is_explained_but_never_quoted() {
        let flags = Flags::try_parse_from(["x", "--secret", "good-one"]).unwrap();
        assert_eq!(flags.secret, "good-one");
        let error = Flags::try_parse_from(["x", "--secret=hunter2-hunter2"])
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("'--secret <SECRET>'"), "{error}");
        assert!(error.contains("it must start with good-"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
}
