//! YAML policies: the same model as TOML, written the Kubernetes way.
//!
//! The checks and their file:line:column errors work on TOML spans, so a
//! YAML policy is rewritten as TOML first, and every piece of the TOML
//! remembers the YAML line and column it came from. Errors found in the TOML
//! are then moved back to the YAML, so a user never sees the TOML.
//!
//! Sequences of mappings under a table become `[[arrays of tables]]`
//! (`tenant`, `opt_out`), top-level mappings become `[tables]`, and
//! everything else is written inline, each value at its own recorded
//! position.
use marked_yaml::{
    LoadError, Marker, Node,
    types::{MarkedMappingNode, MarkedScalarNode},
};

use crate::Diagnostic;

/// A YAML policy as TOML text, with the origin of every piece of it.
#[derive(Debug)]
pub(crate) struct Transcoded {
    pub(crate) toml: String,
    /// For each TOML line, the YAML positions of the pieces on it: (TOML
    /// column where the piece starts, YAML line, YAML column).
    origins: Vec<Vec<(usize, usize, usize)>>,
}

impl Transcoded {
    /// `diagnostic` (about the TOML) moved to where the YAML says the same.
    pub(crate) fn to_yaml(&self, diagnostic: Diagnostic) -> Diagnostic {
        let pieces = self
            .origins
            .get(diagnostic.line.saturating_sub(1))
            .map(Vec::as_slice)
            .unwrap_or_default();
        match pieces
            .iter()
            .rev()
            .find(|(start, _, _)| *start <= diagnostic.column)
            .or(pieces.first())
        {
            Some(&(_, line, column)) => Diagnostic {
                line,
                column,
                ..diagnostic
            },
            None => diagnostic,
        }
    }
}

/// Rewrites a YAML policy as TOML, or says where the YAML is broken.
pub(crate) fn transcode(yaml: &str) -> Result<Transcoded, Diagnostic> {
    let root = marked_yaml::parse_yaml(0, yaml).map_err(load_error)?;
    let mut writer = Writer {
        toml: String::new(),
        origins: vec![Vec::new()],
    };
    let Node::Mapping(root) = root else {
        return Err(Diagnostic {
            line: 1,
            column: 1,
            message: "a policy must be a mapping at the top level".into(),
        });
    };
    writer.table(&[], &root, true);
    Ok(Transcoded {
        toml: writer.toml,
        origins: writer.origins,
    })
}

fn load_error(error: LoadError) -> Diagnostic {
    let marker = match &error {
        LoadError::TopLevelMustBeMapping(marker)
        | LoadError::TopLevelMustBeSequence(marker)
        | LoadError::UnexpectedAnchor(marker)
        | LoadError::MappingKeyMustBeScalar(marker)
        | LoadError::UnexpectedTag(marker)
        | LoadError::ScanError(marker, _) => Some(*marker),
        LoadError::DuplicateKey(inner) => inner.key.span().start().copied(),
    };
    let text = error.to_string();
    let message = marker
        .map(|marker| format!("{marker}: "))
        .and_then(|prefix| text.strip_prefix(&prefix).map(str::to_owned))
        .unwrap_or(text);
    let (line, column) = marker.map_or((1, 1), |marker| (marker.line(), marker.column()));
    Diagnostic {
        line,
        column,
        message: format!("YAML: {message}"),
    }
}

struct Writer {
    toml: String,
    origins: Vec<Vec<(usize, usize, usize)>>,
}

impl Writer {
    /// Writes `text`, which came from `origin` in the YAML.
    fn piece(&mut self, text: &str, origin: Option<&Marker>) {
        if let Some(origin) = origin {
            let column = self
                .toml
                .rsplit('\n')
                .next()
                .map_or(0, |line| line.chars().count())
                + 1;
            if let Some(line) = self.origins.last_mut() {
                line.push((column, origin.line(), origin.column()));
            }
        }
        self.toml.push_str(text);
    }

    fn newline(&mut self) {
        self.toml.push('\n');
        self.origins.push(Vec::new());
    }

    /// The entries of a table: plain values first (TOML puts everything
    /// after a header into that header's table), then sub-tables.
    fn table(&mut self, path: &[&str], map: &MarkedMappingNode, top_level: bool) {
        let mut deferred = Vec::new();
        for (key, value) in map.iter() {
            if is_null(value) {
                continue;
            }
            let header = match value {
                Node::Mapping(_) => top_level,
                Node::Sequence(items) => {
                    !items.is_empty() && items.iter().all(|item| matches!(item, Node::Mapping(_)))
                }
                Node::Scalar(_) => false,
            };
            if header {
                deferred.push((key, value));
                continue;
            }
            self.key(key);
            self.piece(" = ", None);
            self.inline(value);
            self.newline();
        }
        for (key, value) in deferred {
            let mut nested: Vec<&str> = path.to_vec();
            nested.push(key.as_str());
            match value {
                Node::Mapping(map) => {
                    self.header(&nested, key, false);
                    self.table(&nested, map, false);
                }
                Node::Sequence(items) => {
                    for item in items.iter() {
                        if let Node::Mapping(map) = item {
                            self.header(&nested, key, true);
                            self.table(&nested, map, false);
                        }
                    }
                }
                Node::Scalar(_) => {}
            }
        }
    }

    fn header(&mut self, path: &[&str], key: &MarkedScalarNode, array: bool) {
        let (open, close) = if array { ("[[", "]]") } else { ("[", "]") };
        self.piece(open, key.span().start());
        let quoted: Vec<String> = path.iter().map(|part| quote(part)).collect();
        self.piece(&quoted.join("."), None);
        self.piece(close, None);
        self.newline();
    }

    fn key(&mut self, key: &MarkedScalarNode) {
        self.piece(&quote(key.as_str()), key.span().start());
    }

    fn inline(&mut self, value: &Node) {
        match value {
            Node::Scalar(scalar) => {
                let text = scalar_toml(scalar);
                self.piece(&text, scalar.span().start());
            }
            Node::Sequence(items) => {
                self.piece("[", value.span().start());
                let mut first = true;
                for item in items.iter().filter(|item| !is_null(item)) {
                    if !first {
                        self.piece(", ", None);
                    }
                    first = false;
                    self.inline(item);
                }
                self.piece("]", None);
            }
            Node::Mapping(map) => {
                self.piece("{", value.span().start());
                let mut first = true;
                for (key, item) in map.iter().filter(|(_, item)| !is_null(item)) {
                    self.piece(if first { " " } else { ", " }, None);
                    first = false;
                    self.key(key);
                    self.piece(" = ", None);
                    self.inline(item);
                }
                self.piece(if first { "}" } else { " }" }, None);
            }
        }
    }
}

/// YAML's null (`~`, `null`, or nothing) has no TOML form: the key is left
/// out, which the model reads as absent.
fn is_null(value: &Node) -> bool {
    match value {
        Node::Scalar(scalar) => {
            scalar.may_coerce() && matches!(scalar.as_str(), "" | "~" | "null" | "Null" | "NULL")
        }
        _ => false,
    }
}

/// A scalar as TOML: unquoted YAML booleans and numbers keep their type,
/// everything else is a string.
fn scalar_toml(scalar: &MarkedScalarNode) -> String {
    if let Some(flag) = scalar.as_bool() {
        return flag.to_string();
    }
    if let Some(number) = scalar.as_i64() {
        return number.to_string();
    }
    if let Some(number) = scalar.as_f64().filter(|number| number.is_finite()) {
        let text = number.to_string();
        return if text.contains(['.', 'e', 'E']) {
            text
        } else {
            format!("{text}.0")
        };
    }
    quote(scalar.as_str())
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            control if control.is_control() => {
                quoted.push_str(&format!("\\u{:04X}", u32::from(control)));
            }
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"version: 1
defaults:
  unknown_tenant: drop
tenant:
  - name: acme
    purpose: security monitoring
    legal_basis: legitimate_interests
    match:
      cgroup_path: ["/acme/**"]
    capture: [process, "syscall:openat"]
    retention: { process: 30d, syscall: 7d }
    sinks:
      - parquet: { path: /var/lib/scrim }
    fields:
      time: { coarsen: 1m }
      process.pid: keep
      network.peer.address:
        truncate: { ipv4: 24, ipv6: 48 }
"#;

    #[test]
    fn rewrites_the_policy_as_equivalent_toml() {
        let transcoded = transcode(POLICY).unwrap();
        let value: toml::Table = toml::from_str(&transcoded.toml).unwrap();
        assert_eq!(value["version"].as_integer(), Some(1));
        let tenant = &value["tenant"][0];
        assert_eq!(tenant["name"].as_str(), Some("acme"));
        assert_eq!(tenant["capture"][1].as_str(), Some("syscall:openat"));
        assert_eq!(
            tenant["fields"]["network.peer.address"]["truncate"]["ipv6"].as_integer(),
            Some(48)
        );
        assert_eq!(
            tenant["sinks"][0]["parquet"]["path"].as_str(),
            Some("/var/lib/scrim")
        );
    }

    #[test]
    fn moves_positions_back_to_the_yaml() {
        let transcoded = transcode(POLICY).unwrap();
        // Find where `keep` landed in the TOML, then map it back.
        let (line_index, line) = transcoded
            .toml
            .lines()
            .enumerate()
            .find(|(_, line)| line.contains("\"keep\""))
            .unwrap();
        let column = line[..line.find("\"keep\"").unwrap()].chars().count() + 1;
        let mapped = transcoded.to_yaml(Diagnostic {
            line: line_index + 1,
            column,
            message: String::new(),
        });
        assert_eq!((mapped.line, mapped.column), (16, 20));
    }

    #[test]
    fn points_at_broken_yaml() {
        let error = transcode("version: 1\ntenant:\n  - name: [unclosed\n").unwrap_err();
        assert!(error.message.starts_with("YAML: "), "{error:?}");
        assert!(error.line >= 3, "{error:?}");
    }
}
