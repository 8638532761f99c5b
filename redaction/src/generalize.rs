//! Path generalisation: where in the tree a file is, without whose it is
//! or exactly which.
//!
//! Two ways, which combine (patterns first):
//! - **patterns** such as `/home/*` or `/var/lib/kubelet/pods/*`: where a
//!   path's leading components match the pattern, the components under a
//!   `*` are replaced by `*`, so `/home/alice/.ssh/id_rsa` becomes
//!   `/home/*/.ssh/id_rsa`;
//! - **depth**: keep the first N components and mark the cut with `/...`,
//!   so with depth 2 `/usr/lib/x86_64-linux-gnu/libc.so.6` becomes
//!   `/usr/lib/...`.
use std::borrow::Cow;

/// The mark left where components were removed.
const CUT: &str = "...";
/// What stands for a component a pattern hides.
const HIDDEN: &str = "*";

/// A pattern that is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GeneralizeError {
    #[error("generalize: prefix pattern {0:?} must be an absolute path such as \"/home/*\"")]
    NotAbsolute(String),
    #[error(
        "generalize: prefix pattern {0:?} hides nothing: put a `*` where a component is hidden"
    )]
    NoWildcard(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathGeneralizer {
    depth: Option<usize>,
    /// Each pattern's components; `None` stands for `*`.
    patterns: Vec<Vec<Option<String>>>,
}

impl PathGeneralizer {
    pub fn new(depth: Option<u8>, patterns: &[String]) -> Result<Self, GeneralizeError> {
        let patterns = patterns
            .iter()
            .map(|pattern| {
                let Some(relative) = pattern.strip_prefix('/') else {
                    return Err(GeneralizeError::NotAbsolute(pattern.clone()));
                };
                let components: Vec<Option<String>> = relative
                    .split('/')
                    .filter(|component| !component.is_empty())
                    .map(|component| (component != HIDDEN).then(|| component.to_owned()))
                    .collect();
                if components.iter().all(Option::is_some) {
                    return Err(GeneralizeError::NoWildcard(pattern.clone()));
                }
                Ok(components)
            })
            .collect::<Result<_, _>>()?;
        Ok(PathGeneralizer {
            depth: depth.map(usize::from),
            patterns,
        })
    }

    /// The generalised path; borrowed when nothing had to change.
    pub fn generalize<'a>(&self, path: &'a str) -> Cow<'a, str> {
        let masked = self.apply_patterns(path);
        match self.depth {
            Some(depth) => match cut_at_depth(&masked, depth) {
                Some(cut) => Cow::Owned(cut),
                None => masked,
            },
            None => masked,
        }
    }

    fn apply_patterns<'a>(&self, path: &'a str) -> Cow<'a, str> {
        let Some(relative) = path.strip_prefix('/') else {
            return Cow::Borrowed(path);
        };
        let components: Vec<&str> = relative.split('/').collect();
        let Some(pattern) = self.patterns.iter().find(|pattern| {
            pattern.len() <= components.len()
                && pattern
                    .iter()
                    .zip(&components)
                    .all(|(expected, actual)| match expected {
                        Some(literal) => literal == actual,
                        None => !actual.is_empty(),
                    })
        }) else {
            return Cow::Borrowed(path);
        };
        let mut generalized = String::with_capacity(path.len());
        for (index, component) in components.iter().enumerate() {
            generalized.push('/');
            match pattern.get(index) {
                Some(None) => generalized.push_str(HIDDEN),
                _ => generalized.push_str(component),
            }
        }
        Cow::Owned(generalized)
    }
}

/// `path` cut after `depth` components, or `None` when it has no more.
fn cut_at_depth(path: &str, depth: usize) -> Option<String> {
    let absolute = path.starts_with('/');
    let mut components = path.split('/').filter(|component| !component.is_empty());
    let kept: Vec<&str> = components.by_ref().take(depth).collect();
    components.next()?;
    let mut cut = String::with_capacity(path.len().min(64));
    for component in kept {
        if absolute || !cut.is_empty() {
            cut.push('/');
        }
        cut.push_str(component);
    }
    if absolute || !cut.is_empty() {
        cut.push('/');
    }
    cut.push_str(CUT);
    Some(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generalized(depth: Option<u8>, patterns: &[&str], path: &str) -> String {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        PathGeneralizer::new(depth, &patterns)
            .unwrap()
            .generalize(path)
            .into_owned()
    }

    #[test]
    fn cuts_at_a_depth() {
        let lib = "/usr/lib/x86_64-linux-gnu/libc.so.6";
        assert_eq!(generalized(Some(2), &[], lib), "/usr/lib/...");
        assert_eq!(generalized(Some(0), &[], lib), "/...");
        assert_eq!(generalized(Some(4), &[], lib), lib);
        assert_eq!(generalized(Some(2), &[], "/usr/lib"), "/usr/lib");
        assert_eq!(generalized(Some(1), &[], "src/main.rs"), "src/...");
        assert_eq!(generalized(Some(0), &[], "main.rs"), "...");
    }

    #[test]
    fn hides_the_components_a_pattern_stars() {
        let home = &["/home/*"];
        assert_eq!(
            generalized(None, home, "/home/alice/.ssh/id_rsa"),
            "/home/*/.ssh/id_rsa"
        );
        assert_eq!(generalized(None, home, "/home/alice"), "/home/*");
        assert_eq!(generalized(None, home, "/home"), "/home");
        assert_eq!(generalized(None, home, "/etc/passwd"), "/etc/passwd");
        assert_eq!(
            generalized(Some(3), home, "/home/alice/projects/secret/plan.txt"),
            "/home/*/projects/..."
        );
        let pods = &["/var/lib/kubelet/pods/*/volumes"];
        assert_eq!(
            generalized(None, pods, "/var/lib/kubelet/pods/9f1c/volumes/x"),
            "/var/lib/kubelet/pods/*/volumes/x"
        );
    }

    #[test]
    fn refuses_patterns_that_cannot_work() {
        assert_eq!(
            PathGeneralizer::new(None, &["home/*".into()]),
            Err(GeneralizeError::NotAbsolute("home/*".into()))
        );
        assert_eq!(
            PathGeneralizer::new(None, &["/home".into()]),
            Err(GeneralizeError::NoWildcard("/home".into()))
        );
    }
}
