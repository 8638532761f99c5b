//! What `scrim run` would reject, `scrim policy check` rejects first, at
//! the place in the file that breaks the limit: tenant names that cannot
//! name a directory, more tenants than the kernel has slots, archive paths
//! no directory can have. Each limit is tried at its edge: the last value
//! that fits passes, the first that does not fails.
use scrim_policies::{Diagnostic, parse};
use scrim_testkit::keys::directory_with_master_key;

/// A policy of `count` tenants, one block of 9 lines each after the first
/// line: tenant `k`'s `name` is on line `4 + 9k` (its value at column 8),
/// its `sinks` on line `10 + 9k`.
fn policy_with_tenants(count: usize, name_of: impl Fn(usize) -> String, sink: &str) -> String {
    let mut source = String::from("version = 1\n");
    for index in 0..count {
        source.push_str(&format!(
            "\n[[tenant]]\nname = \"{name}\"\npurpose = \"p\"\nlegal_basis = \"contract\"\n\
             match = {{ cgroup_path = [\"/t{index}/**\"] }}\ncapture = [\"process\"]\n\
             retention = {{ process = \"1d\" }}\nsinks = [{sink}]\n",
            name = name_of(index),
        ));
    }
    source
}

fn check(source: &str) -> Result<(), Vec<Diagnostic>> {
    let directory = directory_with_master_key();
    parse(source, directory.path()).map(|_| ())
}

/// The one diagnostic `errors` must hold, as `line:column message`.
fn only_error(errors: &[Diagnostic]) -> String {
    assert_eq!(errors.len(), 1, "{errors:#?}");
    format!(
        "{}:{} {}",
        errors[0].line, errors[0].column, errors[0].message
    )
}

const JSONL: &str = r#"{ jsonl = { path = "out" } }"#;

#[test]
fn a_tenant_name_longer_than_its_directory_can_be_is_refused_where_it_stands() {
    let named = |length: usize| policy_with_tenants(1, move |_| "a".repeat(length), JSONL);
    check(&named(248)).unwrap_or_else(|errors| panic!("248 bytes fit: {errors:#?}"));
    let error = only_error(&check(&named(249)).expect_err("a 249-byte name accepted"));
    assert!(
        error.starts_with("4:8 tenant name of 249 bytes is too long: at most 248"),
        "{error}"
    );
    assert!(error.contains("`tenant=<name>`"), "{error}");
}

#[test]
fn more_tenants_than_the_kernel_has_slots_is_refused_at_the_first_over() {
    let tenants = |count| policy_with_tenants(count, |index| format!("t{index}"), JSONL);
    check(&tenants(255)).unwrap_or_else(|errors| panic!("255 tenants fit: {errors:#?}"));
    let error = only_error(&check(&tenants(256)).expect_err("256 tenants accepted"));
    // Tenant 256 is index 255: line 4 + 9 * 255.
    assert_eq!(
        error,
        "2299:8 the policy has 256 tenants; the kernel filter holds at most 255 \
         (this is tenant 256)"
    );
    let error = only_error(&check(&tenants(1000)).expect_err("1000 tenants accepted"));
    assert!(
        error.starts_with("2299:8 the policy has 1000 tenants"),
        "{error}"
    );
}

#[test]
fn the_slot_for_unclaimed_cgroups_is_kept_even_when_a_tenant_takes_them() {
    // `scrim run` numbers tenants from slot 1 whatever `unknown_tenant`
    // says, so naming one of 256 tenants for unclaimed cgroups does not
    // make them fit.
    let source = policy_with_tenants(256, |index| format!("t{index}"), JSONL).replacen(
        "version = 1\n",
        "version = 1\n[defaults]\nunknown_tenant = \"t0\"\n",
        1,
    );
    let error = only_error(&check(&source).expect_err("256 tenants accepted"));
    assert!(
        error.starts_with("2301:8 the policy has 256 tenants"),
        "{error}"
    );
}

#[test]
fn an_archive_path_no_directory_can_have_is_refused_at_its_sink() {
    let with_component = |length: usize| {
        let sink = format!(
            r#"{{ parquet = {{ path = "/var/lib/{}/archive" }} }}"#,
            "d".repeat(length)
        );
        policy_with_tenants(1, |_| "acme".to_owned(), &sink)
    };
    check(&with_component(255)).unwrap_or_else(|errors| panic!("255 bytes fit: {errors:#?}"));
    let error = only_error(&check(&with_component(256)).expect_err("256-byte component"));
    // `sinks = [` is 9 characters: the sink starts at column 10 of line 10.
    assert!(error.starts_with("10:10 archive path "), "{error}");
    assert!(
        error.ends_with("has a component of 256 bytes; a directory name holds at most 255"),
        "{error}"
    );
    // An object storage key is no directory name.
    let url = format!(
        r#"{{ parquet = {{ path = "s3://bucket/{}" }} }}"#,
        "k".repeat(300)
    );
    check(&policy_with_tenants(1, |_| "acme".to_owned(), &url))
        .unwrap_or_else(|errors| panic!("an S3 prefix is not a directory: {errors:#?}"));
}

/// Every syscall a policy can name fits the kernel's syscall bit map, so
/// `scrim run` never refuses a syscall that `check` accepted (it would
/// fail with "syscall number N is beyond the 512 the kernel filter holds").
#[test]
fn every_syscall_a_policy_can_name_fits_the_kernel_filter() {
    for name in scrim_event::syscall_names() {
        let number = scrim_event::syscall_number(name).expect("a listed name has a number");
        assert!(
            (number as usize) < scrim_abi::SYSCALL_SLOTS,
            "syscall `{name}` is number {number}"
        );
    }
}
