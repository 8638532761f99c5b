//! Vendor token formats: one row per format a vendor publishes, so a
//! token is caught wherever it stands, with no key or flag around it.
//!
//! This table is the interface the scrubber consumes; its rows are the
//! formats the scrubber knew before the table existed.

/// One vendor token format.
pub(crate) struct VendorRule {
    /// The detector name in `[REDACTED:<name>]`, snake_case, unique (e.g. "stripe_secret_key").
    pub name: &'static str,
    /// Who issues it, for the docs ("Stripe").
    pub vendor: &'static str,
    /// A `regex` crate pattern; the secret is the capture group named `secret` if present, else the whole match.
    pub pattern: &'static str,
    /// Literal prefixes or keywords of which at least one must occur (lowercase, compared case-insensitively) — for a cheap pre-check; empty = always run.
    pub keywords: &'static [&'static str],
    /// Where the format is documented (a rule-set rule id or the vendor's doc page).
    pub source: &'static str,
}

pub(crate) const VENDOR_RULES: &[VendorRule] = &[
    VendorRule {
        name: "aws_access_key_id",
        vendor: "Amazon Web Services",
        pattern: r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{16}\b",
        keywords: &["akia", "asia", "aida", "aroa"],
        source: "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids",
    },
    VendorRule {
        name: "github_token",
        vendor: "GitHub",
        pattern: r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
        keywords: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
        source: "https://github.blog/engineering/platform-security/behind-githubs-new-authentication-token-formats/",
    },
    VendorRule {
        name: "gitlab_token",
        vendor: "GitLab",
        pattern: r"\bglpat-[A-Za-z0-9_-]{20,}",
        keywords: &["glpat-"],
        source: "https://docs.gitlab.com/ee/security/token_overview.html#token-prefixes",
    },
    VendorRule {
        name: "slack_token",
        vendor: "Slack",
        pattern: r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
        keywords: &["xoxa-", "xoxb-", "xoxo-", "xoxp-", "xoxr-", "xoxs-"],
        source: "https://api.slack.com/authentication/token-types",
    },
];
