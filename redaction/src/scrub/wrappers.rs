//! Wrapper commands, looked through so that the wrapped tool's rule
//! applies: `sudo -u app mysql -pX` is `mysql -pX`, `bash -c 'mysql -pX'`
//! is the command in the string, `ssh host mysql -pX` and
//! `kubectl exec pod -- mysql -pX` run it elsewhere.
//!
//! Each wrapper's options that take a value are listed from its manual,
//! so that the value is not mistaken for the wrapped command.

/// Where the wrapped command starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Inner {
    /// At this argument, as an argument list.
    Args(usize),
    /// In this argument, a shell command string.
    Shell(usize),
}

#[derive(Clone, Copy)]
enum Mode {
    /// Options, then the command.
    Command,
    /// Options, then `n` positional arguments (`timeout DURATION`,
    /// `chroot DIR`), then the command.
    After(usize),
    /// Options (and `NAME=VALUE` assignments for `env`), then the command.
    Env,
    /// `-c STRING` (`sh`, `bash`, `su`, `flock`, `runuser`).
    ShellString,
    /// Options, a host, then the remote command (`ssh`).
    Remote,
    /// A subcommand, options, a container, then the command
    /// (`docker exec`, `docker run`).
    Container(&'static [&'static str]),
    /// The command after `--` (`kubectl exec POD -- cmd`).
    AfterDashes(&'static str),
}

struct Wrapper {
    names: &'static [&'static str],
    /// Options whose value is the next argument.
    value_flags: &'static [&'static str],
    mode: Mode,
}

// source: sudo(8) https://www.sudo.ws/docs/man/sudo.man/ ; doas(1)
// https://man.openbsd.org/doas ; env(1), timeout(1), nice(1), nohup(1),
// stdbuf(1), chroot(8), time(1) https://www.gnu.org/software/coreutils/manual/coreutils.html ;
// xargs(1) https://www.gnu.org/software/findutils/manual/html_mono/find.html#Invoking-xargs ;
// ionice(1), chrt(1), taskset(1), setsid(1), flock(1), runuser(1)
// https://man7.org/linux/man-pages/man1/ionice.1.html ;
// ssh(1) https://man.openbsd.org/ssh ; kubectl exec
// https://kubernetes.io/docs/reference/kubectl/generated/kubectl_exec/ ;
// docker exec https://docs.docker.com/reference/cli/docker/container/exec/ ,
// docker run https://docs.docker.com/reference/cli/docker/container/run/ ;
// sh -c https://pubs.opengroup.org/onlinepubs/9799919799/utilities/sh.html ;
// sshpass(1) https://linux.die.net/man/1/sshpass ; watch(1)
// https://man7.org/linux/man-pages/man1/watch.1.html
const WRAPPERS: &[Wrapper] = &[
    Wrapper {
        names: &["sudo"],
        value_flags: &[
            "-u",
            "-g",
            "-C",
            "-D",
            "-h",
            "-p",
            "-r",
            "-t",
            "-U",
            "-T",
            "-R",
            "--user",
            "--group",
            "--prompt",
            "--chdir",
            "--role",
            "--type",
            "--host",
            "--other-user",
            "--close-from",
            "--command-timeout",
            "--chroot",
        ],
        mode: Mode::Env,
    },
    Wrapper {
        names: &["doas"],
        value_flags: &["-u", "-C"],
        mode: Mode::Command,
    },
    Wrapper {
        names: &["env"],
        value_flags: &["-u", "--unset", "-C", "--chdir"],
        mode: Mode::Env,
    },
    Wrapper {
        names: &["timeout"],
        value_flags: &["-k", "--kill-after", "-s", "--signal"],
        mode: Mode::After(1),
    },
    Wrapper {
        names: &["nice"],
        value_flags: &["-n", "--adjustment"],
        mode: Mode::Command,
    },
    Wrapper {
        names: &[
            "nohup",
            "exec",
            "command",
            "builtin",
            "unbuffer",
            "time",
            "caffeinate",
            "torsocks",
            "catchsegv",
        ],
        value_flags: &["-f", "-o", "--format", "--output"],
        mode: Mode::Command,
    },
    // setsid(1): `-c`, `-f` (fork), `-w` take no value.
    // source: https://man7.org/linux/man-pages/man1/setsid.1.html
    Wrapper {
        names: &["setsid"],
        value_flags: &[],
        mode: Mode::Command,
    },
    // source: https://man7.org/linux/man-pages/man1/systemd-run.1.html
    Wrapper {
        names: &["systemd-run"],
        value_flags: &[
            "-u",
            "--unit",
            "-p",
            "--property",
            "-E",
            "--setenv",
            "-H",
            "--host",
            "-M",
            "--machine",
            "--description",
            "--slice",
            "--service-type",
            "--uid",
            "--gid",
            "--nice",
            "--working-directory",
            "--on-active",
            "--on-boot",
            "--on-startup",
            "--on-unit-active",
            "--on-unit-inactive",
            "--on-calendar",
            "--timer-property",
            "--path-property",
            "--socket-property",
        ],
        mode: Mode::Command,
    },
    // nsenter(1), unshare(1), setpriv(1), prlimit(1)
    // source: https://man7.org/linux/man-pages/man1/nsenter.1.html ;
    // https://man7.org/linux/man-pages/man1/setpriv.1.html ;
    // gosu https://github.com/tianon/gosu ; su-exec https://github.com/ncopa/su-exec ;
    // chpst http://smarden.org/runit/chpst.8 ; pkexec(1)
    // https://www.freedesktop.org/software/polkit/docs/latest/pkexec.1.html ;
    // tini https://github.com/krallin/tini ; dumb-init https://github.com/Yelp/dumb-init
    Wrapper {
        names: &[
            "nsenter",
            "unshare",
            "setpriv",
            "prlimit",
            "tini",
            "dumb-init",
        ],
        value_flags: &["-t", "--target", "-S", "--setuid", "-G", "--setgid"],
        mode: Mode::Command,
    },
    Wrapper {
        names: &["pkexec"],
        value_flags: &["--user"],
        mode: Mode::Command,
    },
    Wrapper {
        names: &["gosu", "su-exec", "s6-setuidgid"],
        value_flags: &[],
        mode: Mode::After(1),
    },
    Wrapper {
        names: &["chpst"],
        value_flags: &[
            "-u", "-U", "-e", "-/", "-n", "-l", "-L", "-m", "-d", "-o", "-p", "-f", "-c", "-r",
            "-t",
        ],
        mode: Mode::Command,
    },
    Wrapper {
        names: &["xargs"],
        value_flags: &[
            "-a",
            "-d",
            "-E",
            "-I",
            "-L",
            "-n",
            "-P",
            "-s",
            "--arg-file",
            "--delimiter",
            "--max-args",
            "--max-procs",
            "--max-chars",
            "--max-lines",
            "--process-slot-var",
        ],
        mode: Mode::Command,
    },
    Wrapper {
        names: &["stdbuf"],
        value_flags: &["-i", "-o", "-e"],
        mode: Mode::Command,
    },
    Wrapper {
        names: &["ionice"],
        value_flags: &["-c", "-n", "--class", "--classdata"],
        mode: Mode::Command,
    },
    Wrapper {
        names: &["chrt", "taskset"],
        value_flags: &[],
        mode: Mode::After(1),
    },
    Wrapper {
        names: &["chroot"],
        value_flags: &["--userspec", "--groups"],
        mode: Mode::After(1),
    },
    Wrapper {
        names: &["watch"],
        value_flags: &["-n", "--interval", "-d"],
        mode: Mode::Remote,
    },
    Wrapper {
        names: &[
            "sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "su", "runuser", "flock",
        ],
        value_flags: &[
            "-o",
            "-O",
            "+O",
            "-s",
            "--shell",
            "-g",
            "--group",
            "-u",
            "--user",
            "-w",
            "--timeout",
        ],
        mode: Mode::ShellString,
    },
    Wrapper {
        names: &["ssh", "autossh"],
        value_flags: &[
            "-b", "-B", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O",
            "-o", "-p", "-Q", "-R", "-S", "-W", "-w", "-M",
        ],
        mode: Mode::Remote,
    },
    Wrapper {
        names: &["kubectl", "oc", "kubecolor"],
        value_flags: &[],
        mode: Mode::AfterDashes("exec"),
    },
    Wrapper {
        names: &["docker", "podman", "nerdctl"],
        value_flags: &[
            "-e",
            "--env",
            "--env-file",
            "-u",
            "--user",
            "-w",
            "--workdir",
            "--detach-keys",
            "-v",
            "--volume",
            "-p",
            "--publish",
            "--name",
            "--network",
            "--net",
            "-h",
            "--hostname",
            "--entrypoint",
            "-l",
            "--label",
            "--mount",
            "--add-host",
            "--cpus",
            "-m",
            "--memory",
            "--platform",
            "--restart",
            "--log-driver",
            "--log-opt",
            "--device",
            "--cap-add",
            "--cap-drop",
            "--security-opt",
            "--ulimit",
            "--pid",
            "--ipc",
            "--dns",
            "--tmpfs",
            "-a",
            "--attach",
            "--shm-size",
            "--gpus",
            "--runtime",
            "--pull",
            "--stop-signal",
            "-H",
            "--host",
            "--context",
            "--config",
            "-f",
            "--file",
        ],
        mode: Mode::Container(&["exec", "run"]),
    },
    // `busybox APPLET ARGS`: the applet is the tool (`busybox ftpget`,
    // `busybox sh -c`).
    // source: https://busybox.net/downloads/BusyBox.html
    Wrapper {
        names: &["busybox"],
        value_flags: &[],
        mode: Mode::Command,
    },
    Wrapper {
        names: &["sshpass"],
        value_flags: &["-f", "-d", "-p", "-P"],
        mode: Mode::Command,
    },
];

/// The wrapped command of `args` (`args[0]` is `tool`), if `tool` is a
/// wrapper and wraps one.
pub(crate) fn inner(tool: &str, args: &[&str]) -> Option<Inner> {
    let wrapper = WRAPPERS
        .iter()
        .find(|wrapper| wrapper.names.contains(&tool))?;
    // A short flag with its value glued (`-n10`, `-oL`) is one argument.
    let takes_value = |arg: &str| wrapper.value_flags.contains(&arg);
    // The first index after the options (and, for `env`, assignments).
    let after_options = |from: usize, assignments: bool| {
        let mut index = from;
        while index < args.len() {
            let arg = args[index];
            if arg == "--" {
                return index + 1;
            }
            if assignments && is_assignment(arg) {
                index += 1;
            } else if arg.starts_with('-') && arg.len() > 1 {
                index += if takes_value(arg) { 2 } else { 1 };
            } else {
                return index;
            }
        }
        index
    };
    let start = match wrapper.mode {
        Mode::Command => Inner::Args(after_options(1, false)),
        Mode::Env => Inner::Args(after_options(1, true)),
        Mode::After(count) => Inner::Args(after_options(1, false) + count),
        Mode::ShellString => {
            // `-c`, `-lc`, `-euc`, before any `--` (after it, the flags
            // are the command's).
            let index = args
                .iter()
                .enumerate()
                .skip(1)
                .take_while(|(_, arg)| **arg != "--")
                .find_map(|(index, arg)| {
                    let is_c = *arg == "--command"
                        || (arg.starts_with('-')
                            && !arg.starts_with("--")
                            && arg.len() <= 5
                            && arg[1..].bytes().all(|byte| byte.is_ascii_alphabetic())
                            && arg.contains('c'));
                    is_c.then_some(index + 1)
                });
            match index {
                Some(index) => Inner::Shell(index),
                // `runuser -u app -- cmd`, `flock FILE cmd`.
                None if matches!(tool, "runuser" | "flock") => {
                    Inner::Args(after_options(1, false) + usize::from(tool == "flock"))
                }
                None => return None,
            }
        }
        Mode::Remote => {
            let host = after_options(1, false);
            let start = if tool == "watch" { host } else { host + 1 };
            if start + 1 == args.len() {
                Inner::Shell(start)
            } else {
                Inner::Args(start)
            }
        }
        Mode::Container(subcommands) => {
            let mut index = after_options(1, false);
            // `docker compose exec`, `docker container run`.
            while index < args.len() && matches!(args[index], "compose" | "container") {
                index = after_options(index + 1, false);
            }
            if index >= args.len() || !subcommands.contains(&args[index]) {
                return None;
            }
            // The container or image, then the command.
            Inner::Args(after_options(index + 1, false) + 1)
        }
        Mode::AfterDashes(subcommand) => {
            let dashes = args.iter().position(|arg| *arg == "--")?;
            if !args[1..dashes].contains(&subcommand) {
                return None;
            }
            Inner::Args(dashes + 1)
        }
    };
    match start {
        Inner::Args(index) | Inner::Shell(index) if index < args.len() => Some(start),
        _ => None,
    }
}

/// Flags whose value is a command line: rsync's remote shell (`-e
/// "sshpass -p X ssh"`,
/// https://download.samba.org/pub/rsync/rsync.1#opt--rsh), lftp's scripts.
pub(crate) fn command_flag(tool: &str, flag: &str) -> bool {
    match tool {
        "rsync" => matches!(flag, "-e" | "--rsh"),
        // lftp's scripts (`-e CMDS`, `-c CMDS`), `;`-separated commands
        // (https://lftp.yar.ru/lftp-man.html).
        "lftp" => matches!(flag, "-e" | "-c"),
        _ => false,
    }
}

/// A shell variable assignment before a command (`DB_HOST=x cmd`).
pub(crate) fn is_assignment(arg: &str) -> bool {
    match arg.find('=') {
        Some(equals) if equals > 0 => arg[..equals].bytes().enumerate().all(|(index, byte)| {
            byte == b'_' || byte.is_ascii_alphabetic() || (index > 0 && byte.is_ascii_digit())
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner_of(line: &str) -> Option<Inner> {
        let args: Vec<&str> = line.split(' ').collect();
        inner(args[0], &args)
    }

    #[test]
    fn looks_through_wrappers() {
        assert_eq!(inner_of("sudo -u app mysql -pX"), Some(Inner::Args(3)));
        assert_eq!(inner_of("sudo -p prompt mysql -pX"), Some(Inner::Args(3)));
        assert_eq!(inner_of("env A=1 B=2 mysql -pX"), Some(Inner::Args(3)));
        assert_eq!(
            inner_of("timeout 5 sshpass -p X ssh h"),
            Some(Inner::Args(2))
        );
        assert_eq!(inner_of("timeout -s KILL 5 mysql"), Some(Inner::Args(4)));
        assert_eq!(inner_of("nice -n 10 mysql"), Some(Inner::Args(3)));
        assert_eq!(inner_of("nohup mysql"), Some(Inner::Args(1)));
        assert_eq!(inner_of("xargs -n 1 mysql"), Some(Inner::Args(3)));
        assert_eq!(inner_of("bash -lc cmd"), Some(Inner::Shell(2)));
        assert_eq!(inner_of("sh -c cmd"), Some(Inner::Shell(2)));
        assert_eq!(inner_of("ssh -p 22 host cmd"), Some(Inner::Shell(4)));
        assert_eq!(inner_of("ssh host mysql -pX"), Some(Inner::Args(2)));
        assert_eq!(
            inner_of("kubectl exec -it pod -- mysql -pX"),
            Some(Inner::Args(5))
        );
        assert_eq!(
            inner_of("docker exec -it -e A=1 db mysql -pX"),
            Some(Inner::Args(6))
        );
        assert_eq!(
            inner_of("docker compose exec db mysql"),
            Some(Inner::Args(4))
        );
        assert_eq!(inner_of("sshpass -p X ssh host"), Some(Inner::Args(3)));
        assert_eq!(inner_of("sshpass -pX ssh host"), Some(Inner::Args(2)));
    }

    #[test]
    fn not_every_use_wraps() {
        assert_eq!(inner_of("docker login -p X"), None);
        assert_eq!(inner_of("kubectl get pods"), None);
        assert_eq!(inner_of("bash script.sh"), None);
        assert_eq!(inner_of("sudo"), None);
        assert_eq!(inner_of("ssh host"), None);
    }
}
