//! Splits `import`'s input into pushes, however they are laid out: one JSON
//! object a line (NDJSON), pretty-printed objects one after another (the
//! vendor's sample as it is documented), or a JSON array of them.
//!
//! It finds where each top-level value ends by counting brackets outside
//! strings, without parsing: the bytes of each value are handed on exactly
//! as they are in the file, to be kept and parsed as the webhook keeps and
//! parses a body. Broken input must not swallow what follows it, so a `{`
//! at the start of a line begins a new push when the one before is
//! unfinished and could not be continued by it (its last significant byte
//! outside strings is not `[`, `,` or `:`), has a line break inside a
//! string, or has already outgrown a push's limit; a line that
//! begins with anything else than `{` or `[` is one (rejected) value. A value
//! longer than a push may be is measured, not kept, so memory stays bounded.

/// A value found in the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// A value, its bytes as in the input, starting on `line` (from 1).
    Value { line: u64, bytes: Vec<u8> },
    /// A value of `length` bytes, longer than the limit: not kept.
    TooLong { line: u64, length: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between values: whitespace (and, in an array, commas) skipped.
    Between,
    /// In an object or array: its depth, and whether in a string.
    Nested {
        depth: u32,
        in_string: bool,
        escaped: bool,
    },
    /// A value that is neither an object nor an array: it ends with its line.
    Bare,
}

/// The splitter: fed the input in pieces of any size.
#[derive(Debug)]
pub struct Splitter {
    limit: usize,
    state: State,
    /// Inside a top-level array whose elements are the pushes.
    in_array: bool,
    /// Whether any byte other than whitespace has been seen.
    started: bool,
    line: u64,
    at_line_start: bool,
    value: Vec<u8>,
    length: usize,
    value_line: u64,
    /// The last byte of the value outside its strings that is not
    /// whitespace (a string's closing quote counts).
    last_significant: u8,
    /// A line break fell inside one of the value's strings: it is broken.
    broken: bool,
}

impl Splitter {
    /// A splitter keeping values of at most `limit` bytes.
    pub fn new(limit: usize) -> Splitter {
        Splitter {
            limit,
            state: State::Between,
            in_array: false,
            started: false,
            line: 1,
            at_line_start: true,
            value: Vec::new(),
            length: 0,
            value_line: 1,
            last_significant: 0,
            broken: false,
        }
    }

    /// Reads from `input` up to the end of the next value: how many bytes
    /// were taken, and the value if one ended.
    pub fn feed(&mut self, input: &[u8]) -> (usize, Option<Piece>) {
        for (at, &byte) in input.iter().enumerate() {
            if byte == b'{' && self.at_line_start && self.starts_anew() {
                // Not taken: it begins the next value.
                return (at, Some(self.take()));
            }
            self.at_line_start = byte == b'\n';
            let line = self.line;
            if byte == b'\n' {
                self.line += 1;
            }
            if self.step(byte, line) {
                return (at + 1, Some(self.take()));
            }
        }
        (input.len(), None)
    }

    /// At the end of the input: the value left unfinished, if any.
    pub fn finish(&mut self) -> Option<Piece> {
        (self.state != State::Between).then(|| self.take())
    }

    /// Whether a `{` at the start of a line ends the unfinished value.
    fn starts_anew(&self) -> bool {
        match self.state {
            State::Nested { in_string, .. } => {
                self.broken
                    || (!in_string
                        && (self.length > self.limit || !b"[,:".contains(&self.last_significant)))
            }
            State::Bare | State::Between => false,
        }
    }

    /// Takes one byte of line `line`; answers whether it ends a value.
    fn step(&mut self, byte: u8, line: u64) -> bool {
        match self.state {
            State::Between => {
                if byte.is_ascii_whitespace() || (self.in_array && byte == b',') {
                    return false;
                }
                if self.in_array && byte == b']' {
                    self.in_array = false;
                    return false;
                }
                if byte == b'[' && !self.started {
                    self.started = true;
                    self.in_array = true;
                    return false;
                }
                self.started = true;
                self.value_line = line;
                self.state = if matches!(byte, b'{' | b'[') {
                    State::Nested {
                        depth: 1,
                        in_string: false,
                        escaped: false,
                    }
                } else {
                    State::Bare
                };
                self.keep(byte);
                false
            }
            State::Bare => {
                if byte == b'\n' {
                    return true;
                }
                self.keep(byte);
                false
            }
            State::Nested {
                mut depth,
                mut in_string,
                mut escaped,
            } => {
                self.keep(byte);
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if byte == b'\\' {
                        escaped = true;
                    } else if byte == b'"' {
                        in_string = false;
                    } else if byte == b'\n' {
                        // A line break cannot be in a string: the value is
                        // broken, and ends where the next push begins.
                        in_string = false;
                        self.broken = true;
                    }
                } else {
                    match byte {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => depth -= 1,
                        _ => {}
                    }
                }
                if !in_string && !byte.is_ascii_whitespace() {
                    self.last_significant = byte;
                }
                self.state = State::Nested {
                    depth,
                    in_string,
                    escaped,
                };
                depth == 0
            }
        }
    }

    fn keep(&mut self, byte: u8) {
        self.length += 1;
        if self.length <= self.limit {
            self.value.push(byte);
        } else if !self.value.is_empty() {
            self.value = Vec::new();
        }
    }

    fn take(&mut self) -> Piece {
        let line = self.value_line;
        let length = std::mem::take(&mut self.length);
        let bytes = std::mem::take(&mut self.value);
        self.state = State::Between;
        self.last_significant = 0;
        self.broken = false;
        if length > self.limit {
            Piece::TooLong { line, length }
        } else {
            Piece::Value { line, bytes }
        }
    }
}

#[cfg(test)]
mod tests;
