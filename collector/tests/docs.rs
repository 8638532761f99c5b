//! The docs show what the binary does: `docs/fields.md` is the output of
//! `scrim fields`, and the README's two-team policy passes `scrim policy
//! check`. Docs that drift from the code mislead the people who read them
//! to decide what to collect, so a drift fails the build.
use std::{fs, path::PathBuf, process::Command};

use scrim_testkit::keys::directory_with_master_key;

const SCRIM: &str = env!("CARGO_BIN_EXE_scrim");

/// The line of `docs/fields.md` below which everything is generated.
const FIELDS_MARKER: &str = "<!-- Generated: everything below this line is `scrim fields`. -->";

/// How to bring `docs/fields.md` up to date, from the repository's root.
const REGENERATE: &str =
    "sed -i '/^<!-- Generated:/q' docs/fields.md && cargo run -q -- fields >> docs/fields.md";

fn repository_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn read(path: &str) -> String {
    let file = repository_file(path);
    fs::read_to_string(&file).unwrap_or_else(|error| panic!("read {}: {error}", file.display()))
}

#[test]
fn docs_fields_md_is_the_output_of_scrim_fields() {
    let output = Command::new(SCRIM)
        .arg("fields")
        .output()
        .expect("run scrim fields");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let catalogue = String::from_utf8(output.stdout).expect("scrim fields prints UTF-8");

    let doc = read("docs/fields.md");
    let Some((_header, generated)) = doc.split_once(&format!("{FIELDS_MARKER}\n")) else {
        panic!(
            "docs/fields.md has lost its marker line `{FIELDS_MARKER}`; put it back above the catalogue"
        );
    };
    assert!(
        generated.trim() == catalogue.trim(),
        "docs/fields.md is not the output of `scrim fields`; regenerate it with\n  {REGENERATE}"
    );
}

#[test]
fn the_readme_two_team_policy_passes_policy_check() {
    let readme = read("README.md");
    let section = readme
        .split_once("## A policy for two teams")
        .expect("README.md has the section `A policy for two teams`")
        .1;
    let policy = section
        .split_once("```toml\n")
        .and_then(|(_, rest)| rest.split_once("```\n"))
        .expect("the section holds a ```toml block")
        .0;

    // The example names `master.key` beside it, as `scrim keys generate` makes one.
    let directory = directory_with_master_key();
    let file = directory.path().join("teams.toml");
    fs::write(&file, policy).expect("write teams.toml");
    let check = Command::new(SCRIM)
        .args(["policy", "check"])
        .arg(&file)
        .output()
        .expect("run scrim policy check");
    assert!(
        check.status.success(),
        "README.md's two-team policy fails `scrim policy check`:\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
