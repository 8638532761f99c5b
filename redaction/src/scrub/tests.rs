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

/// A shell's split of a line into argv, for the tests: quotes removed.
fn shlex(line: &str) -> Vec<String> {
    tokens::commands(line)
        .into_iter()
        .flatten()
        .map(|arg| arg.text.into_owned())
        .collect()
}

#[test]
fn tokenizer_keeps_spans_and_quotes() {
    let line = r#"mysql -p'S3 cr"t' && echo "a\"b" $'x\'y'; ls"#;
    let commands = tokens::commands(line);
    let texts: Vec<Vec<&str>> = commands
        .iter()
        .map(|command| command.iter().map(|arg| arg.text.as_ref()).collect())
        .collect();
    assert_eq!(
        texts,
        [
            vec!["mysql", "-pS3 cr\"t"],
            vec!["echo", "a\"b", "x'y"],
            vec!["ls"]
        ]
    );
    let password = &commands[0][1];
    let span = password.span(2..password.text.len()).unwrap();
    assert_eq!(&line[span], "S3 cr\"t");
    assert_eq!(
        scrubbed("mysql -p'S3 cr\"t' db"),
        "mysql -p'[REDACTED:client_password]' db"
    );
    assert_eq!(
        scrubbed("psql --password=\"hunter 2\""),
        "psql --password=\"[REDACTED:credential_flag]\""
    );
}

#[test]
fn tool_rows_decide_ambiguous_flags() {
    let secrets = [
        ("docker login -u bob -p S3cret registry.example", "S3cret"),
        ("mongosh -u admin -p S3cret", "S3cret"),
        ("ldapsearch -x -D cn=admin -w S3cret -b dc=x", "S3cret"),
        ("curl -u bob:S3cret https://x", "S3cret"),
        ("smbclient //h/s -U bob%S3cret", "S3cret"),
        ("openssl rsa -in k.pem -passin pass:S3cret", "S3cret"),
        ("sqlplus scott/S3cret@orcl", "S3cret"),
        ("vault login s.S3cretToken", "s.S3cretToken"),
        ("rabbitmqctl -p vh add_user bob S3cret", "S3cret"),
        ("htpasswd -bc .htpasswd bob S3cret", "S3cret"),
        ("mosquitto_pub -h h -p 1883 -P S3cret -t t", "S3cret"),
        ("unrar x -pS3cret a.rar", "S3cret"),
        ("keytool -list -keystore k.jks -storepass S3cret", "S3cret"),
        ("curl -b 'sessionid=S3cret' https://x", "S3cret"),
    ];
    for (line, secret) in secrets {
        assert!(
            !scrubbed(line).contains(secret),
            "{line} -> {}",
            scrubbed(line)
        );
    }
    for line in [
        "docker run -p 8080:80 nginx",
        "psql -h db -p 5432 -W orders",
        "rabbitmqctl -p vhost list_queues",
        "sudo -p prompt: ls",
        "mysql --password orders",
        "ssh -p 2222 host",
        "openssl rsa -in k.pem -passin env:KEY_PASS",
        "ldapsearch -x -W -b dc=x",
        "docker login --password-stdin -u bob registry.example",
        "gcloud secrets versions access latest --secret=db-password",
        "grep -rn api_key src/",
    ] {
        assert_eq!(scrubbed(line), line);
    }
}

#[test]
fn wrappers_are_looked_through() {
    for (line, secret) in [
        ("sudo -u app mysql -pS3cret", "S3cret"),
        ("timeout 5 sshpass -p S3cret ssh host", "S3cret"),
        ("sshpass -pS3cret ssh host", "S3cret"),
        ("bash -lc 'mysql -pS3cret db'", "S3cret"),
        ("ssh host 'mysql -pS3cret db'", "S3cret"),
        ("kubectl exec -it db -- mysql -pS3cret", "S3cret"),
        ("docker exec -it db mysql -pS3cret", "S3cret"),
        ("rsync -e \"sshpass -p S3cret ssh\" a h:b", "S3cret"),
        (
            "env A=1 nice -n 5 nohup xargs -n1 ldapsearch -w S3cret",
            "S3cret",
        ),
    ] {
        assert!(
            !scrubbed(line).contains(secret),
            "{line} -> {}",
            scrubbed(line)
        );
        let args = shlex(line);
        let scrubbed_args = Scrubber::new().scrub_args(&args).unwrap_or(args);
        assert!(!scrubbed_args.join(" ").contains(secret), "{line} as argv");
    }
}

#[test]
fn flag_names_and_their_exceptions() {
    for (line, secret) in [
        ("tool --secret-key S3cret", "S3cret"),
        ("tool --access-key S3cret", "S3cret"),
        ("tool -api-token=S3cret", "S3cret"),
        ("tool --client-secret S3cret", "S3cret"),
        ("tool --key q8Xv2LmN0pRt5sWzA1", "q8Xv2LmN0pRt5sWzA1"),
    ] {
        assert!(!scrubbed(line).contains(secret), "{line}");
    }
    for line in [
        "llm --max-tokens 2048",
        "ssh-keygen -t rsa --key-size 4096",
        "tool --password-file /run/secrets/db",
        "tool --token-file ./token",
        "tool --password-stdin",
        "tool --token $TOKEN",
        "tool --secret-name db-password",
        "tool --token-ttl 3600",
        "tool --api-key-id abc",
        "ansible-playbook --ask-pass site.yml",
        "tool --key name",
    ] {
        assert_eq!(scrubbed(line), line);
    }
}

#[test]
fn key_value_forms() {
    for (line, secret) in [
        ("DB_PASSWORD='S3 cret' run", "S3 cret"),
        (r#"{"password": "S3cret", "user": "bob"}"#, "S3cret"),
        ("password: S3cret1", "S3cret1"),
        ("Server=h;Database=d;User Id=u;Password=S3,cret;", "S3,cret"),
        (
            "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=S3cret==;",
            "S3cret",
        ),
        ("host=db user=u password=S3cret dbname=d", "S3cret"),
        ("curl 'https://x/api?access_token=S3cret&q=1'", "S3cret"),
        ("redis-cli -u redis://:S3cret@cache:6379", "S3cret"),
        (
            "java -Djavax.net.ssl.keyStorePassword=S3cret -jar a.jar",
            "S3cret",
        ),
        ("spring.datasource.password=S3cret", "S3cret"),
        (
            "kubectl create secret generic x --from-literal=password=S3cret",
            "S3cret",
        ),
        ("aws configure set aws_secret_access_key S3cret", "S3cret"),
        ("redis-cli SET api_token S3cret", "S3cret"),
        ("export GITHUB_TOKEN_RO=S3cret", "S3cret"),
    ] {
        assert!(
            !scrubbed(line).contains(secret),
            "{line} -> {}",
            scrubbed(line)
        );
    }
    for line in [
        "TOKEN_TTL=3600 PASSWORD_FILE=/run/secrets/p run",
        "failed to read token: permission denied",
        "PWD=/home/app",
        "password = ${DB_PASSWORD}",
        "kubectl get secret db-password -o yaml",
        "git checkout -b fix-password main",
        "curl --oauth2-bearer-file /run/secrets/token https://api.example.com",
        "./report --order-id 5559725522580428 --format csv",
    ] {
        assert_eq!(scrubbed(line), line);
    }
}

#[test]
fn entropy_is_the_last_line() {
    assert!(!scrubbed("signature=q8Xv2LmN0pRt5sWzA1bC").contains("q8Xv2"));
    for line in [
        "signature=3f2c1a9b8e7d6c5b4a39281706f5e4d3c2b1a098",
        "session: 550e8400-e29b-41d4-a716-446655440000",
        "key=production-eu-west",
    ] {
        assert_eq!(scrubbed(line), line);
    }
}

#[test]
fn a_line_and_its_argv_get_the_same_answer() {
    let scrubber = Scrubber::new();
    for line in [
        "mysql -u root -pS3cret db",
        "sudo -u app mysql -pS3cret",
        "timeout 5 sshpass -p S3cret ssh host",
        "curl -u bob:S3cret -H 'Authorization: Bearer abcdef123456' https://x",
        "docker login -u bob -p S3cret r.example",
        "tool --secret-key S3cret --verbose",
        "env DB_PASSWORD=S3cret run",
        "docker run -p 8080:80 nginx",
        "ls -la /tmp",
        "bash -c 'export AUTH_TOKEN=S3cretValue1'",
    ] {
        let line_scrubbed = scrubber.scrub(line);
        let args = shlex(line);
        let args_scrubbed = scrubber.scrub_args(&args);
        assert_eq!(
            matches!(line_scrubbed, Cow::Borrowed(_)),
            args_scrubbed.is_none(),
            "{line}: {line_scrubbed} vs {args_scrubbed:?}"
        );
        if let Some(args_scrubbed) = args_scrubbed {
            assert_eq!(shlex(&line_scrubbed), args_scrubbed, "{line}");
        }
    }
}

#[test]
fn argument_lists_keep_their_boundaries() {
    let args: Vec<String> = ["mysql", "--user", "root", "-pS3cret", "--password", "x1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let scrubbed = Scrubber::new().scrub_args(&args).unwrap();
    assert_eq!(
        scrubbed,
        [
            "mysql",
            "--user",
            "root",
            "-p[REDACTED:client_password]",
            "--password",
            "x1"
        ]
    );
    let clean: Vec<String> = vec!["ls".into(), "-l".into()];
    assert_eq!(Scrubber::new().scrub_args(&clean), None);
}

/// Every text rule run on `text`, skipped by nothing: what the pre-filter
/// must not lose.
fn unfiltered(scrubber: &Scrubber, text: &str) -> Vec<(Range<usize>, &'static str)> {
    let mut found = Vec::new();
    for rule in &scrubber.rules {
        rule.find(text, &mut found);
    }
    let mut found: Vec<_> = found
        .into_iter()
        .map(|finding| (finding.span, finding.detector.name()))
        .collect();
    found.sort_by_key(|(span, name)| (span.start, span.end, *name));
    found
}

fn filtered(scrubber: &Scrubber, text: &str) -> Vec<(Range<usize>, &'static str)> {
    let mut found = Vec::new();
    scrubber.text_findings(text, &mut found);
    let mut found: Vec<_> = found
        .into_iter()
        .map(|finding| (finding.span, finding.detector.name()))
        .collect();
    found.sort_by_key(|(span, name)| (span.start, span.end, *name));
    found
}

/// The pre-filter skips only rules that could not have matched: on every
/// line of the train corpus (both labels), the text rules find the same
/// secrets with it as without it.
#[test]
fn the_prefilter_loses_nothing_on_the_train_corpus() {
    let scrubber = Scrubber::new();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/train.jsonl");
    let corpus = std::fs::read_to_string(&path).expect("train corpus is readable");
    let mut lines = 0;
    let mut with_findings = 0;
    for row in corpus.lines() {
        let entry: serde_json::Value = serde_json::from_str(row).expect("corpus row is JSON");
        let line = entry["line"].as_str().expect("corpus row has a line");
        let all = unfiltered(&scrubber, line);
        with_findings += usize::from(!all.is_empty());
        assert_eq!(filtered(&scrubber, line), all, "{line}");
        lines += 1;
    }
    assert!(lines > 3000, "{lines} train lines read");
    assert!(with_findings > 1000, "{with_findings} lines with findings");
}

/// A line with none of the rules' literals runs no text rule at all; a
/// vendor token runs its own rule and no other vendor's.
#[test]
fn the_prefilter_runs_only_the_rules_whose_literals_occur() {
    let scrubber = Scrubber::new();
    let clean = "/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory /srv/www/static/assets 8080 -v -v -v -q";
    assert_eq!(
        scrubber
            .prefilter
            .candidates(clean.as_bytes())
            .iter()
            .count(),
        0
    );
    let line = "git push https://ghp_0123456789abcdefghijABCDEFGHIJ012345@example.test";
    let vendors: Vec<&str> = scrubber
        .prefilter
        .candidates(line.as_bytes())
        .iter()
        .filter_map(|index| match scrubber.rules[index].detector.0 {
            Id::Vendor(vendor) => Some(VENDOR_RULES[vendor].name),
            Id::Builtin(_) => None,
        })
        .collect();
    assert_eq!(vendors, ["github_token"]);
}

/// Each rule added from a tool's documentation, with a benign twin.
#[test]
fn documented_conventions_and_their_twins() {
    let secret = [
        (
            "ncftpput -u ops -p Xq7pass ftp.example.test /in f",
            "Xq7pass",
        ),
        ("busybox ftpget -u b -p Xq7pass host l r", "Xq7pass"),
        ("lftp -e 'open -u bob,Xq7pass host; ls'", "Xq7pass"),
        ("curlftpfs -o user=bob:Xq7pass,ro host /mnt", "Xq7pass"),
        ("gh secret set HOOK Xq7pass", "Xq7pass"),
        ("gh secret set HOOK -bXq7pass", "Xq7pass"),
        ("fly secrets set BLOB=Xq7pass", "Xq7pass"),
        ("dotnet user-secrets set Smtp:Pin 482913", "482913"),
        ("az keyvault secret set --name n --value Xq7pass", "Xq7pass"),
        ("glab variable set URL -v Xq7pass", "Xq7pass"),
        ("poetry config http-basic.repo ci Xq7pass", "Xq7pass"),
        ("composer config github-oauth.github.com Xq7pass", "Xq7pass"),
        (
            "bundle config set --global gems.example.test ci:Xq7pass",
            "Xq7pass",
        ),
        (
            "rclone config create nas ftp user ci pass Xq7pass",
            "Xq7pass",
        ),
        ("redis-cli config set requirepass Xq7pass", "Xq7pass"),
        (
            "ngrok config add-authtoken Xq7passXq7passXq7pass",
            "Xq7passXq7passXq7pass",
        ),
        (
            "security add-generic-password -a a -s s -w Xq7pass",
            "Xq7pass",
        ),
        ("systemd-run --unit u -p Nice=5 mysql -pXq7pass", "Xq7pass"),
        ("setsid -f mysql -pXq7pass", "Xq7pass"),
    ];
    for (line, value) in secret {
        let out = scrubbed(line);
        assert!(!out.contains(value), "{line} -> {out}");
        let args = Scrubber::new().scrub_args(&shlex(line)).unwrap_or_default();
        assert!(
            args.iter().all(|arg| !arg.contains(value)),
            "{line} -> {args:?}"
        );
    }
    // Pipes split from a line stay command boundaries in the argv view.
    let args = shlex("cat hosts | xargs -I{} sshpass -p Xq7pass ssh root@{}");
    let out = Scrubber::new().scrub_args(&args).unwrap_or_default();
    assert!(out.iter().all(|arg| !arg.contains("Xq7pass")), "{out:?}");
    for line in [
        "ncftpput -P 2121 -u anonymous host /in f",
        "docker secret create db_pass db_pass.txt",
        "wrangler secret put API_TOKEN --env production",
        "gh secret set HOOK --body \"$HOOK\"",
        "bundle config set --global mirror.https://rubygems.org https://mirror.example.test",
        "redis-cli config get requirepass",
        "setsid -f sleep 100",
        "sort -t '|' -k2 data.psv",
    ] {
        assert_eq!(scrubbed(line), line);
    }
}
