//! `scrim policy` as a user runs it.
use std::{fs, path::Path, process::Command};

use scrim_testkit::keys::directory_with_master_key;

const SCRIM: &str = env!("CARGO_BIN_EXE_scrim");

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/examples")
}

/// Every shipped policy passes `scrim policy check` as it is, where no
/// master key is: a Git checkout in CI.
#[test]
fn checks_the_shipped_policies_in_place_with_no_key_anywhere() {
    let policies = shipped_policies();
    for policy in &policies {
        let text = fs::read_to_string(policy).expect("read policy");
        if let Some(key) = text
            .lines()
            .find_map(|line| line.strip_prefix("master_key_file = \""))
        {
            let key = key.trim_end_matches('"');
            let path = policy.parent().expect("directory").join(key);
            assert!(!path.exists(), "{} exists", path.display());
        }
    }
    let checked = Command::new(SCRIM)
        .args(["policy", "check"])
        .args(&policies)
        .output()
        .expect("run scrim policy check");
    let stdout = String::from_utf8_lossy(&checked.stdout);
    let stderr = String::from_utf8_lossy(&checked.stderr);
    assert!(checked.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout.matches(": ok (").count(), policies.len(), "{stdout}");
    // The built-in default names no legitimate-interest assessment: a
    // warning, at its legal basis, that refuses nothing.
    assert!(
        stderr.contains(&format!(
            "{}:13:15: warning: tenant `default` relies on legitimate interests",
            examples().join("default.toml").display()
        )),
        "{stderr}"
    );

    // The key is checked where it must be: on the node, as `scrim run` does.
    let with_keys = Command::new(SCRIM)
        .args(["policy", "check", "--with-keys"])
        .arg(examples().join("strict.toml"))
        .output()
        .expect("run scrim policy check --with-keys");
    let stderr = String::from_utf8_lossy(&with_keys.stderr);
    assert_eq!(with_keys.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:6:19: master key file {}",
            examples().join("strict.toml").display(),
            examples().join("master.key").display()
        )),
        "{stderr}"
    );
}

#[test]
fn rejects_a_broken_policy_with_its_location() {
    let directory = tempfile::tempdir().expect("tempdir");
    let broken = directory.path().join("broken.toml");
    let text = fs::read_to_string(examples().join("default.toml")).expect("read example");
    let line = text
        .lines()
        .position(|line| line.starts_with("retention = {"))
        .expect("a retention line")
        + 1;
    fs::write(&broken, text.replace("retention = {", "retension = {")).expect("write");
    let bad = Command::new(SCRIM)
        .args(["policy", "check"])
        .arg(&broken)
        .output()
        .expect("run scrim policy check");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:{line}:1: unknown field `retension`",
            broken.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `retention`?"), "{stderr}");
}

/// The reviewer's fields are checked: the legal basis is one of the six
/// of Art. 6(1), and a tenant that lets paths or arguments out must
/// acknowledge Art. 9.
#[test]
fn a_made_up_legal_basis_and_a_missing_art_9_acknowledgement_are_refused() {
    let directory = tempfile::tempdir().expect("tempdir");
    let text = fs::read_to_string(examples().join("default.toml")).expect("read example");
    let check = |name: &str, text: String| {
        let path = directory.path().join(name);
        fs::write(&path, text).expect("write");
        let output = Command::new(SCRIM)
            .args(["policy", "check"])
            .arg(&path)
            .output()
            .expect("run scrim policy check");
        assert_eq!(output.status.code(), Some(1), "{name}: {output:?}");
        (path, String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (path, stderr) = check(
        "basis.toml",
        text.replace(
            "legal_basis = \"legitimate_interests\"",
            "legal_basis = \"because we can\"",
        ),
    );
    assert!(
        stderr.contains(&format!(
            "{}:13:15: unknown variant `because we can`, expected one of `consent`, \
             `contract`, `legal_obligation`, `vital_interests`, `public_task`, \
             `legitimate_interests`",
            path.display()
        )),
        "{stderr}"
    );
    let acknowledgement = text
        .lines()
        .find(|line| line.starts_with("special_categories = "))
        .expect("the default acknowledges Art. 9");
    let (path, stderr) = check(
        "art9.toml",
        text.replace(&format!("{acknowledgement}\n"), ""),
    );
    assert!(
        stderr.contains(&format!(
            "{}:11:8: tenant `default` lets `process.executable.path` out readable",
            path.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("GDPR Art. 9"), "{stderr}");
}

#[test]
fn explains_what_each_tenant_collects_and_what_the_kernel_never_reads() {
    let policy = examples().join("kubernetes.toml");
    let output = Command::new(SCRIM)
        .args(["policy", "explain"])
        .arg(&policy)
        .output()
        .expect("run scrim policy explain");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "Events no tenant selects: dropped.",
        "Never captured, dropped in the kernel: namespace `kube-system`.",
        "## Tenant `payments`",
        "- Legal basis: compliance with a legal obligation, Art. 6(1)(c): PCI DSS requirement \
         10: log and monitor all access to cardholder data",
        "- DPIA: DPIA-2026-03 (an example reference, name your own assessment)",
        "- Selects: namespace `payments`, namespace `payments-*`",
        "- Captures: process events, syscalls (`connect`, `execve`, `ptrace`, `setuid`, \
         `openat`), network events",
        "- Keeps: network events for `30d`, process events for `90d`, syscall events for `30d`",
        "| `network.peer.address` | quasi-identifier | truncated to /24 (IPv4) or /48 (IPv6) | yes (asked for) |",
        "| `process.real_user.id` | identifier | pseudonymised (keyed BLAKE3) | always |",
        "Never read in the kernel: `process.executable.name`, `scrim.syscall.fd`",
        "## Tenant `web`",
        "| `time` | quasi-identifier | rounded down to `1m` | always |",
        "Never read in the kernel: `process.executable.path`, `scrim.process.executable.path_truncated`, `process.command_args`",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn the_schema_accepts_the_shipped_examples_and_refuses_a_misspelt_field() {
    let test = "the_schema_accepts_the_shipped_examples_and_refuses_a_misspelt_field";
    if !scrim_testkit::archive::python_module_or_skip(test, "jsonschema") {
        return;
    }
    let directory = tempfile::tempdir().expect("tempdir");
    let schema = Command::new(SCRIM)
        .args(["policy", "schema"])
        .output()
        .expect("run scrim policy schema");
    assert!(schema.status.success());
    let schema_file = directory.path().join("schema.json");
    fs::write(&schema_file, &schema.stdout).expect("write schema");
    // jsonschema, an independent validator, on the examples read by Python's
    // own TOML parser.
    const CHECK: &str = r#"
import glob, json, sys, tomllib, jsonschema
schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft202012Validator
validator.check_schema(schema)
for path in sorted(glob.glob(sys.argv[2] + "/*.toml")):
    jsonschema.validate(tomllib.load(open(path, "rb")), schema, cls=validator)
    print("valid", path.rsplit("/", 1)[-1])
broken = tomllib.load(open(sys.argv[2] + "/default.toml", "rb"))
broken["tenant"][0]["fields"]["process.executable.pth"] = "keep"
try:
    jsonschema.validate(broken, schema, cls=validator)
    print("accepted a misspelt field")
except jsonschema.ValidationError:
    print("refused a misspelt field")
"#;
    let output = Command::new("python3")
        .args(["-c", CHECK])
        .arg(&schema_file)
        .arg(examples())
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "valid default.toml",
            "valid kubernetes.toml",
            "valid strict.toml",
            "refused a misspelt field"
        ]
    );
}

#[test]
fn every_shipped_example_passes_its_cases_with_no_key_anywhere() {
    for (file, cases) in [
        ("default.toml", "default"),
        ("kubernetes.toml", "kubernetes"),
        ("kubernetes.yaml", "kubernetes"),
        ("strict.toml", "strict"),
    ] {
        let policy = examples().join(file);
        assert!(!examples().join("master.key").exists());
        let output = Command::new(SCRIM)
            .args(["policy", "test"])
            .arg(&policy)
            .arg("--cases")
            .arg(examples().join("cases").join(cases))
            .output()
            .expect("run scrim policy test");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{file}:\n{stdout}");
        assert!(stdout.contains(" 0 failed"), "{stdout}");
    }
}

#[test]
fn a_failing_case_says_which_field_differs_and_fails_the_command() {
    let directory = directory_with_master_key();
    let policy = directory.path().join("default.toml");
    fs::copy(examples().join("default.toml"), &policy).expect("copy example");
    let cases = directory.path().join("cases");
    fs::create_dir(&cases).expect("cases folder");
    fs::write(
        cases.join("uid-leaks.toml"),
        r#"cgroup_path = "/"
[event]
"event.name" = "process.fork"
"process.pid" = 7
"process.real_user.id" = 1000
[expect]
"event.name" = "process.fork"
"process.pid" = 7
"process.real_user.id" = 1000
"#,
    )
    .expect("write case");
    let output = Command::new(SCRIM)
        .args(["policy", "test"])
        .arg(&policy)
        .arg("--cases")
        .arg(&cases)
        .output()
        .expect("run scrim policy test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL"), "{stdout}");
    assert!(
        stdout
            .contains("`process.real_user.id`: expected 1000, but the record has no value for it"),
        "{stdout}"
    );
    // What leaves but the case does not list is a failure too.
    assert!(stdout.contains("`time` leaves with"), "{stdout}");
    assert!(
        stdout.contains("policy test: 0 cases passed, 1 failed"),
        "{stdout}"
    );
}

#[test]
fn environment_overrides_set_deployment_paths_and_are_checked() {
    let directory = directory_with_master_key();
    let policy = directory.path().join("strict.toml");
    fs::copy(examples().join("strict.toml"), &policy).expect("copy example");
    let check = |variable: &str, value: &str| {
        Command::new(SCRIM)
            .args(["policy", "check"])
            .arg(&policy)
            .env(variable, value)
            .output()
            .expect("run scrim policy check")
    };
    let moved = check("SCRIM_POLICY_SINKS__STRICT__PARQUET", "/srv/scrim/strict");
    assert!(
        moved.status.success(),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    let missing = Command::new(SCRIM)
        .args(["policy", "check", "--with-keys"])
        .arg(&policy)
        .env("SCRIM_POLICY_MASTER_KEY_FILE", "/nonexistent/master.key")
        .output()
        .expect("run scrim policy check");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    // The problem is reported at the setting the variable overrides.
    assert!(
        stderr.contains(&format!(
            "{}:6:19: master key file /nonexistent/master.key",
            policy.display()
        )),
        "{stderr}"
    );
    let unknown = check("SCRIM_POLICY_SINKS__STRCT__PARQUET", "/x");
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("did you mean `strict`?"), "{stderr}");
}

#[test]
fn redact_scrubs_each_line_with_the_pipelines_detectors() {
    use std::io::Write as _;
    let mut child = Command::new(SCRIM)
        .arg("redact")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run scrim redact");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"psql --password=hunter2\nls -la\n\nexport GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789\n")
        .expect("write lines");
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "psql --password=[REDACTED:credential_flag]\nls -la\n\nexport GITHUB_TOKEN=[REDACTED:secret_assignment]\n"
    );
}

#[test]
fn keys_generate_writes_a_private_key_once() {
    use std::os::unix::fs::PermissionsExt as _;
    let directory = tempfile::tempdir().expect("tempdir");
    let key = directory.path().join("master.key");
    let generate = || {
        Command::new(SCRIM)
            .args(["keys", "generate"])
            .arg(&key)
            .output()
            .expect("run scrim keys generate")
    };
    assert!(generate().status.success());
    let metadata = fs::metadata(&key).expect("key written");
    assert_eq!(metadata.len(), 32);
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    let again = generate();
    assert!(
        !again.status.success(),
        "an existing key must never be overwritten"
    );
}

/// Every policy scrim ships: the examples and the Kubernetes manifests'.
fn shipped_policies() -> Vec<std::path::PathBuf> {
    let mut policies: Vec<std::path::PathBuf> = fs::read_dir(examples())
        .expect("examples")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "toml" || extension == "yaml")
        })
        .collect();
    let kubernetes = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes");
    policies.push(kubernetes.join("base/policy.toml"));
    policies.push(kubernetes.join("overlays/example/policy.toml"));
    policies.sort();
    policies
}

fn report(policy: &Path, format: &str) -> String {
    let output = Command::new(SCRIM)
        .args(["policy", "report", "--format", format])
        .arg(policy)
        .output()
        .expect("run scrim policy report");
    assert!(
        output.status.success(),
        "{}: {}",
        policy.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

#[test]
fn the_processing_report_says_what_the_policy_does_and_leaves_the_controller_blank() {
    let policy = examples().join("kubernetes.toml");
    let markdown = report(&policy, "md");
    let hash = blake3::hash(&fs::read(&policy).expect("policy")).to_hex();
    for expected in [
        "# Record of processing activities (GDPR Art. 30)".to_owned(),
        format!("- **Policy hash (BLAKE3):** `{hash}`"),
        "- **Name and contact details of the controller:** ⟨to be filled in by the controller⟩"
            .to_owned(),
        "- **Never captured, for any tenant:** namespace `kube-system`".to_owned(),
        "## Processing activity: tenant `payments`".to_owned(),
        "- **Purpose (Art. 30(1)(b)):** fraud and intrusion detection for the payments platform"
            .to_owned(),
        "- **Legal basis (Art. 6(1)):** compliance with a legal obligation, Art. 6(1)(c): PCI \
         DSS requirement 10: log and monitor all access to cardholder data"
            .to_owned(),
        "- **Data protection impact assessment (Art. 35):** DPIA-2026-03 (an example \
         reference, name your own assessment)"
            .to_owned(),
        "- **Special categories of data (Art. 9):** command lines are scrubbed of secrets"
            .to_owned(),
        "- Access (Art. 15) and erasure (Art. 17) over `/var/lib/scrim/archive`: answered by \
         scrim, with `scrim archive export --policy POLICY --tenant payments --subject \
         uid=UID` and `scrim archive erase`"
            .to_owned(),
        "- Objection (Art. 21(1)) does not apply to this legal basis".to_owned(),
        "| secret-bearing (may hold credentials verbatim) | `process.command_args` |".to_owned(),
        "| identifier (names a user directly) | `process.real_user.id` |".to_owned(),
        "Pseudonymised with keyed BLAKE3 (a key of this tenant's, changing every 30d): \
         `process.real_user.id`"
            .to_owned(),
        "| network events | 30d |".to_owned(),
        "| OTLP backend (gRPC) | `http://otel-gateway.observability:4317` | not encrypted in \
         transit (plain http: keep it inside the cluster); sent with X-Scope-OrgID |"
            .to_owned(),
        "## Processing activity: tenant `web`".to_owned(),
        "Event kinds not captured at all: syscall, network".to_owned(),
        "Never read in the kernel, so never copied out of it: `process.executable.path`".to_owned(),
        "| OTLP backend (HTTP/protobuf) | `https://otel-gateway.example.internal:4318` | \
         encrypted in transit (TLS) |"
            .to_owned(),
        "- **Legitimate-interest assessment:** LIA-2026-08".to_owned(),
        "- Objection (Art. 21(1)): data subjects may object to this processing.".to_owned(),
    ] {
        assert!(
            markdown.contains(&expected),
            "missing {expected:?} in:\n{markdown}"
        );
    }
}

/// A tenant whose records go to OTLP backends only: scrim holds nothing
/// of them once delivered, so its section says the backend answers
/// access and erasure, and enforces retention, and never points at
/// `scrim archive`.
#[test]
fn an_otlp_only_tenants_rights_are_the_backends_to_answer() {
    let markdown = report(&examples().join("kubernetes.toml"), "md");
    let web = markdown
        .split("## Processing activity: tenant `web`")
        .nth(1)
        .expect("the web tenant's section");
    for expected in [
        "- Access and erasure over what the OTLP backends \
         `https://otel-gateway.example.internal:4318` received: answered by each backend's \
         operator, not by scrim.",
        "This tenant's records go to OTLP backends only: scrim keeps no archive of them, so \
         these periods are the backends' to enforce.",
        "once the collectors reload the policy, their events are dropped in the kernel",
        "Opted out now: namespace `kube-system`.",
    ] {
        assert!(web.contains(expected), "missing {expected:?} in:\n{web}");
    }
    assert!(!web.contains("scrim archive export"), "{web}");
    assert!(!web.contains("Enforced on scrim's archives"), "{web}");
}

/// Globs and other values from the policy are literal text: `/team/**`
/// is no emphasis in HTML (the DOM Chromium builds holds it, in code)
/// nor in Markdown.
#[test]
fn globs_and_values_are_rendered_literally_in_html_and_markdown() {
    let directory = tempfile::tempdir().expect("tempdir");
    let policy = directory.path().join("team.toml");
    fs::write(
        &policy,
        r#"version = 1
[[tenant]]
name = "team"
purpose = "watch *all* <b>team</b> jobs & [more](x)"
legal_basis = "contract"
match = { cgroup_path = ["/team/**", "/_x_/*"] }
capture = ["process"]
retention = { process = "1d" }
sinks = [{ jsonl = { path = "/srv/a_b*c*" } }]
[tenant.fields]
"event.name" = "keep"
"#,
    )
    .expect("write policy");
    let markdown = report(&policy, "md");
    for expected in [
        "people (users and service accounts) whose processes run in: cgroup `/team/**`, \
         cgroup `/_x_/*`",
        "- **Purpose (Art. 30(1)(b)):** watch \\*all\\* \\<b\\>team\\</b\\> jobs \\& \\[more\\](x)",
        "| JSON-lines archive | `/srv/a_b*c*` |",
    ] {
        assert!(
            markdown.contains(expected),
            "missing {expected:?} in:\n{markdown}"
        );
    }
    let html = report(&policy, "html");
    assert!(!html.contains("<strong></strong>"), "{html}");
    assert!(html.contains("cgroup <code>/team/**</code>"), "{html}");
    let test = "globs_and_values_are_rendered_literally_in_html_and_markdown";
    if !scrim_testkit::archive::program_or_skip(test, "chromium") {
        return;
    }
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("policy-reports");
    fs::create_dir_all(&screenshots).expect("screenshot directory");
    let page = screenshots.join("literal-globs.html");
    fs::write(&page, &html).expect("page");
    let screenshot = screenshots.join("literal-globs.png");
    let _ = fs::remove_file(&screenshot);
    let (rendered, log) =
        headless_chromium(&page, &[format!("--screenshot={}", screenshot.display())]);
    assert!(rendered, "{log}");
    let png = fs::read(&screenshot).expect("a screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (dumped, dom) = headless_chromium(&page, &["--dump-dom".to_owned()]);
    assert!(dumped, "{dom}");
    // The DOM as Chromium parsed it: the glob in code, no empty emphasis,
    // the purpose's markup as text.
    assert!(dom.contains("cgroup <code>/team/**</code>"), "{dom}");
    assert!(dom.contains("cgroup <code>/_x_/*</code>"), "{dom}");
    assert!(!dom.contains("<strong></strong>"), "{dom}");
    assert!(!dom.contains("<b>"), "{dom}");
    assert!(
        dom.contains("watch *all* &lt;b&gt;team&lt;/b&gt; jobs &amp; [more](x)"),
        "{dom}"
    );
    assert!(dom.contains("<code>/srv/a_b*c*</code>"), "{dom}");
}

#[test]
fn every_shipped_policys_report_renders_in_headless_chromium_without_console_errors() {
    let test = "every_shipped_policys_report_renders_in_headless_chromium_without_console_errors";
    if !scrim_testkit::archive::program_or_skip(test, "chromium") {
        return;
    }
    // Kept after the test: the screenshots are there to be looked at.
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("policy-reports");
    fs::create_dir_all(&screenshots).expect("screenshot directory");
    for policy in shipped_policies() {
        let markdown = report(&policy, "md");
        let html = report(&policy, "html");
        assert!(
            html.starts_with("<!DOCTYPE html>") && !html.contains("<script"),
            "self-contained, no scripts"
        );
        assert!(
            !html.contains("src=") && !html.contains("href="),
            "nothing fetched"
        );
        let name = format!(
            "{}-{}",
            policy
                .parent()
                .and_then(Path::file_name)
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            policy
                .file_name()
                .map(|file| file.to_string_lossy().replace('.', "-"))
                .unwrap_or_default()
        );
        let page = screenshots.join(format!("{name}.html"));
        fs::write(&page, &html).expect("page");
        let screenshot = screenshots.join(format!("{name}.png"));
        let _ = fs::remove_file(&screenshot);
        let (rendered, log) =
            headless_chromium(&page, &[format!("--screenshot={}", screenshot.display())]);
        assert!(rendered, "{name}: {log}");
        let console: Vec<&str> = log
            .lines()
            .filter(|line| line.contains("CONSOLE") || line.contains("Uncaught"))
            .collect();
        assert!(console.is_empty(), "{name}: console messages {console:#?}");
        let png = fs::read(&screenshot).expect("a screenshot");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}");
        let width = u32::from_be_bytes(png[16..20].try_into().expect("width"));
        let height = u32::from_be_bytes(png[20..24].try_into().expect("height"));
        assert_eq!((width, height), (1280, 1800), "{name}");
        // A blank page compresses to a few kilobytes; text does not.
        assert!(png.len() > 40_000, "{name}: {} bytes", png.len());
        // The DOM Chromium built holds every tenant's section.
        let (dumped, dom) = headless_chromium(&page, &["--dump-dom".to_owned()]);
        assert!(dumped, "{name}");
        let tenants = markdown.matches("## Processing activity: tenant `").count();
        assert!(tenants > 0, "{name}");
        assert_eq!(
            dom.matches("<h2>Processing activity: tenant <code>")
                .count(),
            tenants,
            "{name}"
        );
        println!(
            "{name}: {tenants} tenants, screenshot {}",
            screenshot.display()
        );
    }
}

/// Runs headless Chromium on `page` with `extra` flags; returns whether it
/// succeeded, and its standard output and log together.
fn headless_chromium(page: &Path, extra: &[String]) -> (bool, String) {
    let profile = tempfile::tempdir().expect("profile");
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,1800",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}
