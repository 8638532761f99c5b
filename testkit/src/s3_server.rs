//! A local S3-compatible server for tests: moto's server (the Python
//! package `scripts/setup.sh` installs) on a loopback port, and boto3, the
//! AWS SDK for Python, as an independent client to put, list and fetch
//! objects with: what scrim wrote is checked by a client that is not
//! scrim's.
use std::{
    io,
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// A running moto server; stopped when dropped.
pub struct S3Server {
    child: Child,
    port: u16,
}

/// The region and keys moto accepts: any will do, but they must be set.
const CREDENTIALS: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "scrim-test"),
    ("AWS_SECRET_ACCESS_KEY", "scrim-test-secret"),
    ("AWS_REGION", "us-east-1"),
];

impl S3Server {
    /// Starts a server on a free loopback port.
    pub fn start() -> io::Result<Self> {
        Self::start_on(free_port()?)
    }

    /// Starts a server on `port` (for a test that lets a bucket be
    /// unreachable first), and waits until it answers.
    pub fn start_on(port: u16) -> io::Result<Self> {
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut server = S3Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || server.child.try_wait()?.is_some() {
                return Err(io::Error::other(format!(
                    "moto's server did not start on port {port}"
                )));
            }
            thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The variables any S3 client (scrim's too) needs to use this server.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        environment_for(self.port)
    }

    /// Creates `bucket`.
    pub fn create_bucket(&self, bucket: &str) -> io::Result<()> {
        self.boto3("s3.create_bucket(Bucket=sys.argv[1])", &[bucket])
            .map(drop)
    }

    /// Puts the file at `from` as `key`.
    pub fn put(&self, bucket: &str, key: &str, from: &Path) -> io::Result<()> {
        let from = from.to_string_lossy();
        self.boto3(
            "s3.upload_file(sys.argv[3], sys.argv[1], sys.argv[2])",
            &[bucket, key, &from],
        )
        .map(drop)
    }

    /// Every key in `bucket`, with its size, in key order.
    pub fn list(&self, bucket: &str) -> io::Result<Vec<(String, u64)>> {
        self.each_object(bucket, "pass", "")
    }

    /// Downloads every object of `bucket` under `to`, at its key's path;
    /// returns the keys.
    pub fn download_all(&self, bucket: &str, to: &Path) -> io::Result<Vec<String>> {
        let fetched = self.each_object(
            bucket,
            "path = os.path.join(sys.argv[2], item['Key'])\n\
             \x20       os.makedirs(os.path.dirname(path), exist_ok=True)\n\
             \x20       s3.download_file(sys.argv[1], item['Key'], path)",
            &to.to_string_lossy(),
        )?;
        Ok(fetched.into_iter().map(|(key, _)| key).collect())
    }

    /// Runs `action` (Python, indented as a loop body, with `item` the
    /// listed object and `sys.argv[2]` = `argument`) on every object of
    /// `bucket`; returns their keys and sizes, in key order.
    fn each_object(
        &self,
        bucket: &str,
        action: &str,
        argument: &str,
    ) -> io::Result<Vec<(String, u64)>> {
        let listed = self.boto3(
            &format!(
                "import os\n\
                 pages = s3.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[1])\n\
                 for page in pages:\n\
                 \x20   for item in page.get('Contents', []):\n\
                 \x20       {action}\n\
                 \x20       print(item['Size'], item['Key'])"
            ),
            &[bucket, argument],
        )?;
        let mut keys: Vec<(String, u64)> = listed
            .lines()
            .filter_map(|line| {
                let (size, key) = line.split_once(' ')?;
                Some((key.to_owned(), size.parse().ok()?))
            })
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// Runs `script` with `s3`, a boto3 client of this server, and `sys`
    /// imported; returns what it printed.
    fn boto3(&self, script: &str, args: &[&str]) -> io::Result<String> {
        let program = format!(
            "import sys, boto3\n\
             s3 = boto3.client('s3', endpoint_url='http://127.0.0.1:{}')\n{script}",
            self.port
        );
        let output = Command::new("python3")
            .arg("-c")
            .arg(program)
            .args(args)
            .envs(self.environment())
            .output()?;
        if !output.status.success() {
            return Err(io::Error::other(format!(
                "boto3 failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What an S3 client needs to use a server on loopback `port`.
pub fn environment_for(port: u16) -> Vec<(&'static str, String)> {
    let mut variables: Vec<(&'static str, String)> = CREDENTIALS
        .iter()
        .map(|(name, value)| (*name, (*value).to_owned()))
        .collect();
    variables.push(("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")));
    variables.push(("AWS_ALLOW_HTTP", "true".to_owned()));
    variables
}

/// A loopback port nothing listens on (now).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
