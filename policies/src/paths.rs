//! One rule for paths: every relative path in a policy (its master key
//! file and its archive directories, as written or as overridden) is
//! relative to the policy file's directory. A policy is reviewed and
//! shipped as a file, so what it names must not change with the directory
//! scrim happens to be started in (`scrim run` from a unit's working
//! directory, `scrim archive export` from a shell).
use std::path::Path;

use toml::Spanned;

use crate::{
    Diagnostic,
    model::{PolicyFile, Sink},
};

/// Makes every relative path of `policy` start at `base`, the policy
/// file's directory. `.` (a file in the working directory, or the built-in
/// default policy) leaves them as they are. Object storage URLs are not
/// paths.
pub(crate) fn resolve(policy: &mut PolicyFile, base: &Path) -> Vec<Diagnostic> {
    if base == Path::new(".") {
        return Vec::new();
    }
    let Some(base) = base.to_str() else {
        return vec![Diagnostic {
            line: 1,
            column: 1,
            message: format!(
                "the policy's directory {} is not UTF-8, so its relative paths cannot be \
                 resolved: give absolute ones",
                base.display()
            ),
        }];
    };
    if let Some(keys) = &mut policy.keys {
        let span = keys.master_key_file.span();
        let resolved = under(base, keys.master_key_file.get_ref());
        keys.master_key_file = Spanned::new(span, resolved);
    }
    for tenant in &mut policy.tenants {
        for sink in tenant.sinks.get_mut() {
            let span = sink.span();
            let resolved = match sink.get_ref() {
                Sink::Parquet { path } => Sink::Parquet {
                    path: under(base, path),
                },
                Sink::Jsonl { path } => Sink::Jsonl {
                    path: under(base, path),
                },
                Sink::Otlp { .. } => continue,
            };
            *sink = Spanned::new(span, resolved);
        }
    }
    Vec::new()
}

/// `path` below `base` if it is a relative path; as it is otherwise (an
/// absolute path, a URL, or nothing, which the checks refuse).
fn under(base: &str, path: &str) -> String {
    if path.trim().is_empty() || path.contains("://") || Path::new(path).is_absolute() {
        return path.to_owned();
    }
    format!("{}/{path}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_start_at_the_policy_files_directory() {
        assert_eq!(under("/etc/scrim", "master.key"), "/etc/scrim/master.key");
        assert_eq!(under("conf/", "archive"), "conf/archive");
        assert_eq!(under("/etc/scrim", "/var/lib/scrim"), "/var/lib/scrim");
        assert_eq!(under("/etc/scrim", "s3://bucket/a"), "s3://bucket/a");
        assert_eq!(under("/etc/scrim", " "), " ");
    }
}
