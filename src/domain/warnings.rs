//! Parse warnings: values of a push that could not be read.
//!
//! A warning never refuses a push (the raw push is kept whole); it tells an
//! operator which field was left empty and why.

use serde_json::Value;

/// A field whose value could not be read.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseWarning {
    /// Udesk's name of the field, e.g. `total_time`.
    pub field: String,
    /// The value as received, as JSON text.
    pub raw_value: String,
    /// What was wrong with it.
    pub problem: String,
}

/// The warnings gathered while reading one push.
#[derive(Debug, Default)]
pub struct Warnings(pub Vec<ParseWarning>);

impl Warnings {
    pub fn add(&mut self, field: &str, raw: &Value, problem: String) {
        self.0.push(ParseWarning {
            field: field.to_owned(),
            raw_value: raw.to_string(),
            problem,
        });
    }
}
