//! The tool table: for common clients and CLIs, keyed by the executable's
//! base name (and subcommand where it matters), the flags and positions
//! that carry a password, token or key, how the value is given, and the
//! flags that look like credentials but are not for that tool.
//!
//! A short flag means different things to different tools — `-p` is a
//! password to `mysql`, `mongosh` and `docker login` but a port to `psql`,
//! `ssh` and `docker run`, a vhost to `rabbitmqctl`, a prompt to `sudo` —
//! so a short flag is only ever read through this table, never by its
//! name alone. Every row cites the tool's own documentation.

/// How a flag's value is given.
pub(crate) const NEXT: u8 = 1; // `-p VALUE`
pub(crate) const GLUED: u8 = 2; // `-pVALUE`
pub(crate) const EQUALS: u8 = 4; // `--password=VALUE`

/// Which part of a value is the secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    /// All of it.
    Secret,
    /// What follows the first separator: `user:password` (HTTP clients,
    /// registries), `user%password` (Samba), `user,password` (lftp). A
    /// value without the separator is a user name alone.
    After(char),
    /// Oracle's logon, `user/password@connect`: between `/` and `@`.
    Logon,
    /// A cookie list, `name=value; name2=value2`: every value (a value
    /// without `=` is a cookie file's name).
    Cookies,
    /// OpenSSL's pass phrase argument: `pass:SECRET` is one; `env:`,
    /// `file:`, `fd:` and `stdin` are references.
    Openssl,
    /// A mount option list with `user=USER:PASSWORD` (curlftpfs): the
    /// password, up to the next `,`.
    UserOption,
}

#[derive(Debug)]
pub(crate) struct Flag {
    pub name: &'static str,
    pub forms: u8,
    pub value: Value,
}

const fn flag(name: &'static str, forms: u8) -> Flag {
    Flag {
        name,
        forms,
        value: Value::Secret,
    }
}

const fn user_flag(name: &'static str, forms: u8, separator: char) -> Flag {
    Flag {
        name,
        forms,
        value: Value::After(separator),
    }
}

/// One row of the table.
#[derive(Debug)]
pub(crate) struct Tool {
    /// Executable base names.
    pub names: &'static [&'static str],
    /// The subcommand words the row needs, in order, as the first
    /// positional arguments (`docker login`); empty for any.
    pub subcommand: &'static [&'static str],
    /// Flags that carry a secret.
    pub flags: &'static [Flag],
    /// Flags that take no value for this tool, though their name says
    /// password (`psql -W`, `--password`: prompt).
    pub switches: &'static [&'static str],
    /// Flags whose (separate) value is not a secret, so positions count
    /// right (`rabbitmqctl -p VHOST`).
    pub value_flags: &'static [&'static str],
    /// Positional arguments after the subcommand that are secrets
    /// (0 is the first), and which part of them.
    pub positional: &'static [usize],
    pub positional_value: Value,
    /// Only when this short switch was given (`htpasswd -b`).
    pub positional_needs: Option<char>,
    /// Positional words whose next argument is the secret
    /// (`nmcli ... password PW`, `redis-cli AUTH PW`).
    pub keywords: &'static [&'static str],
    /// Positionals are a search pattern and files, never a key and value.
    pub pattern_and_files: bool,
    /// Report as `client_password` (the database clients' `-p`) rather
    /// than `tool_credential`.
    pub client: bool,
}

const ROW: Tool = Tool {
    names: &[],
    subcommand: &[],
    flags: &[],
    switches: &[],
    value_flags: &[],
    positional: &[],
    positional_value: Value::Secret,
    positional_needs: None,
    keywords: &[],
    pattern_and_files: false,
    client: false,
};

pub(crate) const TOOLS: &[Tool] = &[
    // `--password[=password]`, `-p[password]`: the value is attached;
    // `-p` alone prompts, and `-P` is the port. MariaDB's clients agree:
    // https://mariadb.com/kb/en/mariadb-command-line-client/
    // source: https://dev.mysql.com/doc/refman/8.0/en/connection-options.html#option_general_password
    Tool {
        names: &[
            "mysql",
            "mysqldump",
            "mysqladmin",
            "mysqlimport",
            "mysqlshow",
            "mysqlcheck",
            "mysqlpump",
            "mysqlbinlog",
            "mysqlslap",
            "mysqlsh",
            "mariadb",
            "mariadb-dump",
            "mariadb-admin",
            "mariadb-import",
            "mariadb-check",
            "mariadb-show",
        ],
        flags: &[flag("-p", GLUED), flag("--password", EQUALS)],
        switches: &["-p", "--password"],
        value_flags: &[
            "-u",
            "--user",
            "-h",
            "--host",
            "-P",
            "--port",
            "-e",
            "--execute",
            "-D",
            "--database",
            "-S",
            "--socket",
        ],
        client: true,
        ..ROW
    },
    // `-W`/`--password` force a prompt and take no value; `-p` is the port.
    // source: https://www.postgresql.org/docs/current/app-psql.html
    Tool {
        names: &[
            "psql",
            "pg_dump",
            "pg_dumpall",
            "pg_restore",
            "pg_basebackup",
            "createdb",
            "dropdb",
            "createuser",
            "dropuser",
            "vacuumdb",
            "reindexdb",
            "clusterdb",
            "pgbench",
            "pg_isready",
        ],
        switches: &["-W", "--password", "-w", "--no-password"],
        value_flags: &[
            "-p",
            "--port",
            "-h",
            "--host",
            "-U",
            "--username",
            "-d",
            "--dbname",
            "-c",
            "--command",
            "-f",
            "--file",
        ],
        ..ROW
    },
    // source: https://www.mongodb.com/docs/mongodb-shell/reference/options/
    Tool {
        names: &[
            "mongosh",
            "mongo",
            "mongodump",
            "mongorestore",
            "mongoexport",
            "mongoimport",
            "mongostat",
            "mongotop",
            "mongofiles",
        ],
        flags: &[flag("-p", NEXT | EQUALS), flag("--password", NEXT | EQUALS)],
        ..ROW
    },
    // `AUTH [username] password` inside the command line too:
    // https://redis.io/docs/latest/commands/auth/
    // source: https://redis.io/docs/latest/develop/tools/cli/
    Tool {
        names: &["redis-cli", "valkey-cli", "keydb-cli"],
        flags: &[flag("-a", NEXT), flag("--pass", NEXT)],
        switches: &["--askpass", "--no-auth-warning"],
        value_flags: &["-h", "-p", "-n", "-u", "--user", "-s", "-r", "-i"],
        keywords: &["auth", "AUTH"],
        ..ROW
    },
    // source: https://learn.microsoft.com/en-us/sql/tools/sqlcmd/sqlcmd-utility
    Tool {
        names: &["sqlcmd", "bcp", "osql"],
        flags: &[flag("-P", NEXT | GLUED)],
        value_flags: &["-S", "-U", "-d", "-Q", "-q", "-i", "-o"],
        ..ROW
    },
    // `sqlplus [options] username[/password][@connect_identifier]`
    // source: https://docs.oracle.com/en/database/oracle/oracle-database/19/sqpug/SQLPLUS-program-syntax.html
    Tool {
        names: &["sqlplus", "expdp", "impdp", "exp", "imp", "rman", "dgmgrl"],
        value_flags: &["-M", "-R", "-MARKUP", "-RESTRICT"],
        positional: &[0],
        positional_value: Value::Logon,
        ..ROW
    },
    // source: https://cassandra.apache.org/doc/latest/cassandra/managing/tools/cqlsh.html
    Tool {
        names: &["cqlsh"],
        flags: &[flag("-p", NEXT | EQUALS), flag("--password", NEXT | EQUALS)],
        ..ROW
    },
    // source: https://clickhouse.com/docs/en/interfaces/cli
    Tool {
        names: &["clickhouse-client", "clickhouse"],
        flags: &[flag("--password", NEXT | EQUALS)],
        switches: &["--ask-password"],
        ..ROW
    },
    // source: https://docs.influxdata.com/influxdb/v2/reference/cli/influx/
    Tool {
        names: &["influx"],
        flags: &[
            flag("-t", NEXT),
            flag("--token", NEXT | EQUALS),
            flag("-p", NEXT),
            flag("--password", NEXT | EQUALS),
            flag("-password", NEXT | EQUALS),
        ],
        ..ROW
    },
    // source: https://neo4j.com/docs/operations-manual/current/cypher-shell/
    Tool {
        names: &["cypher-shell"],
        flags: &[flag("-p", NEXT), flag("--password", NEXT | EQUALS)],
        ..ROW
    },
    // Registry logins: `-p` is the password only for `login`; for
    // `docker run` it publishes a port.
    // source: https://docs.docker.com/reference/cli/docker/login/
    Tool {
        names: &["docker", "nerdctl"],
        subcommand: &["login"],
        flags: &[flag("-p", NEXT | EQUALS), flag("--password", NEXT | EQUALS)],
        switches: &["--password-stdin"],
        value_flags: &["-u", "--username", "-H", "--host", "--config", "--context"],
        ..ROW
    },
    // Elsewhere `--secret` names a Docker secret (`docker service create
    // --secret db_password`, `docker build --secret id=x,src=f`).
    // source: https://docs.docker.com/reference/cli/docker/service/create/#secret
    Tool {
        names: &["docker", "podman", "nerdctl"],
        value_flags: &["--secret", "-H", "--host", "--context", "--config"],
        ..ROW
    },
    // Search tools take a pattern and files: `grep api_key src/` names
    // no secret.
    // source: https://www.gnu.org/software/grep/manual/grep.html#Usage
    Tool {
        names: &["grep", "egrep", "fgrep", "rg", "ag", "ack", "zgrep"],
        value_flags: &[
            "-e", "-f", "-m", "-A", "-B", "-C", "-g", "--glob", "-t", "--type",
        ],
        pattern_and_files: true,
        ..ROW
    },
    // source: https://docs.podman.io/en/latest/markdown/podman-login.1.html
    Tool {
        names: &["podman", "buildah"],
        subcommand: &["login"],
        flags: &[flag("-p", NEXT | EQUALS), flag("--password", NEXT | EQUALS)],
        switches: &["--password-stdin"],
        value_flags: &["-u", "--username", "--authfile"],
        ..ROW
    },
    // `--creds`, `--src-creds`, `--dest-creds USERNAME[:PASSWORD]`, and
    // `skopeo login -p`.
    // source: https://github.com/containers/skopeo/blob/main/docs/skopeo-copy.1.md
    Tool {
        names: &["skopeo"],
        flags: &[
            user_flag("--creds", NEXT | EQUALS, ':'),
            user_flag("--src-creds", NEXT | EQUALS, ':'),
            user_flag("--dest-creds", NEXT | EQUALS, ':'),
            flag("-p", NEXT | EQUALS),
            flag("--password", NEXT | EQUALS),
        ],
        switches: &["--password-stdin"],
        ..ROW
    },
    // source: https://helm.sh/docs/helm/helm_registry_login/
    Tool {
        names: &["helm"],
        subcommand: &["registry", "login"],
        flags: &[flag("-p", NEXT | EQUALS), flag("--password", NEXT | EQUALS)],
        switches: &["--password-stdin"],
        ..ROW
    },
    // source: https://oras.land/docs/commands/oras_login
    Tool {
        names: &["oras"],
        subcommand: &["login"],
        flags: &[
            flag("-p", NEXT | EQUALS),
            flag("--password", NEXT | EQUALS),
            flag("--identity-token", NEXT | EQUALS),
        ],
        switches: &["--password-stdin", "--identity-token-stdin"],
        ..ROW
    },
    // source: https://github.com/google/go-containerregistry/blob/main/cmd/crane/doc/crane_auth_login.md
    Tool {
        names: &["crane"],
        subcommand: &["auth", "login"],
        flags: &[flag("-p", NEXT | EQUALS), flag("--password", NEXT | EQUALS)],
        switches: &["--password-stdin"],
        ..ROW
    },
    // Cloud and PaaS CLIs.
    // `--secret NAME` names a secret in Secret Manager, it does not hold one.
    // source: https://cloud.google.com/sdk/gcloud/reference/secrets/versions/access
    Tool {
        names: &["gcloud"],
        value_flags: &["--secret", "--project", "--location", "--format"],
        ..ROW
    },
    // source: https://learn.microsoft.com/en-us/cli/azure/reference-index#az-login
    Tool {
        names: &["az"],
        subcommand: &["login"],
        flags: &[flag("-p", NEXT | EQUALS), flag("--password", NEXT | EQUALS)],
        value_flags: &["-u", "--username", "-t", "--tenant"],
        ..ROW
    },
    // source: https://cli.cloudfoundry.org/en-US/v8/login.html
    Tool {
        names: &["cf"],
        subcommand: &["login"],
        flags: &[flag("-p", NEXT)],
        value_flags: &["-a", "-u", "-o", "-s", "--origin"],
        ..ROW
    },
    // `cf auth USERNAME PASSWORD`
    // source: https://cli.cloudfoundry.org/en-US/v8/auth.html
    Tool {
        names: &["cf"],
        subcommand: &["auth"],
        value_flags: &["--origin"],
        positional: &[1],
        ..ROW
    },
    // source: https://docs.openshift.com/container-platform/4.15/cli_reference/openshift_cli/developer-cli-commands.html
    Tool {
        names: &["oc"],
        flags: &[
            flag("-p", NEXT | EQUALS),
            flag("--password", NEXT | EQUALS),
            flag("--token", NEXT | EQUALS),
        ],
        value_flags: &["-u", "--username", "-n", "--namespace", "-s", "--server"],
        subcommand: &["login"],
        ..ROW
    },
    // source: https://kubernetes.io/docs/reference/kubectl/kubectl/
    Tool {
        names: &["kubectl", "kubecolor"],
        flags: &[
            flag("--token", NEXT | EQUALS),
            flag("--password", NEXT | EQUALS),
        ],
        value_flags: &[
            "-n",
            "--namespace",
            "--context",
            "-o",
            "--output",
            "-l",
            "--selector",
            "-c",
            "--container",
            "-f",
            "--filename",
        ],
        ..ROW
    },
    // `vault login [options] [TOKEN | [K=V...]]`
    // source: https://developer.hashicorp.com/vault/docs/commands/login
    Tool {
        names: &["vault", "bao"],
        subcommand: &["login"],
        value_flags: &[
            "-method",
            "-path",
            "-address",
            "-namespace",
            "-format",
            "-field",
        ],
        positional: &[0],
        ..ROW
    },
    // source: https://cli.github.com/manual/gh_secret_set
    Tool {
        names: &["gh"],
        subcommand: &["secret", "set"],
        // pflag shorthands also take the value glued (`-bVALUE`).
        flags: &[
            flag("-b", NEXT | EQUALS | GLUED),
            flag("--body", NEXT | EQUALS),
        ],
        value_flags: &[
            "-R",
            "--repo",
            "-e",
            "--env",
            "-o",
            "--org",
            "-a",
            "--app",
            "-v",
            "--visibility",
            "-f",
            "--env-file",
        ],
        ..ROW
    },
    // source: https://docs.digitalocean.com/reference/doctl/reference/auth/init/
    Tool {
        names: &["doctl"],
        flags: &[
            flag("-t", NEXT | EQUALS),
            flag("--access-token", NEXT | EQUALS),
        ],
        value_flags: &["--context", "-c", "--config", "-o", "--output"],
        ..ROW
    },
    // source: https://cloud.ibm.com/docs/cli?topic=cli-ibmcloud_cli#ibmcloud_login
    Tool {
        names: &["ibmcloud"],
        subcommand: &["login"],
        flags: &[flag("-p", NEXT), flag("--apikey", NEXT)],
        value_flags: &["-a", "-u", "-r", "-g", "-c", "-o", "-s"],
        ..ROW
    },
    // `mc alias set ALIAS URL ACCESSKEY SECRETKEY`
    // source: https://min.io/docs/minio/linux/reference/minio-mc/mc-alias-set.html
    Tool {
        names: &["mc", "mcli"],
        subcommand: &["alias", "set"],
        value_flags: &["--api", "--path"],
        positional: &[2, 3],
        ..ROW
    },
    // source: https://rclone.org/commands/rclone_obscure/
    Tool {
        names: &["rclone"],
        subcommand: &["obscure"],
        positional: &[0],
        ..ROW
    },
    // source: https://etcd.io/docs/v3.5/op-guide/authentication/rbac/
    Tool {
        names: &["etcdctl"],
        flags: &[
            user_flag("--user", NEXT | EQUALS, ':'),
            flag("--password", NEXT | EQUALS),
        ],
        value_flags: &[
            "--endpoints",
            "--cacert",
            "--cert",
            "--key",
            "-w",
            "--write-out",
        ],
        ..ROW
    },
    // Directory and LDAP tools: `-w passwd` (`-W` prompts, `-y` reads a
    // file); `ldappasswd -a OLD -s NEW`.
    // source: https://www.openldap.org/software/man.cgi?query=ldapsearch
    Tool {
        names: &[
            "ldapsearch",
            "ldapmodify",
            "ldapadd",
            "ldapdelete",
            "ldapcompare",
            "ldapmodrdn",
            "ldapwhoami",
            "ldapexop",
            "ldapurl",
        ],
        flags: &[flag("-w", NEXT | GLUED)],
        switches: &["-W"],
        value_flags: &["-D", "-H", "-b", "-s", "-y", "-h", "-p", "-x"],
        ..ROW
    },
    // source: https://www.openldap.org/software/man.cgi?query=ldappasswd
    Tool {
        names: &["ldappasswd"],
        flags: &[
            flag("-w", NEXT | GLUED),
            flag("-a", NEXT | GLUED),
            flag("-s", NEXT | GLUED),
        ],
        switches: &["-W", "-A", "-S"],
        value_flags: &["-D", "-H", "-y", "-t", "-T"],
        ..ROW
    },
    // Samba: `-U user%password`, `--password=`.
    // source: https://www.samba.org/samba/docs/current/man-html/smbclient.1.html
    Tool {
        names: &[
            "smbclient",
            "rpcclient",
            "smbcacls",
            "smbget",
            "net",
            "smbtree",
            "smbcquotas",
        ],
        flags: &[
            user_flag("-U", NEXT | GLUED, '%'),
            user_flag("--user", NEXT | EQUALS, '%'),
            flag("--password", NEXT | EQUALS),
        ],
        ..ROW
    },
    // source: https://github.com/FreeRDP/FreeRDP/wiki/CommandLineInterface
    Tool {
        names: &["xfreerdp", "wlfreerdp", "sdl-freerdp"],
        flags: &[
            flag("/p:", GLUED),
            flag("/pth:", GLUED),
            flag("/gp:", GLUED),
        ],
        ..ROW
    },
    // source: https://linux.die.net/man/1/rdesktop
    Tool {
        names: &["rdesktop"],
        flags: &[flag("-p", NEXT | GLUED)],
        ..ROW
    },
    // source: https://linux.die.net/man/1/x11vnc
    Tool {
        names: &["x11vnc"],
        flags: &[flag("-passwd", NEXT), flag("-viewpasswd", NEXT)],
        ..ROW
    },
    // PuTTY's command-line tools: `-pw password`.
    // source: https://the.earth.li/~sgtatham/putty/latest/htmldoc/Chapter3.html#using-cmdline-pw
    Tool {
        names: &["plink", "pscp", "psftp", "putty"],
        flags: &[flag("-pw", NEXT)],
        value_flags: &["-P", "-l", "-i"],
        ..ROW
    },
    // Key and certificate tools.
    // source: https://docs.oracle.com/en/java/javase/17/docs/specs/man/keytool.html
    Tool {
        names: &["keytool"],
        flags: &[
            flag("-storepass", NEXT),
            flag("-keypass", NEXT),
            flag("-srcstorepass", NEXT),
            flag("-deststorepass", NEXT),
            flag("-srckeypass", NEXT),
            flag("-destkeypass", NEXT),
            flag("-new", NEXT),
        ],
        value_flags: &[
            "-alias",
            "-keystore",
            "-storetype",
            "-file",
            "-keyalg",
            "-keysize",
            "-dname",
            "-validity",
        ],
        ..ROW
    },
    // `-passin`, `-passout`, `-pass ARG` (ARG `pass:SECRET`, `env:VAR`,
    // `file:PATH`, `fd:N`, `stdin`), and `openssl enc -k PASSWORD`.
    // source: https://docs.openssl.org/3.0/man1/openssl-passphrase-options/
    Tool {
        names: &["openssl"],
        flags: &[
            Flag {
                name: "-passin",
                forms: NEXT,
                value: Value::Openssl,
            },
            Flag {
                name: "-passout",
                forms: NEXT,
                value: Value::Openssl,
            },
            Flag {
                name: "-pass",
                forms: NEXT,
                value: Value::Openssl,
            },
            Flag {
                name: "-password",
                forms: NEXT,
                value: Value::Openssl,
            },
            flag("-k", NEXT),
        ],
        value_flags: &[
            "-in",
            "-out",
            "-key",
            "-inkey",
            "-certfile",
            "-kfile",
            "-name",
            "-subj",
            "-days",
        ],
        ..ROW
    },
    // source: https://www.gnupg.org/documentation/manuals/gnupg/GPG-Esoteric-Options.html
    Tool {
        names: &["gpg", "gpg2"],
        flags: &[flag("--passphrase", NEXT | EQUALS)],
        value_flags: &[
            "--passphrase-file",
            "--passphrase-fd",
            "-r",
            "--recipient",
            "-u",
            "--local-user",
            "-o",
            "--output",
        ],
        ..ROW
    },
    // source: https://man.openbsd.org/ssh-keygen
    Tool {
        names: &["ssh-keygen"],
        flags: &[flag("-N", NEXT | GLUED), flag("-P", NEXT | GLUED)],
        value_flags: &[
            "-t", "-b", "-C", "-f", "-Z", "-a", "-O", "-I", "-n", "-V", "-s", "-Y",
        ],
        ..ROW
    },
    // source: https://linux.die.net/man/1/sshpass
    Tool {
        names: &["sshpass"],
        flags: &[flag("-p", NEXT | GLUED)],
        value_flags: &["-f", "-d", "-P"],
        client: true,
        ..ROW
    },
    // `htpasswd -b [-c] passwordfile username password`
    // NcFTP's clients: `-u USER -p PASS`, `-P` the port, `-j` the account.
    // source: https://www.ncftp.com/ncftp/doc/ncftpget.html
    Tool {
        names: &["ncftp", "ncftpget", "ncftpput", "ncftpls", "ncftpbatch"],
        flags: &[flag("-p", NEXT | GLUED)],
        value_flags: &["-u", "-P", "-j", "-t", "-m"],
        ..ROW
    },
    // BusyBox `ftpget`/`ftpput [-cv] [-u USER] [-p PASS] [-P PORT] HOST ...`
    // source: https://busybox.net/downloads/BusyBox.html#ftpget
    Tool {
        names: &["ftpget", "ftpput"],
        flags: &[flag("-p", NEXT | GLUED), flag("--password", NEXT | EQUALS)],
        value_flags: &["-u", "--username", "-P", "--port"],
        ..ROW
    },
    // `ngrok config add-authtoken TOKEN`, `ngrok authtoken TOKEN` (agent v2)
    // source: https://ngrok.com/docs/agent/cli/
    Tool {
        names: &["ngrok"],
        subcommand: &["config", "add-authtoken"],
        positional: &[0],
        ..ROW
    },
    // source: https://ngrok.com/docs/agent/cli/
    Tool {
        names: &["ngrok"],
        subcommand: &["authtoken"],
        positional: &[0],
        ..ROW
    },
    // `snyk auth [API_TOKEN]`
    // source: https://docs.snyk.io/snyk-cli/commands/auth
    Tool {
        names: &["snyk"],
        subcommand: &["auth"],
        positional: &[0],
        ..ROW
    },
    // `ansible-vault encrypt_string 'SECRET' --name 'the_secret'`
    // source: https://docs.ansible.com/ansible/latest/vault_guide/vault_encrypting_content.html
    Tool {
        names: &["ansible-vault"],
        subcommand: &["encrypt_string"],
        value_flags: &[
            "-n",
            "--name",
            "--stdin-name",
            "--vault-id",
            "--vault-password-file",
            "--output",
        ],
        positional: &[0],
        ..ROW
    },
    // `mosquitto_passwd -b passwordfile username password`
    // source: https://mosquitto.org/man/mosquitto_passwd-1.html
    Tool {
        names: &["mosquitto_passwd"],
        positional: &[2],
        positional_needs: Some('b'),
        ..ROW
    },
    // source: https://httpd.apache.org/docs/2.4/programs/htpasswd.html
    Tool {
        names: &["htpasswd"],
        value_flags: &["-C", "-r"],
        positional: &[2],
        positional_needs: Some('b'),
        ..ROW
    },
    // source: https://linux.die.net/man/1/zip
    Tool {
        names: &["zip", "unzip", "zipcloak", "funzip"],
        flags: &[flag("-P", NEXT)],
        value_flags: &["-d", "-x", "-i"],
        ..ROW
    },
    // `-p[pwd]`, `-hp[pwd]` (headers encrypted too); `-p-` asks for none.
    // source: https://documentation.help/WinRAR/HELPSwP.htm
    Tool {
        names: &["rar", "unrar"],
        flags: &[flag("-hp", GLUED), flag("-p", GLUED)],
        ..ROW
    },
    // source: https://documentation.help/7-Zip/password.htm
    Tool {
        names: &["7z", "7za", "7zr", "7zz"],
        flags: &[flag("-p", GLUED)],
        ..ROW
    },
    // source: https://man7.org/linux/man-pages/man8/useradd.8.html
    Tool {
        names: &["useradd", "usermod"],
        flags: &[flag("-p", NEXT), flag("--password", NEXT | EQUALS)],
        value_flags: &["-u", "-g", "-G", "-d", "-s", "-c", "-e", "-f", "-k"],
        ..ROW
    },
    // source: https://linux.die.net/man/8/wpa_passphrase
    Tool {
        names: &["wpa_passphrase"],
        positional: &[1],
        ..ROW
    },
    // source: https://networkmanager.dev/docs/api/latest/nmcli.html
    Tool {
        names: &["nmcli"],
        keywords: &[
            "password",
            "wifi-sec.psk",
            "802-11-wireless-security.psk",
            "802-1x.password",
        ],
        ..ROW
    },
    // Hardware and network management.
    // source: https://linux.die.net/man/1/ipmitool
    Tool {
        names: &["ipmitool"],
        flags: &[flag("-P", NEXT), flag("-y", NEXT), flag("-k", NEXT)],
        value_flags: &["-H", "-U", "-p", "-I", "-f", "-L", "-C"],
        ..ROW
    },
    // Net-SNMP: `-c COMMUNITY` (v1, v2c), `-A AUTHPASS`, `-X PRIVPASS`;
    // `-a` and `-x` name the protocols.
    // source: http://www.net-snmp.org/docs/man/snmpcmd.html
    Tool {
        names: &[
            "snmpwalk",
            "snmpget",
            "snmpgetnext",
            "snmpbulkwalk",
            "snmpbulkget",
            "snmpset",
            "snmptable",
            "snmptrap",
            "snmpinform",
            "snmpstatus",
            "snmpdelta",
            "snmpdf",
        ],
        flags: &[
            flag("-c", NEXT | GLUED),
            flag("-A", NEXT | GLUED),
            flag("-X", NEXT | GLUED),
        ],
        value_flags: &["-v", "-u", "-l", "-a", "-x", "-m", "-M", "-O", "-t", "-r"],
        ..ROW
    },
    // HTTP clients: `user:password` after their user flags.
    // source: https://curl.se/docs/manpage.html
    Tool {
        names: &["curl"],
        flags: &[
            user_flag("-u", NEXT | GLUED, ':'),
            user_flag("--user", NEXT | EQUALS, ':'),
            user_flag("-U", NEXT | GLUED, ':'),
            user_flag("--proxy-user", NEXT | EQUALS, ':'),
            user_flag("-E", NEXT, ':'),
            user_flag("--cert", NEXT | EQUALS, ':'),
            Flag {
                name: "-b",
                forms: NEXT,
                value: Value::Cookies,
            },
            Flag {
                name: "--cookie",
                forms: NEXT | EQUALS,
                value: Value::Cookies,
            },
            flag("--oauth2-bearer", NEXT | EQUALS),
            flag("--pass", NEXT | EQUALS),
            flag("--proxy-pass", NEXT | EQUALS),
            flag("--tlspassword", NEXT | EQUALS),
        ],
        value_flags: &[
            "-o", "-X", "-d", "--data", "-H", "--header", "-A", "-e", "-x", "--proxy", "-T", "-F",
            "-c", "-w", "--key", "-K", "--config",
        ],
        ..ROW
    },
    // source: https://www.gnu.org/software/wget/manual/wget.html
    Tool {
        names: &["wget", "wget2"],
        flags: &[
            flag("--password", NEXT | EQUALS),
            flag("--http-password", NEXT | EQUALS),
            flag("--ftp-password", NEXT | EQUALS),
            flag("--proxy-password", NEXT | EQUALS),
        ],
        switches: &["--ask-password"],
        value_flags: &[
            "-O",
            "-o",
            "-P",
            "--user",
            "--http-user",
            "--ftp-user",
            "--header",
            "-U",
        ],
        ..ROW
    },
    // source: https://httpie.io/docs/cli/authentication
    Tool {
        names: &["http", "https", "httpie"],
        flags: &[
            user_flag("-a", NEXT | GLUED, ':'),
            user_flag("--auth", NEXT | EQUALS, ':'),
        ],
        value_flags: &["-A", "--auth-type", "-o", "--output"],
        ..ROW
    },
    // source: https://aria2.github.io/manual/en/html/aria2c.html
    Tool {
        names: &["aria2c"],
        flags: &[
            flag("--http-passwd", NEXT | EQUALS),
            flag("--ftp-passwd", NEXT | EQUALS),
            flag("--rpc-secret", NEXT | EQUALS),
            flag("--rpc-passwd", NEXT | EQUALS),
        ],
        ..ROW
    },
    // source: https://lftp.yar.ru/lftp-man.html
    Tool {
        names: &["lftp"],
        flags: &[user_flag("-u", NEXT, ',')],
        value_flags: &["-p", "-e", "-f", "-c"],
        ..ROW
    },
    // lftp's own commands, in the scripts of `lftp -e`/`-c` (read as
    // command strings): `open -u user[,pass] site`, `user USER [PASS]`.
    // source: https://lftp.yar.ru/lftp-man.html
    Tool {
        names: &["open"],
        flags: &[user_flag("-u", NEXT, ','), flag("--password", NEXT)],
        value_flags: &["-p", "--user", "-e", "-s"],
        ..ROW
    },
    // source: https://lftp.yar.ru/lftp-man.html
    Tool {
        names: &["user"],
        positional: &[1],
        ..ROW
    },
    // `curlftpfs -o user=USER:PASSWORD ftp://host/ /mnt`
    // source: https://linux.die.net/man/1/curlftpfs
    Tool {
        names: &["curlftpfs"],
        flags: &[Flag {
            name: "-o",
            forms: NEXT | GLUED,
            value: Value::UserOption,
        }],
        ..ROW
    },
    // `glab variable set KEY VALUE`, `-v`/`--value VALUE`: GitLab CI/CD
    // variables, where pipelines keep their secrets (masked).
    // source: https://docs.gitlab.com/cli/variable/set/
    Tool {
        names: &["glab"],
        subcommand: &["variable", "set"],
        flags: &[
            flag("-v", NEXT | EQUALS | GLUED),
            flag("--value", NEXT | EQUALS),
        ],
        value_flags: &[
            "-s",
            "--scope",
            "-t",
            "--type",
            "-g",
            "--group",
            "-R",
            "--repo",
            "-d",
            "--description",
        ],
        positional: &[1],
        ..ROW
    },
    // `travis env set NAME VALUE` (private unless `--public`).
    // source: https://github.com/travis-ci/travis.rb#env
    Tool {
        names: &["travis"],
        subcommand: &["env", "set"],
        value_flags: &["-r", "--repo", "-e", "--api-endpoint", "-t", "--token"],
        positional: &[1],
        ..ROW
    },
    // macOS keychains: `security add-generic-password -a ACCT -s SVC -w
    // PASSWORD`, `add-internet-password ... -w PASSWORD`, `unlock-keychain
    // -p PASSWORD`, `create-keychain -p PASSWORD`.
    // source: https://ss64.com/mac/security.html
    Tool {
        names: &["security"],
        subcommand: &["add-generic-password"],
        flags: &[flag("-w", NEXT)],
        value_flags: &["-a", "-s", "-l", "-c", "-C", "-D", "-j", "-T", "-G"],
        ..ROW
    },
    // source: https://ss64.com/mac/security.html
    Tool {
        names: &["security"],
        subcommand: &["add-internet-password"],
        flags: &[flag("-w", NEXT)],
        value_flags: &[
            "-a", "-s", "-l", "-c", "-C", "-D", "-j", "-T", "-d", "-r", "-t", "-p", "-P",
        ],
        ..ROW
    },
    // source: https://ss64.com/mac/security.html
    Tool {
        names: &["security"],
        subcommand: &["unlock-keychain"],
        flags: &[flag("-p", NEXT)],
        ..ROW
    },
    // source: https://ss64.com/mac/security.html
    Tool {
        names: &["security"],
        subcommand: &["create-keychain"],
        flags: &[flag("-p", NEXT)],
        ..ROW
    },
    // `sops set FILE '["db"]["password"]' '"VALUE"'`
    // source: https://github.com/getsops/sops#set-a-sub-part-in-a-document-tree
    Tool {
        names: &["sops"],
        subcommand: &["set"],
        positional: &[2],
        ..ROW
    },
    // VCS and package managers.
    // source: https://svnbook.red-bean.com/en/1.7/svn.ref.svn.html
    Tool {
        names: &["svn", "svnsync", "svnmucc"],
        flags: &[
            flag("--password", NEXT | EQUALS),
            flag("--source-password", NEXT | EQUALS),
            flag("--sync-password", NEXT | EQUALS),
        ],
        value_flags: &["--username", "-m", "--message", "-r", "--revision"],
        ..ROW
    },
    // source: https://twine.readthedocs.io/en/stable/#twine-upload
    Tool {
        names: &["twine"],
        flags: &[flag("-p", NEXT | EQUALS), flag("--password", NEXT | EQUALS)],
        value_flags: &[
            "-u",
            "--username",
            "-r",
            "--repository",
            "--repository-url",
            "-c",
            "--comment",
        ],
        ..ROW
    },
    // `cargo login [TOKEN]`
    // source: https://doc.rust-lang.org/cargo/commands/cargo-login.html
    Tool {
        names: &["cargo"],
        subcommand: &["login"],
        value_flags: &["--registry"],
        positional: &[0],
        ..ROW
    },
    // `dotnet nuget add source URL -u USER -p PASSWORD`; for `dotnet run`
    // `-p` is the project.
    // source: https://learn.microsoft.com/en-us/dotnet/core/tools/dotnet-nuget-add-source
    Tool {
        names: &["dotnet"],
        subcommand: &["nuget"],
        flags: &[flag("-p", NEXT | EQUALS), flag("--password", NEXT | EQUALS)],
        value_flags: &[
            "-u",
            "--username",
            "-n",
            "--name",
            "-s",
            "--source",
            "-k",
            "--api-key",
        ],
        ..ROW
    },
    // source: https://learn.microsoft.com/en-us/nuget/reference/cli-reference/cli-ref-sources
    Tool {
        names: &["nuget"],
        flags: &[flag("-Password", NEXT), flag("-ApiKey", NEXT)],
        value_flags: &["-Name", "-Source", "-Username"],
        ..ROW
    },
    // Message brokers. `rabbitmqctl add_user USER PASSWORD` (and
    // `change_password`, `authenticate_user`); its `-p` is the vhost.
    // source: https://www.rabbitmq.com/docs/man/rabbitmqctl.8
    Tool {
        names: &["rabbitmqctl"],
        subcommand: &["add_user"],
        value_flags: &["-p", "--vhost", "-n", "--node", "-t", "--timeout"],
        positional: &[1],
        ..ROW
    },
    // source: https://www.rabbitmq.com/docs/man/rabbitmqctl.8
    Tool {
        names: &["rabbitmqctl"],
        subcommand: &["change_password"],
        value_flags: &["-p", "--vhost", "-n", "--node", "-t", "--timeout"],
        positional: &[1],
        ..ROW
    },
    // source: https://www.rabbitmq.com/docs/man/rabbitmqctl.8
    Tool {
        names: &["rabbitmqctl"],
        subcommand: &["authenticate_user"],
        value_flags: &["-p", "--vhost", "-n", "--node", "-t", "--timeout"],
        positional: &[1],
        ..ROW
    },
    // source: https://www.rabbitmq.com/docs/management-cli
    Tool {
        names: &["rabbitmqadmin"],
        flags: &[flag("-p", NEXT | EQUALS), flag("--password", NEXT | EQUALS)],
        value_flags: &[
            "-u",
            "--username",
            "-V",
            "--vhost",
            "-H",
            "--host",
            "-P",
            "--port",
        ],
        ..ROW
    },
    // Mosquitto: `-P password`; `-p` is the port.
    // source: https://mosquitto.org/man/mosquitto_pub-1.html
    Tool {
        names: &["mosquitto_pub", "mosquitto_sub", "mosquitto_rr"],
        flags: &[flag("-P", NEXT), flag("--pw", NEXT)],
        value_flags: &[
            "-p",
            "--port",
            "-h",
            "--host",
            "-u",
            "--username",
            "-t",
            "--topic",
            "-m",
            "--message",
            "-i",
            "--id",
        ],
        ..ROW
    },
    // source: https://docs.nats.io/using-nats/nats-tools/nats_cli
    Tool {
        names: &["nats"],
        flags: &[
            flag("--password", NEXT | EQUALS),
            flag("--token", NEXT | EQUALS),
        ],
        value_flags: &["-s", "--server", "--user", "--creds", "--nkey", "--context"],
        ..ROW
    },
];

/// The row for the command `args` (`args[0]` is the tool), if any.
/// A configuration key whose value is a credential though its name does
/// not say so, after the tool's `config` subcommand.
pub(crate) struct ConfigKey {
    pub tools: &'static [&'static str],
    /// How the key starts (`http-basic.`); empty: any key naming a host
    /// (with a `.`), Bundler's convention.
    pub prefix: &'static str,
    /// Which of the positional arguments after the key is the secret.
    pub secret: usize,
    pub value: Value,
}

pub(crate) const CONFIG_KEYS: &[ConfigKey] = &[
    // `poetry config http-basic.REPO USER PASS`, `poetry config pypi-token.REPO TOKEN`
    // source: https://python-poetry.org/docs/repositories/#configuring-credentials
    ConfigKey {
        tools: &["poetry"],
        prefix: "http-basic.",
        secret: 1,
        value: Value::Secret,
    },
    ConfigKey {
        tools: &["poetry"],
        prefix: "pypi-token.",
        secret: 0,
        value: Value::Secret,
    },
    // `composer config [--global] http-basic.HOST USER PASS`, `github-oauth.HOST
    // TOKEN`, `gitlab-oauth.HOST TOKEN`, `gitlab-token.HOST TOKEN`,
    // `bitbucket-oauth.HOST KEY SECRET`, `bearer.HOST TOKEN`
    // source: https://getcomposer.org/doc/articles/authentication-for-private-packages.md
    ConfigKey {
        tools: &["composer"],
        prefix: "http-basic.",
        secret: 1,
        value: Value::Secret,
    },
    ConfigKey {
        tools: &["composer"],
        prefix: "bitbucket-oauth.",
        secret: 1,
        value: Value::Secret,
    },
    ConfigKey {
        tools: &["composer"],
        prefix: "github-oauth.",
        secret: 0,
        value: Value::Secret,
    },
    ConfigKey {
        tools: &["composer"],
        prefix: "gitlab-oauth.",
        secret: 0,
        value: Value::Secret,
    },
    ConfigKey {
        tools: &["composer"],
        prefix: "gitlab-token.",
        secret: 0,
        value: Value::Secret,
    },
    ConfigKey {
        tools: &["composer"],
        prefix: "bearer.",
        secret: 0,
        value: Value::Secret,
    },
    // `yarn config set npmAuthIdent user:password`
    // source: https://yarnpkg.com/configuration/yarnrc#npmAuthIdent
    ConfigKey {
        tools: &["yarn"],
        prefix: "npmAuthIdent",
        secret: 0,
        value: Value::Secret,
    },
    // `bundle config set --global gems.example.com user:password`
    // source: https://bundler.io/man/bundle-config.1.html (credentials for gem sources)
    ConfigKey {
        tools: &["bundle", "bundler"],
        prefix: "",
        secret: 0,
        value: Value::After(':'),
    },
];

pub(crate) fn row(tool: &str, args: &[&str]) -> Option<&'static Tool> {
    TOOLS.iter().find(|row| {
        row.names.contains(&tool) && {
            let mut positionals = positionals(row, args);
            row.subcommand.iter().all(|word| {
                positionals
                    .next()
                    .is_some_and(|index| args[index].eq_ignore_ascii_case(word))
            })
        }
    })
}

/// Indices of `args` (`args[0]` is the tool) that are positional: not
/// flags, not the values of the row's value flags.
pub(crate) fn positionals<'r>(
    row: &'r Tool,
    args: &'r [&'r str],
) -> impl Iterator<Item = usize> + 'r {
    let mut skip_next = false;
    let mut options_ended = false;
    (1..args.len()).filter(move |&index| {
        let arg = args[index];
        if skip_next {
            skip_next = false;
            return false;
        }
        if options_ended || arg == "-" || !arg.starts_with('-') {
            return true;
        }
        if arg == "--" {
            options_ended = true;
            return false;
        }
        if row.value_flags.contains(&arg)
            || row
                .flags
                .iter()
                .any(|flag| flag.name == arg && flag.forms & NEXT != 0)
        {
            skip_next = true;
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_wide_and_cited() {
        let tools: std::collections::BTreeSet<&str> = TOOLS
            .iter()
            .flat_map(|row| row.names.iter().copied())
            .collect();
        assert!(tools.len() >= 40, "{} tools", tools.len());
        // Every row cites the tool's documentation on the line above it.
        let source = include_str!("tools.rs");
        let table = source
            .split("pub(crate) const CONFIG_KEYS")
            .next()
            .unwrap_or(source);
        let cited = table.matches("\n    // source: http").count();
        assert_eq!(cited, TOOLS.len(), "rows without a `// source:` line");
        for row in TOOLS {
            assert!(
                !row.flags.is_empty()
                    || !row.positional.is_empty()
                    || !row.keywords.is_empty()
                    || !row.switches.is_empty()
                    || !row.value_flags.is_empty(),
                "{:?} says nothing",
                row.names
            );
        }
    }

    #[test]
    fn rows_depend_on_the_subcommand() {
        assert!(row("docker", &["docker", "login", "-p", "x"]).is_some());
        let run = row("docker", &["docker", "run", "-p", "8080:80", "nginx"]);
        assert!(
            run.is_some_and(|row| row.flags.is_empty()),
            "docker run -p is a port"
        );
        assert!(row("helm", &["helm", "registry", "login", "r.example"]).is_some());
        assert!(row("helm", &["helm", "install", "x"]).is_none());
        assert!(
            row(
                "rabbitmqctl",
                &["rabbitmqctl", "-p", "vh", "add_user", "u", "p"]
            )
            .is_some()
        );
    }
}
