use super::*;

fn scrubbed(text: &str) -> String {
    Scrubber::new().scrub(text).into_owned()
}

#[test]
fn every_name_is_unique_snake_case() {
    let mut names: Vec<&str> = Detector::ALL
        .iter()
        .map(|detector| detector.name())
        .collect();
    for name in &names {
        assert!(
            name.bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_'),
            "{name}"
        );
    }
    names.sort_unstable();
    let count = names.len();
    names.dedup();
    assert_eq!(names.len(), count);
}

#[test]
fn replaces_credentials_keeping_the_structure() {
    let cases = [
        (
            "psql --password=hunter2 -h db",
            "psql --password=[REDACTED:credential_flag] -h db",
        ),
        (
            "tool --db-password hunter2",
            "tool --db-password [REDACTED:credential_flag]",
        ),
        (
            "mysql -u root -pS3cret db",
            "mysql -u root -p[REDACTED:client_password] db",
        ),
        (
            "sshpass -p hunter2 ssh host",
            "sshpass -p [REDACTED:client_password] ssh host",
        ),
        (
            "env DB_PASSWORD=hunter2 run",
            "env DB_PASSWORD=[REDACTED:secret_assignment] run",
        ),
        (
            "git clone https://bob:pa55@example.com/r.git",
            "git clone https://bob:[REDACTED:url_password]@example.com/r.git",
        ),
        (
            "curl -H 'Authorization: Bearer abcdef123456'",
            "curl -H 'Authorization: Bearer [REDACTED:authorization]'",
        ),
        (
            "key AKIAIOSFODNN7EXAMPLE here",
            "key [REDACTED:aws_access_key_id] here",
        ),
        ("mail alice@example.org now", "mail [REDACTED:email] now"),
        (
            "pay 4111 1111 1111 1111 ok",
            "pay [REDACTED:card_number] ok",
        ),
        ("iban GB82WEST12345698765432", "iban [REDACTED:iban]"),
    ];
    for (line, expected) in cases {
        assert_eq!(scrubbed(line), expected, "{line}");
    }
}

#[test]
fn leaves_look_alikes_alone() {
    for line in [
        "ls -la /usr/lib/x86_64-linux-gnu",
        "gcc -pthread -O2 main.c",
        "git checkout 3f2c1a9b8e7d6c5b4a39281706f5e4d3c2b1a098",
        "echo 550e8400-e29b-41d4-a716-446655440000",
        "pay 4111 1111 1111 1112 ok",
        "curl --pass-through http://example.com/",
        "/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory /srv/www/static/assets 8080 -v -v -v -q",
    ] {
        assert_eq!(scrubbed(line), line);
    }
}
