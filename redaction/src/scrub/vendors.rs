//! Vendor token formats, as published by the broadest public secret-scanning
//! rule sets and by the vendors themselves.
//!
//! Why a table: a vendor token is recognisable without any surrounding
//! `password=` context, because its issuer stamps a fixed prefix (`ghp_`,
//! `sk_live_`, `xoxb-`, `AKIA` ...) and a fixed length or alphabet on it so
//! that leaks can be found. Knowing those stamps lets the scrubber redact a
//! token pasted bare into a command line or a log message, where the
//! keyword detectors see nothing.
//!
//! Sources, cited per rule in [`VendorRule::source`]:
//! - gitleaks' default rules (`config/gitleaks.toml`, generated from
//!   `cmd/generate/config/rules/*.go`), rule ids quoted;
//! - Yelp detect-secrets' plugins (`detect_secrets/plugins/*.py`);
//! - trufflehog's detectors (`pkg/detectors/<name>/`) for vendors the two
//!   above do not cover.
//!
//! How the patterns are anchored, so that hashes, UUIDs, commit ids, digests
//! and base64 blobs stay untouched:
//! - every rule starts at a documented literal (a prefix such as `glpat-`, a
//!   marker such as `T3BlbkFJ` or `.atlasv1.`, or a keyword such as
//!   `heroku` that must appear right before the value) and uses the
//!   documented alphabet and length;
//! - a fixed-length token must end where its alphabet ends, so a longer run
//!   (a digest, a blob) is no token: an ASCII word boundary does that when
//!   the alphabet is `[0-9A-Za-z_]`; when it also has `-`, `=` or base64's
//!   `+/`, the `regex` crate has no lookahead, so a guard group consumes the
//!   character after the token and the token is the capture group `secret`;
//! - a variable-length token is matched greedily over its alphabet, so it
//!   ends where the run ends without a guard;
//! - word boundaries are ASCII (`(?-u:\b)`) so that the lazy DFA keeps
//!   running on non-ASCII text instead of falling back to a slower engine;
//! - prefixes weak enough to occur inside base64 (`EAAA`, a run of `A`s) may
//!   not follow a base64 character.
//!
//! Every pattern is for the `regex` crate: no lookaround, no backreferences,
//! linear time on any input.

/// One vendor token format.
pub(crate) struct VendorRule {
    /// The detector name in `[REDACTED:<name>]`, snake_case, unique (e.g. "stripe_secret_key").
    pub name: &'static str,
    /// Who issues it, for the docs ("Stripe").
    pub vendor: &'static str,
    /// A `regex` crate pattern; the secret is the capture group named `secret` if present, else the whole match.
    pub pattern: &'static str,
    /// Literal prefixes or keywords (lowercase; compared ASCII case-insensitively) of which one lies inside every match: the engine runs the rule only on a text holding one, so they must be complete.
    pub keywords: &'static [&'static str],
    /// Where the format is documented (a rule-set rule id and file, or the vendor's doc page).
    pub source: &'static str,
}

/// An ASCII word boundary: the Unicode one makes the lazy DFA give up on
/// non-ASCII haystacks.
macro_rules! wb {
    () => {
        r"(?-u:\b)"
    };
}

/// After a fixed-length token from `[0-9A-Za-z_-]`: the next character is
/// not one the token could continue with (consumed; there is no lookahead).
macro_rules! end {
    () => {
        r"(?:[^0-9A-Za-z_-]|$)"
    };
}

/// After a token whose alphabet is base64 (`+`, `/`, `=` padding): the next
/// character is not base64, so the end of a longer blob is no token.
macro_rules! b64_end {
    () => {
        r"(?:[^0-9A-Za-z+/=_-]|$)"
    };
}

/// Before a token whose prefix could occur inside a base64 blob: the text
/// starts here or the previous character is not base64 (`=` is padding, so a
/// blob ends there: `key=EAAA...` is a token).
macro_rules! b64_start {
    () => {
        r"(?:^|[^0-9A-Za-z+/_-])"
    };
}

/// Between a vendor keyword and its value, the shapes gitleaks' semi-generic
/// rules accept: `heroku_api_key = "...`, `HEROKU_TOKEN: ...`, `okta => '...`.
macro_rules! assign {
    () => {
        r#"[0-9A-Za-z_.-]{0,20}["']?[ \t]{0,3}(?:=|:=|:|=>)[ \t]{0,3}["']?"#
    };
}

/// A lowercase-hex UUID, the value shape of several keyword-gated rules.
macro_rules! uuid {
    () => {
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    };
}

/// One table entry; the pattern is given in pieces (literals and the guard
/// macros above) and concatenated at compile time.
macro_rules! rule {
    ($name:literal, $vendor:literal, [$($kw:literal),+ $(,)?], $source:literal, $($pattern:expr),+ $(,)?) => {
        VendorRule {
            name: $name,
            vendor: $vendor,
            pattern: concat!($($pattern),+),
            keywords: &[$($kw),+],
            source: $source,
        }
    };
}

pub(crate) const VENDOR_RULES: &[VendorRule] = &[
    // ---- Cloud providers and infrastructure -------------------------------
    rule!(
        "aws_access_key_id",
        "Amazon Web Services",
        ["akia", "asia", "abia", "acca", "a3t", "aida", "aroa"],
        r#"gitleaks rule "aws-access-token" (cmd/generate/config/rules/aws.go); detect-secrets plugins/aws.py (its alphabet, [0-9A-Z]); AIDA and AROA, the IAM user and role ids, from AWS's "IAM identifiers" unique-id prefixes"#,
        wb!(),
        r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AIDA|AROA)[0-9A-Z]{16}",
        wb!()
    ),
    rule!(
        "aws_bedrock_api_key",
        "Amazon Web Services",
        ["absk"],
        r#"gitleaks rule "aws-amazon-bedrock-api-key-long-lived" (cmd/generate/config/rules/aws.go)"#,
        wb!(),
        r"(?P<secret>ABSK[A-Za-z0-9+/]{109,}={0,2})",
        b64_end!()
    ),
    rule!(
        "gcp_api_key",
        "Google",
        ["aiza"],
        r#"gitleaks rule "gcp-api-key" (cmd/generate/config/rules/gcp.go); trufflehog pkg/detectors/googlegemini"#,
        wb!(),
        r"(?P<secret>AIza[0-9A-Za-z_-]{35})",
        end!()
    ),
    rule!(
        "google_oauth_access_token",
        "Google",
        ["ya29."],
        "trufflehog pkg/detectors/googleoauth2/googleoauth2_access_token.go",
        wb!(),
        r"ya29\.[0-9A-Za-z_-]{10,}"
    ),
    rule!(
        "google_oauth_client_secret",
        "Google",
        ["gocspx-"],
        "GitHub secret scanning's supported patterns, Google google_oauth_client_secret (https://docs.github.com/en/code-security/secret-scanning/introduction/supported-secret-scanning-patterns): the GOCSPX- prefix Google Cloud stamps on OAuth client secrets, 28 characters of base64url after it",
        wb!(),
        r"(?P<secret>GOCSPX-[0-9A-Za-z_-]{28})",
        end!()
    ),
    rule!(
        "azure_ad_client_secret",
        "Microsoft Azure",
        ["q~"],
        r#"gitleaks rule "azure-ad-client-secret" (cmd/generate/config/rules/azure.go)"#,
        r#"(?:^|[\\'"`\t\r\n >=:(,)])"#,
        r"(?P<secret>[0-9A-Za-z_~.]{3}[0-9]Q~[0-9A-Za-z_~.-]{31,34})",
        r#"(?:$|[\\'"`\t\r\n <),])"#
    ),
    rule!(
        "azure_storage_account_key",
        "Microsoft Azure",
        ["accountkey="],
        "detect-secrets plugins/azure_storage_key.py",
        r"AccountKey=(?P<secret>[0-9A-Za-z+/]{86}==)"
    ),
    rule!(
        "azure_container_registry_password",
        "Microsoft Azure",
        ["+acr"],
        "trufflehog pkg/detectors/azurecontainerregistry",
        b64_start!(),
        r"(?P<secret>[0-9A-Za-z+/]{42}\+ACR[0-9A-Za-z]{6})",
        wb!()
    ),
    rule!(
        "alibaba_access_key_id",
        "Alibaba Cloud",
        ["ltai"],
        r#"gitleaks rule "alibaba-access-key-id" (cmd/generate/config/rules/alibaba.go)"#,
        wb!(),
        r"LTAI[0-9A-Za-z]{20}",
        wb!()
    ),
    rule!(
        "digitalocean_token",
        "DigitalOcean",
        ["dop_v1_", "doo_v1_", "dor_v1_"],
        r#"gitleaks rules "digitalocean-pat", "digitalocean-access-token", "digitalocean-refresh-token" (cmd/generate/config/rules/digitalocean.go)"#,
        wb!(),
        r"do[opr]_v1_[0-9a-f]{64}",
        wb!()
    ),
    rule!(
        "heroku_api_key",
        "Heroku",
        ["hrku-aa"],
        r#"gitleaks rule "heroku-api-key-v2" (cmd/generate/config/rules/heroku.go)"#,
        wb!(),
        r"(?P<secret>HRKU-AA[0-9A-Za-z_-]{58})",
        end!()
    ),
    rule!(
        "heroku_legacy_api_key",
        "Heroku",
        ["heroku"],
        r#"gitleaks rule "heroku-api-key" (cmd/generate/config/rules/heroku.go); the UUID counts only right after the keyword"#,
        r"(?i-u:heroku)",
        assign!(),
        r"(?P<secret>",
        uuid!(),
        r")",
        end!()
    ),
    rule!(
        "flyio_token",
        "Fly.io",
        ["fo1_", "fm1", "fm2_"],
        r#"gitleaks rule "flyio-access-token" (cmd/generate/config/rules/flyio.go)"#,
        wb!(),
        r"(?P<secret>fo1_[0-9A-Za-z_-]{43}|fm1[ar]_[0-9A-Za-z+/]{100,}={0,3}|fm2_[0-9A-Za-z+/]{100,}={0,3})",
        b64_end!()
    ),
    rule!(
        "databricks_token",
        "Databricks",
        ["dapi"],
        r#"gitleaks rule "databricks-api-token" (cmd/generate/config/rules/databricks.go)"#,
        wb!(),
        r"dapi[0-9a-f]{32}(?:-[0-9])?",
        wb!()
    ),
    rule!(
        "hashicorp_vault_token",
        "HashiCorp",
        ["hvs.", "hvb."],
        r#"gitleaks rules "vault-service-token", "vault-batch-token" (cmd/generate/config/rules/hashicorp_vault.go)"#,
        wb!(),
        r"hv[sb]\.[0-9A-Za-z_-]{90,}"
    ),
    rule!(
        "terraform_cloud_token",
        "HashiCorp",
        ["atlasv1"],
        r#"gitleaks rule "hashicorp-tf-api-token" (cmd/generate/config/rules/hashicorp.go)"#,
        wb!(),
        r"[0-9A-Za-z]{14}\.atlasv1\.[0-9A-Za-z_=-]{60,}"
    ),
    rule!(
        "cloudflare_origin_ca_key",
        "Cloudflare",
        ["v1.0-"],
        r#"gitleaks rule "cloudflare-origin-ca-key" (cmd/generate/config/rules/cloudflare.go)"#,
        wb!(),
        r"v1\.0-[0-9a-f]{24}-[0-9a-f]{146}",
        wb!()
    ),
    rule!(
        "planetscale_token",
        "PlanetScale",
        ["pscale_tkn_", "pscale_oauth_", "pscale_pw_"],
        r#"gitleaks rules "planetscale-api-token", "planetscale-oauth-token", "planetscale-password" (cmd/generate/config/rules/planetscale.go)"#,
        wb!(),
        r"pscale_(?:tkn|oauth|pw)_[0-9A-Za-z_=.-]{32,}"
    ),
    rule!(
        "doppler_token",
        "Doppler",
        [
            "dp.pt.",
            "dp.st.",
            "dp.ct.",
            "dp.sa.",
            "dp.scim.",
            "dp.audit."
        ],
        r#"gitleaks rule "doppler-api-token" (cmd/generate/config/rules/doppler.go); trufflehog pkg/detectors/doppler"#,
        wb!(),
        r"dp\.(?:pt|st(?:\.[0-9a-z_-]{2,35})?|ct|sa|scim|audit)\.[0-9A-Za-z]{40,44}",
        wb!()
    ),
    rule!(
        "pulumi_token",
        "Pulumi",
        ["pul-"],
        r#"gitleaks rule "pulumi-api-token" (cmd/generate/config/rules/pulumi.go)"#,
        wb!(),
        r"pul-[0-9a-f]{40}",
        wb!()
    ),
    rule!(
        "supabase_token",
        "Supabase",
        ["sbp_"],
        "trufflehog pkg/detectors/supabasetoken",
        wb!(),
        r"sbp_[0-9a-z]{40}",
        wb!()
    ),
    rule!(
        "netlify_token",
        "Netlify",
        ["nfp_"],
        "trufflehog pkg/detectors/netlify/v2",
        wb!(),
        r"nfp_[0-9A-Za-z_]{36}",
        wb!()
    ),
    rule!(
        "scalingo_token",
        "Scalingo",
        ["tk-us-"],
        r#"gitleaks rule "scalingo-api-token" (cmd/generate/config/rules/scalingo.go)"#,
        wb!(),
        r"(?P<secret>tk-us-[0-9A-Za-z_-]{48})",
        end!()
    ),
    rule!(
        "tailscale_key",
        "Tailscale",
        ["tskey-"],
        "trufflehog pkg/detectors/tailscale",
        wb!(),
        r"tskey-[a-z]+-[0-9A-Za-z_]+-[0-9A-Za-z_]+",
        wb!()
    ),
    rule!(
        "openshift_user_token",
        "Red Hat OpenShift",
        ["sha256~"],
        r#"gitleaks rule "openshift-user-token" (cmd/generate/config/rules/openshift.go)"#,
        wb!(),
        r"(?P<secret>sha256~[0-9A-Za-z_-]{43})",
        end!()
    ),
    rule!(
        "yandex_api_key",
        "Yandex Cloud",
        ["aqvn"],
        r#"gitleaks rule "yandex-api-key" (cmd/generate/config/rules/yandex.go), anchored on the AQVN prefix instead of the keyword"#,
        wb!(),
        r"(?P<secret>AQVN[0-9A-Za-z_-]{35,38})",
        b64_end!()
    ),
    // ---- Observability, CI and developer services -------------------------
    rule!(
        "grafana_cloud_token",
        "Grafana Labs",
        ["glc_"],
        r#"gitleaks rule "grafana-cloud-api-token" (cmd/generate/config/rules/grafana.go)"#,
        wb!(),
        r"(?P<secret>glc_[0-9A-Za-z+/]{32,}={0,3})",
        b64_end!()
    ),
    rule!(
        "grafana_service_account_token",
        "Grafana Labs",
        ["glsa_"],
        r#"gitleaks rule "grafana-service-account-token" (cmd/generate/config/rules/grafana.go)"#,
        wb!(),
        r"glsa_[0-9A-Za-z]{32}_[0-9A-Fa-f]{8}",
        wb!()
    ),
    rule!(
        "grafana_api_key",
        "Grafana Labs",
        ["eyjrijoi"],
        r#"gitleaks rule "grafana-api-key" (cmd/generate/config/rules/grafana.go)"#,
        wb!(),
        r"(?P<secret>eyJrIjoi[0-9A-Za-z]{70,}={0,3})",
        b64_end!()
    ),
    rule!(
        "dynatrace_token",
        "Dynatrace",
        ["dt0c01."],
        r#"gitleaks rule "dynatrace-api-token" (cmd/generate/config/rules/dynatrace.go)"#,
        wb!(),
        r"dt0c01\.[0-9A-Za-z]{24}\.[0-9A-Za-z]{64}",
        wb!()
    ),
    rule!(
        "new_relic_user_api_key",
        "New Relic",
        ["nrak-"],
        r#"gitleaks rule "new-relic-user-api-key" (cmd/generate/config/rules/newrelic.go), anchored on the NRAK- prefix instead of the keyword"#,
        wb!(),
        r"NRAK-[0-9A-Za-z]{27}",
        wb!()
    ),
    rule!(
        "new_relic_insert_key",
        "New Relic",
        ["nrii-"],
        r#"gitleaks rule "new-relic-insert-key" (cmd/generate/config/rules/newrelic.go), anchored on the NRII- prefix"#,
        wb!(),
        r"(?P<secret>NRII-[0-9A-Za-z-]{32})",
        end!()
    ),
    rule!(
        "new_relic_browser_api_token",
        "New Relic",
        ["nrjs-"],
        r#"gitleaks rule "new-relic-browser-api-token" (cmd/generate/config/rules/newrelic.go), anchored on the NRJS- prefix"#,
        wb!(),
        r"NRJS-[0-9a-f]{19}",
        wb!()
    ),
    rule!(
        "sentry_user_token",
        "Sentry",
        ["sntryu_"],
        r#"gitleaks rule "sentry-user-token" (cmd/generate/config/rules/sentry.go)"#,
        wb!(),
        r"sntryu_[0-9a-f]{64}",
        wb!()
    ),
    rule!(
        "sentry_org_token",
        "Sentry",
        ["sntrys_"],
        r#"gitleaks rule "sentry-org-token" (cmd/generate/config/rules/sentry.go); trufflehog pkg/detectors/sentryorgtoken"#,
        wb!(),
        r"(?P<secret>sntrys_eyJ[0-9A-Za-z+/=_]{100,})",
        b64_end!()
    ),
    rule!(
        "circleci_personal_token",
        "CircleCI",
        ["ccipat_"],
        "trufflehog pkg/detectors/circleci (v2)",
        wb!(),
        r"CCIPAT_[0-9A-Za-z]{22}_[0-9A-Fa-f]{40}",
        wb!()
    ),
    rule!(
        "buildkite_token",
        "Buildkite",
        ["bkua_"],
        "trufflehog pkg/detectors/buildkite/v2",
        wb!(),
        r"bkua_[0-9a-z]{40}",
        wb!()
    ),
    rule!(
        "sonarqube_token",
        "SonarSource",
        ["squ_", "sqp_", "sqa_"],
        r#"gitleaks rule "sonar-api-token" (cmd/generate/config/rules/sonar.go), its squ_/sqp_/sqa_ prefixes"#,
        wb!(),
        r"sq[upa]_[0-9a-f]{40}",
        wb!()
    ),
    rule!(
        "sourcegraph_token",
        "Sourcegraph",
        ["sgp_"],
        r#"gitleaks rule "sourcegraph-access-token" (cmd/generate/config/rules/sourcegraph.go), without its bare 40-hex branch (a commit id)"#,
        wb!(),
        r"sgp_(?:[0-9a-fA-F]{16}_|local_)?[0-9a-fA-F]{40}",
        wb!()
    ),
    rule!(
        "prefect_token",
        "Prefect",
        ["pnu_"],
        r#"gitleaks rule "prefect-api-token" (cmd/generate/config/rules/prefect.go)"#,
        wb!(),
        r"pnu_[0-9A-Za-z]{36}",
        wb!()
    ),
    rule!(
        "readme_token",
        "ReadMe",
        ["rdme_"],
        r#"gitleaks rule "readme-api-token" (cmd/generate/config/rules/readme.go)"#,
        wb!(),
        r"rdme_[0-9a-z]{70}",
        wb!()
    ),
    rule!(
        "infracost_token",
        "Infracost",
        ["ico-"],
        r#"gitleaks rule "infracost-api-token" (cmd/generate/config/rules/infracost.go)"#,
        wb!(),
        r"ico-[0-9A-Za-z]{32}",
        wb!()
    ),
    rule!(
        "harness_token",
        "Harness",
        ["pat.", "sat."],
        r#"gitleaks rule "harness-api-key" (cmd/generate/config/rules/harness.go)"#,
        wb!(),
        r"(?:pat|sat)\.[0-9A-Za-z_-]{22}\.[0-9A-Za-z]{24}\.[0-9A-Za-z]{20}",
        wb!()
    ),
    rule!(
        "octopus_deploy_api_key",
        "Octopus Deploy",
        ["api-"],
        r#"gitleaks rule "octopus-deploy-api-key" (cmd/generate/config/rules/octopusdeploy.go)"#,
        wb!(),
        r"API-[0-9A-Z]{26}",
        wb!()
    ),
    rule!(
        "defined_networking_token",
        "Defined Networking",
        ["dnkey-"],
        r#"gitleaks rule "defined-networking-api-token" (cmd/generate/config/rules/definednetworking.go), anchored on the dnkey- prefix"#,
        wb!(),
        r"(?P<secret>dnkey-[0-9A-Za-z=_-]{26}-[0-9A-Za-z=_-]{52})",
        r"(?:[^0-9A-Za-z=_-]|$)"
    ),
    rule!(
        "authress_access_key",
        "Authress",
        ["sc_", "ext_", "scauth_", "authress_"],
        r#"gitleaks rule "authress-service-client-access-key" (cmd/generate/config/rules/authress.go)"#,
        wb!(),
        r"(?:sc|ext|scauth|authress)_[0-9A-Za-z]{5,30}\.[0-9A-Za-z]{4,6}\.acc[_-][0-9A-Za-z-]{10,32}\.[0-9A-Za-z+/_=-]{30,}"
    ),
    rule!(
        "clickhouse_cloud_secret",
        "ClickHouse",
        ["4b1d"],
        r#"gitleaks rule "clickhouse-cloud-api-secret-key" (cmd/generate/config/rules/clickhouse.go)"#,
        wb!(),
        r"4b1d[0-9A-Za-z]{38}",
        wb!()
    ),
    rule!(
        "maxmind_license_key",
        "MaxMind",
        ["_mmk"],
        r#"gitleaks rule "maxmind-license-key" (cmd/generate/config/rules/maxmind.go)"#,
        wb!(),
        r"[0-9A-Za-z]{6}_[0-9A-Za-z]{29}_mmk",
        wb!()
    ),
    rule!(
        "intra42_client_secret",
        "42",
        ["s-s4t2"],
        r#"gitleaks rule "intra42-client-secret" (cmd/generate/config/rules/intra42.go)"#,
        wb!(),
        r"s-s4t2(?:ud|af)-[0-9a-f]{64}",
        wb!()
    ),
    rule!(
        "settlemint_token",
        "SettleMint",
        ["sm_aat_", "sm_pat_", "sm_sat_"],
        r#"gitleaks rules "settlemint-application-access-token", "settlemint-personal-access-token", "settlemint-service-access-token" (cmd/generate/config/rules/settlemint.go)"#,
        wb!(),
        r"sm_(?:aat|pat|sat)_[0-9A-Za-z]{16}",
        wb!()
    ),
    // ---- Productivity and SaaS --------------------------------------------
    rule!(
        "atlassian_api_token",
        "Atlassian",
        ["atatt3"],
        r#"gitleaks rule "atlassian-api-token" (cmd/generate/config/rules/atlassian.go), its ATATT3 branch, its 186 characters taken as a floor: Atlassian documents the prefix (ATATT3xFfGF0), not a length"#,
        wb!(),
        r"ATATT3[0-9A-Za-z_=-]{186,}"
    ),
    rule!(
        "atlassian_access_token",
        "Atlassian",
        ["atctt3"],
        r#"Atlassian community, "Can we confirm BitBucket's token prefixes?" (https://community.atlassian.com/forums/Bitbucket-questions/Can-we-confirm-BitBucket-s-token-prefixes/qaq-p/3093481): project, workspace and repository access tokens start ATCTT3xFfGN0, API tokens ATATT3xFfGF0; the alphabet and a length floor as for API tokens"#,
        wb!(),
        r"(?P<secret>ATCTT3[0-9A-Za-z_=-]{100,})"
    ),
    rule!(
        "bitbucket_app_password",
        "Atlassian",
        ["atbb"],
        "Nosey Parker rule np.bitbucket.1 (praetorian-inc/noseyparker default rules), citing https://support.atlassian.com/bitbucket-cloud/docs/app-passwords/",
        wb!(),
        r"ATBB[0-9A-Za-z]{32}",
        wb!()
    ),
    rule!(
        "atlassian_legacy_api_token",
        "Atlassian",
        ["atlassian", "confluence", "jira"],
        r#"gitleaks rule "atlassian-api-token" (cmd/generate/config/rules/atlassian.go), its keyword branch: 24 characters right after an atlassian, confluence or jira key"#,
        r"(?i-u:atlassian|confluence|jira)",
        assign!(),
        r"(?P<secret>[a-z0-9]{20}[a-f0-9]{4})",
        r#"(?:[\s'"`;]|$)"#
    ),
    rule!(
        "postman_api_key",
        "Postman",
        ["pmak-"],
        r#"gitleaks rule "postman-api-token" (cmd/generate/config/rules/postman.go)"#,
        wb!(),
        r"PMAK-[0-9a-fA-F]{24}-[0-9a-fA-F]{34}",
        wb!()
    ),
    rule!(
        "linear_api_key",
        "Linear",
        ["lin_api_"],
        r#"gitleaks rule "linear-api-key" (cmd/generate/config/rules/linear.go); trufflehog pkg/detectors/linearapi"#,
        wb!(),
        r"lin_api_[0-9A-Za-z]{40}",
        wb!()
    ),
    rule!(
        "notion_token",
        "Notion",
        ["ntn_"],
        r#"gitleaks rule "notion-api-token" (cmd/generate/config/rules/notion.go)"#,
        wb!(),
        r"ntn_[0-9]{11}[0-9A-Za-z]{35}",
        wb!()
    ),
    rule!(
        "airtable_personal_access_token",
        "Airtable",
        ["pat"],
        r#"gitleaks rule "airtable-personnal-access-token" (cmd/generate/config/rules/airtable.go)"#,
        wb!(),
        r"pat[0-9A-Za-z]{14}\.[0-9a-f]{64}",
        wb!()
    ),
    rule!(
        "hubspot_private_app_token",
        "HubSpot",
        ["pat-na1-", "pat-eu1-"],
        "trufflehog pkg/detectors/hubspot_apikey (v2)",
        wb!(),
        r"pat-(?:na|eu)1-[0-9A-Za-z]{8}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{12}",
        wb!()
    ),
    rule!(
        "shopify_token",
        "Shopify",
        ["shpat_", "shpca_", "shppa_", "shpss_"],
        r#"gitleaks rules "shopify-access-token", "shopify-custom-access-token", "shopify-private-app-access-token", "shopify-shared-secret" (cmd/generate/config/rules/shopify.go); trufflehog pkg/detectors/shopify"#,
        wb!(),
        r"shp(?:at|ca|pa|ss)_[0-9a-fA-F]{32}",
        wb!()
    ),
    rule!(
        "contentful_personal_access_token",
        "Contentful",
        ["cfpat-"],
        "trufflehog pkg/detectors/contentfulpersonalaccesstoken",
        wb!(),
        r"(?P<secret>CFPAT-[0-9A-Za-z_-]{43})",
        end!()
    ),
    rule!(
        "figma_personal_access_token",
        "Figma",
        ["figd_"],
        "trufflehog pkg/detectors/figmapersonalaccesstoken/v2",
        wb!(),
        r"(?P<secret>figd_[0-9A-Za-z_-]{40})",
        end!()
    ),
    rule!(
        "typeform_token",
        "Typeform",
        ["tfp_"],
        r#"gitleaks rule "typeform-api-token" (cmd/generate/config/rules/typeform.go), anchored on the tfp_ prefix"#,
        wb!(),
        r"tfp_[0-9A-Za-z_.=-]{59,}"
    ),
    rule!(
        "frameio_token",
        "Frame.io",
        ["fio-u-"],
        r#"gitleaks rule "frameio-api-token" (cmd/generate/config/rules/frameio.go)"#,
        wb!(),
        r"(?P<secret>fio-u-[0-9A-Za-z_=-]{64})",
        r"(?:[^0-9A-Za-z_=-]|$)"
    ),
    rule!(
        "adobe_client_secret",
        "Adobe",
        ["p8e-"],
        r#"gitleaks rule "adobe-client-secret" (cmd/generate/config/rules/adobe.go)"#,
        wb!(),
        r"p8e-[0-9A-Za-z]{32}",
        wb!()
    ),
    rule!(
        "mapbox_secret_token",
        "Mapbox",
        ["sk.eyj"],
        r#"gitleaks rule "mapbox-api-token" (cmd/generate/config/rules/mapbox.go), its shape with the sk. (secret scope) prefix"#,
        wb!(),
        r"sk\.eyJ[0-9A-Za-z_-]{57,}\.[0-9A-Za-z_-]{22,}"
    ),
    rule!(
        "okta_api_token",
        "Okta",
        ["okta"],
        r#"gitleaks rule "okta-access-token" (cmd/generate/config/rules/okta.go); the 00-token counts only right after the keyword"#,
        r"(?i-u:okta)",
        assign!(),
        r"(?P<secret>00[0-9A-Za-z_=-]{40})",
        r"(?:[^0-9A-Za-z_=-]|$)"
    ),
    rule!(
        "salesforce_access_token",
        "Salesforce",
        ["00d"],
        "trufflehog pkg/detectors/salesforce, anchored on the 00D organisation-id prefix",
        wb!(),
        r"00D[0-9A-Za-z]{12}![0-9A-Za-z_.]{96,}"
    ),
    rule!(
        "age_secret_key",
        "age",
        ["age-secret-key-1"],
        r#"gitleaks rule "age-secret-key" (cmd/generate/config/rules/age.go)"#,
        wb!(),
        r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
        wb!()
    ),
    rule!(
        "onepassword_secret_key",
        "1Password",
        ["a3-"],
        r#"gitleaks rule "1password-secret-key" (cmd/generate/config/rules/1password.go)"#,
        wb!(),
        r"A3-[0-9A-Z]{6}-(?:[0-9A-Z]{11}|[0-9A-Z]{6}-[0-9A-Z]{5})-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}",
        wb!()
    ),
    rule!(
        "onepassword_service_account_token",
        "1Password",
        ["ops_eyj"],
        r#"gitleaks rule "1password-service-account-token" (cmd/generate/config/rules/1password.go)"#,
        wb!(),
        r"(?P<secret>ops_eyJ[0-9A-Za-z+/]{250,}={0,3})",
        b64_end!()
    ),
    // ---- Payment providers ------------------------------------------------
    rule!(
        "stripe_secret_key",
        "Stripe",
        ["sk_live_", "sk_test_", "sk_prod_"],
        r#"gitleaks rule "stripe-access-token" (cmd/generate/config/rules/stripe.go); detect-secrets plugins/stripe.py"#,
        wb!(),
        r"sk_(?:live|test|prod)_[0-9A-Za-z]{10,}"
    ),
    rule!(
        "stripe_restricted_key",
        "Stripe",
        ["rk_live_", "rk_test_", "rk_prod_"],
        r#"gitleaks rule "stripe-access-token" (cmd/generate/config/rules/stripe.go); detect-secrets plugins/stripe.py"#,
        wb!(),
        r"rk_(?:live|test|prod)_[0-9A-Za-z]{10,}"
    ),
    rule!(
        "stripe_payment_intent_secret",
        "Stripe",
        ["_secret_"],
        "trufflehog pkg/detectors/stripepaymentintent",
        wb!(),
        r"pi_[0-9A-Za-z]{24}_secret_[0-9A-Za-z]{25}",
        wb!()
    ),
    rule!(
        "square_access_token",
        "Square",
        ["sq0atp-"],
        r#"gitleaks rule "square-access-token" (cmd/generate/config/rules/square.go)"#,
        wb!(),
        r"(?P<secret>sq0atp-[0-9A-Za-z_-]{22,60})",
        end!()
    ),
    rule!(
        "square_production_token",
        "Square",
        ["eaaa"],
        r#"gitleaks rule "square-access-token" (cmd/generate/config/rules/square.go), its EAAA branch; kept off base64 text"#,
        b64_start!(),
        r"(?P<secret>EAAA[0-9A-Za-z_-]{60})",
        end!()
    ),
    rule!(
        "square_oauth_secret",
        "Square",
        ["sq0csp-"],
        r#"gitleaks rule "square-secret" (cmd/generate/config/rules/square.go); detect-secrets plugins/square_oauth.py"#,
        wb!(),
        r"(?P<secret>sq0csp-[0-9A-Za-z_-]{43})",
        end!()
    ),
    rule!(
        "flutterwave_secret_key",
        "Flutterwave",
        ["flwseck_test-"],
        r#"gitleaks rules "flutterwave-secret-key", "flutterwave-encryption-key" (cmd/generate/config/rules/flutterwave.go)"#,
        wb!(),
        r"FLWSECK_TEST-(?:[0-9a-hA-H]{32}-X|[0-9a-hA-H]{12})",
        wb!()
    ),
    rule!(
        "shippo_token",
        "Shippo",
        ["shippo_live_", "shippo_test_"],
        r#"gitleaks rule "shippo-api-token" (cmd/generate/config/rules/shippo.go)"#,
        wb!(),
        r"shippo_(?:live|test)_[0-9a-fA-F]{40}",
        wb!()
    ),
    rule!(
        "easypost_api_key",
        "EasyPost",
        ["ezak", "eztk"],
        r#"gitleaks rules "easypost-api-token", "easypost-test-api-token" (cmd/generate/config/rules/easypost.go)"#,
        wb!(),
        r"EZ[AT]K[0-9A-Za-z]{54}",
        wb!()
    ),
    rule!(
        "duffel_token",
        "Duffel",
        ["duffel_live_", "duffel_test_"],
        r#"gitleaks rule "duffel-api-token" (cmd/generate/config/rules/duffel.go)"#,
        wb!(),
        r"(?P<secret>duffel_(?:test|live)_[0-9A-Za-z_=-]{43})",
        r"(?:[^0-9A-Za-z_=-]|$)"
    ),
    rule!(
        "gocardless_token",
        "GoCardless",
        ["gocardless"],
        r#"gitleaks rule "gocardless-api-token" (cmd/generate/config/rules/gocardless.go); live_ counts only right after the keyword"#,
        r"(?i-u:gocardless)",
        assign!(),
        r"(?P<secret>live_[0-9A-Za-z_=-]{40})",
        r"(?:[^0-9A-Za-z_=-]|$)"
    ),
    rule!(
        "plaid_access_token",
        "Plaid",
        [
            "access-sandbox-",
            "access-development-",
            "access-production-"
        ],
        r#"gitleaks rule "plaid-api-token" (cmd/generate/config/rules/plaid.go), anchored on its access-<environment>- prefix"#,
        wb!(),
        r"access-(?:sandbox|development|production)-",
        uuid!(),
        wb!()
    ),
    // ---- AI providers -----------------------------------------------------
    rule!(
        "openai_api_key",
        "OpenAI",
        ["t3blbkfj"],
        r#"gitleaks rule "openai-api-key" (cmd/generate/config/rules/openai.go); detect-secrets plugins/openai.py"#,
        wb!(),
        r"(?P<secret>sk-(?:proj|svcacct|admin)-(?:[0-9A-Za-z_-]{74}|[0-9A-Za-z_-]{58})T3BlbkFJ(?:[0-9A-Za-z_-]{74}|[0-9A-Za-z_-]{58})|sk-[0-9A-Za-z]{20}T3BlbkFJ[0-9A-Za-z]{20})",
        end!()
    ),
    rule!(
        "anthropic_api_key",
        "Anthropic",
        ["sk-ant-api03-", "sk-ant-admin01-"],
        r#"gitleaks rules "anthropic-api-key", "anthropic-admin-api-key" (cmd/generate/config/rules/anthropic.go)"#,
        wb!(),
        r"(?P<secret>sk-ant-(?:api03|admin01)-[0-9A-Za-z_-]{93}AA)",
        end!()
    ),
    rule!(
        "huggingface_token",
        "Hugging Face",
        ["hf_", "api_org_"],
        r#"gitleaks rules "huggingface-access-token", "huggingface-organization-api-token" (cmd/generate/config/rules/huggingface.go)"#,
        wb!(),
        r"(?:hf_|api_org_)[A-Za-z]{34}",
        wb!()
    ),
    rule!(
        "perplexity_api_key",
        "Perplexity",
        ["pplx-"],
        r#"gitleaks rule "perplexity-api-key" (cmd/generate/config/rules/perplexity.go)"#,
        wb!(),
        r"pplx-[0-9A-Za-z]{48}",
        wb!()
    ),
    rule!(
        "groq_api_key",
        "Groq",
        ["gsk_"],
        "trufflehog pkg/detectors/groq",
        wb!(),
        r"gsk_[0-9A-Za-z]{52}",
        wb!()
    ),
    rule!(
        "replicate_api_token",
        "Replicate",
        ["r8_"],
        "trufflehog pkg/detectors/replicate",
        wb!(),
        r"(?P<secret>r8_[0-9A-Za-z_-]{37})",
        end!()
    ),
    rule!(
        "xai_api_key",
        "xAI",
        ["xai-"],
        "trufflehog pkg/detectors/xai",
        wb!(),
        r"xai-[0-9A-Za-z_]{80}",
        wb!()
    ),
    rule!(
        "openrouter_api_key",
        "OpenRouter",
        ["sk-or-v1-"],
        "trufflehog pkg/detectors/openrouter",
        wb!(),
        r"sk-or-v1-[0-9a-f]{64}",
        wb!()
    ),
    rule!(
        "langsmith_api_key",
        "LangChain",
        ["lsv2_pt_", "lsv2_sk_"],
        "trufflehog pkg/detectors/langsmith",
        wb!(),
        r"lsv2_(?:pt|sk)_[0-9a-f]{32}_[0-9a-f]{10}",
        wb!()
    ),
    rule!(
        "pinecone_api_key",
        "Pinecone",
        ["pcsk_"],
        "trufflehog pkg/detectors/pinecone",
        wb!(),
        r"pcsk_[0-9A-Za-z]{5,6}_[0-9A-Za-z]{63}",
        wb!()
    ),
    // ---- Package registries -----------------------------------------------
    rule!(
        "npm_token",
        "npm",
        ["npm_"],
        r#"gitleaks rule "npm-access-token" (cmd/generate/config/rules/npm.go); trufflehog pkg/detectors/npmtokenv2"#,
        wb!(),
        r"npm_[0-9A-Za-z]{36}",
        wb!()
    ),
    rule!(
        "npmrc_auth_token",
        "npm",
        [":_authtoken="],
        "detect-secrets plugins/npm.py (an .npmrc `//<registry>/:_authToken=` line)",
        r":_authToken=[ \t]*(?P<secret>npm_[0-9A-Za-z]{36}|[0-9A-Fa-f-]{36})",
        end!()
    ),
    rule!(
        "pypi_upload_token",
        "PyPI",
        ["pypi-agei", "pypi-agen"],
        r#"gitleaks rule "pypi-upload-token" (cmd/generate/config/rules/pypi.go); detect-secrets plugins/pypi_token.py (also the test index's prefix)"#,
        wb!(),
        r"pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[0-9A-Za-z_-]{50,}"
    ),
    rule!(
        "rubygems_token",
        "RubyGems",
        ["rubygems_"],
        r#"gitleaks rule "rubygems-api-token" (cmd/generate/config/rules/rubygems.go)"#,
        wb!(),
        r"rubygems_[0-9a-f]{48}",
        wb!()
    ),
    rule!(
        "clojars_token",
        "Clojars",
        ["clojars_"],
        r#"gitleaks rule "clojars-api-token" (cmd/generate/config/rules/clojars.go)"#,
        wb!(),
        r"CLOJARS_[0-9A-Za-z]{60}",
        wb!()
    ),
    rule!(
        "jfrog_artifactory_token",
        "JFrog",
        ["akcp", "cmvmd"],
        r#"gitleaks rules "artifactory-api-key", "artifactory-reference-token" (cmd/generate/config/rules/artifactory.go); detect-secrets plugins/artifactory.py"#,
        wb!(),
        r"(?:AKCp[0-9A-Za-z]{69}|cmVmd[0-9A-Za-z]{59})",
        wb!()
    ),
    rule!(
        "docker_hub_token",
        "Docker",
        ["dckr_pat_", "dckr_oat_"],
        "trufflehog pkg/detectors/dockerhub/v2",
        wb!(),
        r"(?P<secret>dckr_pat_[0-9A-Za-z_-]{27}|dckr_oat_[0-9A-Za-z_-]{32})",
        end!()
    ),
    // ---- Version control --------------------------------------------------
    rule!(
        "github_token",
        "GitHub",
        ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        r#"gitleaks rules "github-pat", "github-oauth", "github-app-token", "github-refresh-token" (cmd/generate/config/rules/github.go); detect-secrets plugins/github_token.py"#,
        wb!(),
        r"gh[pousr]_[0-9A-Za-z]{36}",
        wb!()
    ),
    rule!(
        "github_fine_grained_pat",
        "GitHub",
        ["github_pat_"],
        r#"gitleaks rule "github-fine-grained-pat" (cmd/generate/config/rules/github.go)"#,
        wb!(),
        r"github_pat_[0-9A-Za-z_]{82}",
        wb!()
    ),
    rule!(
        "gitlab_pat",
        "GitLab",
        ["glpat-"],
        r#"gitleaks rules "gitlab-pat", "gitlab-pat-routable" (cmd/generate/config/rules/gitlab.go); detect-secrets plugins/gitlab_token.py"#,
        wb!(),
        r"glpat-[0-9A-Za-z_-]{20,}(?:\.[0-9a-z]{9}",
        wb!(),
        r")?"
    ),
    rule!(
        "gitlab_token",
        "GitLab",
        [
            "gldt-",
            "glft-",
            "glsoat-",
            "glrt-",
            "glffct-",
            "glimt-",
            "glagent-",
            "gloas-",
            "glptt-",
            "glcbt-",
            "gr1348941"
        ],
        r#"gitleaks rules "gitlab-deploy-token", "gitlab-feed-token", "gitlab-scim-token", "gitlab-runner-authentication-token(-routable)", "gitlab-feature-flag-client-token", "gitlab-incoming-mail-token", "gitlab-kubernetes-agent-token", "gitlab-oauth-app-secret", "gitlab-ptt", "gitlab-cicd-job-token", "gitlab-rrt" (cmd/generate/config/rules/gitlab.go); detect-secrets plugins/gitlab_token.py"#,
        wb!(),
        r"(?:(?:gldt|glft|glsoat|glrt|glffct|glimt|glagent|gloas|glptt|glcbt)-|GR1348941)[0-9A-Za-z_-]{20,}(?:\.[0-9a-z]{9}",
        wb!(),
        r")?"
    ),
    // ---- Chat and mail ----------------------------------------------------
    rule!(
        "slack_token",
        "Slack",
        ["xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xoxe"],
        r#"gitleaks rules "slack-bot-token", "slack-user-token", "slack-legacy-*", "slack-config-*" (cmd/generate/config/rules/slack.go); detect-secrets plugins/slack.py"#,
        wb!(),
        r"xox(?:[abposr]|e(?:\.xox[bp])?)-(?:[0-9A-Za-z]+-)*[0-9A-Za-z]{8,}"
    ),
    rule!(
        "slack_app_token",
        "Slack",
        ["xapp-"],
        r#"gitleaks rule "slack-app-token" (cmd/generate/config/rules/slack.go)"#,
        wb!(),
        r"xapp-[0-9]-[0-9A-Za-z]+-[0-9]+-[0-9A-Za-z]+",
        wb!()
    ),
    rule!(
        "slack_webhook_url",
        "Slack",
        ["hooks.slack.com"],
        r#"gitleaks rule "slack-webhook-url" (cmd/generate/config/rules/slack.go); detect-secrets plugins/slack.py"#,
        r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[0-9A-Za-z+/_]{43,})"
    ),
    rule!(
        "discord_webhook_url",
        "Discord",
        ["discord"],
        "trufflehog pkg/detectors/discordwebhook",
        r"discord(?:app)?\.com/api/webhooks/(?P<secret>[0-9]{17,20}/[0-9A-Za-z_-]{68})",
        end!()
    ),
    rule!(
        "telegram_bot_token",
        "Telegram",
        [":a"],
        r#"gitleaks rule "telegram-bot-api-token" (cmd/generate/config/rules/telegram.go); detect-secrets plugins/telegram_token.py; also right after the Bot API's `/bot` path"#,
        r"(?:(?-u:\b)|/bot)",
        r"(?P<secret>[0-9]{5,16}:A[0-9A-Za-z_-]{34})",
        end!()
    ),
    rule!(
        "microsoft_teams_webhook",
        "Microsoft Teams",
        ["webhook.office.com"],
        r#"gitleaks rule "microsoft-teams-webhook" (cmd/generate/config/rules/teams.go)"#,
        r"\.webhook\.office\.com/webhookb2/(?P<secret>",
        uuid!(),
        "@",
        uuid!(),
        r"/IncomingWebhook/[0-9a-z]{32}/",
        uuid!(),
        r")",
        wb!()
    ),
    rule!(
        "twilio_api_key",
        "Twilio",
        ["sk"],
        r#"gitleaks rule "twilio-api-key" (cmd/generate/config/rules/twilio.go); detect-secrets plugins/twilio.py"#,
        wb!(),
        r"SK[0-9a-fA-F]{32}",
        wb!()
    ),
    rule!(
        "twilio_account_sid",
        "Twilio",
        ["ac"],
        "detect-secrets plugins/twilio.py",
        wb!(),
        r"AC[0-9a-f]{32}",
        wb!()
    ),
    rule!(
        "sendgrid_api_key",
        "SendGrid",
        ["sg."],
        r#"detect-secrets plugins/sendgrid.py; gitleaks rule "sendgrid-api-token" (cmd/generate/config/rules/sendgrid.go)"#,
        wb!(),
        r"(?P<secret>SG\.[0-9A-Za-z_-]{22}\.[0-9A-Za-z_-]{43})",
        end!()
    ),
    rule!(
        "mailgun_api_key",
        "Mailgun",
        ["key-"],
        r#"gitleaks rule "mailgun-private-api-token" (cmd/generate/config/rules/mailgun.go); trufflehog pkg/detectors/mailgun ("Key-MailGun Token")"#,
        wb!(),
        r"key-[0-9a-f]{32}",
        wb!()
    ),
    rule!(
        "mailchimp_api_key",
        "Mailchimp",
        ["-us"],
        r#"detect-secrets plugins/mailchimp.py; gitleaks rule "mailchimp-api-key" (cmd/generate/config/rules/mailchimp.go)"#,
        wb!(),
        r"[0-9a-f]{32}-us[0-9]{1,2}",
        wb!()
    ),
    rule!(
        "brevo_api_key",
        "Brevo (Sendinblue)",
        ["xkeysib-"],
        r#"gitleaks rule "sendinblue-api-token" (cmd/generate/config/rules/sendinblue.go)"#,
        wb!(),
        r"xkeysib-[0-9a-f]{64}-[0-9A-Za-z]{16}",
        wb!()
    ),
    // ---- Social platforms -------------------------------------------------
    rule!(
        "facebook_access_token",
        "Meta",
        ["eaac", "eaam"],
        r#"gitleaks rule "facebook-page-access-token" (cmd/generate/config/rules/facebook.go), which covers the Graph API Explorer's EAACEdEose0cBA tokens; kept off base64 text"#,
        b64_start!(),
        r"(?P<secret>EAA[CM][0-9A-Za-z]{100,})"
    ),
    rule!(
        "twitter_bearer_token",
        "X (Twitter)",
        ["aaaaaaaaaaaaaaaaaaaaaa"],
        r#"gitleaks rule "twitter-bearer-token" (cmd/generate/config/rules/twitter.go), anchored on its run of 22 A's; kept off base64 text"#,
        b64_start!(),
        r"(?P<secret>A{22}[0-9A-Za-z%]{80,})"
    ),
    // ---- Private keys -----------------------------------------------------
    rule!(
        "pem_private_key",
        "PEM (RFC 7468, OpenSSL, OpenSSH, OpenPGP armor)",
        ["-----begin"],
        r#"gitleaks rule "private-key" (cmd/generate/config/rules/privatekey.go); detect-secrets plugins/private_key.py"#,
        r"-----BEGIN (?:[0-9A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END (?:[0-9A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----|$)"
    ),
    rule!(
        "ssh2_private_key",
        "SSH.com (RFC 4716 key file)",
        ["begin ssh2 encrypted private key"],
        "detect-secrets plugins/private_key.py (BEGIN SSH2 ENCRYPTED PRIVATE KEY)",
        r"---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----(?s:.*?)(?:---- END SSH2 ENCRYPTED PRIVATE KEY ----|$)"
    ),
    rule!(
        "putty_private_key",
        "PuTTY",
        ["putty-user-key-file-"],
        "detect-secrets plugins/private_key.py (PuTTY-User-Key-File-2); PuTTY's .ppk format (version 2 and 3)",
        r"PuTTY-User-Key-File-[0-9]+:(?s:.*?)(?:Private-MAC: [0-9A-Fa-f]+|$)"
    ),
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use regex::Regex;

    use super::{VENDOR_RULES, VendorRule};

    /// Positive examples: a line with the secret between `[[` and `]]`; `{<class><n>}`
    /// expands to `n` synthetic characters of the class (see [`class`]).
    /// Built to each documented format; never real keys.
    const EXAMPLES: &[(&str, &str)] = &[
        (
            "aws_access_key_id",
            "export AWS_ACCESS_KEY_ID=[[AKIA{B16}]]",
        ),
        ("aws_access_key_id", "aws s3 ls --key [[ASIA{B16}]] --x"),
        (
            "aws_bedrock_api_key",
            "AWS_BEARER_TOKEN_BEDROCK=[[ABSK{b120}==]] run",
        ),
        (
            "gcp_api_key",
            "curl 'https://maps.example.test/api?key=[[AIza{w35}]]'",
        ),
        (
            "google_oauth_access_token",
            "Authorization: Bearer [[ya29.{w60}]]",
        ),
        (
            "google_oauth_client_secret",
            "oauth2l fetch --credentials x --client_secret [[GOCSPX-{w28}]] --scope email",
        ),
        (
            "azure_ad_client_secret",
            "AZURE_CLIENT_SECRET=\"[[{a3}8Q~{a32}]]\"",
        ),
        (
            "azure_storage_account_key",
            "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=[[{b86}==]];EndpointSuffix=core",
        ),
        (
            "azure_container_registry_password",
            "docker login -p [[{a42}+ACR{a6}]] reg",
        ),
        (
            "alibaba_access_key_id",
            "aliyun configure --access-key-id [[LTAI{a20}]]",
        ),
        ("digitalocean_token", "doctl auth init -t [[dop_v1_{h64}]]"),
        ("digitalocean_token", "refresh=[[dor_v1_{h64}]]"),
        ("heroku_api_key", "HEROKU_API_KEY=[[HRKU-AA{w58}]] git push"),
        (
            "heroku_legacy_api_key",
            "HEROKU_API_KEY=[[{h8}-{h4}-{h4}-{h4}-{h12}]] deploy",
        ),
        ("flyio_token", "FLY_API_TOKEN=[[fo1_{w43}]] flyctl deploy"),
        ("flyio_token", "FLY_API_TOKEN=\"[[fm2_{b140}=]]\""),
        ("databricks_token", "DATABRICKS_TOKEN=[[dapi{h32}-2]] x"),
        (
            "hashicorp_vault_token",
            "VAULT_TOKEN=[[hvs.{w95}]] vault kv get",
        ),
        ("hashicorp_vault_token", "token [[hvb.{w150}]]"),
        (
            "terraform_cloud_token",
            "token = \"[[{a14}.atlasv1.{w66}]]\"",
        ),
        ("cloudflare_origin_ca_key", "key: [[v1.0-{h24}-{h146}]] end"),
        (
            "planetscale_token",
            "PLANETSCALE_TOKEN=[[pscale_tkn_{w43}]] pscale",
        ),
        ("planetscale_token", "password [[pscale_pw_{w43}]]"),
        ("doppler_token", "DOPPLER_TOKEN=[[dp.pt.{a43}]] doppler run"),
        ("doppler_token", "DOPPLER_TOKEN=[[dp.st.dev.{a44}]]"),
        ("pulumi_token", "PULUMI_ACCESS_TOKEN=[[pul-{h40}]]"),
        ("supabase_token", "supabase login --token [[sbp_{h40}]]"),
        ("netlify_token", "NETLIFY_AUTH_TOKEN=[[nfp_{a36}]]"),
        (
            "scalingo_token",
            "scalingo login --api-token [[tk-us-{w48}]]",
        ),
        (
            "tailscale_key",
            "tailscale up --authkey [[tskey-auth-k{a10}CNTRL-{a32}]]",
        ),
        (
            "openshift_user_token",
            "oc login --token=[[sha256~{w43}]] --server=x",
        ),
        ("yandex_api_key", "YC_API_KEY=[[AQVN{w36}]] yc"),
        ("grafana_cloud_token", "GRAFANA_TOKEN=[[glc_{b60}==]]"),
        (
            "grafana_service_account_token",
            "Authorization: Bearer [[glsa_{a32}_{h8}]]",
        ),
        (
            "grafana_api_key",
            "Authorization: Bearer [[eyJrIjoi{a80}=]]",
        ),
        ("dynatrace_token", "Api-Token [[dt0c01.{u24}.{u64}]]"),
        ("new_relic_user_api_key", "NEW_RELIC_API_KEY=[[NRAK-{u27}]]"),
        ("new_relic_insert_key", "X-Insert-Key: [[NRII-{a32}]]"),
        (
            "new_relic_browser_api_token",
            "licenseKey: '[[NRJS-{h19}]]'",
        ),
        ("sentry_user_token", "SENTRY_AUTH_TOKEN=[[sntryu_{h64}]]"),
        (
            "sentry_org_token",
            "SENTRY_AUTH_TOKEN=[[sntrys_eyJpYXQiO{b180}_{b43}]]",
        ),
        (
            "circleci_personal_token",
            "Circle-Token: [[CCIPAT_{a22}_{h40}]]",
        ),
        ("buildkite_token", "BUILDKITE_API_TOKEN=[[bkua_{x40}]]"),
        (
            "sonarqube_token",
            "sonar-scanner -Dsonar.token=[[squ_{h40}]]",
        ),
        ("sourcegraph_token", "SRC_ACCESS_TOKEN=[[sgp_{h16}_{h40}]]"),
        ("sourcegraph_token", "token [[sgp_local_{h40}]]"),
        ("prefect_token", "PREFECT_API_KEY=[[pnu_{a36}]]"),
        ("readme_token", "README_API_KEY=[[rdme_{x70}]]"),
        ("infracost_token", "INFRACOST_API_KEY=[[ico-{a32}]]"),
        ("harness_token", "x-api-key: [[pat.{w22}.{a24}.{a20}]]"),
        ("octopus_deploy_api_key", "X-Octopus-ApiKey: [[API-{U26}]]"),
        (
            "defined_networking_token",
            "DN_API_KEY=[[dnkey-{w26}-{w52}]]",
        ),
        (
            "authress_access_key",
            "AUTHRESS_KEY=[[sc_{a12}.{a5}.acc_{x20}.{b60}]]",
        ),
        ("clickhouse_cloud_secret", "secret=[[4b1d{a38}]]"),
        ("maxmind_license_key", "license_key=[[{a6}_{a29}_mmk]]"),
        ("intra42_client_secret", "FT_SECRET=[[s-s4t2ud-{h64}]]"),
        ("settlemint_token", "SETTLEMINT_TOKEN=[[sm_pat_{a16}]]"),
        ("atlassian_api_token", "JIRA_API_TOKEN=[[ATATT3{w186}]]"),
        (
            "atlassian_access_token",
            "curl -H 'Authorization: Bearer [[ATCTT3xFfGN0{w180}]]' https://api.bitbucket.org/2.0/user",
        ),
        (
            "bitbucket_app_password",
            "git clone https://bob:[[ATBB{a32}]]@bitbucket.org/team/repo.git",
        ),
        (
            "atlassian_legacy_api_token",
            "export CONFLUENCE_API=[[{x20}{h4}]] ",
        ),
        ("postman_api_key", "X-Api-Key: [[PMAK-{h24}-{h34}]]"),
        ("linear_api_key", "Authorization: [[lin_api_{a40}]]"),
        ("notion_token", "NOTION_TOKEN=[[ntn_{d11}{a35}]]"),
        (
            "airtable_personal_access_token",
            "Authorization: Bearer [[pat{a14}.{h64}]]",
        ),
        (
            "hubspot_private_app_token",
            "Bearer [[pat-na1-{x8}-{x4}-{x4}-{x4}-{x12}]]",
        ),
        ("shopify_token", "X-Shopify-Access-Token: [[shpat_{h32}]]"),
        ("shopify_token", "SHOPIFY_API_SECRET=[[shpss_{h32}]]"),
        (
            "contentful_personal_access_token",
            "CONTENTFUL_MANAGEMENT_TOKEN=[[CFPAT-{w43}]]",
        ),
        (
            "figma_personal_access_token",
            "X-Figma-Token: [[figd_{w40}]]",
        ),
        ("typeform_token", "TYPEFORM_TOKEN=[[tfp_{w59}]] x"),
        ("frameio_token", "FRAMEIO_TOKEN=[[fio-u-{w64}]]"),
        ("adobe_client_secret", "ADOBE_CLIENT_SECRET=[[p8e-{a32}]]"),
        ("mapbox_secret_token", "MAPBOX_TOKEN=[[sk.eyJ{w60}.{w22}]]"),
        ("okta_api_token", "OKTA_API_TOKEN=[[00{w40}]]"),
        (
            "salesforce_access_token",
            "Authorization: Bearer [[00D{a12}!{a96}]]",
        ),
        ("age_secret_key", "[[AGE-SECRET-KEY-1{g58}]]"),
        (
            "onepassword_secret_key",
            "secret key [[A3-{N6}-{N11}-{N5}-{N5}-{N5}]]",
        ),
        (
            "onepassword_secret_key",
            "secret key [[A3-{N6}-{N6}-{N5}-{N5}-{N5}-{N5}]]",
        ),
        (
            "onepassword_service_account_token",
            "OP_SERVICE_ACCOUNT_TOKEN=[[ops_eyJ{b260}=]]",
        ),
        (
            "stripe_secret_key",
            "curl -u [[sk_live_{a99}]]: https://api.example.test",
        ),
        ("stripe_secret_key", "STRIPE_KEY=[[sk_test_{a24}]]"),
        ("stripe_restricted_key", "STRIPE_KEY=[[rk_live_{a24}]]"),
        (
            "stripe_payment_intent_secret",
            "clientSecret: '[[pi_{a24}_secret_{a25}]]'",
        ),
        ("square_access_token", "SQUARE_TOKEN=[[sq0atp-{w22}]]"),
        (
            "square_production_token",
            "Authorization: Bearer [[EAAA{w60}]]",
        ),
        ("square_oauth_secret", "SQUARE_SECRET=[[sq0csp-{w43}]]"),
        (
            "flutterwave_secret_key",
            "FLW_SECRET_KEY=[[FLWSECK_TEST-{h32}-X]]",
        ),
        (
            "flutterwave_secret_key",
            "FLW_ENCRYPTION_KEY=[[FLWSECK_TEST-{h12}]]",
        ),
        (
            "shippo_token",
            "Authorization: ShippoToken [[shippo_live_{h40}]]",
        ),
        ("easypost_api_key", "EASYPOST_API_KEY=[[EZAK{a54}]]"),
        (
            "duffel_token",
            "Authorization: Bearer [[duffel_test_{w43}]]",
        ),
        ("gocardless_token", "GOCARDLESS_ACCESS_TOKEN=[[live_{w40}]]"),
        (
            "plaid_access_token",
            "access_token: [[access-sandbox-{h8}-{h4}-{h4}-{h4}-{h12}]]",
        ),
        (
            "openai_api_key",
            "OPENAI_API_KEY=[[sk-proj-{w74}T3BlbkFJ{w74}]]",
        ),
        (
            "openai_api_key",
            "OPENAI_API_KEY=[[sk-svcacct-{w58}T3BlbkFJ{w58}]]",
        ),
        ("openai_api_key", "OPENAI_API_KEY=[[sk-{a20}T3BlbkFJ{a20}]]"),
        (
            "anthropic_api_key",
            "ANTHROPIC_API_KEY=[[sk-ant-api03-{w93}AA]]",
        ),
        ("anthropic_api_key", "x-api-key: [[sk-ant-admin01-{w93}AA]]"),
        (
            "huggingface_token",
            "huggingface-cli login --token [[hf_{L34}]]",
        ),
        ("huggingface_token", "HF_TOKEN=[[api_org_{L34}]]"),
        ("perplexity_api_key", "PPLX_API_KEY=[[pplx-{a48}]]"),
        ("groq_api_key", "GROQ_API_KEY=[[gsk_{a52}]]"),
        ("replicate_api_token", "REPLICATE_API_TOKEN=[[r8_{w37}]]"),
        ("xai_api_key", "XAI_API_KEY=[[xai-{a80}]]"),
        (
            "openrouter_api_key",
            "OPENROUTER_API_KEY=[[sk-or-v1-{h64}]]",
        ),
        (
            "langsmith_api_key",
            "LANGSMITH_API_KEY=[[lsv2_pt_{h32}_{h10}]]",
        ),
        ("pinecone_api_key", "PINECONE_API_KEY=[[pcsk_{a6}_{a63}]]"),
        ("npm_token", "NPM_TOKEN=[[npm_{a36}]] npm publish"),
        (
            "npmrc_auth_token",
            "//npm.example.test/:_authToken=[[{h8}-{h4}-{h4}-{h4}-{h12}]]",
        ),
        (
            "npmrc_auth_token",
            "//npm.example.test/:_authToken=[[npm_{a36}]]",
        ),
        (
            "pypi_upload_token",
            "twine upload -p [[pypi-AgEIcHlwaS5vcmc{w80}]] dist/*",
        ),
        (
            "pypi_upload_token",
            "TWINE_PASSWORD=[[pypi-AgENdGVzdC5weXBpLm9yZw{w80}]]",
        ),
        ("rubygems_token", "GEM_HOST_API_KEY=[[rubygems_{h48}]]"),
        ("clojars_token", "CLOJARS_PASSWORD=[[CLOJARS_{x60}]]"),
        ("jfrog_artifactory_token", "X-JFrog-Art-Api: [[AKCp{a69}]]"),
        (
            "jfrog_artifactory_token",
            "Authorization: Bearer [[cmVmd{a59}]]",
        ),
        (
            "docker_hub_token",
            "docker login -u me -p [[dckr_pat_{w27}]]",
        ),
        (
            "github_token",
            "git clone https://x:[[ghp_{a36}]]@example.test/r.git",
        ),
        ("github_token", "GITHUB_TOKEN=[[ghs_{a36}]]"),
        ("github_token", "clé=«[[ghp_{a36}]]» déployée"),
        (
            "github_fine_grained_pat",
            "GH_TOKEN=[[github_pat_{a22}_{a59}]]",
        ),
        ("gitlab_pat", "PRIVATE-TOKEN: [[glpat-{w20}]]"),
        ("gitlab_pat", "PRIVATE-TOKEN: [[glpat-{w36}.01{x7}]] x"),
        (
            "gitlab_token",
            "gitlab-runner register --token [[glrt-{w20}]]",
        ),
        ("gitlab_token", "CI_JOB_TOKEN=[[glcbt-64_{w20}]]"),
        ("gitlab_token", "token [[GR1348941{w20}]]"),
        ("slack_token", "SLACK_BOT_TOKEN=[[xoxb-{d12}-{d13}-{a24}]]"),
        (
            "slack_token",
            "SLACK_TOKEN=[[xoxp-{d12}-{d12}-{d12}-{h32}]]",
        ),
        ("slack_token", "SLACK_TOKEN=[[xoxe.xoxp-1-{a163}]]"),
        (
            "slack_app_token",
            "SLACK_APP_TOKEN=[[xapp-1-A{U10}-{d13}-{h64}]]",
        ),
        (
            "slack_webhook_url",
            "curl -X POST https://hooks.slack.com/services/[[T{U8}/B{U10}/{a24}]]",
        ),
        (
            "discord_webhook_url",
            "https://discord.com/api/webhooks/[[{d18}/{w68}]]",
        ),
        (
            "telegram_bot_token",
            "https://api.telegram.example/bot[[{d10}:A{w34}]]/getMe",
        ),
        (
            "microsoft_teams_webhook",
            "https://acme.webhook.office.com/webhookb2/[[{h8}-{h4}-{h4}-{h4}-{h12}@{h8}-{h4}-{h4}-{h4}-{h12}/IncomingWebhook/{h32}/{h8}-{h4}-{h4}-{h4}-{h12}]]",
        ),
        ("twilio_api_key", "TWILIO_API_KEY=[[SK{h32}]]"),
        ("twilio_account_sid", "TWILIO_ACCOUNT_SID=[[AC{h32}]]"),
        ("sendgrid_api_key", "SENDGRID_API_KEY=[[SG.{w22}.{w43}]]"),
        ("mailgun_api_key", "curl --user 'api:[[key-{h32}]]'"),
        ("mailchimp_api_key", "MAILCHIMP_KEY=[[{h32}-us21]]"),
        ("brevo_api_key", "api-key: [[xkeysib-{h64}-{a16}]]"),
        (
            "facebook_access_token",
            "access_token=[[EAACEdEose0cBA{a120}]]",
        ),
        ("facebook_access_token", "FB_PAGE_TOKEN=[[EAAM{a150}]]"),
        (
            "twitter_bearer_token",
            "Authorization: Bearer [[AAAAAAAAAAAAAAAAAAAAAA{a10}%2B{a70}%3D{a30}]]",
        ),
        (
            "pem_private_key",
            "[[-----BEGIN RSA PRIVATE KEY-----\n{b64}\n{b64}\n-----END RSA PRIVATE KEY-----]]\n",
        ),
        (
            "pem_private_key",
            "[[-----BEGIN EC PRIVATE KEY-----\n{b64}\n-----END EC PRIVATE KEY-----]]",
        ),
        (
            "pem_private_key",
            "[[-----BEGIN DSA PRIVATE KEY-----\n{b64}\n-----END DSA PRIVATE KEY-----]]",
        ),
        (
            "pem_private_key",
            "[[-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----]]",
        ),
        (
            "pem_private_key",
            "[[-----BEGIN ENCRYPTED PRIVATE KEY-----\n{b64}\n-----END ENCRYPTED PRIVATE KEY-----]]",
        ),
        (
            "pem_private_key",
            "[[-----BEGIN OPENSSH PRIVATE KEY-----\n{b64}\n-----END OPENSSH PRIVATE KEY-----]]\n",
        ),
        (
            "pem_private_key",
            "[[-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{b64}\n={b4}\n-----END PGP PRIVATE KEY BLOCK-----]]",
        ),
        (
            "pem_private_key",
            "{\"private_key\": \"[[-----BEGIN PRIVATE KEY-----\\n{b64}\\n-----END PRIVATE KEY-----]]\\n\"}",
        ),
        (
            "pem_private_key",
            "cat id_rsa: [[-----BEGIN OPENSSH PRIVATE KEY-----\n{b64}\n{b30}]]",
        ),
        (
            "ssh2_private_key",
            "[[---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: \"k\"\n{b64}\n---- END SSH2 ENCRYPTED PRIVATE KEY ----]]",
        ),
        (
            "putty_private_key",
            "[[PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: k\nPublic-Lines: 2\n{b64}\nPrivate-Lines: 1\n{b44}\nPrivate-MAC: {h64}]]\n",
        ),
        (
            "putty_private_key",
            "[[PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nPrivate-Lines: 1\n{b64}]]",
        ),
    ];

    /// Look-alikes the scrubber sees every day and must leave alone.
    fn benign() -> Vec<String> {
        let mut lines: Vec<String> = [
            // sha1, sha256, sha512 digests; a commit id; uppercase hex
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
            "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 Merge: 1a410ef 3c2d1e0",
            "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "md5 d41d8cd98f00b204e9800998ecf8427e  /boot/vmlinuz",
            // UUIDs and W3C trace context
            "request_id=7d444840-9dc0-11d1-b245-5ffdce74fad2 user=3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // base64 of a PNG, including long runs of A
            "<img src=\"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\">",
            "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAQAAAAEACAYAAABccqhmAAAAGXRFWHRTb2Z0d2FyZQBBZG9iZSBJbWFnZVJlYWR5ccllPAAAA/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+EAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/IAAAAElFTkSuQmCC",
            // container digests, versions, paths, k8s names, packages
            "docker pull nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
            "image: ghcr.io/acme/api:v1.42.0-rc.1+build.20240101 digest sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "version 2.14.3-beta.2 semver 10.0.0-alpha+001",
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30 /home/runner/work/project/project/target/release/deps/libregex_automata-1a2b3c4d5e6f7a8b.rlib",
            "kubectl -n kube-system delete pod coredns-5d78c9869d-7xk2p kube-proxy-9fz8q etcd-control-plane-node-1",
            "replicaset.apps/payments-api-7f9c8d6b5d deployment.apps/payments-api secret/default-token-x8p2k",
            "npm install @types/node lodash.debounce @babel/preset-env eslint-plugin-react-hooks sk-utils",
            // ssh host key fingerprints
            "ED25519 key fingerprint is SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s.",
            "256 SHA256:p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM root@host (ED25519)",
            // prose and near-misses
            "the sk- prefix marks a key; ask- and task-runner and disk-usage are words",
            "set the key- prefix, key-value store, api-gateway and access-control-allow-origin",
            "ghp_ is GitHub's prefix; xoxb- is Slack's; AKIA is AWS's; glpat-short",
            "ssh -i ~/.ssh/id_ed25519 -o StrictHostKeyChecking=no deploy@10.0.0.1",
            "GET /api/v2/users?page=2&per_page=100 HTTP/1.1 200 1532 0.004s",
            "-----BEGIN CERTIFICATE----- -----BEGIN PUBLIC KEY----- ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host",
            "java -Xmx2g -jar app.jar --spring.profiles.active=prod --server.port=8080",
            "1700000000:INFO started in 42ms",
        ]
        .iter()
        .map(|line| line.to_string())
        .collect();
        // A long random-looking base64 blob (a certificate body, say).
        lines.push(format!("MII{}", generate('b', 600, 7)));
        lines
    }

    /// The character classes of the example templates.
    fn class(tag: char) -> &'static str {
        match tag {
            'a' => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            'b' => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
            'w' => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
            'h' => "0123456789abcdef",
            'x' => "abcdefghijklmnopqrstuvwxyz0123456789",
            'u' => "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
            'U' => "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            'N' => "ABCDEFGHJKLMNPQRSTVWXYZ23456789",
            'B' => "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
            'L' => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            'd' => "0123456789",
            'g' => "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L",
            other => panic!("unknown class {other}"),
        }
    }

    /// `n` synthetic characters of a class from a seeded xorshift: varied
    /// enough to look random, reproducible, and no real key.
    fn generate(tag: char, n: usize, seed: u64) -> String {
        let chars = class(tag).as_bytes();
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(chars[(state % chars.len() as u64) as usize])
            })
            .collect()
    }

    /// Expands a template; returns the line and the byte span of `[[...]]`.
    fn expand(template: &str, seed: u64) -> (String, std::ops::Range<usize>) {
        let mut line = String::new();
        let (mut start, mut end) = (None, None);
        let mut rest = template;
        let mut part = 0u64;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("[[") {
                start = Some(line.len());
                rest = after;
            } else if let Some(after) = rest.strip_prefix("]]") {
                end = Some(line.len());
                rest = after;
            } else if rest.starts_with('{')
                && rest[1..].starts_with(|c: char| c.is_ascii_alphabetic())
            {
                let close = rest.find('}').expect("template class is closed");
                let tag = rest[1..].chars().next().expect("template class has a tag");
                let n: usize = rest[2..close].parse().expect("template class has a length");
                part += 1;
                line.push_str(&generate(tag, n, seed * 1000 + part));
                rest = &rest[close + 1..];
            } else {
                let c = rest.chars().next().expect("rest is not empty");
                line.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        (
            line,
            start.expect("template marks a start")..end.expect("template marks an end"),
        )
    }

    fn secret_spans(rule: &VendorRule, line: &str) -> Vec<std::ops::Range<usize>> {
        let regex = Regex::new(rule.pattern).expect("pattern compiles");
        regex
            .captures_iter(line)
            .map(|captures| {
                captures
                    .name("secret")
                    .or_else(|| captures.get(0))
                    .expect("a match has group 0")
                    .range()
            })
            .collect()
    }

    fn rule(name: &str) -> &'static VendorRule {
        VENDOR_RULES
            .iter()
            .find(|rule| rule.name == name)
            .unwrap_or_else(|| panic!("example names unknown rule {name}"))
    }

    #[test]
    fn every_pattern_compiles() {
        for rule in VENDOR_RULES {
            assert!(
                Regex::new(rule.pattern).is_ok(),
                "{}: {}",
                rule.name,
                rule.pattern
            );
        }
    }

    #[test]
    fn names_are_unique_snake_case_and_rules_are_documented() {
        let mut names = HashSet::new();
        for rule in VENDOR_RULES {
            assert!(names.insert(rule.name), "duplicate name {}", rule.name);
            assert!(
                rule.name.starts_with(|c: char| c.is_ascii_lowercase())
                    && rule
                        .name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    && !rule.name.contains("__")
                    && !rule.name.ends_with('_'),
                "{} is not snake_case",
                rule.name
            );
            assert!(!rule.vendor.is_empty(), "{} has no vendor", rule.name);
            assert!(
                !rule.source.trim().is_empty(),
                "{} has no source",
                rule.name
            );
            assert!(!rule.keywords.is_empty(), "{} has no keyword", rule.name);
            for keyword in rule.keywords {
                assert!(!keyword.is_empty(), "{} has an empty keyword", rule.name);
                assert_eq!(
                    *keyword,
                    keyword.to_lowercase(),
                    "{}: keywords are lowercase",
                    rule.name
                );
            }
        }
    }

    #[test]
    fn at_least_sixty_vendors() {
        let vendors: HashSet<&str> = VENDOR_RULES.iter().map(|rule| rule.vendor).collect();
        assert!(vendors.len() >= 60, "only {} vendors", vendors.len());
    }

    #[test]
    fn every_rule_matches_its_examples_with_exactly_the_secret() {
        for rule in VENDOR_RULES {
            assert!(
                EXAMPLES.iter().any(|(name, _)| *name == rule.name),
                "{} has no positive example",
                rule.name
            );
        }
        for (index, (name, template)) in EXAMPLES.iter().enumerate() {
            let rule = rule(name);
            let (line, expected) = expand(template, index as u64 + 1);
            // The engine runs a rule only on a text holding one of its
            // keywords, so one must lie inside every match.
            let regex = Regex::new(rule.pattern).expect("pattern compiles");
            for found in regex.find_iter(&line) {
                let lower = found.as_str().to_ascii_lowercase();
                assert!(
                    rule.keywords.iter().any(|keyword| lower.contains(keyword)),
                    "{name}: no keyword inside the match {:?} in {line:?}",
                    found.as_str()
                );
            }
            let spans = secret_spans(rule, &line);
            assert_eq!(
                spans,
                vec![expected.clone()],
                "{name}: wrong secret in {line:?} (want {:?})",
                &line[expected]
            );
        }
    }

    #[test]
    fn fixed_length_tokens_do_not_match_inside_longer_runs() {
        let longer = [
            ("github_token", "ghp_{a40}"),
            ("npm_token", "npm_{a37}"),
            ("aws_access_key_id", "AKIA{B17}"),
            ("gcp_api_key", "AIza{w36}"),
            ("anthropic_api_key", "sk-ant-api03-{w93}AAx"),
            ("sendgrid_api_key", "SG.{w22}.{w44}"),
            ("twilio_api_key", "SK{h33}"),
            ("mailgun_api_key", "key-{h40}"),
            ("google_oauth_client_secret", "GOCSPX-{w34}"),
        ];
        for (index, (name, template)) in longer.iter().enumerate() {
            let (line, _) = expand(&format!("x [[{template}]] y"), 500 + index as u64);
            assert!(
                secret_spans(rule(name), &line).is_empty(),
                "{name} fired on {line:?}"
            );
        }
    }

    #[test]
    fn benign_look_alikes_match_no_rule() {
        for line in benign() {
            for rule in VENDOR_RULES {
                let regex = Regex::new(rule.pattern).expect("pattern compiles");
                assert!(
                    regex.find(&line).is_none(),
                    "{} fired on {line:?}: {:?}",
                    rule.name,
                    regex.find(&line).map(|m| m.as_str())
                );
            }
        }
    }
}
