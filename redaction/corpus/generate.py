#!/usr/bin/env python3
"""Writes scrim's labelled secret-scrubbing corpus: train.jsonl and heldout.jsonl.

Why a generator rather than a hand-kept list: the corpus has to be large
(thousands of lines), varied (several templates per tool, vendor and form,
different hosts, paths, quoting styles, `=` against a space) and
reproducible (a fixed seed, so a change to a template shows as a diff of
its lines and nothing else).

The templates follow the tools' own documentation (man pages and --help of
each client: which short flag is a password and which a port) and, for
vendor tokens, the formats documented by the vendors and collected in
gitleaks' default rule set (config/gitleaks.toml in gitleaks/gitleaks):
prefix, length and alphabet of each token. The values are random; no real
credential is in here.

The split is by family: a third of the families (tools, vendors and forms,
secret and benign alike) go wholly to held-out, so held-out holds
conventions that whoever writes rules against train never saw as examples;
of the other families a random fifth of the lines go to held-out too.
The legacy corpus (the hand-written redaction/tests/corpus.tsv, converted
once into legacy.jsonl by `--convert-legacy`) is train.

Run: python3 redaction/corpus/generate.py   (Python 3.11, stdlib only)
     python3 redaction/corpus/generate.py --convert-legacy OLD.tsv   (done once)
"""

from __future__ import annotations

import base64
import json
import random
import shlex
import string
import sys
import uuid
from pathlib import Path

SEED = 20261207
HERE = Path(__file__).resolve().parent
LEGACY = HERE / "legacy.jsonl"
HELDOUT_SHARE_OF_FAMILIES = 1 / 3
HELDOUT_SHARE_OF_LINES = 0.2

R = random.Random(SEED)

# ---------------------------------------------------------------- values

LOWER = string.ascii_lowercase
UPPER = string.ascii_uppercase
DIGITS = string.digits
ALNUM = LOWER + UPPER + DIGITS
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
# Characters a password may hold that survive a shell word unquoted.
PW_SAFE_SYMBOLS = "!@%^_-+.,:~="
WORDS = [
    "summer", "winter", "dragon", "monkey", "sunshine", "orange", "falcon",
    "coffee", "rocket", "silver", "tiger", "purple", "castle", "harbor",
    "maple", "thunder", "velvet", "crystal", "shadow", "meadow",
]


def rs(alphabet: str, n: int) -> str:
    return "".join(R.choice(alphabet) for _ in range(n))


def password(min_len: int = 8) -> str:
    """A password as people and generators make them."""
    style = R.randrange(6)
    if style == 0:
        value = R.choice(WORDS).capitalize() + str(R.randrange(10, 2030)) + R.choice("!@#%*+")
    elif style == 1:
        value = rs(ALNUM, R.randrange(12, 25))
    elif style == 2:
        value = "-".join(R.choice(WORDS) for _ in range(3)) + str(R.randrange(10, 99))
    elif style == 3:
        value = rs(ALNUM + PW_SAFE_SYMBOLS, R.randrange(10, 20))
    elif style == 4:
        value = rs(LOWER + DIGITS, R.randrange(8, 14))
    else:
        value = R.choice(["S3cr3t", "P@ssw0rd", "Passw0rd", "Adm1n", "Ch4ngeMe"]) + rs(ALNUM, R.randrange(3, 7))
    while len(value) < min_len:
        value += R.choice(DIGITS)
    if value[0] in "-=~":
        # A leading dash would read as a flag, a leading `=` or `~` as
        # shell syntax; no tool documents taking such a value bare.
        value = R.choice(UPPER) + value[1:]
    return value


def shell_safe_password() -> str:
    """A password that needs no quoting in a shell word."""
    while True:
        value = password()
        if all(c in ALNUM + "@%^_-+.,:~=" for c in value):
            return value


def q(value: str) -> str:
    """The value as a shell word, quoted only if it must be."""
    return shlex.quote(value)


def quoted(value: str) -> str:
    """The value in a random quoting style that keeps it verbatim."""
    style = R.randrange(3)
    if style == 0:
        return q(value)
    if style == 1 and "'" not in value:
        return f"'{value}'"
    if not any(c in value for c in '"$`\\!'):
        return f'"{value}"'
    return q(value)


def b64(n_bytes: int) -> str:
    return base64.b64encode(R.randbytes(n_bytes)).decode()


def hexs(n: int) -> str:
    return rs(HEX, n)


USERS = ["app", "deploy", "admin", "svc-backup", "reporting", "ci", "etl", "jenkins", "grafana", "alice", "bob.smith"]
HOSTS = [
    "db.internal", "10.0.3.14", "pg-primary.prod.svc", "cache-01.example.net", "mq.example.org",
    "192.168.1.20", "ldap.corp.example.com", "broker.iot.example.io", "nas01", "fileserver.corp.local",
    "redis-master.default.svc.cluster.local", "172.16.4.9", "mongo-0.mongo.db.svc",
]
DBS = ["orders", "billing", "inventory", "analytics", "users", "metrics", "app_production"]
PATHS = ["/srv/backup", "/var/lib/app", "/tmp/out", "/data/exports", "/opt/releases", "/home/deploy"]
REGISTRIES = ["registry.example.com", "harbor.corp.example.net", "cr.example.org", "images.corp.example.com", "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "myregistry.azurecr.io"]
IMAGES = ["nginx:1.27", "postgres:16-alpine", "redis:7.2", "python:3.12-slim", "grafana/grafana:11.1.0", "alpine:3.20"]


# Hosts as `user@host` destinations name them. Short names and addresses:
# `deploy@db.example.com` is also the shape of an email address, which
# scrim scrubs as personal data, so benign lines keep clear of it.
SSH_HOSTS = ["bastion", "db01", "web-2", "nas01", "10.0.3.14", "172.16.4.9", "build-agent-3", "192.168.1.20"]


def ssh_host() -> str:
    return R.choice(SSH_HOSTS)


def user() -> str:
    return R.choice(USERS)


def host() -> str:
    return R.choice(HOSTS)


def db() -> str:
    return R.choice(DBS)


def path() -> str:
    return R.choice(PATHS)


def port() -> int:
    return R.choice([5432, 6379, 3306, 27017, 1433, 8080, 8443, 9042, 5672, 1883, 2222, 6380, 15672])


# ---------------------------------------------------------------- vendor tokens
# Formats per gitleaks' default rules (gitleaks/gitleaks config/gitleaks.toml)
# and the vendors' documentation of their key formats.


def aws_key_id() -> str:
    return R.choice(["AKIA", "ASIA"]) + rs(UPPER + "234567", 16)


def aws_secret() -> str:
    return rs(ALNUM + "+/", 40)


VENDOR_TOKENS = {
    "aws": lambda: aws_key_id(),
    "gcp": lambda: "AIza" + rs(ALNUM + "-_", 35),
    "gcp-oauth": lambda: "GOCSPX-" + rs(ALNUM + "-_", 28),
    "azure": lambda: rs(ALNUM, 3) + R.choice(DIGITS) + "Q~" + rs(ALNUM + "_~.-", 34),
    "stripe": lambda: R.choice(["sk_live_", "rk_live_", "sk_live_51"]) + rs(ALNUM, R.randrange(24, 99)),
    "openai": lambda: R.choice(["sk-proj-", "sk-svcacct-", "sk-admin-"]) + rs(B64URL, 74) + "T3BlbkFJ" + rs(B64URL, 74),
    "anthropic": lambda: R.choice(["sk-ant-api03-", "sk-ant-admin01-"]) + rs(B64URL, 93) + "AA",
    "huggingface": lambda: R.choice(["hf_", "api_org_"]) + rs(LOWER + UPPER, 34),
    "npm": lambda: "npm_" + rs(ALNUM, 36),
    "pypi": lambda: "pypi-AgEIcHlwaS5vcmc" + rs(B64URL, R.randrange(60, 160)),
    "github": lambda: R.choice([
        "github_pat_" + rs(ALNUM, 22) + "_" + rs(ALNUM, 59),
        R.choice(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]) + rs(ALNUM, 36),
    ]),
    "gitlab": lambda: R.choice(["glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "glft-"]) + rs(ALNUM + "-_", 20),
    "slack": lambda: R.choice([
        "xoxb-" + rs(DIGITS, 12) + "-" + rs(DIGITS, 13) + "-" + rs(ALNUM, 24),
        "xoxp-" + rs(DIGITS, 12) + "-" + rs(DIGITS, 12) + "-" + rs(DIGITS, 13) + "-" + rs(HEX, 32),
        "xapp-1-A" + rs(UPPER + DIGITS, 10) + "-" + rs(DIGITS, 13) + "-" + rs(HEX, 64),
    ]),
    "twilio": lambda: "SK" + rs(HEX, 32),
    "sendgrid": lambda: "SG." + rs(B64URL, 22) + "." + rs(B64URL, 43),
    "mailgun": lambda: R.choice(["key-" + rs(HEX, 32), rs(HEX, 32) + "-" + rs(HEX, 8) + "-" + rs(HEX, 8)]),
    "shopify": lambda: R.choice(["shpat_", "shpca_", "shppa_", "shpss_"]) + rs(HEX, 32),
    "datadog": lambda: rs(HEX, R.choice([32, 40])),
    "digitalocean": lambda: R.choice(["dop_v1_", "doo_v1_", "dor_v1_"]) + rs(HEX, 64),
    "databricks": lambda: "dapi" + rs(HEX, 32) + R.choice(["", "-2", "-3"]),
    "doppler": lambda: "dp.pt." + rs(ALNUM, 43),
    "pulumi": lambda: "pul-" + rs(HEX, 40),
    "postman": lambda: "PMAK-" + rs(HEX, 24) + "-" + rs(HEX, 34),
    "grafana": lambda: R.choice(["glsa_" + rs(ALNUM, 32) + "_" + rs(HEX, 8), "glc_" + rs(ALNUM, 60) + "=="]),
    "linear": lambda: "lin_api_" + rs(ALNUM, 40),
    "sentry": lambda: R.choice(["sntryu_" + rs(HEX, 64), "sntrys_eyJpYXQiOjE3" + rs(ALNUM, 60)]),
    "vault": lambda: R.choice(["hvs." + rs(B64URL, 92), "hvb." + rs(B64URL, 120)]),
    "terraform": lambda: rs(LOWER + DIGITS, 14) + ".atlasv1." + rs(LOWER + DIGITS + "-_", 67),
    "newrelic": lambda: "NRAK-" + rs(UPPER + DIGITS, 27),
    "age": lambda: "AGE-SECRET-KEY-1" + rs("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58),
    "square": lambda: R.choice(["EAAA" + rs(B64URL, 60), "sq0atp-" + rs(B64URL, 22), "sq0csp-" + rs(B64URL, 43)]),
    "heroku": lambda: "HRKU-AA" + rs(B64URL, 58),
    "notion": lambda: "ntn_" + rs(DIGITS, 11) + rs(ALNUM, 35),
    "mailchimp": lambda: rs(HEX, 32) + "-us" + str(R.randrange(1, 21)),
    "flyio": lambda: "fo1_" + rs(B64URL, 43),
    "atlassian": lambda: "ATATT3xFfGF0" + rs(B64URL, 170) + "=" + rs(HEX, 8).upper(),
    "planetscale": lambda: R.choice(["pscale_tkn_", "pscale_pw_"]) + rs(B64URL, 43),
    "discord": lambda: "M" + rs(ALNUM, 23) + "." + rs(B64URL, 6) + "." + rs(B64URL, 38),
}

# Where each vendor's token is typically handed to a process: the env var
# its SDK or CLI reads, the CLI and flag its docs show, an HTTP header.
VENDOR_CONTEXT = {
    "aws": ("AWS_ACCESS_KEY_ID", "aws", "sts get-caller-identity"),
    "gcp": ("GOOGLE_API_KEY", "gcloud", "services list"),
    "gcp-oauth": ("GOOGLE_CLIENT_SECRET", "oauth2l", "fetch --scope cloud-platform"),
    "azure": ("AZURE_CLIENT_SECRET", "az", "account show"),
    "stripe": ("STRIPE_API_KEY", "stripe", "charges list --limit 3"),
    "openai": ("OPENAI_API_KEY", "openai", "api models.list"),
    "anthropic": ("ANTHROPIC_API_KEY", "python3", "-m app.summarise --model claude-sonnet-4-5"),
    "huggingface": ("HF_TOKEN", "huggingface-cli", "download org/model --local-dir /models"),
    "npm": ("NPM_TOKEN", "npm", "publish --access restricted"),
    "pypi": ("TWINE_PASSWORD", "twine", "upload dist/*"),
    "github": ("GITHUB_TOKEN", "gh", "release create v1.4.2 dist/*.tar.gz"),
    "gitlab": ("GITLAB_TOKEN", "glab", "mr list --assignee=@me"),
    "slack": ("SLACK_BOT_TOKEN", "node", "bot.js"),
    "twilio": ("TWILIO_API_KEY", "twilio", "api:core:messages:list"),
    "sendgrid": ("SENDGRID_API_KEY", "python3", "send_digest.py --to ops@example.com"),
    "mailgun": ("MAILGUN_API_KEY", "./notify", "--domain mg.example.com"),
    "shopify": ("SHOPIFY_ACCESS_TOKEN", "shopify", "app deploy"),
    "datadog": ("DD_API_KEY", "datadog-agent", "run"),
    "digitalocean": ("DIGITALOCEAN_ACCESS_TOKEN", "doctl", "compute droplet list"),
    "databricks": ("DATABRICKS_TOKEN", "databricks", "clusters list"),
    "doppler": ("DOPPLER_TOKEN", "doppler", "run -- ./server"),
    "pulumi": ("PULUMI_ACCESS_TOKEN", "pulumi", "up --yes --stack prod"),
    "postman": ("POSTMAN_API_KEY", "newman", "run collection.json"),
    "grafana": ("GRAFANA_TOKEN", "grafanactl", "resources pull"),
    "linear": ("LINEAR_API_KEY", "node", "sync-issues.js"),
    "sentry": ("SENTRY_AUTH_TOKEN", "sentry-cli", "releases new 2.3.1"),
    "vault": ("VAULT_TOKEN", "vault", "kv get secret/app"),
    "terraform": ("TF_TOKEN_app_terraform_io", "terraform", "plan -out tf.plan"),
    "newrelic": ("NEW_RELIC_API_KEY", "newrelic", "apm application search --name web"),
    "age": ("SOPS_AGE_KEY", "sops", "-d secrets.enc.yaml"),
    "square": ("SQUARE_ACCESS_TOKEN", "node", "payments.js"),
    "heroku": ("HEROKU_API_KEY", "heroku", "releases -a web-prod"),
    "notion": ("NOTION_TOKEN", "python3", "export_pages.py"),
    "mailchimp": ("MAILCHIMP_API_KEY", "python3", "sync_audience.py"),
    "flyio": ("FLY_API_TOKEN", "flyctl", "deploy --remote-only"),
    "atlassian": ("JIRA_API_TOKEN", "jira", "issue list -s Open"),
    "planetscale": ("PLANETSCALE_SERVICE_TOKEN", "pscale", "branch list main-db"),
    "discord": ("DISCORD_BOT_TOKEN", "python3", "bot.py"),
}

VENDOR_FLAG = {
    "stripe": "--api-key", "github": "--token", "gitlab": "--token", "digitalocean": "--access-token",
    "databricks": "--token", "doppler": "--token", "sentry": "--auth-token", "vault": "-token",
    "heroku": "--api-key", "flyio": "--access-token", "npm": "--//npm.pkg.example.com/:_authToken",
}


# Tokens with no prefix of their own (Datadog's are bare hex): gitleaks
# knows them only by a name beside them, so they are always handed over
# under one.
CONTEXT_ONLY = {"datadog"}


def vendor_family(name: str):
    make = VENDOR_TOKENS[name]
    env, cli, rest = VENDOR_CONTEXT[name]

    def gen():
        token = make()
        t = R.randrange(7)
        if t == 0:
            return f"{env}={token} {cli} {rest}", [token]
        if t == 1:
            return f"export {env}={quoted(token)}", [token]
        if t == 2:
            return f"curl -sS -H 'Authorization: Bearer {token}' https://api.example.com/v1/{R.choice(['items', 'me', 'projects'])}", [token]
        if t == 3:
            return f"docker run --rm -e {env}={token} {R.choice(IMAGES)} {rest}", [token]
        if t == 4 and name in VENDOR_FLAG:
            flag = VENDOR_FLAG[name]
            sep = R.choice([" ", "="]) if flag.startswith("--") else " "
            return f"{cli} {flag}{sep}{token} {rest}", [token]
        if t == 5:
            return f"env {env}={quoted(token)} {cli} {rest}", [token]
        if name == "aws":
            secret = aws_secret()
            return (f"AWS_ACCESS_KEY_ID={token} AWS_SECRET_ACCESS_KEY={secret} aws s3 cp s3://backups/{db()}.sql.gz {path()}/", [token, secret])
        if name in CONTEXT_ONLY:
            return f"{env}={quoted(token)} {cli} {rest}", [token]
        return f"printf '%s' {quoted(token)} | {cli} {rest}", [token]

    return gen


# ---------------------------------------------------------------- secret families

SECRET_FAMILIES: dict[str, callable] = {}
BENIGN_FAMILIES: dict[str, callable] = {}


def secret(name):
    def register(fn):
        SECRET_FAMILIES[name] = fn
        return fn
    return register


def benign(name):
    def register(fn):
        BENIGN_FAMILIES[name] = fn
        return fn
    return register


# -- client tools whose short flag is a password

@secret("tool:redis-cli")
def _():
    pw = password()
    t = R.randrange(4)
    if t == 0:
        return f"redis-cli -h {host()} -p {R.choice([6379, 6380])} -a {quoted(pw)} --no-auth-warning ping", [pw]
    if t == 1:
        return f"redis-cli --user {user()} --pass {quoted(pw)} -h {host()} info replication", [pw]
    if t == 2:
        return f"redis-cli -a {quoted(pw)} -n {R.randrange(16)} --scan --pattern 'session:*'", [pw]
    return f"redis-cli -h {host()} -a {quoted(pw)} --tls --cacert /etc/redis/ca.crt monitor", [pw]


@secret("tool:psql-env")
def _():
    pw = password()
    t = R.randrange(3)
    if t == 0:
        return f"PGPASSWORD={quoted(pw)} psql -h {host()} -U {user()} -d {db()} -c 'select count(*) from events'", [pw]
    if t == 1:
        return f"PGPASSWORD={quoted(pw)} pg_dump -h {host()} -p 5432 -U {user()} -Fc {db()} -f {path()}/{db()}.dump", [pw]
    return f"env PGPASSWORD={quoted(pw)} pg_isready -h {host()} -p 5432", [pw]


@secret("tool:sshpass")
def _():
    pw = password()
    t = R.randrange(3)
    if t == 0:
        return f"sshpass -p {quoted(pw)} ssh -o StrictHostKeyChecking=no {user()}@{host()} uptime", [pw]
    if t == 1:
        return f"sshpass -p {quoted(pw)} scp -P 2222 {path()}/report.csv {user()}@{host()}:/incoming/", [pw]
    return f"rsync -az -e \"sshpass -p {pw} ssh -p 22\" {path()}/ {user()}@{host()}:/backup/", [pw]


@secret("tool:ldap")
def _():
    pw = password()
    base = R.choice(["dc=example,dc=org", "dc=corp,dc=example,dc=com", "ou=people,dc=acme,dc=io"])
    t = R.randrange(4)
    if t == 0:
        return f"ldapsearch -x -H ldap://{host()} -D 'cn=admin,{base}' -w {quoted(pw)} -b '{base}' '(uid={user()})'", [pw]
    if t == 1:
        return f"ldapadd -x -D cn=admin,{base} -w {quoted(pw)} -f /tmp/users.ldif", [pw]
    if t == 2:
        return f"ldapmodify -H ldaps://{host()}:636 -x -D \"cn=Manager,{base}\" -w {quoted(pw)} -f change.ldif", [pw]
    new = password()
    return f"ldappasswd -x -D cn=admin,{base} -w {quoted(pw)} -s {quoted(new)} uid={user()},ou=people,{base}", [pw, new]


@secret("tool:mosquitto")
def _():
    pw = password()
    t = R.randrange(3)
    topic = R.choice(["sensors/temp", "home/+/state", "factory/line1/alarm"])
    if t == 0:
        return f"mosquitto_pub -h {host()} -p 1883 -u {user()} -P {quoted(pw)} -t {topic} -m '21.5'", [pw]
    if t == 1:
        return f"mosquitto_sub -h {host()} -p 8883 --cafile /etc/mosquitto/ca.crt -u {user()} -P {quoted(pw)} -t '{topic}' -v", [pw]
    psk = hexs(32)
    return f"mosquitto_pub -h {host()} -p 8884 --psk {psk} --psk-identity {user()} -t {topic} -m on", [psk]


@secret("tool:smbclient")
def _():
    pw = shell_safe_password().replace("%", "")
    t = R.randrange(4)
    share = R.choice(["//fileserver/public", "//nas01/backup", "//10.0.3.14/c$"])
    if t == 0:
        return f"smbclient {share} -U {user()}%{pw} -c 'ls'", [pw]
    if t == 1:
        return f"smbclient -U 'CORP\\{user()}%{pw}' -L //{host()}", [pw]
    if t == 2:
        return f"rpcclient -U {user()}%{pw} {host()} -c enumdomusers", [pw]
    return f"smbclient {share} --user={user()}%{pw} -m SMB3 -c 'get report.xlsx'", [pw]


@secret("tool:mount-cifs")
def _():
    pw = shell_safe_password().replace(",", "").replace("=", "")
    return f"mount -t cifs //{host()}/share /mnt/share -o username={user()},password={pw},vers=3.0,uid=1000", [pw]


@secret("tool:mysql")
def _():
    pw = shell_safe_password()
    t = R.randrange(4)
    if t == 0:
        return f"mysql -h {host()} -u{user()} -p{pw} {db()} -e 'show tables'", [pw]
    if t == 1:
        return f"mysqldump --single-transaction -u root --password={quoted(pw)} {db()} > {path()}/{db()}.sql", [pw]
    if t == 2:
        return f"mysqladmin -uroot -p'{pw}' status", [pw]
    return f"mysql --user={user()} --password={pw} --host={host()} --port=3306 {db()}", [pw]


@secret("tool:mongosh")
def _():
    pw = password()
    t = R.randrange(3)
    if t == 0:
        return f"mongosh --host {host()} -u {user()} -p {quoted(pw)} --authenticationDatabase admin", [pw]
    if t == 1:
        return f"mongodump --host {host()} --port 27017 --username {user()} --password {quoted(pw)} --db {db()} --out {path()}", [pw]
    return f"mongorestore -u {user()} -p {quoted(pw)} --authenticationDatabase=admin --drop {path()}/dump", [pw]


@secret("tool:sqlcmd")
def _():
    pw = password()
    t = R.randrange(3)
    if t == 0:
        return f"sqlcmd -S tcp:{host()},1433 -U sa -P {quoted(pw)} -d {db()} -Q 'SELECT @@VERSION'", [pw]
    if t == 1:
        return f"/opt/mssql-tools18/bin/sqlcmd -C -S localhost -U SA -P {quoted(pw)} -i /scripts/init.sql", [pw]
    return f"bcp {db()}.dbo.events out events.dat -S {host()} -U {user()} -P {quoted(pw)} -c", [pw]


@secret("tool:ipmitool")
def _():
    pw = password()
    return f"ipmitool -I lanplus -H {R.choice(['10.10.0.21', 'bmc-r12.dc1', '192.168.100.5'])} -U {R.choice(['ADMIN', 'root', 'admin'])} -P {quoted(pw)} {R.choice(['chassis power status', 'sel list', 'sdr type temperature'])}", [pw]


@secret("tool:cqlsh")
def _():
    pw = password()
    return f"cqlsh {host()} 9042 -u {R.choice(['cassandra', user()])} -p {quoted(pw)} -e 'DESCRIBE KEYSPACES'", [pw]


@secret("tool:rabbitmqadmin")
def _():
    pw = password()
    t = R.randrange(2)
    if t == 0:
        return f"rabbitmqadmin -H {host()} -P 15672 -u {user()} -p {quoted(pw)} list queues name messages", [pw]
    return f"rabbitmqadmin --host={host()} --username={user()} --password={quoted(pw)} declare queue name=jobs durable=true", [pw]


@secret("tool:influx-clickhouse")
def _():
    pw = password()
    t = R.randrange(3)
    if t == 0:
        return f"influx -host {host()} -username {user()} -password {quoted(pw)} -database telegraf -execute 'SHOW MEASUREMENTS'", [pw]
    if t == 1:
        return f"clickhouse-client --host {host()} --user {user()} --password {quoted(pw)} --query 'SELECT 1'", [pw]
    return f"clickhouse-client -h {host()} -u default --password={quoted(pw)} -d {db()}", [pw]


@secret("tool:snmp")
def _():
    auth, priv = password(), password()
    t = R.randrange(2)
    if t == 0:
        return f"snmpwalk -v3 -l authPriv -u {user()} -a SHA -A {quoted(auth)} -x AES -X {quoted(priv)} {host()} 1.3.6.1.2.1.1", [auth, priv]
    community = rs(ALNUM, R.randrange(10, 16))
    return f"snmpget -v2c -c {community} {host()} sysUpTime.0", [community]


@secret("tool:openssl-pass")
def _():
    pw = shell_safe_password()
    t = R.randrange(4)
    if t == 0:
        return f"openssl pkcs12 -export -in cert.pem -inkey key.pem -out bundle.p12 -passout pass:{pw}", [pw]
    if t == 1:
        return f"openssl rsa -in server.key -out server.nopass.key -passin pass:{pw}", [pw]
    if t == 2:
        return f"openssl enc -aes-256-cbc -pbkdf2 -salt -in {db()}.sql -out {db()}.sql.enc -k {pw}", [pw]
    return f"openssl pkcs12 -in bundle.pfx -nodes -password pass:{pw} -out bundle.pem", [pw]


@secret("tool:archive-pass")
def _():
    pw = shell_safe_password()
    t = R.randrange(4)
    if t == 0:
        return f"zip -r -P {pw} {path()}/logs.zip /var/log/app", [pw]
    if t == 1:
        return f"7z a -p{pw} -mhe=on backup.7z {path()}", [pw]
    if t == 2:
        return f"unzip -P {pw} -o export.zip -d {path()}", [pw]
    return f"unrar x -p{pw} archive.rar {path()}/", [pw]


@secret("tool:keytool")
def _():
    sp, kp = shell_safe_password(), shell_safe_password()
    t = R.randrange(2)
    if t == 0:
        return f"keytool -importkeystore -srckeystore bundle.p12 -srcstoretype PKCS12 -srcstorepass {sp} -destkeystore app.jks -deststorepass {kp}", [sp, kp]
    return f"keytool -genkeypair -alias server -keyalg RSA -keysize 2048 -keystore server.jks -storepass {sp} -keypass {kp} -dname 'CN=app.example.com'", [sp, kp]


@secret("tool:rdp")
def _():
    pw = shell_safe_password()
    t = R.randrange(2)
    if t == 0:
        return f"xfreerdp /v:{host()} /u:{user()} /p:{pw} /cert:ignore /dynamic-resolution", [pw]
    return f"rdesktop -u Administrator -p {pw} -g 1920x1080 {host()}", [pw]


@secret("tool:ftp")
def _():
    pw = shell_safe_password().replace(",", "")
    t = R.randrange(3)
    if t == 0:
        return f"lftp -u {user()},{pw} -e 'mirror -R {path()} /upload; quit' ftp.example.com", [pw]
    if t == 1:
        return f"ncftpput -u {user()} -p {pw} ftp.example.com /incoming {path()}/report.csv", [pw]
    return f"curlftpfs {user()}:{pw}@ftp.example.com /mnt/ftp", [pw]


@secret("tool:sqlplus")
def _():
    pw = shell_safe_password().replace("@", "").replace("/", "")
    t = R.randrange(3)
    if t == 0:
        return f"sqlplus system/{pw}@//{host()}:1521/ORCLPDB1 @report.sql", [pw]
    if t == 1:
        return f"expdp scott/{pw}@ORCL schemas=SCOTT directory=DATA_PUMP_DIR dumpfile=scott.dmp", [pw]
    return f"sqlplus -s {user()}/{pw}@prod_db <<< 'select sysdate from dual;'", [pw]


@secret("tool:svn")
def _():
    pw = password()
    return f"svn checkout --username {user()} --password {quoted(pw)} --non-interactive https://svn.example.com/repos/trunk src", [pw]


@secret("tool:twine")
def _():
    token = VENDOR_TOKENS["pypi"]()
    return f"twine upload --repository-url https://pkgs.example.net/simple/ -u __token__ -p {token} dist/*", [token]


@secret("tool:az-login")
def _():
    pw = VENDOR_TOKENS["azure"]()
    return f"az login --service-principal -u {uuid.UUID(int=R.getrandbits(128))} -p {pw} --tenant {uuid.UUID(int=R.getrandbits(128))}", [pw]


@secret("tool:x11vnc")
def _():
    pw = shell_safe_password()
    return f"x11vnc -display :0 -passwd {pw} -forever -shared -rfbport 5900", [pw]


@secret("tool:nats")
def _():
    pw = password()
    return f"nats --server nats://{host()}:4222 --user {user()} --password {quoted(pw)} pub orders.created '{{}}'", [pw]


# -- user:password where an HTTP or registry client expects it

@secret("userpass:curl")
def _():
    pw = shell_safe_password().replace(":", "")
    t = R.randrange(3)
    if t == 0:
        return f"curl -u {user()}:{pw} https://{host()}:8443/api/health", [pw]
    if t == 1:
        return f"curl -sf --user '{user()}:{pw}' -X POST https://jenkins.example.com/job/build/build", [pw]
    return f"curl -k -u elastic:{pw} https://es.example.net:9200/_cluster/health?pretty", [pw]


@secret("userpass:wget")
def _():
    pw = password()
    t = R.randrange(2)
    if t == 0:
        return f"wget --user={user()} --password={quoted(pw)} https://artifacts.example.com/releases/app-2.1.tar.gz", [pw]
    return f"wget --http-user {user()} --http-password {quoted(pw)} -O {path()}/dump.sql.gz https://backup.example.com/latest", [pw]


@secret("userpass:httpie")
def _():
    pw = shell_safe_password().replace(":", "")
    return f"http --auth {user()}:{pw} GET https://api.example.com/v2/status", [pw]


@secret("userpass:docker-login")
def _():
    pw = password()
    t = R.randrange(3)
    reg = R.choice(REGISTRIES)
    if t == 0:
        return f"docker login -u {user()} -p {quoted(pw)} {reg}", [pw]
    if t == 1:
        return f"docker login {reg} --username {user()} --password {quoted(pw)}", [pw]
    return f"podman login --username {user()} --password={quoted(pw)} {reg}", [pw]


@secret("userpass:helm")
def _():
    pw = password()
    t = R.randrange(2)
    if t == 0:
        return f"helm repo add internal https://charts.example.com/stable --username {user()} --password {quoted(pw)}", [pw]
    return f"helm registry login {R.choice(REGISTRIES)} -u {user()} -p {quoted(pw)}", [pw]


@secret("userpass:skopeo")
def _():
    pw = shell_safe_password().replace(":", "")
    pw2 = shell_safe_password().replace(":", "")
    t = R.randrange(3)
    if t == 0:
        return f"skopeo inspect --creds {user()}:{pw} docker://{R.choice(REGISTRIES)}/team/api:1.4", [pw]
    if t == 1:
        return f"skopeo copy --src-creds {user()}:{pw} --dest-creds ci:{pw2} docker://{R.choice(REGISTRIES)}/app:2.0 docker://{R.choice(REGISTRIES)}/app:2.0", [pw, pw2]
    return f"buildah push --creds={user()}:{pw} localhost/app:latest docker://{R.choice(REGISTRIES)}/app:latest", [pw]


@secret("userpass:crane-oras")
def _():
    pw = password()
    t = R.randrange(2)
    if t == 0:
        return f"crane auth login {R.choice(REGISTRIES)} -u {user()} -p {quoted(pw)}", [pw]
    return f"oras login {R.choice(REGISTRIES)} --username {user()} --password {quoted(pw)}", [pw]


# -- secret as the next positional argument after a key name

@secret("positional:config-set")
def _():
    pw = password()
    t = R.randrange(5)
    if t == 0:
        return f"redis-cli -h {host()} config set requirepass {quoted(pw)}", [pw]
    if t == 1:
        return f"redis-cli CONFIG SET masterauth {quoted(pw)}", [pw]
    if t == 2:
        s = aws_secret()
        return f"aws configure set aws_secret_access_key {s} --profile {R.choice(['prod', 'staging', 'default'])}", [s]
    if t == 3:
        tok = VENDOR_TOKENS["npm"]()
        return f"yarn config set npmAuthToken {tok}", [tok]
    tok = VENDOR_TOKENS["github"]()
    return f"git config --global github.token {tok}", [tok]


@secret("positional:kv-args")
def _():
    pw = password()
    t = R.randrange(4)
    if t == 0:
        return f"vault kv put secret/{R.choice(['app', 'db', 'payments'])} username={user()} password={quoted(pw)}", [pw]
    if t == 1:
        return f"vault write auth/userpass/users/{user()} password={quoted(pw)} policies=admins", [pw]
    if t == 2:
        return f"heroku config:set DATABASE_PASSWORD={quoted(pw)} -a web-prod", [pw]
    return f"flyctl secrets set API_SECRET={quoted(pw)} --app api-prod", [pw]


@secret("positional:user-pass")
def _():
    pw = shell_safe_password()
    t = R.randrange(5)
    if t == 0:
        return f"rabbitmqctl add_user {user()} {pw}", [pw]
    if t == 1:
        return f"rabbitmqctl change_password {user()} {pw}", [pw]
    if t == 2:
        return f"htpasswd -b -c /etc/nginx/.htpasswd {user()} {pw}", [pw]
    if t == 3:
        return f"wpa_passphrase {R.choice(['HomeWifi', 'Office-5G', 'guest'])} {pw} > /etc/wpa_supplicant/wpa_supplicant.conf", [pw]
    return f"nmcli device wifi connect {R.choice(['HomeWifi', 'Office-5G'])} password {pw}", [pw]


@secret("positional:login-token")
def _():
    t = R.randrange(3)
    if t == 0:
        tok = VENDOR_TOKENS["vault"]()
        return f"vault login {tok}", [tok]
    if t == 1:
        tok = rs(ALNUM, 32)
        return f"cargo login --registry internal {tok}", [tok]
    ak, sk = rs(ALNUM, 20), rs(ALNUM, 40)
    return f"mc alias set minio http://{host()}:9000 {ak} {sk}", [sk]


@secret("positional:gh-secret")
def _():
    pw = password()
    t = R.randrange(2)
    if t == 0:
        return f"gh secret set DB_PASSWORD --body {quoted(pw)} --repo acme/api", [pw]
    return f"gh secret set DEPLOY_TOKEN -b{quoted(pw)} --env production", [pw]


# -- generic flags whose name says it is a secret

SECRET_FLAG_NAMES = [
    "password", "passwd", "pass", "passphrase", "secret", "token", "api-key", "apikey", "secret-key",
    "client-secret", "auth-token", "access-token", "credential", "credentials", "db-password",
    "admin-password", "root-password", "master-password", "encryption-key", "signing-key",
    "webhook-secret", "jwt-secret", "session-secret", "shared-secret", "bearer-token", "refresh-token",
    "private-token", "access-key-secret", "bind-password", "sasl-password", "auth",
]
APPS = ["./deploy.sh", "myapp serve", "java -jar svc.jar", "node server.js", "python3 manage.py runserver", "/usr/local/bin/agent", "gunicorn app:app", "./bin/worker"]


def flag_value_secret():
    return password(10)


@secret("flag_name:space")
def _():
    v = flag_value_secret()
    f = R.choice(SECRET_FLAG_NAMES)
    return f"{R.choice(APPS)} --{f} {quoted(v)} --port {R.choice([8080, 9000, 3000])}", [v]


@secret("flag_name:equals")
def _():
    v = flag_value_secret()
    f = R.choice(SECRET_FLAG_NAMES)
    return f"{R.choice(APPS)} --log-level=info --{f}={quoted(v)}", [v]


@secret("flag_name:single-dash")
def _():
    v = flag_value_secret()
    f = R.choice(["password", "passwd", "token", "secret", "apikey", "storepass", "keypass"])
    return f"{R.choice(['/opt/tool/bin/ctl', 'java -cp lib/* Main', './client'])} -{f} {quoted(v)} -host {host()}", [v]


@secret("flag_name:snake")
def _():
    v = flag_value_secret()
    f = R.choice(["api_key", "secret_key", "auth_token", "db_password", "client_secret", "access_token"])
    sep = R.choice([" ", "="])
    return f"python3 {R.choice(['sync.py', 'etl/run.py', 'bot.py'])} --{f}{sep}{quoted(v)} --verbose", [v]


@secret("flag_name:camel")
def _():
    v = flag_value_secret()
    f = R.choice(["apiKey", "secretKey", "authToken", "dbPassword", "clientSecret", "accessToken", "adminPassword"])
    sep = R.choice([" ", "="])
    return f"node {R.choice(['index.js', 'dist/cli.js', 'scripts/seed.js'])} --{f}{sep}{quoted(v)}", [v]


@secret("flag_name:prefixed")
def _():
    v = flag_value_secret()
    f = R.choice(["mongo-password", "redis-password", "smtp-password", "ldap-bind-password", "kafka-sasl-password", "s3-secret-key", "oidc-client-secret", "github-token", "slack-webhook-secret", "registry-password", "proxy-password"])
    sep = R.choice([" ", "="])
    return f"{R.choice(APPS)} --{f}{sep}{quoted(v)} --config /etc/app/config.yaml", [v]


# -- connection strings

@secret("conn:mssql")
def _():
    pw = shell_safe_password().replace(";", "")
    t = R.randrange(2)
    if t == 0:
        return f"dotnet run -- --connection \"Server=tcp:{host()},1433;Database={db()};User ID={user()};Password={pw};Encrypt=True\"", [pw]
    return f"ConnectionStrings__Default='Server={host()};Initial Catalog={db()};uid={user()};pwd={pw};TrustServerCertificate=true' dotnet App.dll", [pw]


@secret("conn:azure-storage")
def _():
    key = b64(64)
    return f"az storage blob upload --connection-string 'DefaultEndpointsProtocol=https;AccountName=acme{rs(LOWER, 4)};AccountKey={key};EndpointSuffix=core.windows.net' -c backups -f {db()}.bak", [key]


@secret("conn:servicebus")
def _():
    key = b64(32)
    return f"SERVICEBUS_CONNECTION='Endpoint=sb://acme-{rs(LOWER, 5)}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={key}' ./consumer", [key]


@secret("conn:libpq")
def _():
    pw = shell_safe_password()
    t = R.randrange(3)
    if t == 0:
        return f"psql \"host={host()} port=5432 dbname={db()} user={user()} password={pw} sslmode=require\"", [pw]
    if t == 1:
        return f"pg_dump 'dbname={db()} host={host()} user={user()} password={pw}' -Fc -f out.dump", [pw]
    return f"pgbench -i -s 10 \"user={user()} password={pw} host={host()} dbname={db()}\"", [pw]


@secret("conn:jdbc")
def _():
    pw = shell_safe_password().replace("&", "").replace(";", "")
    t = R.randrange(2)
    if t == 0:
        return f"java -jar flyway.jar -url='jdbc:postgresql://{host()}:5432/{db()}?user={user()}&password={pw}' migrate", [pw]
    return f"liquibase --url='jdbc:sqlserver://{host()}:1433;databaseName={db()};user={user()};password={pw}' update", [pw]


@secret("conn:odbc")
def _():
    pw = shell_safe_password().replace(";", "")
    return f"python3 export.py --dsn 'DRIVER={{ODBC Driver 18 for SQL Server}};SERVER={host()};DATABASE={db()};UID={user()};PWD={pw}'", [pw]


# -- key/value forms

@secret("kv:json")
def _():
    pw = password()
    key = R.choice(["password", "api_key", "token", "client_secret", "secret", "apiKey", "access_token"])
    t = R.randrange(3)
    if t == 0:
        return f"curl -X POST https://api.example.com/login -H 'Content-Type: application/json' -d '{{\"username\": \"{user()}\", \"{key}\": \"{pw}\"}}'", [pw]
    if t == 1:
        return f"aws secretsmanager put-secret-value --secret-id prod/{db()} --secret-string '{{\"username\":\"{user()}\",\"{key}\":\"{pw}\"}}'", [pw]
    return f"echo '{{\"{key}\":\"{pw}\",\"region\":\"eu-west-1\"}}' > /etc/app/creds.json", [pw]


@secret("kv:quoted-assign")
def _():
    pw = password()
    name = R.choice(["API_TOKEN", "DB_PASSWORD", "SECRET_KEY", "AUTH_TOKEN", "ADMIN_PASS", "JWT_SECRET", "SMTP_PASSWORD"])
    t = R.randrange(3)
    if t == 0:
        return f"{name}=\"{pw.replace('$', '').replace('!', '')}\" ./run.sh --env prod", [pw.replace('$', '').replace('!', '')]
    if t == 1:
        return f"export {name}='{pw}'", [pw]
    return f"{name}='{pw}' make deploy", [pw]


@secret("kv:container-env")
def _():
    pw = password()
    name = R.choice(["POSTGRES_PASSWORD", "MYSQL_ROOT_PASSWORD", "MONGO_INITDB_ROOT_PASSWORD", "REDIS_PASSWORD", "RABBITMQ_DEFAULT_PASS", "MINIO_ROOT_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD"])
    t = R.randrange(3)
    if t == 0:
        return f"docker run -d --name db -e {name}={quoted(pw)} -p 5432:5432 {R.choice(IMAGES)}", [pw]
    if t == 1:
        return f"podman run --rm --env {name}={quoted(pw)} {R.choice(IMAGES)}", [pw]
    return f"docker compose run -e {name}={quoted(pw)} app migrate", [pw]


@secret("kv:helm-set")
def _():
    pw = shell_safe_password().replace(",", "")
    key = R.choice(["auth.password", "auth.rootPassword", "postgresql.auth.postgresPassword", "redis.password", "adminPassword", "secrets.apiToken"])
    flag = R.choice(["--set", "--set-string"])
    return f"helm upgrade --install {R.choice(['db', 'cache', 'grafana'])} bitnami/postgresql -n data {flag} {key}={pw} --wait", [pw]


@secret("kv:terraform-var")
def _():
    pw = password()
    name = R.choice(["db_password", "api_token", "admin_password", "client_secret"])
    t = R.randrange(2)
    if t == 0:
        return f"terraform apply -auto-approve -var 'region=eu-west-1' -var '{name}={pw}'", [pw]
    return f"TF_VAR_{name}={quoted(pw)} terraform plan -out plan.tfplan", [pw]


@secret("kv:ansible-vars")
def _():
    pw = shell_safe_password()
    name = R.choice(["ansible_password", "ansible_become_pass", "ansible_ssh_pass", "db_password"])
    return f"ansible-playbook -i inventory/prod site.yml --extra-vars '{name}={pw} env=prod'", [pw]


@secret("kv:form-data")
def _():
    pw = shell_safe_password().replace("&", "")
    t = R.randrange(3)
    if t == 0:
        return f"curl -X POST https://auth.example.com/oauth/token -d 'grant_type=client_credentials&client_id=svc-{rs(LOWER, 4)}&client_secret={pw}'", [pw]
    if t == 1:
        return f"curl -F 'username={user()}' -F 'password={pw}' https://app.example.com/login", [pw]
    return f"curl --data-urlencode 'password={pw}' --data-urlencode 'user={user()}' https://portal.example.com/auth", [pw]


@secret("kv:kubectl-literal")
def _():
    pw = password()
    t = R.randrange(3)
    if t == 0:
        return f"kubectl create secret generic db-creds --from-literal=username={user()} --from-literal=password={quoted(pw)} -n {R.choice(['prod', 'data'])}", [pw]
    if t == 1:
        return f"kubectl create secret docker-registry regcred --docker-server={R.choice(REGISTRIES)} --docker-username={user()} --docker-password={quoted(pw)}", [pw]
    return f"kubectl -n apps create secret generic api --from-literal=API_TOKEN={quoted(pw)} --dry-run=client -o yaml", [pw]


@secret("kv:kubectl-token")
def _():
    tok = "eyJhbGciOiJSUzI1NiIsImtpZCI6I" + rs(B64URL, 40) + "." + rs(B64URL, 120) + "." + rs(B64URL, 86)
    t = R.randrange(2)
    if t == 0:
        return f"kubectl --server https://10.0.0.1:6443 --token={tok} get pods -A", [tok]
    pw = password()
    return f"kubectl config set-credentials admin --username=admin --password={quoted(pw)}", [pw]


@secret("jvm:sysprop")
def _():
    pw = shell_safe_password()
    prop = R.choice([
        "javax.net.ssl.keyStorePassword", "javax.net.ssl.trustStorePassword", "spring.datasource.password",
        "db.password", "http.proxyPassword", "sonar.login", "sonar.token", "gpg.passphrase", "keycloak.credentials.secret",
    ])
    return f"java -Xmx512m -D{prop}={pw} -Dserver.port=8080 -jar app.jar", [pw]


@secret("jvm:gradle-maven")
def _():
    pw = shell_safe_password()
    t = R.randrange(2)
    if t == 0:
        return f"./gradlew publish -PmavenPassword={pw} -PmavenUser={user()}", [pw]
    return f"mvn deploy -Drepo.username={user()} -Drepo.password={pw} -DskipTests", [pw]


# -- headers

@secret("header:authorization")
def _():
    t = R.randrange(3)
    if t == 0:
        tok = rs(ALNUM, 40)
        return f"curl -H \"Authorization: Bearer {tok}\" https://api.example.com/v1/users", [tok]
    if t == 1:
        cred = base64.b64encode(f"{user()}:{password()}".encode()).decode()
        return f"curl -sS -H 'Authorization: Basic {cred}' https://{host()}/api/status", [cred]
    tok = rs(ALNUM, 32)
    return f"wget --header='Authorization: token {tok}' https://git.example.com/api/v1/repos", [tok]


@secret("header:api-key")
def _():
    tok = rs(ALNUM, R.choice([32, 40, 48]))
    name = R.choice(["X-API-Key", "X-Api-Key", "PRIVATE-TOKEN", "X-Vault-Token", "DD-API-KEY", "X-Auth-Token", "apikey"])
    return f"curl -H '{name}: {tok}' https://{R.choice(['api.example.com', host()])}/v2/metrics", [tok]


@secret("header:cookie")
def _():
    tok = rs(B64URL, 48)
    return f"curl -b 'sessionid={tok}; csrftoken={rs(ALNUM, 32)}' https://app.example.com/admin/", [tok]


# -- URL userinfo, every scheme

def _url(scheme: str, default_port: int, tail: str, empty_user: bool = False):
    def gen():
        pw = shell_safe_password().replace(":", "").replace("@", "").replace("/", "").replace("%", "")
        u = "" if empty_user else user()
        url = f"{scheme}://{u}:{pw}@{host()}:{default_port}{tail}"
        t = R.randrange(3)
        tool = {
            "redis": "redis-cli -u", "rediss": "redis-cli --tls -u", "amqp": "celery -A tasks worker --broker",
            "amqps": "python3 consumer.py --url", "postgres": "psql", "postgresql": "pg_dump", "mysql": "mysqlsh --uri",
            "mongodb": "mongosh", "ftp": "curl -T report.csv", "smb": "smbget -R", "nats": "nats sub '>' --server",
            "mqtt": "mqttx sub -t '#' --url", "https": "git clone", "socks5": "curl -sS https://ifconfig.example.com --proxy", "sqlserver": "usql",
            "clickhouse": "clickhouse-client --connection", "mongodb+srv": "mongodump --uri", "ldap": "ldapwhoami -H", "kafka": "kcat -b",
        }[scheme]
        if t == 0:
            return f"{tool} {url}", [pw]
        if t == 1:
            return f"{tool} '{url}'", [pw]
        env = R.choice(["DATABASE_URL", "BROKER_URL", "REDIS_URL", "APP_DSN"])
        return f"{env}={url} ./server --workers 4", [pw]
    return gen


for scheme, p, tail, empty in [
    ("redis", 6379, "/0", True), ("rediss", 6380, "/1", False), ("amqp", 5672, "/vhost", False),
    ("amqps", 5671, "/", False), ("postgres", 5432, "/orders", False), ("postgresql", 5432, "/billing?sslmode=require", False),
    ("mysql", 3306, "/app", False), ("mongodb", 27017, "/admin?authSource=admin", False), ("mongodb+srv", 27017, "/test", False),
    ("ftp", 21, "/upload/", False), ("smb", 445, "/share/dir", False), ("nats", 4222, "", False), ("mqtt", 1883, "", False),
    ("https", 443, "/acme/api.git", False), ("socks5", 1080, "", False), ("sqlserver", 1433, "?database=app", False),
    ("clickhouse", 9000, "/default", False), ("kafka", 9092, "", False),
]:
    SECRET_FAMILIES[f"url_userinfo:{scheme}"] = _url(scheme, p, tail, empty)


@secret("url_userinfo:proxy-env")
def _():
    pw = shell_safe_password().replace(":", "").replace("@", "").replace("/", "").replace("%", "")
    return f"HTTPS_PROXY=http://{user()}:{pw}@proxy.corp.example.com:3128 apt-get update", [pw]


@secret("url_userinfo:token-user")
def _():
    tok = VENDOR_TOKENS[R.choice(["github", "gitlab"])]()
    u = R.choice(["x-access-token", "oauth2", "gitlab-ci-token", user()])
    return f"git clone https://{u}:{tok}@git.example.com/acme/{R.choice(['api', 'infra', 'web'])}.git", [tok]


@secret("url_userinfo:pip")
def _():
    tok = rs(ALNUM, 32)
    return f"pip install --index-url https://{user()}:{tok}@pkgs.example.net/simple/ acme-sdk==2.4.1", [tok]


# -- URL query parameters

@secret("url_query:token")
def _():
    tok = rs(ALNUM, R.choice([32, 40]))
    name = R.choice(["token", "access_token", "auth_token", "private_token", "api_token"])
    return f"curl 'https://{R.choice(['api.example.com', 'git.example.com'])}/api/v4/projects?{name}={tok}&per_page=50'", [tok]


@secret("url_query:apikey")
def _():
    tok = R.choice([VENDOR_TOKENS["gcp"](), rs(ALNUM, 32)])
    name = R.choice(["key", "api_key", "apikey", "apiKey"])
    return f"wget -qO- \"https://maps.example.com/geocode/json?address=Berlin&{name}={tok}\"", [tok]


@secret("url_query:sas")
def _():
    sig = b64(32).replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    return f"azcopy copy {path()}/{db()}.bak 'https://acme.blob.core.windows.net/backups/{db()}.bak?sv=2022-11-02&ss=b&srt=o&sp=rwc&se=2026-12-31T23:59:59Z&st=2026-12-01T00:00:00Z&spr=https&sig={sig}'", [sig]


@secret("url_query:aws-presigned")
def _():
    sig = hexs(64)
    return f"curl -o {db()}.tar.gz 'https://backups.s3.eu-west-1.amazonaws.com/{db()}.tar.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={aws_key_id()}%2F20261207%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20261207T101500Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={sig}'", [sig]


@secret("url_query:gcs-signed")
def _():
    sig = hexs(512)
    return f"curl -X PUT --upload-file {db()}.csv 'https://storage.googleapis.com/acme-exports/{db()}.csv?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=uploader%40acme.iam.gserviceaccount.com%2F20261207%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20261207T101500Z&X-Goog-Expires=900&X-Goog-SignedHeaders=host&X-Goog-Signature={sig}'", [sig]


@secret("url_query:password")
def _():
    pw = shell_safe_password().replace("&", "")
    name = R.choice(["password", "passwd", "pwd", "client_secret", "secret"])
    return f"curl -s \"http://{host()}:8080/api/login?user={user()}&{name}={pw}\"", [pw]


# -- PEM private keys in every header form

def pem_body(kind: str) -> list[str]:
    lead = {"RSA": "MIIEow", "EC": "MHcCAQEE", "DSA": "MIIBuw", "OPENSSH": "b3BlbnNzaC1rZXktdjEAAAAA", "": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "ENCRYPTED": "MIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQI", "PGP": "lQOYBGX"}[kind]
    body = lead + rs(B64, R.randrange(180, 300))
    return [body[i:i + 64] for i in range(0, len(body), 64)]


def _pem(kind: str, label: str):
    def gen():
        lines = pem_body(kind)
        begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
        t = R.randrange(4)
        if t == 0:
            blob = "\\n".join([begin, *lines, end])
            return f"kubectl create secret generic tls --from-literal=tls.key=\"{blob}\"", lines
        if t == 1:
            blob = " ".join([begin, *lines, end])
            return f"docker run -e SSH_PRIVATE_KEY='{blob}' {R.choice(IMAGES)}", lines
        if t == 2:
            blob = "\\n".join([begin, *lines, end])
            return f"printf '{blob}\\n' > ~/.ssh/id_deploy", lines
        blob = "\\n".join([begin, *lines, end])
        return f"vault kv put secret/tls key='{blob}'", lines
    return gen


for kind, label in [("RSA", "RSA PRIVATE KEY"), ("EC", "EC PRIVATE KEY"), ("DSA", "DSA PRIVATE KEY"), ("OPENSSH", "OPENSSH PRIVATE KEY"), ("", "PRIVATE KEY"), ("ENCRYPTED", "ENCRYPTED PRIVATE KEY"), ("PGP", "PGP PRIVATE KEY BLOCK")]:
    SECRET_FAMILIES[f"pem:{(kind or 'pkcs8').lower()}"] = _pem(kind, label)


for vendor in VENDOR_TOKENS:
    SECRET_FAMILIES[f"vendor:{vendor}"] = vendor_family(vendor)


# -- wrappers looked through: built after the split, from inner commands of
# the same split (see main), so a held-out wrapper may wrap any convention
# but a train one only train conventions.

WRAPPERS = {
    "sudo": lambda c: f"sudo -u {R.choice(['app', 'postgres', 'root'])} {c}",
    "sudo-env": lambda c: f"sudo -E -H {c}",
    "timeout": lambda c: f"timeout {R.choice(['5', '30s', '2m'])} {c}",
    "env": lambda c: f"env LANG=C TZ=UTC {c}",
    "nohup": lambda c: f"nohup {c} > /var/log/job.log 2>&1 &",
    "nice": lambda c: f"nice -n {R.randrange(1, 19)} {c}",
    "ionice": lambda c: f"ionice -c3 {c}",
    "xargs": lambda c: f"echo {host()} | xargs -I{{}} {c}",
    "sh-c": lambda c: f"sh -c {shlex.quote(c)}",
    "bash-c": lambda c: f"bash -lc {shlex.quote(c)}",
    "ssh": lambda c: f"ssh -p 22 {user()}@{ssh_host()} {shlex.quote(c)}",
    "kubectl-exec": lambda c: f"kubectl exec -n {R.choice(['prod', 'data'])} -it {R.choice(['db-0', 'api-7c9d8f6b4-x2kqp'])} -- {c}",
    "docker-exec": lambda c: f"docker exec -i {R.choice(['db', 'app_web_1', 'f3a9c2d1b7e4'])} {c}",
    "watch": lambda c: f"watch -n {R.randrange(2, 30)} {shlex.quote(c)}",
    "time": lambda c: f"time {c}",
    "stdbuf": lambda c: f"stdbuf -oL {c}",
    "su": lambda c: f"su - {R.choice(['app', 'postgres'])} -c {shlex.quote(c)}",
    "runuser": lambda c: f"runuser -u {R.choice(['app', 'redis'])} -- {c}",
    "setsid": lambda c: f"setsid -f {c}",
    "flock": lambda c: f"flock -n /var/lock/backup.lock {c}",
    "systemd-run": lambda c: f"systemd-run --scope -p MemoryMax=1G {c}",
    "chroot": lambda c: f"chroot /srv/jail {c}",
}

# Wrappers that hand their argument to a shell, which may hold assignments,
# pipes and redirections; the others exec a simple command.
SHELL_WRAPPERS = {"sh-c", "bash-c", "ssh", "su", "watch"}


def is_simple_command(line: str) -> bool:
    first = line.split(" ", 1)[0]
    if first == "export" or ("=" in first and first.split("=", 1)[0].isidentifier()):
        return False
    return not any(op in line for op in (" | ", " > ", " < ", "<<<", " && "))


# ---------------------------------------------------------------- benign families

@benign("benign:port_short_flag")
def _():
    t = R.randrange(10)
    p = port()
    return [
        f"psql -h {host()} -p {p} -U {user()} -d {db()}",
        f"ssh -p {R.choice([22, 2222, 2200])} {user()}@{ssh_host()} 'df -h'",
        f"redis-cli -h {host()} -p {R.choice([6379, 6380, 26379])} ping",
        f"mysql -h {host()} -P 3306 -u {user()} -p {db()}",
        f"scp -P 2222 {path()}/app.tar.gz {user()}@{ssh_host()}:/tmp/",
        f"nc -zv -w 3 {host()} {p}",
        f"mosquitto_sub -h {host()} -p 1883 -t 'sensors/#' -v",
        f"pg_isready -h {host()} -p {p}",
        f"iperf3 -c {host()} -p 5201 -t 30",
        f"sftp -P 2222 {user()}@{ssh_host()}",
    ][t], []


@benign("benign:publish_flag")
def _():
    a, b = R.choice([(8080, 80), (5432, 5432), (6379, 6379), (3000, 3000), (8443, 443), (9090, 9090)])
    t = R.randrange(4)
    return [
        f"docker run -d --name web -p {a}:{b} {R.choice(IMAGES)}",
        f"docker run --rm -p 127.0.0.1:{a}:{b}/tcp {R.choice(IMAGES)}",
        f"podman run -dt -p {a}:{b} --name app {R.choice(IMAGES)}",
        f"kubectl port-forward svc/{R.choice(['api', 'grafana', 'db'])} {a}:{b} -n {R.choice(['prod', 'monitoring'])}",
    ][t], []


@benign("benign:number_after_key_flag")
def _():
    t = R.randrange(12)
    return [
        f"llm-cli complete --model local-7b --max-tokens {R.randrange(16, 8193)} --temperature 0.{R.randrange(0, 10)}",
        f"step certificate create leaf leaf.crt leaf.key --kty RSA --size {R.choice([2048, 4096])}",
        f"vault token create --policy={R.choice(['ci', 'deploy', 'read-only'])} --ttl={R.randrange(1, 48)}h --explicit-max-ttl={R.randrange(48, 240)}h",
        f"./auth-server --token-ttl {R.randrange(60, 86401)} --refresh-token-ttl {R.randrange(86400, 2592001)} --api-key-header X-API-Key",
        f"gpg --batch --quick-gen-key 'Ops Release Signing' rsa{R.choice([2048, 3072, 4096])} sign 1y",
        f"ssh-keygen -t rsa -b {R.choice([2048, 4096])} -C deploy@ci -f ./deploy_key -N ''",
        f"vllm serve org/model --max-model-len 8192 --max-num-batched-tokens {R.choice([4096, 8192])}",
        f"./app --password-min-length {R.randrange(8, 33)} --password-max-age {R.randrange(30, 366)}",
        f"certbot certonly --standalone --key-type rsa --rsa-key-size {R.choice([2048, 4096])} -d app.example.com",
        f"openssl dhparam -out {path()}/dhparam.pem {R.choice([2048, 3072, 4096])}",
        f"python3 train.py --max-tokens {R.randrange(64, 8193)} --secret-rotation-days {R.randrange(7, 91)} --key-length {R.choice([128, 192, 256])}",
        f"keycloak-admin update realms/acme -s accessTokenLifespan={R.choice([300, 600])} -s ssoSessionMaxLifespan=36000",
    ][t], []


@benign("benign:secret_file")
def _():
    t = R.randrange(12)
    return [
        f"docker login --username {user()} --password-file /run/secrets/registry {R.choice(REGISTRIES)}",
        f"myapp serve --db-password-file /run/secrets/db --listen :8080",
        f"curl --cert client.pem --key /etc/ssl/private/client.key https://{host()}/",
        f"vault login -method=token token=@/var/run/vault-token",
        f"gpg --batch --pinentry-mode loopback --passphrase-file /root/.gpg-pass -d backup.tar.gpg",
        f"openssl rsa -in server.key -passin file:/etc/ssl/private/pass.txt -out server.pem",
        f"openssl pkcs12 -export -in c.pem -inkey k.pem -out b.p12 -passout env:P12_PASS",
        f"restic -r s3:s3.amazonaws.com/backups --password-file /etc/restic/password backup /srv",
        f"sshpass -f /etc/ssh/pass.txt ssh {user()}@{ssh_host()} uptime",
        f"kubectl create secret generic tls --from-file=tls.key=./server.key --from-file=tls.crt=./server.crt",
        f"mysql --defaults-extra-file=/etc/mysql/backup.cnf -h {host()} {db()}",
        f"gcloud auth activate-service-account --key-file=/secrets/sa.json",
    ][t], []


@benign("benign:password_stdin")
def _():
    t = R.randrange(8)
    reg = R.choice(REGISTRIES)
    return [
        f"docker login --username {user()} --password-stdin {reg}",
        f"cat ~/.registry-pass | docker login -u {user()} --password-stdin {reg}",
        f"aws ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin {reg}",
        f"helm registry login {reg} --username {user()} --password-stdin",
        f"gh auth login --with-token < ~/.config/gh-token",
        f"podman login -u {user()} --password-stdin {reg} < /run/secrets/pw",
        f"echo \"$REGISTRY_PASSWORD\" | oras login {reg} -u {user()} --password-stdin",
        f"sshfs {user()}@{ssh_host()}:/srv /mnt/srv -o password_stdin < /run/pw",
    ][t], []


@benign("benign:env_ref")
def _():
    t = R.randrange(10)
    return [
        f"./deploy.sh --token=$DEPLOY_TOKEN --env prod",
        f"psql --host {host()} --username {user()} --password \"$DB_PASS\"",
        f"mysql -u{user()} -p\"$MYSQL_PASSWORD\" -h {host()} {db()}",
        f"curl -H \"Authorization: Bearer ${{API_TOKEN}}\" https://api.example.com/v1/me",
        f"docker login -u {user()} -p \"$CI_REGISTRY_PASSWORD\" {R.choice(REGISTRIES)}",
        f"redis-cli -a \"${{REDIS_PASSWORD}}\" --no-auth-warning ping",
        f"PGPASSWORD=$(cat /run/secrets/pg) psql -h {host()} -U {user()} {db()}",
        f"kubectl create secret generic db --from-literal=password=\"$DB_PASSWORD\"",
        f"sshpass -p \"$SSHPASS\" ssh {user()}@{ssh_host()}",
        f"java -Djavax.net.ssl.keyStorePassword=${{KEYSTORE_PASS}} -jar app.jar",
    ][t], []


@benign("benign:short_p_not_password")
def _():
    t = R.randrange(12)
    pid = R.randrange(300, 65000)
    return [
        f"mkdir -p {path()}/{R.choice(['2026/12/07', 'cache/thumbnails', 'logs/archive'])}",
        f"cp -p {path()}/config.yaml {path()}/config.yaml.bak",
        f"ps -p {pid} -o pid,etime,cmd",
        f"strace -f -p {pid} -e trace=network",
        f"lsof -p {pid}",
        f"patch -p1 < fix-{R.randrange(100, 999)}.patch",
        f"git diff -p HEAD~{R.randrange(1, 9)}",
        f"unzip -p release.zip manifest.json",
        f"ssh-keygen -p -f ~/.ssh/id_ed25519",
        f"perf record -F 99 -p {pid} -g -- sleep 30",
        f"gdb -p {pid} -batch -ex bt",
        f"install -d -m 0750 -o app -g app {path()}/run",
    ][t], []


@benign("benign:git")
def _():
    sha = hexs(40)
    t = R.randrange(9)
    return [
        f"git log --author='{R.choice(['Alice', 'bob', 'ci-bot'])}' --since=2.weeks --oneline",
        f"git show {sha}",
        f"git checkout {sha[:R.choice([7, 8, 12])]}",
        f"git cherry-pick -x {sha}",
        f"git reset --hard {sha[:10]}",
        f"git commit -m 'Fix token refresh when the password changes' --signoff",
        f"git rebase -i HEAD~{R.randrange(2, 9)}",
        f"git push origin HEAD:refs/heads/release/{R.randrange(1, 9)}.{R.randrange(0, 20)}",
        f"git fetch origin {sha} && git merge-base --is-ancestor {sha[:12]} HEAD",
    ][t], []


@benign("benign:hash")
def _():
    t = R.randrange(7)
    return [
        f"echo '{hexs(64)}  app-2.1.0.tar.gz' | sha256sum -c -",
        f"sha1sum {path()}/firmware.bin | grep {hexs(40)}",
        f"pip install --require-hashes 'acme-sdk==2.4.1' --hash=sha256:{hexs(64)}",
        f"md5sum -c <<< '{hexs(32)}  backup.tar'",
        f"curl -fsSLO https://releases.example.com/tool.tgz && echo '{hexs(64)} tool.tgz' | sha256sum --check",
        f"b3sum --check <<< '{hexs(64)}  data.parquet'",
        f"terraform providers lock -platform=linux_amd64 # h1:{b64(32)}",
    ][t], []


@benign("benign:trace_id")
def _():
    tid, sid = hexs(32), hexs(16)
    t = R.randrange(5)
    return [
        f"curl -H 'traceparent: 00-{tid}-{sid}-01' https://api.example.com/v1/orders",
        f"./query-traces --trace-id {tid} --span-id {sid}",
        f"otel-cli exec --service backup --tp-carrier /tmp/tp --force-trace-id {tid} -- ./backup.sh",
        f"curl -H 'X-B3-TraceId: {tid}' -H 'X-B3-SpanId: {sid}' -H 'X-B3-Sampled: 1' http://{host()}:8080/",
        f"tempo-cli query trace-id {tid} --org-id acme",
    ][t], []


@benign("benign:uuid")
def _():
    u = uuid.UUID(int=R.getrandbits(128), version=4)
    t = R.randrange(7)
    return [
        f"curl -H 'X-Request-ID: {u}' https://api.example.com/v1/health",
        f"mount UUID={u} /mnt/data",
        f"kubectl get pods -A -o jsonpath='{{.items[?(@.metadata.uid==\"{u}\")].metadata.name}}'",
        f"az vm show --ids /subscriptions/{u}/resourceGroups/prod/providers/Microsoft.Compute/virtualMachines/web01",
        f"./replay --correlation-id {u} --since 1h",
        f"virsh start {u}",
        f"systemd-run --unit=job-{u} /usr/local/bin/job",
    ][t], []


@benign("benign:base64_image")
def _():
    img = "iVBORw0KGgoAAAANSUhEUgAA" + b64(R.randrange(60, 200))
    t = R.randrange(3)
    return [
        f"curl -X POST https://api.example.com/v1/avatars -d '{{\"image\": \"data:image/png;base64,{img}\"}}'",
        f"echo 'data:image/png;base64,{img}' > pixel.txt",
        f"node render.js --favicon 'data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=='",
    ][t], []


@benign("benign:semver")
def _():
    v = f"{R.randrange(0, 20)}.{R.randrange(0, 40)}.{R.randrange(0, 30)}"
    t = R.randrange(5)
    return [
        f"helm upgrade --install grafana grafana/grafana --version {v} -n monitoring",
        f"npm install acme-client@{v} --save-exact",
        f"cargo install ripgrep --version {v} --locked",
        f"pip install 'acme-sdk=={v}' 'urllib3<3'",
        f"git tag -a v{v}-rc.{R.randrange(1, 5)} -m 'release candidate'",
    ][t], []


@benign("benign:image_digest")
def _():
    d = hexs(64)
    t = R.randrange(4)
    return [
        f"docker pull {R.choice(REGISTRIES)}/team/api@sha256:{d}",
        f"kubectl set image deploy/api api={R.choice(REGISTRIES)}/api@sha256:{d} -n prod",
        f"cosign verify --key cosign.pub {R.choice(REGISTRIES)}/app@sha256:{d}",
        f"crane digest {R.choice(REGISTRIES)}/app:1.4 # sha256:{d}",
    ][t], []


@benign("benign:ssh_fingerprint")
def _():
    fp = b64(32).rstrip("=")
    t = R.randrange(5)
    return [
        f"ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub # 256 SHA256:{fp} root@{ssh_host()} (ED25519)",
        f"ssh -o FingerprintHash=sha256 -o StrictHostKeyChecking=yes {user()}@{ssh_host()}",
        f"ssh-keygen -R {host()} -f ~/.ssh/known_hosts",
        f"gpg --recv-keys {hexs(40).upper()}",
        f"echo 'SHA256:{fp}' >> expected_fingerprints.txt",
    ][t], []


@benign("benign:keygen")
def _():
    t = R.randrange(8)
    return [
        f"ssh-keygen -t ed25519 -f ~/.ssh/id_{R.choice(['deploy', 'ci', 'github'])} -C '{user()}@{ssh_host()}'",
        f"openssl genrsa -out {path()}/{R.choice(['key.pem', 'server.key', 'ca.key'])} {R.choice([2048, 3072, 4096])}",
        f"openssl req -new -key {path()}/server.key -out server.csr -subj '/CN={R.choice(['app', 'api', 'www', 'grafana'])}.example.com'",
        f"wg genkey | tee privatekey | wg pubkey > publickey",
        f"age-keygen -o {path()}/age-{R.randrange(1, 99)}.txt",
        f"openssl ecparam -name {R.choice(['prime256v1', 'secp384r1'])} -genkey -noout -out {path()}/ec.key",
        f"openssl rand -{R.choice(['hex', 'base64'])} {R.choice([16, 32, 48, 64])} > /run/secrets/{R.choice(['session_key', 'cookie_secret', 'jwt_key'])}",
        f"step crypto keypair {path()}/pub.pem {path()}/priv.pem --kty EC --crv P-256 --no-password --insecure",
    ][t], []


@benign("benign:auth_method")
def _():
    t = R.randrange(10)
    return [
        f"kinit -k -t /etc/krb5.keytab && ./client --auth-method kerberos --host {host()}",
        f"mongosh --host {host()} --authenticationDatabase admin --authenticationMechanism SCRAM-SHA-256 -u {user()}",
        f"gitlab-runner register --token-name deploy --non-interactive",
        f"vault auth enable -path=ci approle",
        f"aws kms encrypt --key-id alias/{R.choice(['prod-data', 'backups'])} --plaintext fileb://data.json --output text",
        f"./client --auth-type basic --auth-realm internal",
        f"gcloud secrets versions access latest --secret=db-password",
        f"kubectl get secret db-creds -n prod -o jsonpath='{{.metadata.name}}'",
        f"aws secretsmanager get-secret-value --secret-id prod/db/password --query VersionId",
        f"az keyvault secret show --vault-name kv-prod --name api-token --query id",
    ][t], []


@benign("benign:base64_config")
def _():
    text = R.choice([
        "#!/bin/bash\napt-get update\napt-get install -y nginx\n",
        "#cloud-config\npackages:\n  - htop\n  - jq\n",
        '{"log_level":"info","workers":4,"region":"eu-west-1"}',
        "server {\n  listen 80;\n  root /var/www;\n}\n",
    ])
    enc = base64.b64encode(text.encode()).decode()
    t = R.randrange(4)
    return [
        f"aws ec2 run-instances --image-id ami-{hexs(17)} --instance-type t3.small --user-data {enc}",
        f"echo {enc} | base64 -d > /etc/app/config.json",
        f"kubectl patch configmap app -p '{{\"binaryData\":{{\"boot.sh\":\"{enc}\"}}}}'",
        f"gcloud compute instances create web-1 --metadata startup-script-b64={enc}",
    ][t], []


@benign("benign:prompt")
def _():
    t = R.randrange(10)
    return [
        f"mysql -h {host()} -u {user()} -p {db()}",
        f"psql -h {host()} -U {user()} -W {db()}",
        f"ldapsearch -x -W -D 'cn=admin,dc=example,dc=org' -b 'dc=example,dc=org'",
        f"smbclient //fileserver/public -U {user()}",
        f"curl -u {user()} https://{host()}/api/",
        f"redis-cli --askpass -h {host()}",
        f"docker login {R.choice(REGISTRIES)} -u {user()}",
        f"mongosh --host {host()} -u {user()} -p --authenticationDatabase admin",
        f"sqlcmd -S {host()} -U sa",
        f"wget --ask-password --user={user()} https://artifacts.example.com/app.tgz",
    ][t], []


@benign("benign:url_plain")
def _():
    t = R.randrange(10)
    return [
        f"git clone git@github.com:acme/{R.choice(['api', 'infra'])}.git",
        f"git clone https://git.example.com/acme/web.git --depth 1",
        f"psql postgres://{user()}@{ssh_host()}:5432/{db()}",
        f"redis-cli -u redis://{host()}:6379/0 info",
        f"scp {user()}@{ssh_host()}:/var/log/app.log .",
        f"curl 'https://api.example.com/v1/search?q=password+reset&page=2&per_page=50'",
        f"curl 'https://api.example.com/oauth/authorize?response_type=token&client_id=web&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb'",
        f"ssh -J {user()}@bastion {user()}@{ssh_host()}",
        f"rsync -avz {path()}/ {user()}@{ssh_host()}::backup/",
        f"mongosh 'mongodb://{host()}:27017/?replicaSet=rs0&readPreference=secondary'",
    ][t], []


@benign("benign:user_group")
def _():
    uid = R.choice([0, 33, 999, 1000, 1001, 65534])
    t = R.randrange(6)
    return [
        f"chown -R {user()}:{user()} {path()}",
        f"docker run --rm --user {uid}:{uid} -v {path()}:/data {R.choice(IMAGES)}",
        f"chown {uid}:{uid} /var/lib/app",
        f"useradd -u {uid + 1000} -g app -m -s /bin/bash {user()}",
        f"kubectl run debug --rm -it --image=busybox --overrides='{{\"spec\":{{\"securityContext\":{{\"runAsUser\":{uid}}}}}}}'",
        f"rsync -a --chown=www-data:www-data {path()}/ /var/www/",
    ][t], []


@benign("benign:public_key")
def _():
    t = R.randrange(4)
    return [
        f"echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{b64(24).rstrip('=')} {user()}@laptop' >> ~/.ssh/authorized_keys",
        f"kubectl create configmap ca --from-literal=ca.crt='-----BEGIN CERTIFICATE-----\\nMIIB{b64(60)}\\n-----END CERTIFICATE-----'",
        f"echo '-----BEGIN PUBLIC KEY-----\\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE{b64(48)}\\n-----END PUBLIC KEY-----' > cosign.pub",
        f"wg set wg0 peer {b64(32)} allowed-ips 10.8.0.2/32 endpoint {host()}:51820",
    ][t], []


@benign("benign:ids_and_paths")
def _():
    t = R.randrange(9)
    return [
        f"aws ec2 describe-instances --instance-ids i-0{hexs(16)} --region eu-west-1",
        f"aws iam get-role --role-name deploy # arn:aws:iam::{rs(DIGITS, 12)}:role/deploy",
        f"ls /var/lib/docker/overlay2/{hexs(64)}/merged/etc",
        f"nix-store -q --references /nix/store/{rs('0123456789abcdfghijklmnpqrsvwxyz', 32)}-openssl-3.0.13",
        f"docker logs --tail 100 {hexs(12)}",
        f"kubectl logs -n prod api-{rs(LOWER + DIGITS, 10)}-{rs(LOWER + DIGITS, 5)} --since=10m",
        f"journalctl _BOOT_ID={hexs(32)} -u nginx",
        f"ls -la /usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgst{R.choice(['video', 'audio'])}convert.so",
        f"aws s3 cp s3://acme-artifacts/builds/{hexs(40)}/app.tar.gz .",
    ][t], []


@benign("benign:flag_words_no_value")
def _():
    t = R.randrange(8)
    return [
        f"mysql --skip-password -u root -S /run/mysqld/mysqld.sock",
        f"./client --no-password --host {host()}",
        f"psql -w -h {host()} -U {user()} {db()}",
        f"az login --use-device-code",
        f"kubectl get pods --insecure-skip-tls-verify --token-cache-dir /tmp/kube",
        f"vault server -dev -dev-no-store-token",
        f"./server --auth --tls --secret-store vault --key-vault-name kv-prod",
        f"htpasswd -n {user()}",
    ][t], []


@benign("benign:kv_config")
def _():
    t = R.randrange(8)
    return [
        f"helm upgrade --install api ./chart --set image.tag={hexs(7)} --set replicaCount={R.randrange(1, 9)}",
        f"docker run -e LOG_LEVEL=debug -e TZ=Europe/Berlin -e WORKERS={R.randrange(1, 16)} {R.choice(IMAGES)}",
        f"java -Dlog.level=INFO -Dserver.port=8080 -Dspring.profiles.active=prod -jar app.jar",
        f"terraform apply -var 'region=eu-west-1' -var 'instance_count={R.randrange(1, 9)}'",
        f"ansible-playbook site.yml --extra-vars 'env=prod version=2.3.1'",
        f"kubectl create configmap app --from-literal=LOG_LEVEL=info --from-literal=FEATURE_X=true",
        f"curl -X POST https://api.example.com/v1/jobs -H 'Content-Type: application/json' -d '{{\"name\":\"nightly\",\"retries\":3}}'",
        f"vault kv put secret/app/config log_level=info replicas={R.randrange(1, 9)}",
    ][t], []


@benign("benign:prose")
def _():
    t = R.randrange(8)
    return [
        f"logger -t auth 'token refresh failed for user {user()}; password unchanged'",
        f"grep -rn 'api_key' {R.choice(['src/', 'config/', 'charts/'])} --include=*.py",
        f"git commit -m 'Rotate the {R.choice(['secret key', 'API token', 'DB password'])} schedule to {R.randrange(7, 90)} days'",
        f"rg -n 'password=' {R.choice(['config/', 'deploy/', 'etc/'])}",
        f"echo 'Password reset email sent to {user()}'",
        f"jq '.auth.token_url' {path()}/settings.json",
        f"sed -i 's/^#\\?PasswordAuthentication .*/PasswordAuthentication no/' /etc/ssh/sshd_config",
        f"notify-send 'Token expires in {R.randrange(1, 30)} days'",
    ][t], []


@benign("benign:secret_lookup")
def _():
    t = R.randrange(8)
    return [
        f"vault kv get -field=password secret/{R.choice(['db', 'app', 'payments'])}",
        f"pass show {R.choice(['db', 'infra', 'vpn'])}/{R.choice(['prod', 'staging'])}",
        f"op read op://{R.choice(['Infra', 'Dev'])}/{R.choice(['postgres', 'redis'])}/password",
        f"security find-generic-password -s {R.choice(['github', 'npm', 'aws'])} -w",
        f"kubectl get secret {R.choice(['db-creds', 'api-token'])} -n {R.choice(['prod', 'data'])} -o jsonpath='{{.data.password}}'",
        f"openssl passwd -6 -stdin < /run/new-pass",
        f"aws ssm get-parameter --name /{R.choice(['prod', 'dev'])}/db/password --with-decryption --query Parameter.Version",
        f"secret-tool lookup service {R.choice(['smtp', 'imap'])} user {user()}",
    ][t], []


BENIGN_WRAPPED = [
    lambda: f"psql -h {host()} -p 5432 -U {user()} {db()}",
    lambda: f"redis-cli -h {host()} -p 6380 info",
    lambda: f"mkdir -p {path()}/incoming",
    lambda: f"docker run -p 8080:80 {R.choice(IMAGES)}",
    lambda: f"ls -la {path()}",
    lambda: f"pg_dump -h {host()} -p 5432 -U {user()} -Fc {db()}",
    lambda: f"curl -fsS https://{host()}/healthz",
    lambda: f"git log --author=alice --oneline -n 20",
]


# ---------------------------------------------------------------- building

def record(family: str, line: str, secrets: list[str]) -> dict | None:
    try:
        argv = shlex.split(line)
    except ValueError:
        return None
    for s in secrets:
        if s not in line:
            raise SystemExit(f"generator bug: {family}: secret {s!r} not verbatim in {line!r}")
    label = "secret" if secrets else "benign"
    return {"family": family, "label": label, "secrets": secrets, "line": line, "argv": argv}


def generate(family: str, gen, count: int, seen: set[str]) -> list[dict]:
    out, tries = [], 0
    while len(out) < count and tries < count * 20:
        tries += 1
        line, secrets = gen()
        if line in seen:
            continue
        rec = record(family, line, secrets)
        if rec is None:
            continue
        seen.add(line)
        out.append(rec)
    return out


def convert_legacy(tsv: Path) -> None:
    """Turns the old hand-written TSV (label, secret, line) into legacy.jsonl."""
    with open(LEGACY, "w") as out:
        for row in tsv.read_text().splitlines():
            if not row or row.startswith("#"):
                continue
            label, secret_value, line = row.split("\t", 2)
            try:
                argv = shlex.split(line)
            except ValueError:
                argv = line.split()
            secrets = [] if label == "benign" else [secret_value]
            rec = {"family": f"legacy:{label}", "label": "benign" if label == "benign" else "secret", "secrets": secrets, "line": line, "argv": argv}
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")


def legacy_records() -> list[dict]:
    if not LEGACY.exists():
        return []
    return [json.loads(row) for row in LEGACY.read_text().splitlines() if row]


def split_families(names: list[str]) -> set[str]:
    """A third of the families of each kind (the part before ':'), chosen at random."""
    by_kind: dict[str, list[str]] = {}
    for name in names:
        by_kind.setdefault(name.split(":")[0], []).append(name)
    held = set()
    for kind in sorted(by_kind):
        members = sorted(by_kind[kind])
        R.shuffle(members)
        share = round(len(members) * HELDOUT_SHARE_OF_FAMILIES)
        held.update(members[:share])
    return held


def main() -> None:
    seen: set[str] = set()
    secret_count, benign_count, wrapper_count = 14, 85, 12
    wrapper_names = [f"wrapper:{w}" for w in WRAPPERS]
    all_names = sorted(SECRET_FAMILIES) + sorted(BENIGN_FAMILIES) + wrapper_names + ["benign:wrapper"]
    held_families = split_families(all_names)

    train: list[dict] = []
    heldout: list[dict] = []

    def place(family: str, records: list[dict]) -> None:
        if family in held_families:
            heldout.extend(records)
            return
        for rec in records:
            (heldout if R.random() < HELDOUT_SHARE_OF_LINES else train).append(rec)

    for family in sorted(SECRET_FAMILIES):
        place(family, generate(family, SECRET_FAMILIES[family], secret_count, seen))
    for family in sorted(BENIGN_FAMILIES):
        place(family, generate(family, BENIGN_FAMILIES[family], benign_count, seen))

    train_inner = [f for f in sorted(SECRET_FAMILIES) if f not in held_families and not f.startswith(("pem:", "url_query:aws", "url_query:gcs"))]
    every_inner = [f for f in sorted(SECRET_FAMILIES) if not f.startswith(("pem:", "url_query:aws", "url_query:gcs"))]
    for wrapper in sorted(WRAPPERS):
        family = f"wrapper:{wrapper}"
        pool = every_inner if family in held_families else train_inner

        def gen(wrap=WRAPPERS[wrapper], pool=pool, shell=wrapper in SHELL_WRAPPERS):
            while True:
                line, secrets = SECRET_FAMILIES[R.choice(pool)]()
                if shell or is_simple_command(line):
                    return wrap(line), secrets

        place(family, generate(family, gen, wrapper_count, seen))

    def gen_benign_wrapped():
        return WRAPPERS[R.choice(sorted(WRAPPERS))](R.choice(BENIGN_WRAPPED)()), []

    place("benign:wrapper", generate("benign:wrapper", gen_benign_wrapped, benign_count * 2, seen))

    train = legacy_records() + train
    for name, records in (("train", train), ("heldout", heldout)):
        with open(HERE / f"{name}.jsonl", "w") as f:
            for rec in records:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        secrets = sum(r["label"] == "secret" for r in records)
        families = len({r["family"] for r in records})
        print(f"{name}: {len(records)} lines, {secrets} secret, {len(records) - secrets} benign, {families} families", file=sys.stderr)
    # The names of the held-out families are not printed: whoever writes
    # rules against train should not learn which conventions are held out.
    print(f"{len(held_families)} of {len(all_names)} families held out whole", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--convert-legacy":
        convert_legacy(Path(sys.argv[2]))
    else:
        main()
