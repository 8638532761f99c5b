//! A shell-like tokenizer: a line becomes the commands it holds (split at
//! `;`, `&&`, `||`, `|`, `&`, newlines and `$(`…`)`), each a list of
//! arguments as the program would receive them — quotes removed, escapes
//! resolved — with the place of every byte in the line. The argument rules
//! then see a line exactly as they see a process's `argv`, and a
//! replacement lands inside the quotes it came from.
//!
//! One forward pass per line; no backtracking.
use std::{borrow::Cow, ops::Range};

/// One argument: its text, and where its bytes lie in the scanned text.
#[derive(Debug, Clone)]
pub(crate) struct Arg<'a> {
    pub text: Cow<'a, str>,
    map: Map,
}

#[derive(Debug, Clone)]
enum Map {
    /// Byte `i` of the text is at `start + i` (no quotes or escapes).
    Offset(usize),
    /// Byte `i` of the text is at `positions[i]`.
    Bytes(Vec<usize>),
}

impl<'a> Arg<'a> {
    /// An argument that is the text at `start` as it stands (an `argv`
    /// element, or an unquoted word).
    pub fn plain(text: &'a str, start: usize) -> Self {
        Arg {
            text: Cow::Borrowed(text),
            map: Map::Offset(start),
        }
    }

    /// Whether the argument stands in the scanned text as it is (no
    /// quotes or escapes): the text rules have seen it there already.
    pub fn is_plain(&self) -> bool {
        matches!(self.map, Map::Offset(_))
    }

    fn position(&self, index: usize) -> usize {
        match &self.map {
            Map::Offset(start) => start + index,
            Map::Bytes(positions) => positions[index],
        }
    }

    /// Where `range` of this argument's text lies in the scanned text:
    /// from its first byte to just after its last, so a quoted value
    /// keeps its quotes around the replacement.
    pub fn span(&self, range: Range<usize>) -> Option<Range<usize>> {
        if range.is_empty() || range.end > self.text.len() {
            return None;
        }
        Some(self.position(range.start)..self.position(range.end - 1) + 1)
    }

    /// This argument's text split as a shell would (`sh -c STRING`), the
    /// parts placed in the outer scanned text.
    pub fn commands(&self) -> Vec<Vec<Arg<'static>>> {
        commands(&self.text)
            .into_iter()
            .map(|command| {
                command
                    .into_iter()
                    .map(|inner| {
                        let positions = (0..inner.text.len())
                            .map(|index| self.position(inner.position(index)))
                            .collect();
                        Arg {
                            text: Cow::Owned(inner.text.into_owned()),
                            map: Map::Bytes(positions),
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

/// The commands in `text`, each a list of arguments.
pub(crate) fn commands(text: &str) -> Vec<Vec<Arg<'_>>> {
    let bytes = text.as_bytes();
    // Room for a typical line's commands and arguments up front.
    let mut commands = Vec::with_capacity(2);
    let mut current: Vec<Arg<'_>> = Vec::with_capacity(16);
    let mut groups = 0usize; // open `$(` or `(`
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        match byte {
            b' ' | b'\t' | b'\r' => at += 1,
            b';' | b'|' | b'&' | b'\n' | b'`' => {
                end_command(&mut commands, &mut current);
                at += 1;
            }
            b'(' => {
                groups += 1;
                end_command(&mut commands, &mut current);
                at += 1;
            }
            b')' if groups > 0 => {
                groups -= 1;
                end_command(&mut commands, &mut current);
                at += 1;
            }
            b'#' if current.is_empty() => break, // a comment
            _ => {
                let (arg, end) = word(text, at, groups > 0);
                if let Some(arg) = arg {
                    current.push(arg);
                }
                at = end.max(at + 1);
            }
        }
    }
    end_command(&mut commands, &mut current);
    commands
}

fn end_command<'a>(commands: &mut Vec<Vec<Arg<'a>>>, current: &mut Vec<Arg<'a>>) {
    if !current.is_empty() {
        commands.push(std::mem::take(current));
    }
}

/// Where the word starting at `start` ends, and whether it needs
/// unquoting.
fn word_end(bytes: &[u8], start: usize, in_group: bool) -> (usize, bool) {
    let mut at = start;
    let mut special = false;
    while at < bytes.len() {
        match bytes[at] {
            b' ' | b'\t' | b'\r' | b'\n' | b';' | b'|' | b'`' => break,
            // `2>&1` and `&>` are redirections, not a command boundary.
            b'&' if at > start && matches!(bytes[at - 1], b'>' | b'<') => at += 1,
            b'&' => break,
            b')' if in_group => break,
            b'$' if bytes.get(at + 1) == Some(&b'(') => break,
            b'\\' => {
                special = true;
                at += 2;
            }
            b'\'' => {
                special = true;
                let ansi = at > start && bytes[at - 1] == b'$';
                at += 1;
                while at < bytes.len() && bytes[at] != b'\'' {
                    at += if ansi && bytes[at] == b'\\' { 2 } else { 1 };
                }
                at += 1;
            }
            b'"' => {
                special = true;
                at += 1;
                while at < bytes.len() && bytes[at] != b'"' {
                    at += if bytes[at] == b'\\' { 2 } else { 1 };
                }
                at += 1;
            }
            _ => at += 1,
        }
    }
    (at.min(bytes.len()), special)
}

/// The word at `start`: borrowed when it has no quotes or escapes.
fn word(text: &str, start: usize, in_group: bool) -> (Option<Arg<'_>>, usize) {
    let bytes = text.as_bytes();
    let (end, special) = word_end(bytes, start, in_group);
    if end <= start {
        return (None, end);
    }
    if !special {
        return (Some(Arg::plain(&text[start..end], start)), end);
    }
    let mut out: Vec<u8> = Vec::with_capacity(end - start);
    let mut positions = Vec::with_capacity(end - start);
    let mut keep = |out: &mut Vec<u8>, at: usize| {
        out.push(bytes[at]);
        positions.push(at);
    };
    let mut at = start;
    while at < end {
        match bytes[at] {
            b'\\' => {
                if at + 1 < end {
                    keep(&mut out, at + 1);
                }
                at += 2;
            }
            b'$' if bytes.get(at + 1) == Some(&b'\'') => at += 1,
            b'\'' => {
                let ansi = at > start && bytes[at - 1] == b'$';
                at += 1;
                while at < end && bytes[at] != b'\'' {
                    if ansi && bytes[at] == b'\\' && at + 1 < end {
                        keep(&mut out, at + 1);
                        at += 2;
                    } else {
                        keep(&mut out, at);
                        at += 1;
                    }
                }
                at += 1;
            }
            b'"' => {
                at += 1;
                while at < end && bytes[at] != b'"' {
                    if bytes[at] == b'\\'
                        && at + 1 < end
                        && matches!(bytes[at + 1], b'"' | b'\\' | b'$' | b'`')
                    {
                        keep(&mut out, at + 1);
                        at += 2;
                    } else {
                        keep(&mut out, at);
                        at += 1;
                    }
                }
                at += 1;
            }
            _ => {
                keep(&mut out, at);
                at += 1;
            }
        }
    }
    // Only ASCII bytes (quotes, backslashes, `$`) were dropped, so the
    // rest is still UTF-8; were it not, the word is mapped as a whole.
    match String::from_utf8(out) {
        Ok(text) => (
            Some(Arg {
                text: Cow::Owned(text),
                map: Map::Bytes(positions),
            }),
            end,
        ),
        Err(_) => (Some(Arg::plain(&text[start..end], start)), end),
    }
}
