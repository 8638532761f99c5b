//! What scrim's real-kernel tests share.
//!
//! - [`gate`]: whether a test that needs eBPF must run or may skip;
//! - [`cgroup`]: real cgroup v2 groups to run test workloads in, as tenants;
//! - [`archive`]: reading archives back, with the `parquet` crate and with
//!   DuckDB as an independent reader;
//! - [`keys`]: master keys for policies that pseudonymise;
//! - [`kube_api`]: a Kubernetes API server on loopback that serves pods;
//! - [`otlp_receiver`]: an OTLP trace receiver on loopback (gRPC and HTTP);
//! - [`s3_server`]: an S3-compatible server (moto) on loopback, and boto3
//!   as an independent client of it;
//! - [`tmpfs`]: a real tmpfs of a fixed size, to fill a disk.
pub mod archive;
pub mod cgroup;
pub mod gate;
mod http;
pub mod keys;
pub mod kube_api;
pub mod otlp_receiver;
pub mod s3_server;
pub mod tmpfs;
